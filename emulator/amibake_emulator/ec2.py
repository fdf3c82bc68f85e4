"""EC2 instances: lifecycle delays, ClientToken, the seeded Ubuntu AMI, on top of moto.

amibake launches a builder, waits for it, stops it, images it, copies the image to other
regions and deprecates old ones. moto answers all of that instantly and too leniently;
this module makes it behave like EC2 where amibake's waits and error handling depend on it:

  * RunInstances honours ClientToken (moto: ignored): a repeated token returns the first
    reservation. Instances show `pending` for instance_pending_seconds (also after
    StartInstances); StopInstances shows `stopping` for instance_stopping_seconds.
    Launching from an AMI that is still `pending` fails (InvalidAMIID.Unavailable). The
    new instance inherits the facts of its AMI (what the bake installed).
  * RebootInstances: moto marks even a stopped instance running; here only running
    instances reboot, and their agent goes offline for reboot_offline_seconds.
  * An Ubuntu 24.04 AMI is seeded in every region (owner 099720109477; moto ships only
    2017-era Ubuntu AMIs); ssm.py publishes its id as Canonical's public parameter.

The images (CreateImage, CopyImage, deprecation, DescribeImages' block device mappings)
are in ec2_images.py. With the `real_os` knob (or an AMI made from a real-OS instance),
the lifecycle calls are handed to `world.realos` (realos.py), which boots, reboots,
stops and images real containers and sets the instance state itself.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import World

CANONICAL_OWNER = "099720109477"

AMI_NAME = re.compile(r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}$")


def os_of_image(ami: Any) -> tuple[str, str]:
    text = f"{getattr(ami, 'name', '') or ''} {getattr(ami, 'description', '') or ''}".lower()
    if "ubuntu" in text:
        m = re.search(r"(\d\d\.\d\d)", text)
        return "Ubuntu", m.group(1) if m else "24.04"
    if "al2023" in text or "2023" in text:
        return "Amazon Linux", "2023"
    if "amzn2" in text or "amazon linux 2" in text:
        return "Amazon Linux", "2"
    return "Amazon Linux", "2023"


def ubuntu_ami_id(region: str) -> str:
    return "ami-0" + hashlib.sha256(f"ubuntu-24.04-{region}".encode()).hexdigest()[:16]


def install(world: World) -> None:
    """Patches moto's EC2 instances; the patches close over `world`. Images: ec2_images.py."""
    install_ubuntu_ami()
    install_run_instances(world)
    install_client_token()
    install_start_stop(world)


