"""EC2's image usage reports, which moto 5.2.5 lacks: CreateImageUsageReport,
DescribeImageUsageReports, DescribeImageUsageReportEntries.

A report says which other accounts use a shared AMI. The emulator has no other
accounts, so the entries are planted by the region's `image_usage` knob, read when the
report is created: `{"ami-… or *": [{"account_id": "111122223333", "resource_type":
"ec2:Instance", "usage_count": 3}]}` (the shape of ImageUsageReportEntry).

  * CreateImageUsageReport (ImageId, ResourceTypes required, AccountIds, ClientToken,
    TagSpecifications of `image-usage-report`): `ReportId` `amiur-` + 17 hex; only the
    image's owner may (else `AuthFailure`, an assumption). The entries kept are the
    knob's for that image (or `*`) whose resource type was asked and, with AccountIds,
    whose account was named. The same ClientToken returns the same report.
  * The report is `pending` for `usage_report_seconds`, then `available`; it expires
    30 days after creation (ExpirationTime; nothing is deleted here).
  * DescribeImageUsageReports (ImageIds, ReportIds, Filters `state`, MaxResults,
    NextToken) and DescribeImageUsageReportEntries (ImageIds, ReportIds, Filters
    `account-id`, `resource-type`, MaxResults, NextToken). A pending report has no
    entries yet.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .ec2 import ec2_error, page_size, page_start, page_token
from .util import epoch_to_dt

if TYPE_CHECKING:
    from .state import World

USAGE_TYPES = ("ec2:Instance", "ec2:LaunchTemplate")
EXPIRY_SECONDS = 30 * 86400


@dataclass
class UsageReport:
    report_id: str
    image_id: str
    resource_types: list[str]
    account_ids: list[str]
    created: float
    ready_at: float
    entries: list[dict[str, Any]]
    tags: list[dict[str, str]] = field(default_factory=list)

    def state(self) -> str:
        return "available" if time.time() >= self.ready_at else "pending"

    def shape(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ImageId": self.image_id,
            "ReportId": self.report_id,
            "ResourceTypes": [{"ResourceType": t} for t in self.resource_types],
            "State": self.state(),
            "CreationTime": epoch_to_dt(self.created),
            "ExpirationTime": epoch_to_dt(self.created + EXPIRY_SECONDS),
            "Tags": self.tags,
        }
        if self.account_ids:
            out["AccountIds"] = self.account_ids
        return out

    def entry_shapes(self) -> list[dict[str, Any]]:
        return [
            {
                "ResourceType": e["resource_type"],
                "ReportId": self.report_id,
                "UsageCount": int(e["usage_count"]),
                "AccountId": e["account_id"],
                "ImageId": self.image_id,
                "ReportCreationTime": epoch_to_dt(self.created),
            }
            for e in self.entries
        ]


def check_image_usage(value: Any) -> dict[str, list[dict[str, Any]]]:
    """The `image_usage` knob: {image id or "*": [{account_id, resource_type, usage_count}]}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("image_usage must map an image id (or *) to a list of entries")
    for key, entries in value.items():
        if not isinstance(key, str) or not (key == "*" or key.startswith("ami-")):
            raise ValueError(f"image_usage: {key!r} is not an image id or *")
        if not isinstance(entries, list):
            raise ValueError(f"image_usage[{key}] must be a list")
        for e in entries:
            if not isinstance(e, dict) or set(e) != {"account_id", "resource_type", "usage_count"}:
                raise ValueError("each image_usage entry needs exactly account_id, resource_type, usage_count")
            if not (isinstance(e["account_id"], str) and len(e["account_id"]) == 12 and e["account_id"].isdigit()):
                raise ValueError(f"image_usage: account_id {e['account_id']!r} is not a 12-digit account")
            if e["resource_type"] not in USAGE_TYPES:
                raise ValueError(f"image_usage: resource_type must be one of {list(USAGE_TYPES)}")
            if isinstance(e["usage_count"], bool) or not isinstance(e["usage_count"], int) or e["usage_count"] < 0:
                raise ValueError("image_usage: usage_count must be an integer >= 0")
    return value


