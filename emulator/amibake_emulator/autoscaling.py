"""Auto Scaling: the two calls a roll makes that moto gets wrong.

  * An ASG that a CloudFormation update recreates (cloudformation.py makes a new ImageId
    reach it) keeps its name, as on AWS; moto would give it a new generated name, and
    amibake follows the group by name.
  * DescribeInstanceRefreshes (moto: not implemented, HTTP 500) answers an empty list:
    moto has no instance refreshes, and amibake asks before it rolls.

Not simulated: health checks, lifecycle hooks, scaling activities (DescribeScalingActivities
is empty); instances are InService/Healthy at once.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    """Patches moto's Auto Scaling model and responses."""
    # -- an updated ASG keeps its name (moto recreates it under a new generated name) -------
    from moto.autoscaling.models import FakeAutoScalingGroup

    orig_asg_update = FakeAutoScalingGroup.update_from_cloudformation_json.__func__

    def asg_update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> Any:
        if "AutoScalingGroupName" not in cloudformation_json.get("Properties", {}):
            new_resource_name = original_resource.name
        return orig_asg_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)

    FakeAutoScalingGroup.update_from_cloudformation_json = classmethod(asg_update)

    # -- DescribeInstanceRefreshes (moto: not implemented, HTTP 500): none ever runs -------
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    def describe_instance_refreshes(self: Any) -> Any:
        return ActionResult({"InstanceRefreshes": []})

    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
