"""ec2:DisableImage / EnableImage as AWS documents them, where moto 5.2.5 only flips the
state: a disabled AMI is hidden from DescribeImages unless `IncludeDisabled=true`, loses
its launch permissions, and only its owner may disable or enable it.

  * DisableImage: state `disabled`, launch permissions (users, groups, public) removed.
    Not the owner (e.g. the seeded Ubuntu AMI): `AuthFailure` (AWS names no code; an
    assumption). EnableImage: state `available` again; the permissions are not restored.
  * DescribeImages: disabled images are left out, also when asked by id, unless
    `IncludeDisabled=true`.
  * RunInstances from a disabled AMI: `InvalidAMIID.Unavailable`, as for any AMI not
    `available` (ec2.py; AWS documents only that a disabled AMI cannot launch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .ec2 import ec2_error
from .ec2_images import backdate

if TYPE_CHECKING:
    from .state import World


def install(world: World) -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses import EC2Response

    def owned(self: Any) -> Any:
        backend = self.ec2_backend
        image_id = self._get_param("ImageId")
        if not image_id:
            raise ec2_error("MissingParameter", "The request must contain the parameter ImageId")
        self.error_on_dryrun()
        ami = backend.describe_images(ami_ids=[image_id])[0]  # InvalidAMIID.NotFound / .Malformed
        if ami.owner_id != backend.account_id:
            raise ec2_error("AuthFailure", f"Not authorized for image:{image_id}; only the owner may disable or enable an AMI")
        return ami

    def disable_image(self: Any) -> Any:
        ami = owned(self)
        ami.state = "disabled"
        ami.launch_permissions = []
        return ActionResult({"Return": True})

    def enable_image(self: Any) -> Any:
        ami = owned(self)
        if ami.state == "disabled":
            ami.state = "available"
        return ActionResult({"Return": True})

    def describe_images(self: Any) -> Any:
        self.error_on_dryrun()
        images = self.ec2_backend.describe_images(
            ami_ids=self._get_param("ImageIds", []),
            filters=self._filters_from_querystring(),
            exec_users=self._get_param("ExecutableUsers", []),
            owners=self._get_param("Owners", []),
        )
        backdate(world, self.ec2_backend.region_name, images)
        if str(self._get_param("IncludeDisabled")).lower() != "true":
            images = [i for i in images if i.state != "disabled"]
        return ActionResult({"Images": images})

    EC2Response.disable_image = disable_image
    EC2Response.enable_image = enable_image
    EC2Response.describe_images = describe_images
