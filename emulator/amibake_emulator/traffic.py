"""Request accounting and EC2's request-rate buckets (what `just bench` measures).

Every AWS request is counted by region and `service:Action` (from its SigV4 credential
scope and its `Action` parameter or `X-Amz-Target` header), for GET /_amibake/stats. With
the `throttle_ec2` knob, EC2 requests also draw from EC2's documented token buckets (per
region, per category or per action) and are answered HTTP 503 RequestLimitExceeded when
theirs is empty, as EC2 does; moto never throttles, so without this amibake's retries
and pacing would go untested. Resource-token buckets (instances per RunInstances) are
not modelled. The tables below are data: keep them in step with AWS's page.
"""

from __future__ import annotations

import io
import json
import re
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


class Traffic:
    """Every AWS request by region and action, and the EC2 token buckets."""

    def __init__(self, knobs: Knobs) -> None:
        self.knobs = knobs
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.since = time.time()
        self.calls: dict[str, dict[str, int]] = {}
        self.throttled: dict[str, dict[str, int]] = {}
        self.buckets: dict[tuple[str, str], list[float]] = {}  # -> [tokens, at]

    def admit(self, region: str, service: str, action: str, params: dict[str, list[str]]) -> bool:
        """Counts the request; False when EC2 would throttle it."""
        name = f"{service}:{action}"
        with self.lock:
            by_region = self.calls.setdefault(region, {})
            by_region[name] = by_region.get(name, 0) + 1
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

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "seconds": round(time.time() - self.since, 3),
                "calls": {r: dict(sorted(c.items())) for r, c in sorted(self.calls.items())},
                "throttled": {r: dict(sorted(c.items())) for r, c in sorted(self.throttled.items())},
            }


CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


def classify(environ: dict[str, Any]) -> tuple[str, str, str, dict[str, list[str]]] | None:
    """(region, service, action, query parameters) of an AWS request, from its SigV4
    scope and its `Action` parameter or `X-Amz-Target` header. Leaves the body readable."""
    scope = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if scope is None:
        return None
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
        action = params.get("Action", ["?"])[-1]
    return scope["region"], scope["service"], action, params


def throttled_response(service: str, start_response: Any) -> list[bytes]:
    if service == "ec2":
        data = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            b"<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
            b"</Error></Errors><RequestID>amibake-emulator</RequestID></Response>"
        )
        start_response("503 Service Unavailable", [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))])
        return [data]
    data = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
    start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))])
    return [data]
