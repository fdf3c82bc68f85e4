"""What refers to an image and who uses it: DescribeImageReferences computed from the
emulator's state, DisableImage / EnableImage, and image usage reports."""

from __future__ import annotations

import time
import uuid

import pytest
from support import REGION, UBUNTU, error_code, wait_for


@pytest.fixture
def own_image(ec2) -> str:
    image_id = ec2.register_image(Name=f"refs-{uuid.uuid4().hex[:12]}")["ImageId"]
    yield image_id
    ec2.deregister_image(ImageId=image_id)


def refs(ec2, image_id: str, **kw) -> list[tuple[str, str]]:
    out, token = [], None
    while True:
        page = ec2.describe_image_references(ImageIds=[image_id], **kw, **({"NextToken": token} if token else {}))
        out += [(r["ResourceType"], r["Arn"]) for r in page["ImageReferences"]]
        assert all(r["ImageId"] == image_id for r in page["ImageReferences"])
        token = page.get("NextToken")
        if not token:
            return out


def test_references_name_launch_templates_instances_and_parameters(ec2, ssm, own_image):
    account = "123456789012"
    assert refs(ec2, own_image, IncludeAllResourceTypes=True) == []
    lt = ec2.create_launch_template(LaunchTemplateName=f"lt-{uuid.uuid4().hex[:8]}", LaunchTemplateData={"ImageId": "ami-00000000000000000"})["LaunchTemplate"]
    # Only an older version names the image: still a reference (version-depth 10).
    ec2.create_launch_template_version(LaunchTemplateId=lt["LaunchTemplateId"], LaunchTemplateData={"ImageId": own_image})
    ec2.create_launch_template_version(LaunchTemplateId=lt["LaunchTemplateId"], LaunchTemplateData={"ImageId": "ami-00000000000000000"})
    name = f"/refs/{uuid.uuid4().hex[:8]}/ami"
    ssm.put_parameter(Name=name, Value=own_image, Type="String", DataType="aws:ec2:image")
    plain = f"/refs/{uuid.uuid4().hex[:8]}/plain"
    ssm.put_parameter(Name=plain, Value=own_image, Type="String")
    iids = [i["InstanceId"] for i in ec2.run_instances(ImageId=own_image, InstanceType="t3.small", MinCount=3, MaxCount=3)["Instances"]]
    lt_arn = f"arn:aws:ec2:{REGION}:{account}:launch-template/{lt['LaunchTemplateId']}"
    want = {
        ("ec2:LaunchTemplate", lt_arn),
        *(("ec2:Instance", f"arn:aws:ec2:{REGION}:{account}:instance/{iid}") for iid in iids),
        ("ssm:Parameter", f"arn:aws:ssm:{REGION}:{account}:parameter{name}"),
        ("ssm:Parameter", f"arn:aws:ssm:{REGION}:{account}:parameter{plain}"),
    }
    assert set(refs(ec2, own_image, IncludeAllResourceTypes=True)) == want
    first = ec2.describe_image_references(ImageIds=[own_image], IncludeAllResourceTypes=True, MaxResults=5)
    assert len(first["ImageReferences"]) == 5 and first["NextToken"]
    assert set(refs(ec2, own_image, IncludeAllResourceTypes=True, MaxResults=5)) == want  # 5 + 1
    only_lt = refs(ec2, own_image, ResourceTypes=[{"ResourceType": "ec2:LaunchTemplate", "ResourceTypeOptions": [{"OptionName": "version-depth", "OptionValues": ["1"]}]}])
    assert only_lt == []  # the latest version alone does not name it
    assert refs(ec2, own_image, ResourceTypes=[{"ResourceType": "ec2:LaunchTemplate"}]) == [("ec2:LaunchTemplate", lt_arn)]
    ec2.terminate_instances(InstanceIds=iids)
    assert len(refs(ec2, own_image, ResourceTypes=[{"ResourceType": "ec2:Instance"}])) == 3  # every state by default
    running = [{"ResourceType": "ec2:Instance", "ResourceTypeOptions": [{"OptionName": "state-name", "OptionValues": ["running", "stopped"]}]}]
    assert refs(ec2, own_image, ResourceTypes=running) == []
    assert error_code(ec2.describe_image_references, ImageIds=[own_image]) == "MissingParameter"
    ssm.delete_parameters(Names=[name, plain])


def test_a_launch_template_naming_a_parameter_refers_to_its_image(ec2, ssm, own_image):
    name = f"/refs/{uuid.uuid4().hex[:8]}/golden"
    ssm.put_parameter(Name=name, Value=own_image, Type="String", DataType="aws:ec2:image")
    lt = ec2.create_launch_template(LaunchTemplateName=f"lt-{uuid.uuid4().hex[:8]}", LaunchTemplateData={"ImageId": f"resolve:ssm:{name}"})["LaunchTemplate"]
    got = refs(ec2, own_image, ResourceTypes=[{"ResourceType": "ec2:LaunchTemplate"}])
    assert got == [("ec2:LaunchTemplate", f"arn:aws:ec2:{REGION}:123456789012:launch-template/{lt['LaunchTemplateId']}")]
    ssm.delete_parameter(Name=name)


