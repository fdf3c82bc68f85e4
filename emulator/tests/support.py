"""What the emulator's tests share: a handle on a running emulator and amibake's polls.

The `emu` fixture (conftest.py) starts one emulator per session; tests isolate themselves
by region and reset that region's knobs (fixture `knobs`).
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any, Callable

import boto3
from botocore.exceptions import ClientError

REGION = "eu-west-3"
COPY_REGION = "eu-north-1"
AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
UBUNTU = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"


class Emulator:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def client(self, service: str, region: str = REGION) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region)

    def config(self, **body: Any) -> dict:
        """POST /_amibake/config; `region` defaults to REGION."""
        body.setdefault("region", REGION)
        return self.post("/_amibake/config", body)

    def post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(
            self.endpoint + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.endpoint + path, timeout=10) as r:
            return json.load(r)


def error_code(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str | None:
    """The AWS error code the call answers, or None when it succeeds."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def wait_for(what: str, fn: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def agent(ssm: Any, instance_id: str) -> dict | None:
    """The instance's DescribeInstanceInformation row, or None when not listed."""
    rows = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])["InstanceInformationList"]
    return rows[0] if rows else None


def run(ssm: Any, instance_id: str, script: str, document: str = "AWS-RunShellScript", params: dict | None = None) -> dict:
    """SendCommand, then poll GetCommandInvocation until final, as amibake does."""
    cmd = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName=document,
        Parameters=params if params is not None else {"commands": [script]},
    )["Command"]

    def done() -> dict | None:
        try:
            inv = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=instance_id)
        except ClientError as e:
            if e.response["Error"]["Code"] == "InvocationDoesNotExist":
                return None
            raise
        return inv if inv["Status"] not in ("Pending", "InProgress", "Delayed") else None

    return wait_for(f"command {cmd['CommandId']}", done)


def launch(ec2: Any, ssm: Any, image_id: str, **extra: Any) -> str:
    """A running instance with an Online agent (the region's delays permitting)."""
    iid = ec2.run_instances(
        ImageId=image_id, InstanceType="t3.small", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": "amibake-builder"}, **extra
    )["Instances"][0]["InstanceId"]
    wait_for(f"agent of {iid} Online", lambda: (a := agent(ssm, iid)) and a["PingStatus"] == "Online")
    return iid
