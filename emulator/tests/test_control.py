"""The control endpoint (/_amibake/*): knobs per region and their validation, the request
stats, the fault knobs amibake's retries and bounded waits are tested with, and the guard
that keeps web pages out."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from support import COPY_REGION, REGION, error_code


@pytest.fixture
def bare_ec2(emu):
    """An EC2 client that never retries: each fault is seen as answered."""
    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=5)
    return boto3.client("ec2", endpoint_url=emu.endpoint, region_name=REGION, config=config)


def status_of(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_knobs_are_per_region_and_reset(emu):
    emu.config(instance_pending_seconds=3)
    assert emu.get(f"/_amibake/config?region={REGION}")["instance_pending_seconds"] == 3
    assert emu.get(f"/_amibake/config?region={COPY_REGION}")["instance_pending_seconds"] == 0
    emu.config(reset=True)
    assert emu.get(f"/_amibake/config?region={REGION}")["instance_pending_seconds"] == 0


def test_unknown_or_ill_typed_knobs_are_refused(emu):
    for body in ({"no_such_knob": 1}, {"bad_image": "yes"}, {"fail_command_matching": "("}):
        req = urllib.request.Request(emu.endpoint + "/_amibake/config", data=json.dumps({"region": REGION, **body}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        assert status_of(req) == 400, body


def test_guard_refuses_web_pages_and_non_json_posts(emu):
    page = urllib.request.Request(emu.endpoint + "/_amibake/health", headers={"Origin": "http://example.test"})
    assert status_of(page) == 403
    form = urllib.request.Request(emu.endpoint + "/_amibake/config", data=b"region=*", method="POST",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status_of(form) == 415
    assert emu.get("/_amibake/health")["ok"] is True


def test_error_burst_answers_5xx_then_normally_and_counts_it(emu, bare_ec2):
    emu.post("/_amibake/stats/reset", {})
    emu.config(error_burst_actions=["ec2:DescribeRegions"], error_burst_count=2)
    codes = [error_code(bare_ec2.describe_regions) for _ in range(3)]
    assert codes == ["Unavailable", "InternalError", None]
    stats = emu.get("/_amibake/stats")
    assert stats["faults"][REGION]["error ec2:DescribeRegions"] == 2
    assert stats["calls"][REGION]["ec2:DescribeRegions"] == 3


def test_throttle_storm_throttles_every_call_while_it_lasts(emu, bare_ec2):
    emu.config(throttle_storm_actions=["DescribeImages"], throttle_storm_seconds=30)
    assert error_code(bare_ec2.describe_images, Owners=["self"]) == "RequestLimitExceeded"
    assert error_code(bare_ec2.describe_regions) is None, "other actions pass"
    assert emu.get("/_amibake/stats")["throttled"][REGION]["ec2:DescribeImages"] >= 1


def test_throttle_ec2_empties_the_request_bucket(emu, bare_ec2):
    emu.config(throttle_ec2=True)
    # A burst from many threads: one by one, a busy machine (the test command builds while
    # this runs) can send slower than the bucket refills, and it never empties.
    with ThreadPoolExecutor(max_workers=32) as pool:
        codes = set(pool.map(lambda _: error_code(bare_ec2.describe_regions), range(300)))
    assert "RequestLimitExceeded" in codes and None in codes


def test_regions_not_opted_in_show_in_describe_regions(emu, ec2):
    emu.config(regions_not_opted_in=["ap-east-1"])
    regions = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions(AllRegions=True)["Regions"]}
    assert regions["ap-east-1"] == "not-opted-in"


def acting_as(client, action):
    """Makes `client` name `action` in amibake's `x-amibake-action` header, as amibake's
    requests do while it performs a plan action."""
    def tag(request, **_):
        request.headers["x-amibake-action"] = action
    client.meta.events.register("before-send", tag)
    return client


def test_stats_count_calls_by_the_plan_action_they_name_and_reset_per_region(emu, ec2):
    emu.post("/_amibake/stats/reset", {})
    other = acting_as(emu.client("ec2", region=COPY_REGION), "copy:" + COPY_REGION)
    other.describe_regions()
    tagged = acting_as(emu.client("ec2"), "resolve_source")
    tagged.describe_regions()
    tagged.describe_images(Owners=["self"])
    ec2.describe_regions()
    stats = emu.get("/_amibake/stats")
    assert stats["by_plan_action"][REGION] == {
        "-": {"ec2:DescribeRegions": 1},
        "resolve_source": {"ec2:DescribeImages": 1, "ec2:DescribeRegions": 1},
    }
    assert stats["calls"][REGION] == {"ec2:DescribeImages": 1, "ec2:DescribeRegions": 2}

    emu.post("/_amibake/stats/reset", {"region": REGION})
    stats = emu.get("/_amibake/stats")
    assert REGION not in stats["by_plan_action"] and REGION not in stats["calls"]
    assert stats["by_plan_action"][COPY_REGION] == {"copy:" + COPY_REGION: {"ec2:DescribeRegions": 1}}
