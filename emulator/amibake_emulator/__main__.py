"""The command line: `python -m amibake_emulator` (with emulator/ on PYTHONPATH).

    python -m amibake_emulator --port 0 --port-file FILE [--outputs FILE]
        [--seed-instance-profile NAME]... [--config JSON] [--quiet]
        [--realos-rootfs DIR] [--realos-work DIR]

Builds the one World (outputs table, real-OS backend, knobs), installs each service's
patches into moto, then serves until SIGTERM/SIGINT. scripts/emulator.sh runs it in the
background; see emulator/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# moto answers every request with `Access-Control-Allow-Origin: *` unless told not to;
# read when moto.settings is first imported, so before any service module (guard.py).
os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"

from . import __doc__ as PACKAGE_DOC  # noqa: E402
from . import (  # noqa: E402
    allowed_images,
    autoscaling,
    cloudformation,
    ec2,
    ec2_account,
    ec2_images,
    iam,
    iam_tags,
    image_disable,
    image_findings,
    image_references,
    image_usage,
    inspector,
    ssm,
    ssm_commands,
    ssm_invocations,
)
from .outputs import OutputTable  # noqa: E402
from .realos import RealOS  # noqa: E402
from .server import serve  # noqa: E402
from .state import World  # noqa: E402

DEFAULT_OUTPUTS = Path(__file__).resolve().parent.parent / "outputs.yaml"  # emulator/outputs.yaml


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="amibake_emulator", description=(PACKAGE_DOC or "").split("\n", 1)[0])
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    p.add_argument("--port-file", type=Path, help="write the bound port here")
    p.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS, help="command outputs table")
    p.add_argument(
        "--seed-instance-profile",
        action="append",
        dest="profiles",
        help="IAM instance profile to create at start (repeatable; default amibake-builder)",
    )
    p.add_argument("--config", help="initial knobs for all regions, as JSON (same keys as POST /_amibake/config)")
    p.add_argument("--quiet", action="store_true", help="do not log every request")
    p.add_argument("--realos-rootfs", type=Path, help="root filesystems for real_os (scripts/realos-rootfs.sh)")
    p.add_argument("--realos-work", type=Path, help="where real-OS instances and images live (removed at exit; consoles kept until the next start)")
    args = p.parse_args(argv)
    realos = RealOS(args.realos_rootfs, args.realos_work or Path(f"/tmp/amibake-realos-{os.getpid()}"))

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    world = World(OutputTable(args.outputs), realos)
    if args.config:
        world.knobs.update({**json.loads(args.config), "region": "*"})
        world.knobs.initial = dict(world.knobs.defaults)
    ec2.install(world)
    ec2_images.install(world)
    inspector.install(world)
    image_findings.install(world)
    image_disable.install(world)
    image_references.install(world)
    image_usage.install(world)
    ec2_account.install(world)
    allowed_images.install(world)
    iam_tags.install(world)
    iam.seed_instance_profiles(args.profiles if args.profiles is not None else ["amibake-builder"])
    ssm.install(world)
    ssm_commands.install(world)
    ssm_invocations.install(world)
    cloudformation.install(world)
    autoscaling.install(world)
    serve(world, args.host, args.port, args.port_file, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
