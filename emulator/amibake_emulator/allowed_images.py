"""The account's Allowed AMIs settings (moto 5.2.5 has none), from the `allowed_images`
knob of the region asked:

  {"state": "enabled" | "audit-mode" | "disabled",
   "criteria": [{"ImageProviders": [...], "ImageNames": [...], "MarketplaceProductCodes": [...],
                 "CreationDateCondition": {"MaximumDaysSinceCreated": N},
                 "DeprecationTimeCondition": {"MaximumDaysSinceDeprecated": N},
                 "ScanResultCondition": {...}, "ImageWatermarks": [{...}]}],
   "managed_by": "account" | "declarative-policy",
   "access_denied": false}

  * ec2:GetAllowedImagesSettings: State, ImageCriteria (as given), ManagedBy;
    `access_denied` answers 403 UnauthorizedOperation, as IAM does without the grant.
  * DescribeImages: `ImageAllowed` on each image unless the state is disabled: true for the
    account's own images (Allowed AMIs never restricts them) and for images meeting a
    criterion (every condition given holds; a list holds when any value matches).
  * RunInstances (also the launches of Auto Scaling groups, which go through the same
    backend call): when enabled, an image that is not allowed is refused with
    InvalidAMIID.NotFound, as EC2 no longer shows it. The launch check judges providers,
    names, product codes, creation and deprecation; a criterion with a scan-result or
    watermark condition never allows an image here (fail closed). Unlike EC2, DescribeImages
    still shows a refused image, so a client can tell which criterion it fails. A stack
    update whose group changes onto such an image (a parameter naming it) fails and rolls
    back with the launch failure as the group's reason, as CloudFormation reports a group
    whose instances cannot launch (stack_update.py).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import World

STATES = ("enabled", "audit-mode", "disabled")
KEYS = {"state", "criteria", "managed_by", "access_denied"}
CRITERION_KEYS = {
    "ImageProviders",
    "ImageNames",
    "MarketplaceProductCodes",
    "CreationDateCondition",
    "DeprecationTimeCondition",
    "ScanResultCondition",
    "ImageWatermarks",
}
CONDITION_KEYS = {
    "CreationDateCondition": {"MaximumDaysSinceCreated"},
    "DeprecationTimeCondition": {"MaximumDaysSinceDeprecated"},
    "ScanResultCondition": {
        "MaximumSeverityLabel",
        "MaxDaysSinceLastFindingScan",
        "MaxDaysSinceInformationalFixAvailable",
        "MaxDaysSinceLowFixAvailable",
        "MaxDaysSinceMediumFixAvailable",
        "MaxDaysSinceHighFixAvailable",
        "MaxDaysSinceCriticalFixAvailable",
    },
}
WATERMARK_KEYS = {"WatermarkKey", "SourceImageRegion", "MaximumDaysSinceSourceImageCreated", "MaximumDaysSinceWatermarkCreated"}
SEVERITIES = ("informational", "low", "medium", "high", "critical")
PROVIDER = re.compile(r"^(amazon|aws-marketplace|aws-backup-vault|none|\d{12})$")


def check_knob(value: Any) -> dict[str, Any] | None:
    """`allowed_images`: null (off: disabled, no criteria) or the settings above."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("allowed_images must be an object {state, criteria, managed_by, access_denied} or null")
    unknown = set(value) - KEYS
    if unknown:
        raise ValueError(f"allowed_images: unknown keys {sorted(unknown)}; known: {sorted(KEYS)}")
    if value.get("state") not in STATES:
        raise ValueError(f"allowed_images.state must be one of {list(STATES)}")
    if value.get("managed_by", "account") not in ("account", "declarative-policy"):
        raise ValueError("allowed_images.managed_by must be account or declarative-policy")
    if not isinstance(value.get("access_denied", False), bool):
        raise ValueError("allowed_images.access_denied must be true or false")
    criteria = value.get("criteria", [])
    if not isinstance(criteria, list) or len(criteria) > 10:
        raise ValueError("allowed_images.criteria must be a list of at most 10 criteria")
    for i, c in enumerate(criteria):
        check_criterion(f"allowed_images.criteria[{i}]", c)
    return {**value, "criteria": criteria}


