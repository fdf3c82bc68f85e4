"""The emulator's knobs and its control endpoint (`/_amibake/*`, not AWS).

Tests shape the emulated AWS at run time, per region, without restarting it: delays
(instance_pending_seconds, agent_online_seconds, ..., stack_update_seconds), failures
(bad_image, fail_command_matching, allow_unknown_commands, fail_stack_update, fail_instance_refresh), EC2
throttling, faults of a dead or flaky network on chosen actions (stall_actions,
reset_actions, throttle_storm_*, error_burst_*; see traffic.py), regions not opted in
(regions_not_opted_in), image usage reports (image_usage, usage_report_seconds), backdated
images (image_created), Inspector's scans (scan_seconds, scan_findings, scan_fail_reason,
inspector_access_denied, inspector_regions_unserved) and real instances (real_os).
Each region falls back to the defaults (`"*"`), which start as KNOB_DEFAULTS, optionally
changed by --config. Tests isolate themselves by region, so knobs cannot leak.

Endpoints (see emulator/README.md, "Control endpoint"):
  GET/POST /_amibake/config    the knobs (POST: {"region": R|"*", "reset": bool, knob: value})
  GET      /_amibake/facts     facts remembered per instance and image
  GET      /_amibake/stats     requests by region and action (and by amibake's plan action);
                               POST /_amibake/stats/reset (body {"region": R}: only R's)
  GET      /_amibake/realos    the real-OS containers this emulator booted
  GET      /_amibake/health    {"ok": true, "moto": version, "outputs": path, ...}
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs

from . import allowed_images, ec2_images, image_usage, inspector
from .outputs import check_pending_updates
from .util import log

if TYPE_CHECKING:
    from .state import World

KNOB_DEFAULTS: dict[str, Any] = {
    "bad_image": False,  # answer commands with the table's `bad` variants
    "fail_command_matching": None,  # regex: matching commands fail (exit 1)
    # A step's command the canned backend does not know succeeds silently (else exit 127).
    "allow_unknown_commands": False,
    "require_instance_profile": False,  # agent only comes online with an instance profile
    # The account's Default Host Management Configuration (GetServiceSetting): the role
    # name when on ("" = off); with it, agents come online without an instance profile.
    "default_host_management": "",
    "instance_pending_seconds": 0.0,  # RunInstances/StartInstances -> pending for L s
    "instance_stopping_seconds": 0.0,  # StopInstances -> stopping for S s
    "image_pending_seconds": 0.0,  # CreateImage -> pending for I s
    "copy_pending_seconds": 0.0,  # CopyImage -> pending for C s
    "agent_online_seconds": 0.0,  # agent Online O s after the instance is running
    "command_in_progress_seconds": 0.0,  # invocations InProgress for K s
    "invocation_missing_seconds": 0.0,  # GetCommandInvocation InvocationDoesNotExist for M s
    "reboot_offline_seconds": 1.0,  # agent ConnectionLost for R s after RebootInstances
    "fail_stack_update": False,  # CloudFormation updates roll back (UPDATE_ROLLBACK_COMPLETE)
    "stack_update_seconds": 0.0,  # an UPDATE takes D s of wall time (0: done inside the request)
    "fail_instance_refresh": "",  # alarm name: an update's instance refresh fails on it ("" = off)
    "throttle_ec2": False,  # EC2's documented request buckets: RequestLimitExceeded when empty
    # Faults of a dead or flaky network, on chosen actions ("Action" or "service:Action"):
    "stall_actions": {},  # action -> seconds: answered only after N s (null: never, while set)
    "reset_actions": [],  # actions whose connection is reset, unanswered
    "throttle_storm_actions": [],  # actions throttled, every call, for N s from the first one
    "throttle_storm_seconds": 0.0,
    "error_burst_actions": [],  # actions whose first N calls are answered 500/503
    "error_burst_count": 0.0,
    "real_os": False,  # "debian" | "amazon": instances boot a real systemd + cloud-init root
    # Regions DescribeRegions (asked in this region) shows `not-opted-in`: copies there fail preflight.
    "regions_not_opted_in": [],
    # Inspector's on-demand scans (inspector.py, image_findings.py):
    "scan_seconds": 0.0,  # a scan is IN_PROGRESS for N s (0: over at the next request)
    "scan_findings": [],  # the findings a successful scan plants: [{title, severity, fix_available, ...}]
    "scan_fail_reason": "",  # a scan FAILS with this OnDemandScanStatusReason ("" = off)
    "inspector_access_denied": False,  # inspector2 -> AccessDeniedException, GetImageFindings -> UnauthorizedOperation
    "inspector_regions_unserved": [],  # regions whose inspector2 endpoint never answers
    # Image usage reports (image_usage.py): the entries a report plants, and how long it is pending.
    "image_usage": {},  # {image id or "*": [{account_id, resource_type, usage_count}]}
    "usage_report_seconds": 0.0,  # CreateImageUsageReport -> pending for U s
    # Backdated images (ec2_images.backdate): {image id: RFC 3339 time} -> its CreationDate.
    "image_created": {},
    # The update probe's answer (outputs.probe_answer): [{package, installed, candidate, security}].
    "pending_updates": [],
    # The account's Allowed AMIs settings (allowed_images.py): {state, criteria, managed_by,
    # access_denied}; null: disabled, no criteria.
    "allowed_images": None,
}


# Knobs a service module checks: what it stores, or ValueError.
MODULE_KNOBS: dict[str, Callable[[Any], Any]] = {
    "scan_findings": inspector.check_findings,
    "scan_fail_reason": inspector.check_fail_reason,
    "image_usage": image_usage.check_image_usage,
    "image_created": ec2_images.check_image_created,
    "allowed_images": allowed_images.check_knob,
}

# Knobs that hold a name, empty when off: what the name is.
NAME_KNOBS = {"fail_instance_refresh": "an alarm name", "default_host_management": "a role name"}


def check_knob(key: str, value: Any, check_real_os: Callable[[Any], Any]) -> Any:
    """The value to store for a knob, or ValueError. `real_os` is judged by the real-OS
    backend: only a flavour this machine can boot is accepted."""
    if key not in KNOB_DEFAULTS:
        raise ValueError(f"unknown knob {key!r}; known: {sorted(KNOB_DEFAULTS)}")
    if key == "bad_image":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        if not isinstance(value, bool):
            raise ValueError("bad_image must be true, false or a list of table keys")
        return value
    if key in MODULE_KNOBS:
        return MODULE_KNOBS[key](value)
    if key in ("require_instance_profile", "fail_stack_update", "throttle_ec2", "inspector_access_denied", "allow_unknown_commands"):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if key == "real_os":
        return check_real_os(value)
    if key == "pending_updates":
        return check_pending_updates(value)
    if key == "stall_actions":
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str)
            and (v is None or (not isinstance(v, bool) and isinstance(v, (int, float)) and v >= 0))
            for k, v in value.items()
        ):
            raise ValueError(f"{key} must map action names to seconds >= 0 (or null: never answered)")
        return value
    if key in ("reset_actions", "throttle_storm_actions", "error_burst_actions"):
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of action names (Action or service:Action)")
        return value
    if key in ("regions_not_opted_in", "inspector_regions_unserved"):
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of region names")
        return value
    if key in NAME_KNOBS:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError(f"{key} must be {NAME_KNOBS[key]} (a string; empty = off)")
        return value
    if key == "fail_command_matching":
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{key} must be a regex string or null")
            re.compile(value)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{key} must be a number >= 0")
    return float(value)


class Knobs:
    """Per-region knobs over defaults; `initial` is what a reset of `"*"` restores."""

    def __init__(self, check_real_os: Callable[[Any], Any]) -> None:
        self.check_real_os = check_real_os
        self.initial: dict[str, Any] = dict(KNOB_DEFAULTS)
        self.defaults: dict[str, Any] = dict(KNOB_DEFAULTS)
        self.regions: dict[str, dict[str, Any]] = {}

    def get(self, region: str, key: str) -> Any:
        return self.regions.get(region, {}).get(key, self.defaults[key])

    def effective(self, region: str) -> dict[str, Any]:
        return {k: self.get(region, k) for k in KNOB_DEFAULTS}

    def update(self, body: dict[str, Any]) -> dict[str, Any]:
        body = dict(body)
        region = body.pop("region", "*") or "*"
        reset = body.pop("reset", False)
        checked = {k: check_knob(k, v, self.check_real_os) for k, v in body.items()}
        if region == "*":
            if reset:
                self.defaults = dict(self.initial)
                self.regions.clear()
            self.defaults.update(checked)
            return {"region": "*", **self.defaults}
        if reset:
            self.regions.pop(region, None)
        self.regions.setdefault(region, {}).update(checked)
        return {"region": region, **self.effective(region)}

    def snapshot(self) -> dict[str, Any]:
        return {
            "defaults": dict(self.defaults),
            "regions": {r: self.effective(r) for r in sorted(self.regions)},
        }


# ---------------------------------------------------------------------------------------
# The control endpoint.
# ---------------------------------------------------------------------------------------


def respond(start_response: Any, status: str, body: Any) -> list[bytes]:
    data = json.dumps(body, indent=1, sort_keys=True, default=str).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def read_json(environ: dict[str, Any]) -> dict[str, Any]:
    """A control POST's body: a JSON object (none: {}); ValueError otherwise."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def control(world: World, environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Answers a request under /_amibake/ (WSGI)."""
    from moto import __version__ as moto_version

    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    with world.lock:
        world.tick()
        if path == "/_amibake/health":
            return respond(
                start_response,
                "200 OK",
                {"ok": True, "moto": moto_version, "outputs": str(world.table.path), "outputs_keys": world.table.keys()},
            )
        if path == "/_amibake/stats" and method == "GET":
            return respond(start_response, "200 OK", world.traffic.snapshot())
        if path == "/_amibake/stats/reset" and method == "POST":
            try:
                body = read_json(environ)
            except ValueError as e:
                return respond(start_response, "400 Bad Request", {"error": str(e)})
            world.traffic.reset(body.get("region"))
            return respond(start_response, "200 OK", world.traffic.snapshot())
        if path == "/_amibake/facts" and method == "GET":
            return respond(start_response, "200 OK", world.facts_report())
        if path == "/_amibake/realos" and method == "GET":
            return respond(start_response, "200 OK", world.realos.report())
        if path == "/_amibake/config" and method == "GET":
            if "region" in query:
                return respond(start_response, "200 OK", {"region": query["region"], **world.knobs.effective(query["region"])})
            return respond(start_response, "200 OK", world.knobs.snapshot())
        if path == "/_amibake/config" and method == "POST":
            try:
                body = read_json(environ)
                result = world.knobs.update(body)
            except (ValueError, re.error) as e:
                return respond(start_response, "400 Bad Request", {"error": str(e)})
            log(f"config {json.dumps(body, sort_keys=True)}")
            return respond(start_response, "200 OK", result)
    return respond(start_response, "404 Not Found", {"error": f"no such endpoint: {method} {path}"})
