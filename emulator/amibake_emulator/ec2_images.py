"""EC2 images: CreateImage, CopyImage, deregistration, deprecation, on top of moto.

What amibake's image phase depends on and moto answers too leniently (see ec2.py for the
instances, and its docstring for the whole list):

  * CreateImage: AMI names validated like AWS (InvalidAMIName.Malformed) and unique per
    account/region (InvalidAMIName.Duplicate); `snapshot` TagSpecifications applied; the
    snapshot encrypted when the instance's root volume is; `pending` for
    image_pending_seconds; the image carries the instance's facts.
  * CopyImage: TagSpecifications, CopyImageTags, Encrypted, ClientToken idempotency, name
    checks, `pending` for copy_pending_seconds, IncorrectState for a source not available.
  * Enable/DisableImageDeprecation; DescribeImages' block device mappings report the
    snapshot's Encrypted flag and the root volume's size.
  * The `image_created` knob backdates an image: `{"ami-…": "2026-10-01T12:00:00Z"}`
    becomes its CreationDate from the next DescribeImages on (an old image without waiting
    weeks; `backdate` below, applied by image_disable.py's DescribeImages).

Real-OS images (world.realos) are made, copied and removed alongside.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from .ec2 import AMI_NAME, ec2_error

if TYPE_CHECKING:
    from .state import World


def install(world: World) -> None:
    """Patches moto's EC2 images; the patches close over `world`."""
    install_create_image(world)
    install_copy_image(world)
    install_deregister(world)
    install_deprecation()
    install_block_device_mappings()


def check_image_created(value: Any) -> dict[str, str]:
    """The `image_created` knob: {image id: RFC 3339 UTC time}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("image_created must map an image id to an RFC 3339 time")
    for key, when in value.items():
        if not isinstance(key, str) or not key.startswith("ami-"):
            raise ValueError(f"image_created: {key!r} is not an image id")
        if not isinstance(when, str):
            raise ValueError(f"image_created[{key}] must be an RFC 3339 time such as 2026-10-01T12:00:00Z")
        try:
            parsed = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError as e:
            raise ValueError(f"image_created[{key}]: {when!r} is not an RFC 3339 time") from e
        if parsed.tzinfo is None:
            raise ValueError(f"image_created[{key}]: {when!r} needs a zone (Z)")
    return value


def backdate(world: World, region: str, images: list[Any]) -> None:
    """Sets the creation date of each image the region's `image_created` knob names."""
    wanted = world.knobs.get(region, "image_created")
    for ami in images:
        when = wanted.get(ami.id)
        if when:
            parsed = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
            ami.creation_date = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)


def check_name(backend: Any, name: str | None) -> None:
    if not name or not AMI_NAME.match(name):
        raise ec2_error(
            "InvalidAMIName.Malformed",
            f"AMI names must be between 3 and 128 characters long, and may contain letters, "
            f"numbers, '(', ')', '.', '-', '/', '_', ' ', '[', ']', '@' and '''; got {name!r}",
        )
    for ami in backend.amis.values():
        if ami.name == name and ami.owner_id == backend.account_id:
            raise ec2_error("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {ami.id}")