def test_a_disabled_image_is_hidden_unlaunchable_and_enabled_again(ec2, ssm, own_image):
    ec2.modify_image_attribute(ImageId=own_image, LaunchPermission={"Add": [{"Group": "all"}]})
    assert ec2.disable_image(ImageId=own_image)["Return"] is True
    assert ec2.describe_images(ImageIds=[own_image])["Images"] == []
    assert ec2.describe_images(Owners=["self"], Filters=[{"Name": "image-id", "Values": [own_image]}])["Images"] == []
    shown = ec2.describe_images(ImageIds=[own_image], IncludeDisabled=True)["Images"]
    assert [i["State"] for i in shown] == ["disabled"] and shown[0]["Public"] is False
    assert error_code(ec2.run_instances, ImageId=own_image, InstanceType="t3.small", MinCount=1, MaxCount=1) == "InvalidAMIID.Unavailable"
    ec2.enable_image(ImageId=own_image)
    assert [i["State"] for i in ec2.describe_images(ImageIds=[own_image])["Images"]] == ["available"]
    assert ec2.describe_image_attribute(ImageId=own_image, Attribute="launchPermission")["LaunchPermissions"] == []
    ubuntu = ssm.get_parameter(Name=UBUNTU)["Parameter"]["Value"]
    assert error_code(ec2.disable_image, ImageId=ubuntu) == "AuthFailure"
    assert error_code(ec2.enable_image, ImageId=ubuntu) == "AuthFailure"


def test_a_usage_report_is_pending_then_lists_the_planted_entries(emu, ec2, own_image):
    emu.config(
        usage_report_seconds=1,
        image_usage={
            own_image: [
                {"account_id": "111122223333", "resource_type": "ec2:Instance", "usage_count": 3},
                {"account_id": "444455556666", "resource_type": "ec2:LaunchTemplate", "usage_count": 1},
            ],
            "*": [{"account_id": "999999999999", "resource_type": "ec2:Instance", "usage_count": 9}],
        },
    )
    report = ec2.create_image_usage_report(ImageId=own_image, ResourceTypes=[{"ResourceType": "ec2:Instance"}, {"ResourceType": "ec2:LaunchTemplate"}], ClientToken="t-" + own_image)["ReportId"]
    assert report.startswith("amiur-")
    again = ec2.create_image_usage_report(ImageId=own_image, ResourceTypes=[{"ResourceType": "ec2:Instance"}], ClientToken="t-" + own_image)
    assert again["ReportId"] == report
    state = ec2.describe_image_usage_reports(ReportIds=[report])["ImageUsageReports"][0]["State"]
    assert state == "pending"
    assert ec2.describe_image_usage_report_entries(ReportIds=[report])["ImageUsageReportEntries"] == []
    wait_for("report available", lambda: ec2.describe_image_usage_reports(ImageIds=[own_image])["ImageUsageReports"][0]["State"] == "available")
    entries = ec2.describe_image_usage_report_entries(ReportIds=[report])["ImageUsageReportEntries"]
    assert sorted((e["AccountId"], e["ResourceType"], e["UsageCount"]) for e in entries) == [("111122223333", "ec2:Instance", 3), ("444455556666", "ec2:LaunchTemplate", 1)]
    only = ec2.describe_image_usage_report_entries(ImageIds=[own_image], Filters=[{"Name": "resource-type", "Values": ["ec2:Instance"]}])
    assert [e["AccountId"] for e in only["ImageUsageReportEntries"]] == ["111122223333"]
    page = ec2.describe_image_usage_report_entries(ReportIds=[report], MaxResults=1)
    assert len(page["ImageUsageReportEntries"]) == 1 and page["NextToken"]
    # Another image falls back to "*"; AccountIds narrows it.
    other = ec2.register_image(Name=f"refs-{uuid.uuid4().hex[:12]}")["ImageId"]
    r2 = ec2.create_image_usage_report(ImageId=other, ResourceTypes=[{"ResourceType": "ec2:Instance"}], AccountIds=["123412341234"])["ReportId"]
    time.sleep(1.1)
    assert ec2.describe_image_usage_report_entries(ReportIds=[r2])["ImageUsageReportEntries"] == []
    ec2.deregister_image(ImageId=other)


def test_image_usage_knob_is_checked(emu):
    with pytest.raises(Exception, match="400"):
        emu.config(image_usage={"ami-1": [{"account_id": "1", "resource_type": "ec2:Instance", "usage_count": 1}]})


def test_image_created_backdates_an_image(emu, ec2, own_image):
    emu.config(image_created={own_image: "2026-10-01T12:00:00Z"})
    shown = ec2.describe_images(ImageIds=[own_image])["Images"][0]
    assert shown["CreationDate"].startswith("2026-10-01T12:00:00")
    for bad in ({"ami-1": "yesterday"}, {"ami-1": "2026-10-01T12:00:00"}, {"i-1": "2026-10-01T12:00:00Z"}, ["ami-1"]):
        with pytest.raises(Exception, match="400|image_created"):
            emu.config(image_created=bad)
