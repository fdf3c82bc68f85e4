#!/usr/bin/env python3
"""Smoke test of the emulator with boto3, walking a bake the way amibake does.

    target/venv/bin/python emulator/smoke_test.py [--endpoint http://127.0.0.1:PORT]

Without --endpoint it starts its own emulator on a free port and stops it (by PID) at the
end. Uses regions eu-west-3 (bake, roll) and eu-north-1 (copy target) and resets their
knobs. The roll of CloudFormation stacks onto the baked image, at once and over time
(stack_update_seconds, instance refreshes, failures, cancel), is in smoke_roll.py; the
helpers both use in smoke_support.py. Exits non-zero on the first failed expectation.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import smoke_roll
from botocore.exceptions import ClientError
from smoke_support import REGION, Emulator, check, error_code, wait_for

HERE = Path(__file__).resolve().parent
COPY_REGION = "eu-north-1"
AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
UBUNTU = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
ORDER_CHECK = """#!/bin/bash
set -euo pipefail
echo '::amibake:: check agent started after cloud-final'
final=$(systemctl show -p ExecMainExitTimestampMonotonic --value cloud-final.service)
agent=$(systemctl show -p ActiveEnterTimestampMonotonic --value codedeploy-agent)
echo "cloud-final exited at ${final}us, codedeploy-agent active at ${agent}us"
if [ "$final" -gt 0 ] && [ "$agent" -gt "$final" ]; then echo ordered; else echo NOT-ordered; exit 1; fi
"""


def agent(ssm, instance_id: str) -> dict | None:
    rows = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
    )["InstanceInformationList"]
    return rows[0] if rows else None


def run(ssm, instance_id: str, script: str, document: str = "AWS-RunShellScript", params=None) -> dict:
    """SendCommand, then poll GetCommandInvocation like amibake does."""
    cmd = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName=document,
        Parameters=params if params is not None else {"commands": [script]},
    )["Command"]

    def done():
        try:
            inv = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=instance_id)
        except ClientError as e:
            if e.response["Error"]["Code"] == "InvocationDoesNotExist":
                return None
            raise
        return inv if inv["Status"] not in ("Pending", "InProgress", "Delayed") else None

    return wait_for(f"command {cmd['CommandId']}", done)


def smoke(emu: Emulator) -> None:
    ec2 = emu.client("ec2")
    ssm = emu.client("ssm")
    for region in (REGION, COPY_REGION):
        emu.config(region=region, reset=True)

    # --- source AMIs from the public SSM parameters ---------------------------------------
    for name in (AL2023, UBUNTU):
        ami = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        images = ec2.describe_images(ImageIds=[ami])["Images"]
        check(len(images) == 1 and images[0]["State"] == "available", f"{name.split('/')[3]} parameter -> {ami} available")
    source = ssm.get_parameter(Name=AL2023)["Parameter"]["Value"]

    # --- the builder -------------------------------------------------------------------------
    run_args = dict(
        ImageId=source,
        InstanceType="t3.small",
        MinCount=1,
        MaxCount=1,
        ClientToken=f"smoke-builder-{uuid.uuid4()}",
        IamInstanceProfile={"Name": "amibake-builder"},
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 16, "Encrypted": True, "VolumeType": "gp3", "DeleteOnTermination": True}}],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "amibake:run-id", "Value": "smoke"}, {"Key": "Name", "Value": "builder"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "amibake:run-id", "Value": "smoke"}]},
        ],
    )
    emu.config(region=REGION, instance_pending_seconds=0.5, agent_online_seconds=0.5)
    builder = ec2.run_instances(**run_args)["Instances"][0]
    iid = builder["InstanceId"]
    again = ec2.run_instances(**run_args)["Instances"][0]
    check(again["InstanceId"] == iid, "RunInstances with the same ClientToken returns the same instance")
    desc = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    check(desc["State"]["Name"] == "pending", "instance pending right after RunInstances (instance_pending_seconds)")
    check(desc["MetadataOptions"]["HttpTokens"] == "required", "IMDSv2 required")
    check({"Key": "amibake:run-id", "Value": "smoke"} in desc["Tags"], "instance tagged at creation")
    check(agent(ssm, iid) is None, "agent not registered while pending")
    check(error_code(ssm.send_command, InstanceIds=[iid], DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]}) == "InvalidInstanceId", "SendCommand before the agent is Online -> InvalidInstanceId")
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1})
    info = wait_for("agent Online", lambda: agent(ssm, iid))
    check(info["PingStatus"] == "Online" and info["PlatformType"] == "Linux" and info["PlatformName"] == "Amazon Linux", "DescribeInstanceInformation: Online, Linux, Amazon Linux")
    emu.config(region=REGION, instance_pending_seconds=0, agent_online_seconds=0)

    # --- commands answered from the table ---------------------------------------------------
    inv = run(ssm, iid, "set -euo pipefail\nrpm -q codedeploy-agent")
    check(inv["Status"] == "Success" and inv["ResponseCode"] == 0 and inv["StandardOutputContent"] == "codedeploy-agent-1.7.1-110.noarch\n", "rpm -q codedeploy-agent -> table default")
    inv = run(ssm, iid, "ls /definitely/not/in/the/table")
    check(inv["Status"] == "Success" and inv["StandardOutputContent"] == "", "unmatched script -> exit 0, empty stdout")
    inv = run(ssm, iid, "echo '::amibake:step-begin::'\ncloud-init status --wait\necho ::amibake:step-end::")
    check(inv["StandardOutputContent"] == "::amibake:step-begin::\nstatus: done\n::amibake:step-end::\n", "marker lines echoed around table output")
    install = (
        "set -euo pipefail\n"
        "dnf install -y https://aws-codedeploy-eu-west-3.s3.eu-west-3.amazonaws.com/releases/codedeploy-agent-1.7.1-999.noarch.rpm\n"
        "mkdir -p /etc/systemd/system/codedeploy-agent.service.d\n"
        "cat > /etc/systemd/system/codedeploy-agent.service.d/50-amibake.conf <<'EOF'\n[Unit]\nAfter=cloud-final.service\nEOF\n"
        "systemctl daemon-reload\n"
    )
    check(run(ssm, iid, install)["Status"] == "Success", "install script succeeds")
    inv = run(ssm, iid, "rpm -q codedeploy-agent")
    check(inv["StandardOutputContent"] == "codedeploy-agent-1.7.1-999.noarch\n", "installed agent version remembered")
    inv = run(ssm, iid, "systemctl show -p DropInPaths codedeploy-agent")
    check(inv["StandardOutputContent"] == "DropInPaths=/etc/systemd/system/codedeploy-agent.service.d/50-amibake.conf\n", "DropInPaths = the drop-in the bake wrote")
    inv = run(ssm, iid, ORDER_CHECK)
    check(inv["ResponseCode"] == 0 and inv["StandardOutputContent"].endswith("\nordered\n"), "shell check: agent ActiveEnter after cloud-final exit (good image)")
    inv = run(ssm, iid, "systemctl is-active codedeploy-agent && systemctl is-enabled codedeploy-agent")
    check(inv["StandardOutputContent"] == "active\nenabled\n" and inv["ResponseCode"] == 0, "is-active/is-enabled")
    inv = run(ssm, iid, "#!/bin/bash\nset -euo pipefail\necho '::amibake:: check made up'\nsome-unknown-tool && echo OK")
    check(inv["ResponseCode"] == 127 and "OK" not in inv["StandardOutputContent"], "check with a command the table does not know -> 127, not OK")
    inv = run(ssm, iid, "java -version 2>&1")
    check(inv["StandardOutputContent"].startswith('openjdk version "17'), "java -version 2>&1 on stdout")
    inv = run(ssm, iid, "", document="AWS-ConfigureAWSPackage", params={"action": ["Install"], "name": ["AmazonCloudWatchAgent"]})
    check(inv["Status"] == "Success" and inv["PluginName"] == "configurePackage", "AWS-ConfigureAWSPackage succeeds")

    # --- knobs: bad image, failing command, slow commands -----------------------------------
    emu.config(region=REGION, bad_image=True)
    check(run(ssm, iid, "systemctl show -p DropInPaths codedeploy-agent")["StandardOutputContent"] == "DropInPaths=\n", "bad_image: no drop-in")
    inv = run(ssm, iid, ORDER_CHECK)
    check(inv["Status"] == "Failed" and inv["ResponseCode"] == 1 and inv["StandardOutputContent"].endswith("NOT-ordered\n"), "bad_image: agent started before cloud-final -> check fails")
    check(run(ssm, iid, "rpm -q codedeploy-agent")["StandardOutputContent"] == "codedeploy-agent-1.6.0-49.noarch\n", "bad_image: other agent version")
    emu.config(region=REGION, bad_image=["systemd:codedeploy-agent.service"])
    check(run(ssm, iid, "rpm -q codedeploy-agent")["StandardOutputContent"] == "codedeploy-agent-1.7.1-999.noarch\n" and run(ssm, iid, ORDER_CHECK)["ResponseCode"] == 1, "bad_image as a key list: only the agent's unit is bad")
    other = emu.get(f"/_amibake/config?region={COPY_REGION}")
    check(other["bad_image"] is False, "bad_image is per region")
    emu.config(region=REGION, bad_image=False, fail_command_matching=r"dnf\s+upgrade")
    inv = run(ssm, iid, "dnf upgrade -y")
    check(inv["Status"] == "Failed" and inv["ResponseCode"] == 1 and "simulated failure" in inv["StandardErrorContent"], "fail_command_matching -> Failed, ResponseCode 1, stderr")
    emu.config(region=REGION, fail_command_matching=None, command_in_progress_seconds=0.6)
    cmd = ssm.send_command(InstanceIds=[iid], DocumentName="AWS-RunShellScript", Parameters={"commands": ["cloud-init status --wait"]})["Command"]
    first = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=iid)
    check(first["Status"] == "InProgress" and first["ResponseCode"] == -1, "command InProgress (command_in_progress_seconds)")
    listed = ssm.list_command_invocations(CommandId=cmd["CommandId"], Details=True)["CommandInvocations"]
    check(len(listed) == 1 and listed[0]["Status"] == "InProgress", "ListCommandInvocations shows it")
    time.sleep(0.7)
    final = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=iid)
    check(final["Status"] == "Success" and final["StandardOutputContent"] == "status: done\n", "then Success with the table output")
    listed = ssm.list_command_invocations(CommandId=cmd["CommandId"], Details=True)["CommandInvocations"]
    check(listed[0]["CommandPlugins"][0]["Output"] == "status: done\n", "ListCommandInvocations Details output")
    cmd = ssm.send_command(InstanceIds=[iid], DocumentName="AWS-RunShellScript", Parameters={"commands": ["sleep 600"]})["Command"]
    ssm.cancel_command(CommandId=cmd["CommandId"])
    check(ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=iid)["Status"] == "Cancelled", "CancelCommand")
    emu.config(region=REGION, command_in_progress_seconds=0)
    check(error_code(ssm.get_command_invocation, CommandId="00000000-0000-0000-0000-000000000000", InstanceId=iid) == "InvocationDoesNotExist", "GetCommandInvocation unknown command -> InvocationDoesNotExist")

    # --- reboot: the agent drops out, then comes back with a newer ping ---------------------
    emu.config(region=REGION, reboot_offline_seconds=1.0)
    rebooted_at = time.time()
    ec2.reboot_instances(InstanceIds=[iid])
    lost = agent(ssm, iid)
    check(lost["PingStatus"] == "ConnectionLost", "agent ConnectionLost right after RebootInstances")
    check(error_code(ssm.send_command, InstanceIds=[iid], DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]}) == "InvalidInstanceId", "SendCommand while rebooting -> InvalidInstanceId")
    back = wait_for("agent back Online", lambda: (a := agent(ssm, iid)) and a["PingStatus"] == "Online" and a)
    check(back["LastPingDateTime"].timestamp() > rebooted_at, "Online again, LastPingDateTime after the reboot")

    # --- stop, image, copy ----------------------------------------------------------------------
    emu.config(region=REGION, instance_stopping_seconds=0.4, image_pending_seconds=0.5)
    ec2.stop_instances(InstanceIds=[iid])
    check(ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"] == "stopping", "stopping (instance_stopping_seconds)")
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1})
    check(agent(ssm, iid) is None, "stopped instance not listed by DescribeInstanceInformation")
    check(error_code(ec2.create_image, InstanceId=iid, Name="smoke-2024-01-01T00:00:00Z") == "InvalidAMIName.Malformed", "AMI name with ':' -> InvalidAMIName.Malformed")
    name = f"smoke-{int(time.time() * 1000)}"
    image_id = ec2.create_image(
        InstanceId=iid,
        Name=name,
        TagSpecifications=[
            {"ResourceType": "image", "Tags": [{"Key": "amibake:recipe", "Value": "smoke"}, {"Key": "amibake:input-hash", "Value": "abc"}]},
            {"ResourceType": "snapshot", "Tags": [{"Key": "amibake:recipe", "Value": "smoke"}]},
        ],
    )["ImageId"]
    check(error_code(ec2.create_image, InstanceId=iid, Name=name) == "InvalidAMIName.Duplicate", "duplicate AMI name -> InvalidAMIName.Duplicate")
    check(ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"] == "pending", "image pending (image_pending_seconds)")
    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 1})
    image = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:amibake:recipe", "Values": ["smoke"]}, {"Name": "image-id", "Values": [image_id]}])["Images"]
    check(len(image) == 1 and image[0]["State"] == "available", "DescribeImages by tag:/image-id filters -> available")
    snap = image[0]["BlockDeviceMappings"][0]["Ebs"]
    check(snap["Encrypted"] is True and snap["VolumeSize"] == 16, "image snapshot encrypted like the root volume")
    snap_tags = ec2.describe_snapshots(SnapshotIds=[snap["SnapshotId"]])["Snapshots"][0].get("Tags", [])
    check({"Key": "amibake:recipe", "Value": "smoke"} in snap_tags, "snapshot tagged from TagSpecifications")
    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt="2099-01-01T00:00:00Z")
    check(ec2.describe_images(ImageIds=[image_id])["Images"][0]["DeprecationTime"].startswith("2099-01-01"), "EnableImageDeprecation -> DeprecationTime")

    # --- boot test: a fresh instance from the new AMI carries what the bake installed -------
    boot = ec2.run_instances(ImageId=image_id, InstanceType="t3.small", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": "amibake-builder"})["Instances"][0]["InstanceId"]
    wait_for("boot-test agent", lambda: agent(ssm, boot))
    check(run(ssm, boot, "rpm -q codedeploy-agent")["StandardOutputContent"] == "codedeploy-agent-1.7.1-999.noarch\n", "boot-test instance: agent version carried through the AMI")

    # --- copy to another region -----------------------------------------------------------------
    emu.config(region=COPY_REGION, copy_pending_seconds=0.5)
    ec2_copy = emu.client("ec2", COPY_REGION)
    copy_args = dict(SourceImageId=image_id, SourceRegion=REGION, Name=name, ClientToken=f"smoke-copy-{uuid.uuid4()}",
                     TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "amibake:recipe", "Value": "smoke"}]}])
    copy_id = ec2_copy.copy_image(**copy_args)["ImageId"]
    check(ec2_copy.copy_image(**copy_args)["ImageId"] == copy_id, "CopyImage ClientToken idempotent")
    check(ec2_copy.describe_images(ImageIds=[copy_id])["Images"][0]["State"] == "pending", "copy pending (copy_pending_seconds)")
    ec2_copy.get_waiter("image_available").wait(ImageIds=[copy_id], WaiterConfig={"Delay": 1})
    copied = ec2_copy.describe_images(Filters=[{"Name": "tag:amibake:recipe", "Values": ["smoke"]}])["Images"]
    check([i["ImageId"] for i in copied] == [copy_id], f"copy {copy_id} available and tagged in {COPY_REGION}")

    # --- roll: CloudFormation stacks, instant and over time (smoke_roll.py) ------------------
    smoke_roll.roll(emu, ec2, source, image_id)

    # --- clean up ---------------------------------------------------------------------------------
    ec2.terminate_instances(InstanceIds=[iid, boot])
    check(agent(ssm, boot) is None, "terminated instance not listed")
    ec2.deregister_image(ImageId=image_id)
    ec2_copy.deregister_image(ImageId=copy_id)
    for region in (REGION, COPY_REGION):
        emu.config(region=region, reset=True)
    print("smoke test passed")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", help="a running emulator; default: start one")
    args = p.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.pop("AWS_PROFILE", None)
    if args.endpoint:
        smoke(Emulator(args.endpoint.rstrip("/")))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        pythonpath = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "amibake_emulator", "--port", "0", "--port-file", str(port_file), "--quiet"],
            env={**os.environ, "PYTHONPATH": pythonpath},
        )
        try:
            wait_for("emulator port", lambda: port_file.exists() and port_file.read_text().strip(), timeout=30)
            smoke(Emulator(f"http://127.0.0.1:{port_file.read_text().strip()}"))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