def ec2_error(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def page_size(self: Any, least: int = 1) -> int:
    """A paged EC2 call's `MaxResults` (`least`-1000, default 1000); EC2's error otherwise."""
    size = self._get_param("MaxResults")
    if size is None:
        return 1000
    if not str(size).isdigit() or not least <= int(size) <= 1000:
        raise ec2_error(
            "InvalidParameterValue",
            f"Value ( {size} ) for parameter maxResults is invalid. Expecting a value between {least} and 1000.",
        )
    return int(size)


def page_start(token: str | None, kind: str, total: int) -> int:
    """Where a page starts: the offset a `NextToken` of `kind` (from `page_token`) names, 0
    without one; EC2's InvalidPaginationToken for a token that is not one, names another
    kind, or points past the `total` items."""
    if not token:
        return 0
    try:
        token_kind, offset = base64.urlsafe_b64decode(token.encode()).decode().rsplit(":", 1)
        start = int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise ec2_error("InvalidPaginationToken", f"The pagination token {token} is not valid.") from e
    if token_kind != kind or not 0 <= start <= total:
        raise ec2_error("InvalidPaginationToken", f"The pagination token {token} is not valid or is expired.")
    return start


def page_token(kind: str, end: int, total: int) -> str | None:
    """The `NextToken` of the page that ends at `end` of `total` items (None: the last)."""
    return base64.urlsafe_b64encode(f"{kind}:{end}".encode()).decode() if end < total else None


def unauthorized(account: str, action: str, why: str) -> tuple[str, dict[str, Any]]:
    """EC2's UnauthorizedOperation (HTTP 403), as IAM denies `action` (`why`: the knob)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>UnauthorizedOperation</Code>'
        f"<Message>You are not authorized to perform this operation. User: arn:aws:iam::{account}:user/amibake "
        f"is not authorized to perform: {action} (amibake-emulator {why})</Message>"
        "</Error></Errors><RequestID>amibake-emulator</RequestID></Response>"
    )
    return body, {"status": 403, "Content-Type": "text/xml"}


def set_state(instance: Any, name: str, code: int) -> None:
    instance._state.name = name
    instance._state.code = code


def became_running(world: World, backend: Any, instance: Any, when: float) -> None:
    f = world.instance_facts(backend.account_id, backend.region_name, instance.id)
    f["running_since"] = when


def schedule_running(world: World, backend: Any, instance: Any) -> None:
    """`pending` for instance_pending_seconds, then `running` (the agent's clock starts)."""
    delay = world.knobs.get(backend.region_name, "instance_pending_seconds")
    now = time.time()
    if delay <= 0:
        became_running(world, backend, instance, now)
        return
    set_state(instance, "pending", 0)

    def done() -> None:
        if instance._state.name == "pending":
            set_state(instance, "running", 16)
            became_running(world, backend, instance, now + delay)

    world.at(now + delay, done)


def install_ubuntu_ami() -> None:
    """Seeds an Ubuntu 24.04 AMI in every region (moto ships only 2017-era Ubuntu AMIs)."""
    from moto.ec2.models import EC2Backend
    from moto.ec2.models.amis import Ami

    orig_load_amis = EC2Backend._load_amis

    def _load_amis(self: Any) -> None:
        orig_load_amis(self)
        ami_id = ubuntu_ami_id(self.region_name)
        self.amis[ami_id] = Ami(
            self,
            ami_id,
            name="ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250115",
            description="Canonical, Ubuntu, 24.04, amd64 noble image",
            owner_id=CANONICAL_OWNER,
            public=True,
            virtualization_type="hvm",
            architecture="x86_64",
            state="available",
            creation_date=dt.datetime(2025, 1, 15, 12, 0, 0),
            hypervisor="xen",
            root_device_type="ebs",
            root_device_name="/dev/sda1",
            region_name=self.region_name,
            boot_mode="uefi-preferred",
        )

    EC2Backend._load_amis = _load_amis



def install_run_instances(world: World) -> None:
    """RunInstances: facts from the AMI, the pending delay, unavailable AMIs, real OS."""
    from moto.ec2.models import EC2Backend

    orig_run_instances = EC2Backend.run_instances

    def run_instances(self: Any, image_id: str, count: int, user_data: Any, sgs: Any, **kw: Any) -> Any:
        if image_id and image_id in self.amis and self.amis[image_id].state != "available":
            raise ec2_error(
                "InvalidAMIID.Unavailable",
                f"The image id '[{image_id}]' is not available (state: {self.amis[image_id].state})",
            )
        reservation = orig_run_instances(self, image_id, count, user_data, sgs, **kw)
        for instance in reservation.instances:
            image_id_used = instance.image_id
            f = world.instance_facts(self.account_id, self.region_name, instance.id)
            f.update(copy.deepcopy(world.image_facts(self.account_id, self.region_name, image_id_used)))
            if "platform" not in f:
                ami = self.amis.get(image_id_used)
                f["platform"] = list(os_of_image(ami)) if ami else ["Amazon Linux", "2023"]
            f.pop("running_since", None)
            f.pop("last_reboot", None)
            flavour = world.knobs.get(self.region_name, "real_os")
            if flavour or world.realos.is_real_image(self.account_id, self.region_name, image_id_used):
                world.realos.launch(self.account_id, self.region_name, instance, image_id_used, flavour or "debian")
            else:
                schedule_running(world, self, instance)
        return reservation

    EC2Backend.run_instances = run_instances



def install_start_stop(world: World) -> None:
    """Start/Stop/Terminate/RebootInstances: delays, the agent's clock, real OS."""
    from moto.ec2.models import EC2Backend

    orig_start = EC2Backend.start_instances

    def start_instances(self: Any, instance_ids: list[str]) -> Any:
        was = {i.id: i.state for i in self.get_multi_instances_by_id(instance_ids)}
        result = orig_start(self, instance_ids)
        for instance, _prev in result:
            if world.realos.start(self.account_id, self.region_name, instance.id):
                continue
            if was.get(instance.id) != "running":
                schedule_running(world, self, instance)
        return result

    EC2Backend.start_instances = start_instances

    orig_stop = EC2Backend.stop_instances

    def stop_instances(self: Any, instance_ids: list[str]) -> Any:
        result = orig_stop(self, instance_ids)
        delay = world.knobs.get(self.region_name, "instance_stopping_seconds")
        for instance, prev in result:
            world.instance_facts(self.account_id, self.region_name, instance.id).pop("running_since", None)
            if world.realos.stop(self.account_id, self.region_name, instance.id):
                continue
            if delay > 0 and prev.name in ("running", "pending"):
                set_state(instance, "stopping", 64)

                def done(instance: Any = instance) -> None:
                    if instance._state.name == "stopping":
                        set_state(instance, "stopped", 80)

                world.at(time.time() + delay, done)
        return result

    EC2Backend.stop_instances = stop_instances

    orig_terminate = EC2Backend.terminate_instances

    def terminate_instances(self: Any, instance_ids: list[str]) -> Any:
        result = orig_terminate(self, instance_ids)
        for instance, _prev in result:
            world.instance_facts(self.account_id, self.region_name, instance.id).pop("running_since", None)
            world.realos.terminate(self.account_id, self.region_name, instance.id)
        return result

    EC2Backend.terminate_instances = terminate_instances

    def reboot_instances(self: Any, instance_ids: list[str]) -> Any:
        rebooted = []
        for instance in self.get_multi_instances_by_id(instance_ids):
            if instance.state == "running":
                f = world.instance_facts(self.account_id, self.region_name, instance.id)
                f["last_reboot"] = time.time()
                world.realos.reboot(self.account_id, self.region_name, instance.id)
                rebooted.append(instance)
        return rebooted

    EC2Backend.reboot_instances = reboot_instances


def install_client_token() -> None:
    """RunInstances ClientToken idempotency (response level: needs the raw parameter)."""
    from moto.ec2.responses import EC2Response

    orig_run_response = EC2Response.run_instances

    def run_instances_response(self: Any) -> Any:
        token = self._get_param("ClientToken")
        if token:
            for reservation in self.ec2_backend.reservations.values():
                if any(i.client_token == token for i in reservation.instances):
                    from moto.core.responses import ActionResult

                    self.error_on_dryrun()
                    return ActionResult(reservation)
        return orig_run_response(self)

    EC2Response.run_instances = run_instances_response
