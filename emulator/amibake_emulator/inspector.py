"""Amazon Inspector's on-demand AMI scans (inspector2), which moto 5.2.5 lacks.

amibake scans each new image before it ships (`image.scan`): StartOnDemandScan, then
GetOnDemandScanStatus until the scan is over, then the image's findings from EC2
(GetImageFindings, DescribeImages' ScanResults: image_findings.py). moto's inspector2
backend has no on-demand scans, so these requests are answered here, before moto sees
them, in the service's restJson1 protocol (errors: the `x-amzn-errortype` header and a
`{"message": ...}` body, as the AWS SDK for Rust parses them):

  * POST /ondemand/scan         StartOnDemandScan {resourceId, resourceType: AMI, clientToken}
                                -> 202 {scanId}; the same clientToken -> the same scanId
  * POST /ondemand/scan/status  GetOnDemandScanStatus {resourceId, resourceType, scanId}
  * POST /ondemand/scans        ListOnDemandScans {resourceId, resourceType, maxResults, nextToken}

A scan is IN_PROGRESS for `scan_seconds`, then (at the next request: delays are lazy)
FAILED with `scan_fail_reason` when that knob names one, FAILED with RESOURCE_TERMINATED
when the AMI is gone, else SUCCESSFUL: the image's results become the planted
`scan_findings` (the knobs as they were when the scan started), replacing those of any
earlier scan. `inspector_access_denied` answers every inspector2 request 403
AccessDeniedException; in a region of `inspector_regions_unserved` an inspector2
request loses its connection without an answer, as close as a local endpoint comes to
a host name that does not resolve (the SDK sees a dispatch failure, never a status).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .traffic import INSPECTOR_ACTIONS, reset_connection

if TYPE_CHECKING:
    from .state import World

SEVERITIES = ("informational", "low", "medium", "high", "critical")
# OnDemandScanStatusReason (aws-sdk-inspector2 1.138): what a FAILED scan may say.
FAIL_REASONS = (
    "ACCESS_DENIED",
    "INTERNAL_ERROR",
    "STORAGE_LIMIT_EXCEEDED",
    "EXTRACTION_COLLECTION_TIME_LIMIT_EXCEEDED",
    "UNSUPPORTED_OS",
    "RESOURCE_TERMINATED",
)
FINDING_KEYS = {"title", "severity", "fix_available", "fix_available_days_ago", "score", "paths"}
SCAN_ID = re.compile(r"^[a-z0-9]{1,64}$")
DAY = 86400.0


# ---------------------------------------------------------------------------------------
# The knobs (config.check_knob hands these over).
# ---------------------------------------------------------------------------------------


def check_findings(value: Any) -> list[dict[str, Any]]:
    """`scan_findings`: a list of planted findings, each {title, severity, fix_available,
    fix_available_days_ago, score, paths}; only title and severity are required."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("scan_findings must be a list of findings ({title, severity, ...})")
    out = []
    for i, f in enumerate(value):
        where = f"scan_findings[{i}]"
        if not isinstance(f, dict):
            raise ValueError(f"{where} must be an object")
        unknown = set(f) - FINDING_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(FINDING_KEYS)}")
        if not isinstance(f.get("title"), str) or not f["title"]:
            raise ValueError(f"{where}.title must be a non-empty string (e.g. \"CVE-2026-1234 - openssl, libssl3\")")
        if f.get("severity") not in SEVERITIES:
            raise ValueError(f"{where}.severity must be one of {list(SEVERITIES)}")
        if not isinstance(f.get("fix_available", False), bool):
            raise ValueError(f"{where}.fix_available must be true or false")
        days = f.get("fix_available_days_ago", 0)
        if isinstance(days, bool) or not isinstance(days, (int, float)) or days < 0:
            raise ValueError(f"{where}.fix_available_days_ago must be a number >= 0")
        score = f.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 10):
            raise ValueError(f"{where}.score must be a number from 0 to 10")
        paths = f.get("paths", [])
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ValueError(f"{where}.paths must be a list of strings")
        out.append(dict(f))
    return out


def check_fail_reason(value: Any) -> str:
    """`scan_fail_reason`: "" (off) or an OnDemandScanStatusReason."""
    if value is None or value == "":
        return ""
    if value not in FAIL_REASONS:
        raise ValueError(f"scan_fail_reason must be \"\" (off) or one of {list(FAIL_REASONS)}")
    return value


# ---------------------------------------------------------------------------------------
# Scans and the results they leave on an image.
# ---------------------------------------------------------------------------------------


