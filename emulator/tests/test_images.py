"""Images: CreateImage's guards and tags, what an image carries to a boot test, CopyImage,
deprecation, and CreateTags as amibake's IAM policy allows it."""

from __future__ import annotations

import time
import uuid

import pytest
from support import COPY_REGION, REGION, error_code, launch, run
from test_commands import INSTALL

TAG = {"Key": "amibake:recipe", "Value": "test"}


@pytest.fixture
def image(emu, ec2, ssm, builder) -> str:
    """An image of a stopped builder that installed the agent (image_pending_seconds 2)."""
    assert run(ssm, builder, INSTALL)["Status"] == "Success"
    ec2.stop_instances(InstanceIds=[builder])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[builder], WaiterConfig={"Delay": 1})
    emu.config(image_pending_seconds=2)
    image_id = ec2.create_image(
        InstanceId=builder,
        Name=f"test-{uuid.uuid4().hex[:12]}",
        TagSpecifications=[{"ResourceType": "image", "Tags": [TAG]}, {"ResourceType": "snapshot", "Tags": [TAG]}],
    )["ImageId"]
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"] == "pending"
    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 1})
    yield image_id
    ec2.deregister_image(ImageId=image_id)


def test_ami_names_are_checked_like_aws(ec2, builder):
    assert error_code(ec2.create_image, InstanceId=builder, Name="bake-2024-01-01T00:00:00Z") == "InvalidAMIName.Malformed"
    name = f"test-{uuid.uuid4().hex[:12]}"
    ec2.create_image(InstanceId=builder, Name=name)
    assert error_code(ec2.create_image, InstanceId=builder, Name=name) == "InvalidAMIName.Duplicate"


def test_image_is_tagged_encrypted_and_deprecable(ec2, image):
    found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:amibake:recipe", "Values": ["test"]}, {"Name": "image-id", "Values": [image]}])["Images"]
    assert [i["State"] for i in found] == ["available"]
    snap = found[0]["BlockDeviceMappings"][0]["Ebs"]
    assert snap["Encrypted"] is False and snap["VolumeSize"] == 8
    assert TAG in ec2.describe_snapshots(SnapshotIds=[snap["SnapshotId"]])["Snapshots"][0].get("Tags", [])
    ec2.enable_image_deprecation(ImageId=image, DeprecateAt="2099-01-01T00:00:00Z")
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["DeprecationTime"].startswith("2099-01-01")
    ec2.disable_image_deprecation(ImageId=image)
    assert "DeprecationTime" not in ec2.describe_images(ImageIds=[image])["Images"][0]


def test_an_instance_of_the_image_carries_what_the_bake_installed(ec2, ssm, image):
    boot = launch(ec2, ssm, image)
    assert run(ssm, boot, "rpm -q codedeploy-agent")["StandardOutputContent"] == "codedeploy-agent-1.7.1-999.noarch\n"
    ec2.terminate_instances(InstanceIds=[boot])


def test_copy_is_idempotent_pending_then_tagged(emu, image):
    emu.config(region=COPY_REGION, copy_pending_seconds=2)
    ec2_copy = emu.client("ec2", COPY_REGION)
    args = dict(SourceImageId=image, SourceRegion=REGION, Name=f"copy-{uuid.uuid4().hex[:12]}", ClientToken=f"copy-{uuid.uuid4()}",
                TagSpecifications=[{"ResourceType": "image", "Tags": [TAG]}])
    copy_id = ec2_copy.copy_image(**args)["ImageId"]
    assert ec2_copy.copy_image(**args)["ImageId"] == copy_id, "ClientToken"
    assert ec2_copy.describe_images(ImageIds=[copy_id])["Images"][0]["State"] == "pending"
    ec2_copy.get_waiter("image_available").wait(ImageIds=[copy_id], WaiterConfig={"Delay": 1})
    assert TAG in ec2_copy.describe_images(ImageIds=[copy_id])["Images"][0]["Tags"]
    ec2_copy.deregister_image(ImageId=copy_id)


def test_pending_images_cannot_be_launched_or_copied(emu, ec2, builder):
    emu.config(image_pending_seconds=30)
    pending = ec2.create_image(InstanceId=builder, Name=f"test-{uuid.uuid4().hex[:12]}")["ImageId"]
    assert error_code(ec2.run_instances, ImageId=pending, InstanceType="t3.small", MinCount=1, MaxCount=1) == "InvalidAMIID.Unavailable"
    ec2_copy = emu.client("ec2", COPY_REGION)
    assert error_code(ec2_copy.copy_image, SourceImageId=pending, SourceRegion=REGION, Name=f"c-{time.time_ns()}") == "IncorrectState"


def test_create_tags_follows_the_iam_policy(ec2, source):
    created = {"Key": "amibake:created-by", "Value": "amibake"}
    own = ec2.run_instances(ImageId=source, InstanceType="t3.small", MinCount=1, MaxCount=1,
                            TagSpecifications=[{"ResourceType": "instance", "Tags": [created]}])["Instances"][0]["InstanceId"]
    foreign = ec2.run_instances(ImageId=source, InstanceType="t3.small", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    assert error_code(ec2.create_tags, Resources=[own], Tags=[{"Key": "amibake:complete", "Value": "true"}]) is None
    scan = {"Key": "amibake:scan", "Value": "critical=0 high=0 medium=0 low=1 informational=0 highest=low"}
    assert error_code(ec2.create_tags, Resources=[own], Tags=[scan]) is None
    assert error_code(ec2.create_tags, Resources=[own], Tags=[{"Key": "Name", "Value": "x"}]) == "UnauthorizedOperation"
    assert error_code(ec2.create_tags, Resources=[foreign], Tags=[{"Key": "amibake:complete", "Value": "true"}]) == "UnauthorizedOperation"
    assert error_code(ec2.create_tags, Resources=[foreign], Tags=[created]) == "UnauthorizedOperation"
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [foreign]}])["Tags"]
    assert tags == [], "a refused CreateTags tags nothing"
    ec2.terminate_instances(InstanceIds=[own, foreign])
