"""Request accounting, EC2's request-rate buckets (what `just bench` measures) and the
injected faults of a dead or flaky network (what tests/hostile/bounded.rs rides out).

Every AWS request is counted by region and `service:Action` (from its SigV4 credential
scope and its `Action` parameter or `X-Amz-Target` header), for GET /_amibake/stats, and
again under the plan action amibake names in its `x-amibake-action` header ("-" when it
names none), so a test can hold a bake's calls against its plan action by action. With
the `throttle_ec2` knob, EC2 requests also draw from EC2's documented token buckets (per
region, per category or per action) and are answered HTTP 503 RequestLimitExceeded when
theirs is empty, as EC2 does; moto never throttles, so without this amibake's retries
and pacing would go untested. Resource-token buckets (instances per RunInstances) are
not modelled. The tables below are data: keep them in step with AWS's page.

The fault knobs act on chosen actions (`Action` or `service:Action`), per region:
`stall_actions` holds a request without an answer (for N seconds, or until the knob
changes), `reset_actions` drops the connection without an answer, a throttling storm
(`throttle_storm_actions`, `throttle_storm_seconds`) throttles every such request for N
seconds from the first one, and a 5xx burst (`error_burst_actions`, `error_burst_count`)
answers the first N such requests 500/503, then normally. `admit` decides; a request it
refuses is answered by `throttled_response`, which reads the verdict `admit` left for its
thread (werkzeug serves each request on a thread of its own).
"""

from __future__ import annotations

import io
import json
import re
import socket
import struct
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from .config import Knobs


# Each action's own bucket (size, refill per second): the "uncategorized" table of
# https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html
EC2_OWN_BUCKETS: dict[str, tuple[float, float]] = {
    "RunInstances": (5, 2),
    "StartInstances": (5, 2),
    "TerminateInstances": (100, 5),
    "CopyImage": (100, 1),
    "CreateTags": (100, 10),
    "DeleteTags": (100, 10),
    "DeregisterImage": (100, 5),
    "DeleteSnapshot": (100, 5),
    "ModifyImageAttribute": (100, 5),
    "ModifySnapshotAttribute": (100, 5),
}
EC2_RESOURCE_INTENSIVE = {
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "CreateKeyPair",
    "RequestSpotInstances",
    "CancelSpotInstanceRequests",
}
# Non-mutating calls that use the smaller bucket when they carry no filter and no
# pagination. A call by ids counts as unfiltered here (the stricter reading).
EC2_UNFILTERED_CANDIDATES = {
    "DescribeInstances",
    "DescribeInstanceStatus",
    "DescribeNetworkInterfaces",
    "DescribeSecurityGroups",
    "DescribeSnapshots",
    "DescribeSpotInstanceRequests",
    "DescribeVolumes",
}


def ec2_bucket(action: str, params: dict[str, list[str]]) -> tuple[str, float, float]:
    """The bucket an EC2 request draws from: (name, size, refill per second)."""
    if action in EC2_OWN_BUCKETS:
        return (action, *EC2_OWN_BUCKETS[action])
    if action in EC2_RESOURCE_INTENSIVE:
        return ("resource-intensive", 50, 5)
    if action.startswith(("Describe", "List", "Search", "Get")):
        if action in EC2_UNFILTERED_CANDIDATES and not any(
            k.startswith("Filter.") or k in ("MaxResults", "NextToken") for k in params
        ):
            return ("unfiltered-non-mutating", 50, 10)
        return ("non-mutating", 100, 20)
    return ("mutating", 50, 5)


# How long a request "never answered" holds its thread at most.
NEVER_SECONDS = 600.0

# What `admit` decided for the request this thread serves, for `throttled_response`.
_verdict = threading.local()


def matches(entries: Any, service: str, action: str) -> bool:
    """Whether a fault knob's list (or map) of actions names this request."""
    return bool(entries) and (action in entries or f"{service}:{action}" in entries)