@dataclass
class Scan:
    scan_id: str
    account: str
    region: str
    resource_id: str
    started: float
    due: float
    findings: list[dict[str, Any]]  # the knob when the scan started
    fail_reason: str
    status: str = "IN_PROGRESS"
    reason: str | None = None
    completed: float | None = None

    def answer(self) -> dict[str, Any]:
        """The scan as GetOnDemandScanStatus and ListOnDemandScans show it."""
        out: dict[str, Any] = {
            "scanId": self.scan_id,
            "resourceId": self.resource_id,
            "resourceType": "AMI",
            "scanStatus": self.status,
            "startedAt": iso(self.started),
        }
        if self.reason:
            out["scanStatusReason"] = self.reason
        if self.completed is not None:
            out["completedAt"] = iso(self.completed)
        return out


@dataclass
class ImageScan:
    """What the last successful scan left on an image: its findings, each with the
    times EC2 shows (epoch seconds), and when it was scanned."""

    scanned_at: float
    findings: list[dict[str, Any]] = field(default_factory=list)


def iso(epoch: float) -> str:
    """ISO 8601 in UTC with milliseconds, as Inspector writes its timestamps."""
    when = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def complete(world: World, scan: Scan) -> None:
    """The scan ends (its due time): FAILED, or SUCCESSFUL with the image's new results."""
    from moto.ec2.models import ec2_backends

    if scan.status != "IN_PROGRESS":
        return
    scan.completed = scan.due
    ami = ec2_backends[scan.account][scan.region].amis.get(scan.resource_id)
    if ami is None:
        scan.status, scan.reason = "FAILED", "RESOURCE_TERMINATED"
        return
    if scan.fail_reason:
        scan.status, scan.reason = "FAILED", scan.fail_reason
        return
    key = (scan.account, scan.region, scan.resource_id)
    earlier = world.image_scans.get(key)
    first_seen = {f["title"]: f["first_observed"] for f in (earlier.findings if earlier else [])}
    snapshot = getattr(getattr(ami, "ebs_snapshot", None), "id", None)
    world.image_scans[key] = ImageScan(
        scanned_at=scan.due,
        findings=[
            {
                "title": f["title"],
                "severity": f["severity"],
                "fix_available": bool(f.get("fix_available", False)),
                "fix_since": scan.due - f.get("fix_available_days_ago", 0) * DAY if f.get("fix_available") else None,
                "score": f.get("score"),
                "paths": list(f.get("paths", []))[:10],  # EC2 returns up to 10 paths per finding
                "first_observed": first_seen.get(f["title"], scan.due),
                "updated": scan.due,
                "snapshot_id": snapshot,
            }
            for f in scan.findings
        ],
    )
    scan.status = "SUCCESSFUL"


# ---------------------------------------------------------------------------------------
# The inspector2 requests (restJson1).
# ---------------------------------------------------------------------------------------


class Refusal(Exception):
    """An inspector2 error answer: HTTP status, error type, message and extra members."""

    def __init__(self, status: str, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def validation(message: str, name: str | None = None, reason: str = "FIELD_VALIDATION_FAILED") -> Refusal:
    fields = [{"name": name, "message": message}] if name else []
    return Refusal("400 Bad Request", "ValidationException", message, reason=reason, fields=fields)


def respond_json(start_response: Any, status: str, body: dict[str, Any], headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))), ("x-amzn-RequestId", str(uuid.uuid4())), *(headers or [])],
    )
    return [data]


