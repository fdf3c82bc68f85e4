"""EC2 instances and the SSM agent: public AMI parameters, the builder's lifecycle,
DescribeInstanceInformation, reboots and termination, as amibake's bake waits on them."""

from __future__ import annotations

import time
import uuid

from support import AL2023, REGION, UBUNTU, agent, error_code, launch, wait_for


def send_true(ssm, iid: str) -> str | None:
    return error_code(ssm.send_command, InstanceIds=[iid], DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]})


def test_public_parameters_name_available_amis(ec2, ssm):
    for name in (AL2023, UBUNTU):
        ami = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        images = ec2.describe_images(ImageIds=[ami])["Images"]
        assert len(images) == 1 and images[0]["State"] == "available", name


def test_builder_is_pending_then_its_agent_registers(emu, ec2, ssm, source):
    run_args = dict(
        ImageId=source,
        InstanceType="t3.small",
        MinCount=1,
        MaxCount=1,
        ClientToken=f"builder-{uuid.uuid4()}",
        IamInstanceProfile={"Name": "amibake-builder"},
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 16, "Encrypted": True, "VolumeType": "gp3"}}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "amibake:run-id", "Value": "t"}]}],
    )
    emu.config(instance_pending_seconds=2, agent_online_seconds=1)
    iid = ec2.run_instances(**run_args)["Instances"][0]["InstanceId"]
    assert ec2.run_instances(**run_args)["Instances"][0]["InstanceId"] == iid, "same ClientToken, same instance"
    desc = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert desc["State"]["Name"] == "pending"
    assert desc["MetadataOptions"]["HttpTokens"] == "required"
    assert {"Key": "amibake:run-id", "Value": "t"} in desc["Tags"]
    assert agent(ssm, iid) is None, "no agent while pending"
    assert send_true(ssm, iid) == "InvalidInstanceId", "SendCommand before the agent is Online"
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1})
    info = wait_for("agent Online", lambda: agent(ssm, iid))
    assert (info["PingStatus"], info["PlatformType"], info["PlatformName"]) == ("Online", "Linux", "Amazon Linux")
    ec2.terminate_instances(InstanceIds=[iid])


def test_describe_instance_information_filters_and_pages(ec2, ssm, source):
    pool = [{"Key": "tag:pool", "Values": ["p"]}]
    ids = [launch(ec2, ssm, source, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "pool", "Value": "p"}]}]) for _ in range(6)]
    first = ssm.describe_instance_information(Filters=pool, MaxResults=5)
    rest = ssm.describe_instance_information(Filters=pool, MaxResults=5, NextToken=first["NextToken"])
    assert len(first["InstanceInformationList"]) == 5 and "NextToken" not in rest
    assert {r["InstanceId"] for r in first["InstanceInformationList"] + rest["InstanceInformationList"]} == set(ids)
    old = ssm.describe_instance_information(InstanceInformationFilterList=[{"key": "PingStatus", "valueSet": ["ConnectionLost"]}])
    assert not {r["InstanceId"] for r in old["InstanceInformationList"]} & set(ids)
    ec2.terminate_instances(InstanceIds=ids)


def test_reboot_drops_the_agent_then_it_pings_again(emu, ec2, ssm, builder):
    emu.config(reboot_offline_seconds=2)
    rebooted_at = time.time()
    ec2.reboot_instances(InstanceIds=[builder])
    assert agent(ssm, builder)["PingStatus"] == "ConnectionLost"
    assert send_true(ssm, builder) == "InvalidInstanceId", "SendCommand while rebooting"
    back = wait_for("agent back Online", lambda: (a := agent(ssm, builder)) and a["PingStatus"] == "Online" and a)
    assert back["LastPingDateTime"].timestamp() > rebooted_at


def test_stopped_and_terminated_instances_are_not_listed(emu, ec2, ssm, builder):
    emu.config(instance_stopping_seconds=2)
    ec2.stop_instances(InstanceIds=[builder])
    assert ec2.describe_instances(InstanceIds=[builder])["Reservations"][0]["Instances"][0]["State"]["Name"] == "stopping"
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[builder], WaiterConfig={"Delay": 1})
    assert agent(ssm, builder) is None
    ec2.start_instances(InstanceIds=[builder])
    wait_for("agent Online after start", lambda: agent(ssm, builder))
    ec2.terminate_instances(InstanceIds=[builder])
    assert agent(ssm, builder) is None


def test_require_instance_profile_and_default_host_management(emu, ec2, ssm, source):
    emu.config(require_instance_profile=True)
    bare = ec2.run_instances(ImageId=source, InstanceType="t3.small", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    assert agent(ssm, bare) is None, "no instance profile, no agent"
    setting = "/ssm/managed-instance/default-ec2-instance-management-role"
    assert ssm.get_service_setting(SettingId=setting)["ServiceSetting"]["SettingValue"] == "$None"
    emu.config(default_host_management="AWSSystemsManagerDefaultEC2InstanceManagementRole")
    assert agent(ssm, bare)["PingStatus"] == "Online", "the Default Host Management Configuration registers it"
    assert ssm.get_service_setting(SettingId=setting)["ServiceSetting"]["Status"] == "Customized"
    ec2.terminate_instances(InstanceIds=[bare])


def test_stats_count_requests_by_region_and_action(emu, ec2):
    emu.post("/_amibake/stats/reset", {})
    ec2.describe_regions()
    ec2.describe_regions()
    calls = emu.get("/_amibake/stats")["calls"]
    assert calls[REGION]["ec2:DescribeRegions"] == 2