def split_tag_specs(specs: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    image, snapshot = {}, {}
    for spec in specs or []:
        kind = spec.get("ResourceType")
        tags = {t["Key"]: t.get("Value", "") for t in spec.get("Tags", spec.get("Tag", []))}
        if kind == "image":
            image.update(tags)
        elif kind == "snapshot":
            snapshot.update(tags)
        else:
            raise ec2_error(
                "InvalidParameterValue",
                f"'{kind}' is not a valid taggable resource type for this operation.",
            )
    return image, snapshot


def schedule_available(world: World, ami: Any, region: str, knob: str) -> None:
    delay = world.knobs.get(region, knob)
    if delay > 0:
        ami.state = "pending"

        def done() -> None:
            if ami.state == "pending":
                ami.state = "available"

        world.at(time.time() + delay, done)



def install_create_image(world: World) -> None:
    from moto.ec2.responses import EC2Response

    def create_image_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        backend = self.ec2_backend
        name = self._get_param("Name")
        instance_id = self._get_param("InstanceId")
        image_tags, snapshot_tags = split_tag_specs(self._get_param("TagSpecifications", []))
        self.error_on_dryrun()
        check_name(backend, name)
        instance = backend.get_instance(instance_id)
        ami = backend.create_image(instance_id, name, self._get_param("Description", ""), tag_specifications=[])
        ami.add_tags(image_tags)
        ami.ebs_snapshot.add_tags(snapshot_tags)
        root = instance.block_device_mapping.get(instance.root_device_name) or next(
            iter(instance.block_device_mapping.values()), None
        )
        if root is not None and root.volume_id in backend.volumes:
            volume = backend.volumes[root.volume_id]
            ami.ebs_snapshot.encrypted = bool(volume.encrypted)
            ami.ebs_snapshot.kms_key_id = volume.kms_key_id
            ami.amibake_root_size = volume.size
        account, region = backend.account_id, backend.region_name
        image_f = world.image_facts(account, region, ami.id)
        image_f.update(copy.deepcopy(world.instance_facts(account, region, instance_id)))
        for transient in ("running_since", "last_reboot"):
            image_f.pop(transient, None)
        if world.realos.create_image(
            account, region, instance_id, ami.id, lambda ok: setattr(ami, "state", "available" if ok else "failed")
        ):
            ami.state = "pending"
        else:
            schedule_available(world, ami, region, "image_pending_seconds")
        return ActionResult({"ImageId": ami.id})

    EC2Response.create_image = create_image_response


def install_copy_image(world: World) -> None:
    from moto.ec2.models import ec2_backends
    from moto.ec2.responses import EC2Response

    def copy_image_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        backend = self.ec2_backend
        account, region = backend.account_id, backend.region_name
        source_id = self._get_param("SourceImageId")
        source_region = self._get_param("SourceRegion")
        token = self._get_param("ClientToken")
        image_tags, snapshot_tags = split_tag_specs(self._get_param("TagSpecifications", []))
        self.error_on_dryrun()
        if token and (account, region, "CopyImage", token) in world.tokens:
            return ActionResult({"ImageId": world.tokens[(account, region, "CopyImage", token)]})
        source_backend = ec2_backends[account][source_region]
        source = source_backend.describe_images(ami_ids=[source_id])[0]
        if source.state != "available":
            raise ec2_error("IncorrectState", f"Image {source_id} is in state {source.state}; it must be available")
        name = self._get_param("Name") or source.name
        check_name(backend, name)
        ami = backend.copy_image(source_id, source_region, name, self._get_param("Description"))
        if self._get_param("CopyImageTags"):
            ami.add_tags({t["key"]: t["value"] for t in source.get_tags()})
        ami.add_tags(image_tags)
        ami.ebs_snapshot.add_tags(snapshot_tags)
        ami.ebs_snapshot.encrypted = bool(self._get_param("Encrypted")) or source.ebs_snapshot.encrypted
        ami.ebs_snapshot.kms_key_id = self._get_param("KmsKeyId") or source.ebs_snapshot.kms_key_id
        ami.amibake_root_size = getattr(source, "amibake_root_size", 15)
        world.image_facts(account, region, ami.id).update(
            copy.deepcopy(world.image_facts(account, source_region, source_id))
        )
        if token:
            world.tokens[(account, region, "CopyImage", token)] = ami.id
        world.realos.copy_image(account, source_region, source_id, region, ami.id)
        schedule_available(world, ami, region, "copy_pending_seconds")
        return ActionResult({"ImageId": ami.id})

    EC2Response.copy_image = copy_image_response


def install_deregister(world: World) -> None:
    from moto.ec2.models import EC2Backend

    orig_deregister = EC2Backend.deregister_image

    def deregister_image(self: Any, ami_id: str) -> None:
        orig_deregister(self, ami_id)
        world.realos.deregister(self.account_id, self.region_name, ami_id)

    EC2Backend.deregister_image = deregister_image


def install_deprecation() -> None:
    from moto.ec2.responses import EC2Response

    def enable_image_deprecation(self: Any) -> Any:
        from moto.core.responses import ActionResult

        image_id = self._get_param("ImageId")
        when = self._get_param("DeprecateAt")
        self.error_on_dryrun()
        ami = self.ec2_backend.describe_images(ami_ids=[image_id])[0]
        if isinstance(when, str):
            when = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        if isinstance(when, dt.datetime) and when.tzinfo is not None:
            when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
        ami.deprecation_time = when
        return ActionResult({"Return": True})

    def disable_image_deprecation(self: Any) -> Any:
        from moto.core.responses import ActionResult

        image_id = self._get_param("ImageId")
        self.error_on_dryrun()
        ami = self.ec2_backend.describe_images(ami_ids=[image_id])[0]
        ami.deprecation_time = None
        return ActionResult({"Return": True})

    EC2Response.enable_image_deprecation = enable_image_deprecation
    EC2Response.disable_image_deprecation = disable_image_deprecation


def install_block_device_mappings() -> None:
    """DescribeImages: the snapshot's Encrypted flag and the root volume's size."""
    from moto.ec2.models.amis import Ami

    def block_device_mappings(self: Any) -> list[dict[str, Any]]:
        return [
            {
                "DeviceName": self.root_device_name,
                "Ebs": {
                    "SnapshotId": self.ebs_snapshot.id,
                    "VolumeSize": getattr(self, "amibake_root_size", 15),
                    "DeleteOnTermination": True,
                    "VolumeType": "standard",
                    "Encrypted": bool(self.ebs_snapshot.encrypted),
                },
            }
        ]

    Ami.block_device_mappings = property(block_device_mappings)