class Traffic:
    """Every AWS request by region and action, the EC2 token buckets, and the faults."""

    def __init__(self, knobs: Knobs) -> None:
        self.knobs = knobs
        self.lock = threading.Lock()
        self.reset()

    def reset(self, region: str | None = None) -> None:
        """Zeroes the counts and refills the buckets: of one region (a test that claims
        it starts from nothing while others run on), or of all."""
        if region is not None:
            with self.lock:
                for per_region in (self.calls, self.by_plan_action, self.throttled, self.faulted, self.storms, self.bursts):
                    per_region.pop(region, None)
                self.buckets = {k: v for k, v in self.buckets.items() if k[0] != region}
            return
        self.since = time.time()
        self.calls: dict[str, dict[str, int]] = {}
        # region -> plan action ("-": none named) -> service:Action -> count
        self.by_plan_action: dict[str, dict[str, dict[str, int]]] = {}
        self.throttled: dict[str, dict[str, int]] = {}
        self.buckets: dict[tuple[str, str], list[float]] = {}  # -> [tokens, at]
        self.faulted: dict[str, dict[str, int]] = {}
        # region -> (the knobs it started from, monotonic end of the storm)
        self.storms: dict[str, tuple[Any, float]] = {}
        # region -> (the knobs it started from, errors still to answer)
        self.bursts: dict[str, tuple[Any, int]] = {}

    def admit(self, region: str, service: str, action: str, params: dict[str, list[str]], plan_action: str | None = None) -> bool:
        """Counts the request (also under the plan action it names), applies the fault knobs
        (a stall waits here, outside every lock); False when the request is to be refused
        (`throttled_response` answers)."""
        name = f"{service}:{action}"
        _verdict.kind = "throttle"
        with self.lock:
            by_region = self.calls.setdefault(region, {})
            by_region[name] = by_region.get(name, 0) + 1
            by_action = self.by_plan_action.setdefault(region, {}).setdefault(plan_action or "-", {})
            by_action[name] = by_action.get(name, 0) + 1
            fault = self.fault(region, service, action)
        if fault == "stall" and not self.stall(region, service, action):
            fault = "reset"
        if fault not in (None, "stall"):
            _verdict.kind = fault
            return False
        with self.lock:
            if service != "ec2" or not self.knobs.get(region, "throttle_ec2"):
                return True
            bucket, size, refill = ec2_bucket(action, params)
            now = time.monotonic()
            tokens, at = self.buckets.get((region, bucket), [size, now])
            tokens = min(size, tokens + (now - at) * refill)
            if tokens < 1:
                self.buckets[(region, bucket)] = [tokens, now]
                throttled = self.throttled.setdefault(region, {})
                throttled[name] = throttled.get(name, 0) + 1
                return False
            self.buckets[(region, bucket)] = [tokens - 1, now]
            return True

    def fault(self, region: str, service: str, action: str) -> str | None:
        """The fault this request meets (under `self.lock`): "stall", "reset", "throttle",
        "error" or None. Each fault counts in the stats as `KIND service:Action`."""
        knob = self.knobs.get
        fault = None
        if matches(knob(region, "stall_actions"), service, action):
            fault = "stall"
        elif matches(knob(region, "reset_actions"), service, action):
            fault = "reset"
        else:
            # A storm or burst starts afresh whenever its knob is set again (each POST
            # stores a new list, so identity tells).
            storm = (knob(region, "throttle_storm_actions"), knob(region, "throttle_storm_seconds"))
            if matches(storm[0], service, action) and storm[1] > 0:
                started, until = self.storms.get(region, (None, 0.0))
                now = time.monotonic()
                if started is None or started[0] is not storm[0] or started[1] != storm[1]:
                    until = now + storm[1]
                    self.storms[region] = (storm, until)
                if now < until:
                    fault = "throttle"
            burst = (knob(region, "error_burst_actions"), knob(region, "error_burst_count"))
            if fault is None and matches(burst[0], service, action):
                started, left = self.bursts.get(region, (None, 0))
                if started is None or started[0] is not burst[0] or started[1] != burst[1]:
                    left = int(burst[1])
                if left > 0:
                    fault = "error"
                    _verdict.status = "500 Internal Server Error" if left % 2 else "503 Service Unavailable"
                self.bursts[region] = (burst, max(0, left - 1))
        if fault is not None:
            faulted = self.faulted.setdefault(region, {})
            key = f"{fault} {service}:{action}"
            faulted[key] = faulted.get(key, 0) + 1
            if fault == "throttle":
                throttled = self.throttled.setdefault(region, {})
                throttled[f"{service}:{action}"] = throttled.get(f"{service}:{action}", 0) + 1
        return fault

    def stall(self, region: str, service: str, action: str) -> bool:
        """Holds the request for the knob's seconds, then lets it through (True). With null
        it is never answered: held until the knob no longer names the action (or for
        NEVER_SECONDS), then its connection is dropped and nothing done (False)."""
        began = time.monotonic()
        answered = True
        while True:
            stalls = self.knobs.get(region, "stall_actions")
            waited = time.monotonic() - began
            if not matches(stalls, service, action):
                return answered
            seconds = stalls.get(action, stalls.get(f"{service}:{action}"))
            answered = seconds is not None
            if waited >= (NEVER_SECONDS if seconds is None else seconds):
                return answered
            time.sleep(0.1 if seconds is None else min(0.1, seconds - waited))

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "seconds": round(time.time() - self.since, 3),
                "calls": {r: dict(sorted(c.items())) for r, c in sorted(self.calls.items())},
                "by_plan_action": {
                    r: {a: dict(sorted(c.items())) for a, c in sorted(by_action.items())} for r, by_action in sorted(self.by_plan_action.items())
                },
                "throttled": {r: dict(sorted(c.items())) for r, c in sorted(self.throttled.items())},
                "faults": {r: dict(sorted(c.items())) for r, c in sorted(self.faulted.items())},
            }


