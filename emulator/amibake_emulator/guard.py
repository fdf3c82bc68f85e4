"""Who may talk to the emulator: local programs, never a web page.

The emulator listens on 127.0.0.1 without credentials, and with the real-OS backend it
boots root containers and runs what it is told in them. A browser on the same machine
can reach 127.0.0.1 too, so every request is checked before anything else sees it:

  * a request a browser made for a web page is refused (403): it carries `Origin`, or a
    `Sec-Fetch-Site` other than `none` (`none`: the user typed the address), or a
    `Sec-Fetch-Mode` without `Sec-Fetch-Site: none`. This also stops a page's form POST
    to the emulated AWS APIs, which needs no CORS at all;
  * the Host header must name this emulator on a loopback name (127.0.0.1, localhost,
    [::1] or the bind address) with its port: a DNS-rebinding page's requests carry its
    own host name (403);
  * a POST to the control endpoint (/_amibake/*) must say `Content-Type:
    application/json` (415): a page cannot send that without a CORS preflight;
  * no response carries CORS headers (moto adds `Access-Control-Allow-Origin: *` to
    everything; `MOTO_DISABLE_GLOBAL_CORS` turns that off and `without_cors` strips any
    that remain).
"""

from __future__ import annotations

from typing import Any, Callable

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("0.0.0.0", "::", "[::]", "")


def _allowed_hosts(environ: dict[str, Any]) -> set[str]:
    port = str(environ.get("SERVER_PORT", ""))
    names = set(LOOPBACK_NAMES)
    bound = str(environ.get("SERVER_NAME", ""))
    if bound not in ANY_ADDRESS:
        names.add(f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound)
    return {f"{name}:{port}" for name in names}


def refusal(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(HTTP status, why) when the request must be refused, else None."""
    if "HTTP_ORIGIN" in environ:
        return "403 Forbidden", "requests from a web page (Origin header) are refused"
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None and site.strip().lower() != "none":
        return "403 Forbidden", f"requests from a web page (Sec-Fetch-Site: {site}) are refused"
    if "HTTP_SEC_FETCH_MODE" in environ and site is None:
        return "403 Forbidden", "requests from a web page (Sec-Fetch-Mode) are refused"
    host = str(environ.get("HTTP_HOST", "")).strip().lower()
    if host not in _allowed_hosts(environ):
        return "403 Forbidden", (
            f"Host {host or '(none)'} is not this emulator: use http://127.0.0.1:{environ.get('SERVER_PORT', 'PORT')}"
        )
    path = environ.get("PATH_INFO", "")
    if path.startswith("/_amibake/") and environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
        kind = str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip().lower()
        if kind != "application/json":
            return "415 Unsupported Media Type", (
                f"{path} takes Content-Type: application/json (got {kind or 'none'})"
            )
    return None


def without_cors(start_response: Callable[..., Any]) -> Callable[..., Any]:
    """start_response with every Access-Control-* header removed."""

    def start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
        kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
        return start_response(status, kept, *rest)

    return start
