"""Inspector's on-demand AMI scans (inspector2 StartOnDemandScan, GetOnDemandScanStatus,
ListOnDemandScans) and what they leave on the image (ec2 GetImageFindings, DescribeImages'
ScanResults): planted findings, failures, scans that take time, denied access, regions
Inspector does not serve, idempotency, pagination, and POST /moto-api/reset."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from conftest import running_emulator
from support import COPY_REGION, REGION, error_code

CRITICAL = {
    "title": "CVE-2026-1234 - openssl, libssl3",
    "severity": "critical",
    "fix_available": True,
    "fix_available_days_ago": 10,
    "score": 9.8,
    "paths": ["/usr/lib/x86_64-linux-gnu/libssl.so.3"],
}
HIGH_OLD = {"title": "CVE-2026-2001 - curl", "severity": "high", "fix_available": True, "fix_available_days_ago": 3, "score": 7.5}
HIGH_NEW = {"title": "CVE-2026-2002 - curl", "severity": "high", "fix_available": True, "fix_available_days_ago": 1, "score": 7.1}
MEDIUM_NO_FIX = {"title": "CVE-2026-3001 - bash", "severity": "medium", "score": 5.5}
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=5)


@pytest.fixture
def inspector(emu):
    return emu.client("inspector2")


@pytest.fixture
def ami(ec2, source) -> str:
    """An available AMI of this account (the instance behind it is gone)."""
    iid = ec2.run_instances(ImageId=source, InstanceType="t3.small", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image_id = ec2.create_image(InstanceId=iid, Name=f"scan-{uuid.uuid4().hex[:12]}")["ImageId"]
    ec2.terminate_instances(InstanceIds=[iid])
    yield image_id
    ec2.deregister_image(ImageId=image_id)


def start(inspector, image_id: str, **extra) -> str:
    return inspector.start_on_demand_scan(resourceId=image_id, resourceType="AMI", **extra)["scanId"]


def status(inspector, image_id: str, scan_id: str) -> dict:
    return inspector.get_on_demand_scan_status(resourceId=image_id, resourceType="AMI", scanId=scan_id)


def findings(ec2, image_id: str, **extra) -> list[dict]:
    return ec2.get_image_findings(ImageId=image_id, **extra)["ImageFindings"]


def scan_results(ec2, image_id: str) -> dict | None:
    return ec2.describe_images(ImageIds=[image_id])["Images"][0].get("ScanResults")


def days_ago(when: dt.datetime, days: float) -> bool:
    """Whether `when` is `days` days before now (within a minute)."""
    expected = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    return abs((when - expected).total_seconds()) < 60


def test_a_clean_scan_leaves_a_scan_date_and_no_findings(ec2, inspector, ami):
    assert scan_results(ec2, ami) is None, "an image never scanned has no ScanResults"
    assert findings(ec2, ami) == []
    started = inspector.start_on_demand_scan(resourceId=ami, resourceType="AMI")
    assert started["ResponseMetadata"]["HTTPStatusCode"] == 202
    scan_id = started["scanId"]
    assert scan_id.isalnum() and scan_id == scan_id.lower()
    done = status(inspector, ami, scan_id)
    assert (done["scanId"], done["resourceId"], done["resourceType"], done["scanStatus"]) == (scan_id, ami, "AMI", "SUCCESSFUL")
    assert "scanStatusReason" not in done and done["completedAt"] >= done["startedAt"]
    assert findings(ec2, ami) == []
    results = scan_results(ec2, ami)
    assert set(results) == {"FindingScanDate"}, results
    assert done["startedAt"] <= results["FindingScanDate"] <= done["completedAt"], "EC2's scan date is that scan's"


def test_planted_findings_show_in_get_image_findings_and_scan_results(emu, ec2, inspector, ami):
    emu.config(scan_findings=[CRITICAL, HIGH_OLD, HIGH_NEW, MEDIUM_NO_FIX])
    scan_id = start(inspector, ami)
    assert status(inspector, ami, scan_id)["scanStatus"] == "SUCCESSFUL"
    got = findings(ec2, ami)
    assert [f["Title"] for f in got] == [CRITICAL["title"], HIGH_OLD["title"], HIGH_NEW["title"], MEDIUM_NO_FIX["title"]]
    critical = got[0]
    snapshot = ec2.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert (critical["FixAvailable"], critical["Score"], critical["SeverityLabel"], critical["Paths"], critical["SnapshotId"]) == (
        True, 9.8, "critical", CRITICAL["paths"], snapshot)
    assert days_ago(critical["FirstObservedAt"], 0) and days_ago(critical["UpdatedAt"], 0)
    assert (got[3]["FixAvailable"], got[3]["SeverityLabel"]) == (False, "medium")
    results = scan_results(ec2, ami)
    assert results["HighestFindingSeverityLabel"] == "critical"
    assert days_ago(results["CriticalFixAvailableSince"], 10)
    assert days_ago(results["HighFixAvailableSince"], 3), "the earliest of the severity's fix dates"
    assert "MediumFixAvailableSince" not in results, "only fix-available findings date a severity"
    assert "LowFixAvailableSince" not in results and "InformationalFixAvailableSince" not in results


def test_a_rescan_replaces_the_results_and_a_copy_is_not_scanned(emu, ec2, inspector, ami):
    emu.config(scan_findings=[CRITICAL, MEDIUM_NO_FIX])
    assert status(inspector, ami, start(inspector, ami))["scanStatus"] == "SUCCESSFUL"
    first_seen = findings(ec2, ami)[1]["FirstObservedAt"]
    ec2_copy = emu.client("ec2", COPY_REGION)
    copy_id = ec2_copy.copy_image(SourceImageId=ami, SourceRegion=REGION, Name=f"copy-{uuid.uuid4().hex[:12]}")["ImageId"]
    assert scan_results(ec2_copy, copy_id) is None and findings(ec2_copy, copy_id) == []
    ec2_copy.deregister_image(ImageId=copy_id)
    time.sleep(1.1)
    emu.config(scan_findings=[MEDIUM_NO_FIX])
    assert status(inspector, ami, start(inspector, ami))["scanStatus"] == "SUCCESSFUL"
    again = findings(ec2, ami)
    assert [f["Title"] for f in again] == [MEDIUM_NO_FIX["title"]]
    assert again[0]["FirstObservedAt"] == first_seen and again[0]["UpdatedAt"] > first_seen, "a finding seen before keeps its first date"
    results = scan_results(ec2, ami)
    assert results["HighestFindingSeverityLabel"] == "medium" and "CriticalFixAvailableSince" not in results


def test_a_failing_scan_says_why_and_leaves_the_image_as_it_was(emu, ec2, inspector, ami):
    emu.config(scan_findings=[CRITICAL], scan_fail_reason="UNSUPPORTED_OS")
    failed = status(inspector, ami, start(inspector, ami))
    assert (failed["scanStatus"], failed["scanStatusReason"]) == ("FAILED", "UNSUPPORTED_OS")
    assert "completedAt" in failed
    assert scan_results(ec2, ami) is None and findings(ec2, ami) == []
    for bad in ({"scan_fail_reason": "BROKEN"}, {"scan_findings": [{"title": "CVE-1", "severity": "severe"}]},
                {"scan_findings": [{"severity": "low"}]}, {"scan_findings": [{"title": "CVE-1", "severity": "low", "cvss": 1}]},
                {"scan_findings": [{"title": "CVE-1", "severity": "low", "fix_available_days_ago": -1}]}):
        with pytest.raises(Exception, match="400"):
            emu.config(**bad)


def test_an_image_deregistered_during_its_scan_fails_it(emu, ec2, inspector, source):
    iid = ec2.run_instances(ImageId=source, InstanceType="t3.small", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image_id = ec2.create_image(InstanceId=iid, Name=f"scan-{uuid.uuid4().hex[:12]}")["ImageId"]
    ec2.terminate_instances(InstanceIds=[iid])
    emu.config(scan_seconds=1)
    scan_id = start(inspector, image_id)
    ec2.deregister_image(ImageId=image_id)
    time.sleep(1.1)
    failed = status(inspector, image_id, scan_id)
    assert (failed["scanStatus"], failed["scanStatusReason"]) == ("FAILED", "RESOURCE_TERMINATED")


def test_a_scan_takes_scan_seconds_with_the_findings_of_its_start(emu, ec2, inspector, ami):
    emu.config(scan_seconds=1.5, scan_findings=[HIGH_OLD])
    scan_id = start(inspector, ami)
    emu.config(scan_findings=[CRITICAL])
    running = status(inspector, ami, scan_id)
    assert running["scanStatus"] == "IN_PROGRESS" and "completedAt" not in running
    assert scan_results(ec2, ami) is None
    time.sleep(1.6)
    done = status(inspector, ami, scan_id)
    assert done["scanStatus"] == "SUCCESSFUL"
    assert 1.4 < (done["completedAt"] - done["startedAt"]).total_seconds() < 1.6
    assert [f["Title"] for f in findings(ec2, ami)] == [HIGH_OLD["title"]], "the knob as it was when the scan started"
    listed = inspector.list_on_demand_scans(resourceId=ami, resourceType="AMI")["items"]
    assert [(s["scanId"], s["scanStatus"]) for s in listed] == [(scan_id, "SUCCESSFUL")]


def test_access_denied_and_dry_run(emu, ec2, inspector, ami):
    assert error_code(status, inspector, ami, "0123456789abcdef") == "ResourceNotFoundException"
    assert error_code(ec2.get_image_findings, ImageId=ami, DryRun=True) == "DryRunOperation"
    emu.config(inspector_access_denied=True)
    with pytest.raises(ClientError) as denied:
        start(inspector, ami)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error_code(status, inspector, ami, "0123456789abcdef") == "AccessDeniedException"
    assert error_code(ec2.get_image_findings, ImageId=ami, DryRun=True) == "UnauthorizedOperation"
    assert error_code(ec2.get_image_findings, ImageId=ami) == "UnauthorizedOperation"


def test_the_client_token_makes_start_idempotent(emu, ec2, inspector, ami, source):
    token = str(uuid.uuid4())
    scan_id = start(inspector, ami, clientToken=token)
    assert start(inspector, ami, clientToken=token) == scan_id
    assert start(inspector, ami) != scan_id, "a new token, a new scan"
    assert error_code(start, inspector, source, clientToken=token) == "ConflictException", "a token is for one resource"
    assert error_code(start, inspector, "ami-0000000000000000f") == "ValidationException"
    emu.config(image_pending_seconds=30)
    iid = ec2.run_instances(ImageId=source, InstanceType="t3.small", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    pending = ec2.create_image(InstanceId=iid, Name=f"scan-{uuid.uuid4().hex[:12]}")["ImageId"]
    ec2.terminate_instances(InstanceIds=[iid])
    assert error_code(start, inspector, pending) == "ConflictException"
    assert error_code(status, inspector, source, scan_id) == "ResourceNotFoundException", "a scan of another resource"


def test_get_image_findings_pages(emu, ec2, inspector, ami):
    planted = [{"title": f"CVE-2026-{1000 + i} - pkg{i}", "severity": "low"} for i in range(5)]
    emu.config(scan_findings=planted)
    assert status(inspector, ami, start(inspector, ami))["scanStatus"] == "SUCCESSFUL"
    titles, token, pages = [], None, 0
    while True:
        page = ec2.get_image_findings(ImageId=ami, MaxResults=2, **({"NextToken": token} if token else {}))
        titles += [f["Title"] for f in page["ImageFindings"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert (titles, pages) == ([f["title"] for f in planted], 3)
    assert error_code(ec2.get_image_findings, ImageId=ami, NextToken="bogus") == "InvalidPaginationToken"
    assert error_code(ec2.get_image_findings, ImageId="ami-0000000000000000f") == "InvalidAMIID.NotFound"
    unchecked = boto3.client("ec2", endpoint_url=emu.endpoint, region_name=REGION, config=Config(parameter_validation=False))
    assert error_code(unchecked.get_image_findings, ImageId=ami, MaxResults=0) == "InvalidParameterValue"


def test_scans_are_counted_and_faults_reach_them(emu, ami):
    emu.post("/_amibake/stats/reset", {"region": REGION})
    bare = boto3.client("inspector2", endpoint_url=emu.endpoint, region_name=REGION, config=NO_RETRIES)
    emu.config(error_burst_actions=["inspector2:GetOnDemandScanStatus"], error_burst_count=1)
    scan_id = start(bare, ami)
    with pytest.raises(ClientError) as burst:
        status(bare, ami, scan_id)
    assert (burst.value.response["Error"]["Code"], burst.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("InternalServerException", 500)
    emu.config(throttle_storm_actions=["StartOnDemandScan"], throttle_storm_seconds=30)
    with pytest.raises(ClientError) as storm:
        start(bare, ami)
    assert (storm.value.response["Error"]["Code"], storm.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("ThrottlingException", 429)
    stats = emu.get("/_amibake/stats")
    assert stats["calls"][REGION] == {"inspector2:GetOnDemandScanStatus": 1, "inspector2:StartOnDemandScan": 2}
    assert stats["faults"][REGION] == {"error inspector2:GetOnDemandScanStatus": 1, "throttle inspector2:StartOnDemandScan": 1}


def test_a_region_inspector_does_not_serve_never_answers(emu, ami):
    emu.config(inspector_regions_unserved=[REGION])
    bare = boto3.client("inspector2", endpoint_url=emu.endpoint, region_name=REGION, config=NO_RETRIES)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        start(bare, ami)
    emu.config(inspector_regions_unserved=[COPY_REGION])
    assert start(bare, ami)


def test_reset_forgets_scans(tmp_path):
    with running_emulator(tmp_path) as fresh:
        ec2, inspector = fresh.client("ec2"), fresh.client("inspector2")
        source = fresh.client("ssm").get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
        fresh.config(scan_findings=[CRITICAL])
        iid = ec2.run_instances(ImageId=source, InstanceType="t3.small", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        image_id = ec2.create_image(InstanceId=iid, Name="scan-reset")["ImageId"]
        scan_id = start(inspector, image_id)
        assert status(inspector, image_id, scan_id)["scanStatus"] == "SUCCESSFUL"
        fresh.post("/moto-api/reset", {})
        assert error_code(status, inspector, image_id, scan_id) == "ResourceNotFoundException"
        assert error_code(ec2.get_image_findings, ImageId=image_id) == "InvalidAMIID.NotFound"