def account_of(environ: dict[str, Any]) -> str:
    """The account the request's access key belongs to (moto's default for dummy keys)."""
    from moto.iam.models import get_account_id_from

    m = re.search(r"Credential=([^/,\s]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return get_account_id_from(m.group(1) if m else "")


def install(world: World) -> None:
    """Answers inspector2 requests before moto (the World's interceptors, server.py)."""

    def intercept(request: tuple[Any, ...], environ: dict[str, Any], start_response: Any) -> list[bytes] | None:
        region, service, action = request[0], request[1], request[2]
        if service != "inspector2":
            return None
        if region in world.knobs.get(region, "inspector_regions_unserved"):
            reset_connection()
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return []
        account = account_of(environ)
        try:
            if world.knobs.get(region, "inspector_access_denied"):
                raise Refusal(
                    "403 Forbidden",
                    "AccessDeniedException",
                    f"User: arn:aws:iam::{account}:user/amibake is not authorized to perform: inspector2:{action} "
                    f"(amibake-emulator inspector_access_denied)",
                )
            if action not in INSPECTOR_ACTIONS.values():
                return None  # moto's own inspector2
            try:
                body = json.loads(environ["wsgi.input"].read() or b"{}")
            except ValueError as e:
                raise validation(f"the request body is not JSON: {e}", reason="CANNOT_PARSE") from e
            if not isinstance(body, dict):
                raise validation("the request body must be a JSON object", reason="CANNOT_PARSE")
            if action == "StartOnDemandScan":
                return respond_json(start_response, "202 Accepted", start_scan(world, account, region, body))
            if action == "GetOnDemandScanStatus":
                return respond_json(start_response, "200 OK", scan_status(world, account, region, body))
            return respond_json(start_response, "200 OK", list_scans(world, account, region, body))
        except Refusal as r:
            return respond_json(
                start_response, r.status, {"message": r.message, **r.extra}, [("x-amzn-ErrorType", r.code)]
            )

    world.interceptors.append(intercept)


def resource_of(body: dict[str, Any]) -> str:
    """The request's resourceId after its resourceType (AMI, the only one) is checked."""
    rtype = body.get("resourceType")
    if rtype is None:
        raise validation("resourceType is required", "resourceType")
    if rtype != "AMI":
        raise validation(f"Value '{rtype}' at 'resourceType' failed to satisfy constraint: Member must satisfy enum value set: [AMI]", "resourceType")
    rid = body.get("resourceId")
    if not isinstance(rid, str) or not rid:
        raise validation("resourceId is required", "resourceId")
    if not 10 <= len(rid) <= 1024:
        raise validation(f"Value '{rid}' at 'resourceId' failed to satisfy constraint: Member must have length between 10 and 1024", "resourceId")
    return rid


def start_scan(world: World, account: str, region: str, body: dict[str, Any]) -> dict[str, Any]:
    """StartOnDemandScan: the scan of an available AMI, or the one its clientToken started."""
    from moto.ec2.models import ec2_backends

    rid = resource_of(body)
    token = body.get("clientToken")
    if token is not None and (not isinstance(token, str) or not 1 <= len(token) <= 64):
        raise validation("clientToken must be a string of 1 to 64 characters", "clientToken")
    if token:
        scan_id = world.tokens.get((account, region, "StartOnDemandScan", token))
        if scan_id is not None:
            scan = world.scans[(account, region, scan_id)]
            if scan.resource_id != rid:
                raise Refusal(
                    "409 Conflict",
                    "ConflictException",
                    f"The client token {token} was already used for a scan of {scan.resource_id}.",
                    resourceId=scan.resource_id,
                    resourceType="AMI",
                )
            return {"scanId": scan_id}
    ami = ec2_backends[account][region].amis.get(rid)
    if ami is None:
        raise validation(f"The AMI {rid} does not exist in {region}.", "resourceId", reason="OTHER")
    if ami.state != "available":
        raise Refusal(
            "409 Conflict",
            "ConflictException",
            f"The AMI {rid} is {ami.state}; only an available AMI can be scanned.",
            resourceId=rid,
            resourceType="AMI",
        )
    # Whole seconds: EC2 shows its scan dates without them, and findingScanDate must not
    # read earlier than the scan's startedAt.
    now = float(int(time.time()))
    seconds = world.knobs.get(region, "scan_seconds")
    scan = Scan(
        scan_id=uuid.uuid4().hex,
        account=account,
        region=region,
        resource_id=rid,
        started=now,
        due=now + seconds,
        findings=[dict(f) for f in world.knobs.get(region, "scan_findings")],
        fail_reason=world.knobs.get(region, "scan_fail_reason"),
    )
    world.scans[(account, region, scan.scan_id)] = scan
    if token:
        world.tokens[(account, region, "StartOnDemandScan", token)] = scan.scan_id
    world.at(scan.due, lambda: complete(world, scan))
    return {"scanId": scan.scan_id}


def scan_status(world: World, account: str, region: str, body: dict[str, Any]) -> dict[str, Any]:
    """GetOnDemandScanStatus: a scan of this resource in this account and region."""
    rid = resource_of(body)
    scan_id = body.get("scanId")
    if not isinstance(scan_id, str) or not scan_id:
        raise validation("scanId is required", "scanId")
    if not SCAN_ID.match(scan_id):
        raise validation(f"Value '{scan_id}' at 'scanId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z0-9]+", "scanId")
    scan = world.scans.get((account, region, scan_id))
    if scan is None or scan.resource_id != rid:
        raise Refusal("404 Not Found", "ResourceNotFoundException", f"The scan {scan_id} of {rid} was not found.")
    return scan.answer()


def list_scans(world: World, account: str, region: str, body: dict[str, Any]) -> dict[str, Any]:
    """ListOnDemandScans: the resource's scans, oldest first, maxResults (1-100) a page."""
    rid = resource_of(body)
    size = body.get("maxResults", 100)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100:
        raise validation("maxResults must be an integer from 1 to 100", "maxResults")
    start = 0
    if body.get("nextToken") is not None:
        try:
            start = int(base64.urlsafe_b64decode(str(body["nextToken"]).encode()).decode())
        except ValueError as e:
            raise validation("nextToken is not valid", "nextToken") from e
    scans = [s for (a, r, _), s in world.scans.items() if (a, r) == (account, region) and s.resource_id == rid]
    page = scans[start : start + size]
    out: dict[str, Any] = {"items": [s.answer() for s in page]}
    if start + size < len(scans):
        out["nextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out
