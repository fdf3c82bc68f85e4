"""The HTTP side: moto's server app behind amibake's dispatch, on 127.0.0.1.

One WSGI app (werkzeug, threaded) answers everything:

  * first guard.py refuses what a web page sent (Origin, Sec-Fetch-*), a foreign Host
    (DNS rebinding) and a control POST that is not JSON; no response carries CORS headers;
  * /_amibake/*  the control endpoint (config.control), never counted or throttled;
  * any AWS request is first classified (region, service, action, and the plan action
    amibake names in `x-amibake-action`) and counted, and with `throttle_ec2` may be
    answered RequestLimitExceeded (traffic.py);
  * then it runs in moto under `world.lock`, after `world.tick()` applied the scheduled
    transitions that are due: requests are serialized, and delays are lazy. A service
    module may answer a request before moto (`world.interceptors`: inspector2's scans).
    POST /moto-api/reset also resets the World (facts, invocations, transitions).

`serve()` writes the bound port to --port-file (atomically), stops on SIGTERM/SIGINT,
powers real-OS containers off (`world.realos.shutdown()`), and exits without the
interpreter's slow teardown of moto's modules.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .config import control, respond
from .guard import refusal, without_cors
from .traffic import classify, throttled_response
from .util import log

if TYPE_CHECKING:
    from .state import World


def make_app(world: World, moto_app: Any) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response = without_cors(start_response)
        refused = refusal(environ)
        if refused is not None:
            status, why = refused
            log(f"refused {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}: {why}")
            return respond(start_response, status, {"error": why})
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_amibake/"):
            return control(world, environ, start_response)
        request = classify(environ)
        if request is not None and not world.traffic.admit(*request):
            return throttled_response(request[1], start_response)
        with world.lock:
            world.tick()
            if path == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
                world.reset()
            for intercept in world.interceptors if request is not None else ():
                answer = intercept(request, environ, start_response)
                if answer is not None:
                    return answer
            return list(moto_app(environ, start_response))

    return app


def serve(world: World, host: str, port: int, port_file: Path | None, quiet: bool) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class Handler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            if not quiet:
                super().log_request(*args, **kwargs)

    moto_app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, port, make_app(world, moto_app), threaded=True, request_handler=Handler)
    bound = server.server_address[1]
    if port_file is not None:
        tmp = port_file.with_name(port_file.name + ".tmp")
        tmp.write_text(f"{bound}\n")
        tmp.replace(port_file)
    log(f"listening on http://{host}:{bound} (pid {os.getpid()}, outputs table {world.table.path})")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    while not stop.wait(0.5):
        pass
    log("stopping")
    server.shutdown()
    server.server_close()
    world.realos.shutdown()
    if port_file is not None:
        try:
            port_file.unlink()
        except FileNotFoundError:
            pass
    log("stopped")
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown of moto's many modules (~1 s)
