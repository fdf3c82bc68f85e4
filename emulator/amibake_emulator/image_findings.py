"""What an Inspector scan leaves on an AMI, as EC2 shows it: GetImageFindings and
DescribeImages' ScanResults, which moto 5.2.5 lacks.

amibake judges a scanned image by these (its severity and fix-age limits), not by
Inspector's own finding APIs. The results are those of the image's last successful
on-demand scan (inspector.py, `world.image_scans`); an image never scanned has none, a
copy is not scanned unless it is scanned itself, and a rescan replaces them.

  * ec2:GetImageFindings (ImageId, MaxResults 1-1000, NextToken, DryRun): the findings
    as `ImageFinding`s (fixAvailable, score, firstObservedAt, updatedAt, title, pathSet,
    severityLabel, snapshotId), oldest first; none for an image never scanned. With
    `inspector_access_denied` every call (DryRun too) is UnauthorizedOperation (403);
    otherwise DryRun answers DryRunOperation.
  * ec2:DescribeImages: a scanned image carries `scanResults`: highestFindingSeverityLabel
    (with at least one finding), findingScanDate, and `<severity>FixAvailableSince`, the
    earliest "now - fix_available_days_ago" among that severity's fix-available findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .ec2 import ec2_error, page_size, page_start, page_token, unauthorized
from .util import epoch_to_dt

if TYPE_CHECKING:
    from .inspector import ImageScan
    from .state import World

SEVERITY_NAMES = {
    "informational": "Informational",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "critical": "Critical",
}
RANK = {s: i for i, s in enumerate(SEVERITY_NAMES)}


def install(world: World) -> None:
    install_get_image_findings(world)
    install_scan_results(world)


def results_of(world: World, ami: Any) -> ImageScan | None:
    return world.image_scans.get((ami.ec2_backend.account_id, ami.ec2_backend.region_name, ami.id))


def scan_results(scan: ImageScan) -> dict[str, Any]:
    """EC2's ScanResults of an image (moto serializes the datetimes)."""
    out: dict[str, Any] = {"FindingScanDate": epoch_to_dt(scan.scanned_at)}
    if scan.findings:
        out["HighestFindingSeverityLabel"] = max((f["severity"] for f in scan.findings), key=RANK.__getitem__)
    for severity, name in SEVERITY_NAMES.items():
        since = [f["fix_since"] for f in scan.findings if f["severity"] == severity and f["fix_since"] is not None]
        if since:
            out[f"{name}FixAvailableSince"] = epoch_to_dt(min(since))
    return out


def image_finding(f: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "FixAvailable": f["fix_available"],
        "FirstObservedAt": epoch_to_dt(f["first_observed"]),
        "UpdatedAt": epoch_to_dt(f["updated"]),
        "Title": f["title"],
        "Paths": f["paths"],
        "SeverityLabel": f["severity"],
    }
    if f["score"] is not None:
        out["Score"] = float(f["score"])
    if f["snapshot_id"]:
        out["SnapshotId"] = f["snapshot_id"]
    return out


def install_get_image_findings(world: World) -> None:
    from moto.ec2.responses import EC2Response

    def get_image_findings(self: Any) -> Any:
        from moto.core.responses import ActionResult

        backend = self.ec2_backend
        if world.knobs.get(backend.region_name, "inspector_access_denied"):
            return unauthorized(backend.account_id, "ec2:GetImageFindings", "inspector_access_denied")
        self.error_on_dryrun()
        image_id = self._get_param("ImageId")
        if not image_id:
            raise ec2_error("MissingParameter", "The request must contain the parameter ImageId")
        size = page_size(self)
        ami = backend.describe_images(ami_ids=[image_id])[0]  # InvalidAMIID.NotFound / .Malformed
        scan = results_of(world, ami)
        findings = scan.findings if scan else []
        # A token names the image it pages through.
        start = page_start(self._get_param("NextToken"), image_id, len(findings))
        result: dict[str, Any] = {"ImageFindings": [image_finding(f) for f in findings[start : start + size]]}
        token = page_token(image_id, start + size, len(findings))
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    EC2Response.get_image_findings = get_image_findings


def install_scan_results(world: World) -> None:
    """DescribeImages: `scanResults` on a scanned image (moto's serializer reads the property)."""
    from moto.ec2.models.amis import Ami

    def scan_results_property(self: Any) -> dict[str, Any] | None:
        scan = results_of(world, self)
        return scan_results(scan) if scan else None

    Ami.scan_results = property(scan_results_property)