# restJson1 operations carry their name in the path alone: (service, path) -> action.
# inspector2's on-demand scans (inspector.py answers them; moto has no route for them).
INSPECTOR_ACTIONS = {
    "/ondemand/scan": "StartOnDemandScan",
    "/ondemand/scan/status": "GetOnDemandScanStatus",
    "/ondemand/scans": "ListOnDemandScans",
}
REST_ACTIONS = {("inspector2", path): action for path, action in INSPECTOR_ACTIONS.items()}

CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


def classify(environ: dict[str, Any]) -> tuple[str, str, str, dict[str, list[str]], str | None] | None:
    """(region, service, action, query parameters, plan action) of an AWS request, from
    its SigV4 scope, its `Action` parameter, `X-Amz-Target` header or (restJson1) its
    path, and amibake's `x-amibake-action` header (None without one). Leaves the body
    readable."""
    scope = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if scope is None:
        return None
    _verdict.socket = environ.get("werkzeug.socket")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    target = environ.get("HTTP_X_AMZ_TARGET")
    params: dict[str, list[str]] = {}
    if target:
        action = target.rsplit(".", 1)[-1]
    else:
        params = parse_qs(environ.get("QUERY_STRING", ""))
        if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            params.update(parse_qs(body.decode("utf-8", "replace")))
        action = params.get("Action", [REST_ACTIONS.get((scope["service"], environ.get("PATH_INFO", "")), "?")])[-1]
    return scope["region"], scope["service"], action, params, environ.get("HTTP_X_AMIBAKE_ACTION")


QUERY_SERVICES = {"cloudformation", "autoscaling", "iam", "sts"}
REST_JSON_SERVICES = {"inspector2"}


def error_response(service: str, status: str, code: str, message: str, start_response: Any) -> list[bytes]:
    """An AWS error in the service's protocol: EC2's XML, the query services' XML
    (CloudFormation, Auto Scaling), restJson1 (inspector2: the type in `x-amzn-ErrorType`)
    or JSON (SSM, KMS)."""
    headers = []
    if service == "ec2":
        data = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>amibake-emulator</RequestID></Response>"
        ).encode()
        content_type = "text/xml"
    elif service in QUERY_SERVICES:
        data = (
            f"<ErrorResponse><Error><Type>{'Receiver' if status.startswith('5') else 'Sender'}</Type><Code>{code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>amibake-emulator</RequestId></ErrorResponse>"
        ).encode()
        content_type = "text/xml"
    elif service in REST_JSON_SERVICES:
        data = json.dumps({"message": message}).encode()
        content_type = "application/json"
        headers.append(("x-amzn-ErrorType", code))
    else:
        data = json.dumps({"__type": code, "message": message}).encode()
        content_type = "application/x-amz-json-1.1"
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))), *headers])
    return [data]


def reset_connection() -> None:
    """Drops the client's connection without an answer: a RST (linger 0) once the socket
    closes, and at once no more to read or write."""
    sock = getattr(_verdict, "socket", None)
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def throttled_response(service: str, start_response: Any) -> list[bytes]:
    """The answer to a request `admit` refused: throttled (RequestLimitExceeded /
    ThrottlingException), a 5xx of a burst, or a reset connection."""
    kind = getattr(_verdict, "kind", "throttle")
    if kind == "reset":
        reset_connection()
        start_response("500 Internal Server Error", [("Content-Length", "0")])
        return []
    if kind == "error":
        status = getattr(_verdict, "status", "500 Internal Server Error")
        code = {"ec2": "InternalError" if status.startswith("500") else "Unavailable", "inspector2": "InternalServerException"}.get(
            service, "InternalFailure" if service in QUERY_SERVICES else "InternalServerError"
        )
        return error_response(service, status, code, "injected by the emulator's error_burst knobs", start_response)
    if service == "ec2":
        return error_response(service, "503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded.", start_response)
    if service in QUERY_SERVICES:
        return error_response(service, "400 Bad Request", "Throttling", "Rate exceeded", start_response)
    if service in REST_JSON_SERVICES:
        return error_response(service, "429 Too Many Requests", "ThrottlingException", "Rate exceeded", start_response)
    return error_response(service, "400 Bad Request", "ThrottlingException", "Rate exceeded", start_response)
