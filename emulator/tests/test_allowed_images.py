"""The account's Allowed AMIs settings (allowed_images knob): GetAllowedImagesSettings,
DescribeImages' ImageAllowed, RunInstances refusing a non-allowed image when enabled, a
denied read, and the knob's validation."""

from __future__ import annotations

import pytest
from support import error_code

ONLY_CANONICAL = {"ImageProviders": ["099720109477"]}


def run(ec2, image_id: str) -> str | None:
    return error_code(ec2.run_instances, ImageId=image_id, InstanceType="t3.small", MinCount=1, MaxCount=1)


def test_disabled_by_default_and_no_image_is_marked(ec2, source):
    out = ec2.get_allowed_images_settings()
    assert out["State"] == "disabled" and out.get("ImageCriteria", []) == []
    assert "ImageAllowed" not in ec2.describe_images(ImageIds=[source])["Images"][0]


def test_enabled_settings_mark_images_and_refuse_the_launch_of_a_non_allowed_one(emu, ec2, source):
    created = {"CreationDateCondition": {"MaximumDaysSinceCreated": 36500}}
    emu.config(allowed_images={"state": "enabled", "criteria": [ONLY_CANONICAL, {"ImageNames": ["nothing-*"], **created}]})
    out = ec2.get_allowed_images_settings()
    assert out["State"] == "enabled" and out["ManagedBy"] == "account"
    assert out["ImageCriteria"][0]["ImageProviders"] == ["099720109477"]
    assert out["ImageCriteria"][1]["CreationDateCondition"]["MaximumDaysSinceCreated"] == 36500
    # The AL2023 source is Amazon's: no criterion allows it.
    assert ec2.describe_images(ImageIds=[source])["Images"][0]["ImageAllowed"] is False
    assert run(ec2, source) == "InvalidAMIID.NotFound"
    ubuntu = ec2.describe_images(Owners=["099720109477"])["Images"][0]
    assert ubuntu["ImageAllowed"] is True
    assert run(ec2, ubuntu["ImageId"]) is None
    # Audit mode marks the image the same way but launches it.
    emu.config(allowed_images={"state": "audit-mode", "criteria": [ONLY_CANONICAL]})
    assert ec2.describe_images(ImageIds=[source])["Images"][0]["ImageAllowed"] is False
    assert run(ec2, source) is None


def test_the_accounts_own_images_are_always_allowed(emu, ec2, builder):
    image = ec2.create_image(InstanceId=builder, Name="own-allowed-test")["ImageId"]
    emu.config(allowed_images={"state": "enabled", "criteria": [{"ImageNames": ["something-else-*"]}]})
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["ImageAllowed"] is True
    ec2.deregister_image(ImageId=image)


def test_a_denied_read_is_unauthorized_operation(emu, ec2):
    emu.config(allowed_images={"state": "enabled", "criteria": [ONLY_CANONICAL], "access_denied": True})
    assert error_code(ec2.get_allowed_images_settings) == "UnauthorizedOperation"


@pytest.mark.parametrize(
    "value",
    [
        "enabled",
        {"state": "on"},
        {"state": "enabled", "criteria": [{}]},
        {"state": "enabled", "criteria": [{"ImageOwners": ["amazon"]}]},
        {"state": "enabled", "criteria": [{"ImageProviders": ["amazon.com"]}]},
        {"state": "enabled", "criteria": [{"CreationDateCondition": {"MaximumDaysSinceCreated": -1}}]},
        {"state": "enabled", "criteria": [{"ScanResultCondition": {"MaximumSeverityLabel": "severe"}}]},
        {"state": "enabled", "criteria": [ONLY_CANONICAL] * 11},
        {"state": "enabled", "managed_by": "someone"},
    ],
)
def test_bad_settings_are_refused_with_the_reason(emu, value):
    with pytest.raises(Exception) as e:
        emu.config(allowed_images=value)
    assert "allowed_images" in str(getattr(e.value, "read", lambda: b"")().decode() or e.value)