def check_criterion(where: str, c: Any) -> None:
    if not isinstance(c, dict) or not c:
        raise ValueError(f"{where} must be a non-empty object")
    unknown = set(c) - CRITERION_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(CRITERION_KEYS)}")
    for key in ("ImageProviders", "ImageNames", "MarketplaceProductCodes"):
        values = c.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise ValueError(f"{where}.{key} must be a list of non-empty strings")
    bad = [p for p in c.get("ImageProviders", []) if not PROVIDER.match(p)]
    if bad:
        raise ValueError(f"{where}.ImageProviders: {bad} are not amazon, aws-marketplace, aws-backup-vault, none or a 12-digit account id")
    for key, fields in CONDITION_KEYS.items():
        if key not in c:
            continue
        cond = c[key]
        if not isinstance(cond, dict) or not cond or set(cond) - fields:
            raise ValueError(f"{where}.{key} must be an object of {sorted(fields)}")
        for name, v in cond.items():
            if name == "MaximumSeverityLabel":
                if v not in SEVERITIES:
                    raise ValueError(f"{where}.{key}.{name} must be one of {list(SEVERITIES)}")
            elif isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{where}.{key}.{name} must be a whole number >= 0")
    marks = c.get("ImageWatermarks", [])
    if not isinstance(marks, list) or not all(isinstance(m, dict) and m and not set(m) - WATERMARK_KEYS for m in marks):
        raise ValueError(f"{where}.ImageWatermarks must be a list of objects of {sorted(WATERMARK_KEYS)}")


def settings(world: World, region: str) -> dict[str, Any]:
    return world.knobs.get(region, "allowed_images") or {"state": "disabled", "criteria": []}


def as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(value, str) and value:
        return as_datetime(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    return None


def meets(criterion: dict[str, Any], ami: Any, now: dt.datetime) -> bool:
    """Every condition of `criterion` holds for `ami` (scan and watermark conditions: never)."""
    if "ScanResultCondition" in criterion or "ImageWatermarks" in criterion:
        return False
    providers = criterion.get("ImageProviders")
    if providers and ami.owner_id not in providers and (ami.owner_alias or "") not in providers:
        return False
    names = criterion.get("ImageNames")
    if names and not any(fnmatch.fnmatchcase(ami.name or "", n.replace("[", "[[]")) for n in names):
        return False
    codes = criterion.get("MarketplaceProductCodes")
    if codes and not set(codes) & set(ami.product_codes or ()):
        return False
    created = criterion.get("CreationDateCondition")
    if created:
        born = as_datetime(ami.creation_date)
        if born is None or (now - born).days > created["MaximumDaysSinceCreated"]:
            return False
    deprecated = criterion.get("DeprecationTimeCondition")
    at = as_datetime(getattr(ami, "deprecation_time", None))
    if deprecated and at is not None and at <= now:
        limit = deprecated["MaximumDaysSinceDeprecated"]
        if limit == 0 or (now - at).days > limit:
            return False
    return True


def allowed(world: World, ami: Any) -> bool | None:
    """EC2's ImageAllowed for `ami`; None when the settings are disabled."""
    backend = ami.ec2_backend
    s = settings(world, backend.region_name)
    if s["state"] == "disabled":
        return None
    if ami.owner_id == backend.account_id:
        return True
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return any(meets(c, ami, now) for c in s.get("criteria", []))


def refused_launch(world: World, account: str, region: str, parameters: dict[str, Any]) -> str | None:
    """Why launching from an AMI among a stack update's parameter values would be refused
    (enabled settings, an image they do not allow), or None: the update then fails the way
    a group whose instances cannot launch does (stack_update.py)."""
    if settings(world, region)["state"] != "enabled":
        return None
    from moto.ec2.models import ec2_backends

    amis = ec2_backends[account][region].amis
    for value in parameters.values():
        ami = amis.get(value) if isinstance(value, str) else None
        if ami is not None and allowed(world, ami) is False:
            return (
                f"Instance failed to launch: The image id '[{value}]' does not exist "
                "(amibake-emulator: the account's Allowed AMIs settings do not allow it)"
            )
    return None


def install(world: World) -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.models import EC2Backend
    from moto.ec2.models.amis import Ami
    from moto.ec2.responses import EC2Response

    from .ec2 import ec2_error, unauthorized

    def get_allowed_images_settings(self: Any) -> Any:
        s = settings(world, self.region)
        if s.get("access_denied"):
            return unauthorized(self.current_account, "ec2:GetAllowedImagesSettings", "allowed_images.access_denied")
        self.error_on_dryrun()
        return ActionResult(
            {"State": s["state"], "ImageCriteria": s.get("criteria", []), "ManagedBy": s.get("managed_by", "account")}
        )

    EC2Response.get_allowed_images_settings = get_allowed_images_settings

    Ami.image_allowed = property(lambda self: allowed(world, self))

    orig_run_instances = EC2Backend.run_instances

    def run_instances(self: Any, image_id: str, count: int, user_data: Any, sgs: Any, **kw: Any) -> Any:
        ami = self.amis.get(image_id) if image_id else None
        if ami is not None and settings(world, self.region_name)["state"] == "enabled" and allowed(world, ami) is False:
            raise ec2_error(
                "InvalidAMIID.NotFound",
                f"The image id '[{image_id}]' does not exist (amibake-emulator: the account's Allowed AMIs settings do not allow it)",
            )
        return orig_run_instances(self, image_id, count, user_data, sgs, **kw)

    EC2Backend.run_instances = run_instances
