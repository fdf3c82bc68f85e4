"""Auto Scaling: the calls a roll makes that moto gets wrong.

  * An ASG that a CloudFormation update recreates (cloudformation.py makes a new ImageId
    reach it) keeps its name, as on AWS; moto would give it a new generated name, and
    amibake follows the group by name.
  * An ASG a stack creates carries `aws:cloudformation:stack-name`, `…:stack-id` and
    `…:logical-id` tags, as on AWS (moto tags only a stack's EC2 resources); `status`
    names a group's stack by them.
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
        stack_tags = [t for t in original_resource.tags if t.get("Key", "").startswith("aws:cloudformation:")]
        group = orig_asg_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        # The stack's own tags stay on the group it recreates (create_from_cloudformation_json
        # below sets them; moto's update makes the group anew without them).
        keys = {t["Key"] for t in stack_tags}
        group.tags = [t for t in group.tags if t.get("Key") not in keys] + [dict(t, ResourceId=group.name) for t in stack_tags]
        return group

    FakeAutoScalingGroup.update_from_cloudformation_json = classmethod(asg_update)

    # -- a stack's ASG carries the stack's tags (moto tags only EC2 resources) -------------
    orig_asg_create = FakeAutoScalingGroup.create_from_cloudformation_json.__func__

    def asg_create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        group = orig_asg_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        stack_id = kwargs.get("StackId") or ""
        parts = stack_id.split(":", 5)[-1].split("/")  # stack/NAME/UUID
        if len(parts) >= 2 and parts[0] == "stack":
            stack_tags = {
                "aws:cloudformation:stack-name": parts[1],
                "aws:cloudformation:stack-id": stack_id,
                "aws:cloudformation:logical-id": kwargs.get("LogicalId") or "",
            }
            kept = [t for t in group.tags if t.get("Key") not in stack_tags]
            group.tags = kept + [
                {"ResourceId": group.name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v, "PropagateAtLaunch": False}
                for k, v in stack_tags.items()
            ]
        return group

    FakeAutoScalingGroup.create_from_cloudformation_json = classmethod(asg_create)

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
