"""Auto Scaling: the calls a roll makes that moto gets wrong.

  * An ASG that a CloudFormation update recreates (cloudformation.py makes a new ImageId
    reach it) keeps its name, as on AWS; moto would give it a new generated name, and
    amibake follows the group by name.
  * DescribeInstanceRefreshes (moto: not implemented, HTTP 500) answers from
    `world.refreshes`: the instance refreshes that stack updates drive through the
    AutoScalingInstanceRefresh update policy (instance_refresh.py has their timeline).
    Only the group's (AutoScalingGroupName), newest first; InstanceRefreshIds filters;
    MaxRecords (default 50, at most 100) pages, NextToken continues. A group that never
    had one answers an empty list.

Not simulated: health checks, lifecycle hooks, scaling activities (DescribeScalingActivities
is empty), StartInstanceRefresh / CancelInstanceRefresh / RollbackInstanceRefresh; instances
are InService/Healthy at once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .instance_refresh import describe

if TYPE_CHECKING:
    from .state import World


def install(world: World) -> None:
    """Patches moto's Auto Scaling model and responses; the patches close over `world`."""
    # -- an updated ASG keeps its name (moto recreates it under a new generated name) -------
    from moto.autoscaling.models import FakeAutoScalingGroup

    orig_asg_update = FakeAutoScalingGroup.update_from_cloudformation_json.__func__

    def asg_update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> Any:
        if "AutoScalingGroupName" not in cloudformation_json.get("Properties", {}):
            new_resource_name = original_resource.name
        return orig_asg_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)

    FakeAutoScalingGroup.update_from_cloudformation_json = classmethod(asg_update)

    # -- DescribeInstanceRefreshes (moto: not implemented, HTTP 500) ----------------------
    from moto.autoscaling.exceptions import ValidationError
    from moto.core.responses import ActionResult

    def describe_instance_refreshes(self: Any) -> Any:
        group = self._get_param("AutoScalingGroupName")
        if not group:
            raise ValidationError("1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
        max_records = int(self._get_param("MaxRecords") or 50)
        if not 1 <= max_records <= 100:
            raise ValidationError(f"1 validation error detected: Value '{max_records}' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100")
        backend = self.autoscaling_backend
        answer = describe(world.refreshes, backend.account_id, backend.region_name, group,
                          self._get_param("InstanceRefreshIds", []) or [], max_records,
                          self._get_param("NextToken"), time.time())
        return ActionResult(answer)

    from moto.autoscaling.responses import AutoScalingResponse

    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