def install(world: World) -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses import EC2Response

    def create_image_usage_report(self: Any) -> Any:
        backend = self.ec2_backend
        region = backend.region_name
        image_id = self._get_param("ImageId")
        types = [t.get("ResourceType") for t in self._get_param("ResourceTypes", []) or []]
        if not image_id or not types:
            raise ec2_error("MissingParameter", "The request must contain the parameters ImageId and ResourceTypes")
        if any(t not in USAGE_TYPES for t in types):
            raise ec2_error("InvalidParameterValue", f"ResourceType must be one of {', '.join(USAGE_TYPES)}")
        self.error_on_dryrun()
        ami = backend.describe_images(ami_ids=[image_id])[0]  # InvalidAMIID.NotFound / .Malformed
        if ami.owner_id != backend.account_id:
            raise ec2_error("AuthFailure", f"Not authorized for image:{image_id}; only the owner may report its usage")
        token = self._get_param("ClientToken")
        key = (backend.account_id, region, "CreateImageUsageReport", token or "")
        if token and key in world.tokens:
            return ActionResult({"ReportId": world.tokens[key]})
        accounts = self._get_param("AccountIds", []) or []
        planted = world.knobs.get(region, "image_usage")
        entries = [
            dict(e)
            for e in planted.get(image_id, planted.get("*", []))
            if e["resource_type"] in types and (not accounts or e["account_id"] in accounts)
        ]
        tags = [t for spec in self._get_param("TagSpecifications", []) or [] if spec.get("ResourceType") == "image-usage-report" for t in spec.get("Tags", [])]
        now = time.time()
        report = UsageReport(
            report_id="amiur-" + secrets.token_hex(9)[:17],
            image_id=image_id,
            resource_types=types,
            account_ids=accounts,
            created=now,
            ready_at=now + float(world.knobs.get(region, "usage_report_seconds")),
            entries=entries,
            tags=tags,
        )
        world.usage_reports[(backend.account_id, region, report.report_id)] = report
        if token:
            world.tokens[key] = report.report_id
        return ActionResult({"ReportId": report.report_id})

    def selected(self: Any) -> list[UsageReport]:
        backend = self.ec2_backend
        image_ids = self._get_param("ImageIds", []) or []
        report_ids = self._get_param("ReportIds", []) or []
        return [
            r
            for (account, region, _), r in world.usage_reports.items()
            if account == backend.account_id
            and region == backend.region_name
            and (not image_ids or r.image_id in image_ids)
            and (not report_ids or r.report_id in report_ids)
        ]

    def describe_image_usage_reports(self: Any) -> Any:
        self.error_on_dryrun()
        filters = self._filters_from_querystring()
        reports = [r.shape() for r in selected(self)]
        if filters.get("state"):
            reports = [r for r in reports if r["State"] in filters["state"]]
        page, token = paginate(self, reports, "reports")
        return ActionResult({"ImageUsageReports": page, **({"NextToken": token} if token else {})})

    def describe_image_usage_report_entries(self: Any) -> Any:
        self.error_on_dryrun()
        filters = self._filters_from_querystring()
        entries = [e for r in selected(self) if r.state() == "available" for e in r.entry_shapes()]
        if filters.get("account-id"):
            entries = [e for e in entries if e["AccountId"] in filters["account-id"]]
        if filters.get("resource-type"):
            entries = [e for e in entries if e["ResourceType"] in filters["resource-type"]]
        page, token = paginate(self, entries, "entries")
        return ActionResult({"ImageUsageReportEntries": page, **({"NextToken": token} if token else {})})

    EC2Response.create_image_usage_report = create_image_usage_report
    EC2Response.describe_image_usage_reports = describe_image_usage_reports
    EC2Response.describe_image_usage_report_entries = describe_image_usage_report_entries


def paginate(self: Any, items: list[dict[str, Any]], kind: str) -> tuple[list[dict[str, Any]], str | None]:
    size = page_size(self)
    start = page_start(self._get_param("NextToken"), kind, len(items))
    return items[start : start + size], page_token(kind, start + size, len(items))
