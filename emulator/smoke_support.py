"""What the smoke test's parts share: the emulator handle and the checks.

Imported by smoke_test.py (the walk-through and its entry point) and smoke_roll.py (the
CloudFormation rolls); not run by itself.
"""

from __future__ import annotations

import json
import time
import urllib.request

import boto3
from botocore.exceptions import ClientError

REGION = "eu-west-3"


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)
    print(f"ok   {what}")


def error_code(fn, *args, **kwargs) -> str | None:
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


class Emulator:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def client(self, service: str, region: str = REGION):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region)

    def config(self, **body) -> dict:
        req = urllib.request.Request(
            self.endpoint + "/_amibake/config",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req) as r:
            return json.load(r)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.endpoint + path) as r:
            return json.load(r)


def wait_for(what: str, fn, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")

