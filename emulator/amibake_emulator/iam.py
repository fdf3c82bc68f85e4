"""IAM: the instance profiles amibake's builders name, seeded at start.

amibake launches builders with `IamInstanceProfile={Name: amibake-builder}`; RunInstances
in moto fails for a profile that does not exist, and amibake does not create it (on AWS
it is set up once, outside amibake). So the profiles named by --seed-instance-profile
(default: amibake-builder) exist, each with a role of the same name that EC2 may assume,
in the default account. They grant nothing: no call is authorized or denied here.
"""

from __future__ import annotations

import json


def seed_instance_profiles(seed_profiles: list[str]) -> None:
    if seed_profiles:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.iam.models import iam_backends

        iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        )
        for name in seed_profiles:
            role = iam.create_role(
                role_name=name,
                assume_role_policy_document=trust,
                path="/",
                permissions_boundary=None,
                description="seeded by amibake-emulator",
                tags=[],
                max_session_duration=None,
            )
            iam.create_instance_profile(name=name, path="/", role_names=[role.name], tags=[])
