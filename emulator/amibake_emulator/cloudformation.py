"""CloudFormation: what a roll of a stack-managed Auto Scaling group needs.

`amibake roll` puts a new ImageId into a stack (UpdateStack, or CreateChangeSet +
ExecuteChangeSet) and expects the group's instances to be replaced. moto updates only
resources whose own JSON changed, so the launch template gets a new version while the
ASG keeps its old instances. Here:

  * An update also updates resources that Ref/Fn::GetAtt an updated resource, so a new
    ImageId reaches the launch template AND the ASG using `!GetAtt LT.LatestVersionNumber`;
    the ASG is then recreated by moto with new instances from the new version (all at
    once; UpdatePolicy/CreationPolicy/signals are not simulated). It keeps its name
    (autoscaling.py).
  * Change sets list those Modify changes for parameter-only updates (moto: none);
    CreateChangeSet defaults ChangeSetType to UPDATE as AWS does (moto: CREATE -> 500).
  * ExecuteChangeSet applies the change set's stack tags, recomputes Outputs, and joins a
    `List<...>` parameter kept with UsePreviousValue back into a string (moto: HTTP 500).
  * fail_stack_update knob: ExecuteChangeSet/UpdateStack end in UPDATE_ROLLBACK_COMPLETE
    with an UPDATE_FAILED event on the ASG, and change nothing.
  * CancelUpdateStack / ContinueUpdateRollback (moto: not implemented): updates finish
    inside the request, so these answer ValidationError like AWS for a settled stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import World


def references(node: Any) -> set[str]:
    """Logical names a template fragment points at through Ref or Fn::GetAtt."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) and value else str(value).split(".")[0]
                found.add(str(target))
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def install(world: World) -> None:
    """Patches moto's CloudFormation models and responses; the patches close over `world`."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Event
    from moto.cloudformation.parsing import ResourceMap
    from moto.cloudformation.responses import CloudFormationResponse as R

    # -- an update reaches resources that depend on a changed one --------------------------
    # moto only updates a resource whose own JSON changed or that Refs a changed parameter,
    # so a new ImageId gives the launch template a new version while the ASG (pointing at
    # it through Fn::GetAtt LT.LatestVersionNumber) keeps the old one and its instances.
    orig_diff = ResourceMap.build_resource_diff

    def build_resource_diff(self: Any, other_template: dict[str, Any], parameters: Any = None) -> Any:
        actions = orig_diff(self, other_template, parameters)
        new = other_template.get("Resources", {})
        changed = set(actions["Modify"]) | set(actions["Add"]) | set(actions["Remove"])
        grew = True
        while grew:
            grew = False
            for name, body in new.items():
                if name in changed or name not in self._resource_json_map:
                    continue
                if references(body) & changed:
                    actions["Modify"].append(name)
                    changed.add(name)
                    grew = True
        return actions

    ResourceMap.build_resource_diff = build_resource_diff

    # -- change sets list the resources a parameter-only change modifies -------------------
    def build_change_set_actions(self: Any, template: dict[str, Any], parameters: Any = None) -> Any:
        names = self.build_resource_diff(template, parameters)
        old = self._resource_json_map
        return {
            "Add": {n: {"LogicalResourceId": n, "ResourceType": template["Resources"][n]["Type"]} for n in names["Add"]},
            "Modify": {n: {"LogicalResourceId": n, "ResourceType": template["Resources"][n]["Type"]} for n in names["Modify"]},
            "Remove": {n: {"LogicalResourceId": n, "ResourceType": old[n]["Type"]} for n in names["Remove"]},
        }

    ResourceMap.build_change_set_actions = build_change_set_actions
    orig_cs_diff = ChangeSet.diff

    def change_set_diff(self: Any) -> Any:
        if self.change_set_type != "UPDATE":
            return orig_cs_diff(self)
        from moto.cloudformation.models import Change

        actions = self.stack.resource_map.build_change_set_actions(self.template_dict, self.parameters)
        return [
            Change(action=action, logical_resource_id=name, resource_type=r["ResourceType"])
            for action, resources in actions.items()
            for name, r in resources.items()
        ]

    ChangeSet.diff = change_set_diff

    # -- CreateChangeSet: ChangeSetType defaults to UPDATE (moto: CREATE, then HTTP 500) ---
    orig_create_change_set = R.create_change_set

    def create_change_set(self: Any) -> Any:
        if not self._get_param("ChangeSetType"):
            self.querystring["ChangeSetType"] = ["UPDATE"]
            if isinstance(getattr(self, "params", None), dict):
                self.params["ChangeSetType"] = "UPDATE"
        return orig_create_change_set(self)

    R.create_change_set = create_change_set

    # -- the fail_stack_update knob: the update rolls back, nothing changes ----------------
    def roll_back(stack: Any) -> None:
        resources = stack.template_dict.get("Resources", {})
        asg = next((n for n, r in resources.items() if r.get("Type") == "AWS::AutoScaling::AutoScalingGroup"), None)
        stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
        if asg is not None:
            resource = stack.resource_map._parsed_resources.get(asg)
            physical = getattr(resource, "physical_resource_id", None) or asg
            for status, reason in (
                ("UPDATE_IN_PROGRESS", "Rolling update initiated"),
                ("UPDATE_FAILED", "Received 0 SUCCESS signal(s) out of 1. Unable to satisfy 100% MinSuccessfulInstancesPercent requirement"),
            ):
                stack.events.append(
                    Event(
                        stack_id=stack.stack_id,
                        stack_name=stack.name,
                        logical_resource_id=asg,
                        physical_resource_id=physical,
                        resource_type="AWS::AutoScaling::AutoScalingGroup",
                        resource_status=status,
                        resource_status_reason=reason,
                        resource_properties=None,
                    )
                )
        stack._add_stack_event(
            "UPDATE_ROLLBACK_IN_PROGRESS",
            resource_status_reason=f"The following resource(s) failed to update: [{asg or 'unknown'}]. (amibake-emulator fail_stack_update)",
        )
        stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        stack.status = "UPDATE_ROLLBACK_COMPLETE"

    orig_execute = CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name and (not stack_name or stack_name in (c.stack_name, c.stack_id))),
            None,
        )
        if change_set is None:
            raise ValidationError(message=f"ChangeSet [{change_set_name}] does not exist")
        if change_set.change_set_type == "UPDATE" and world.knobs.get(self.region_name, "fail_stack_update"):
            roll_back(self.stacks[change_set.stack_id])
            change_set.execution_status = "EXECUTE_COMPLETE"
            return
        orig_execute(self, change_set_name=change_set.change_set_id, stack_name=stack_name)
        # AWS applies the change set's stack tags (moto keeps the old ones).
        stack = self.stacks[change_set.stack_id]
        if change_set.tags:
            stack.tags = dict(change_set.tags)
        # ... and recomputes the outputs (moto keeps the ones from creation).
        stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute_change_set

    # -- UsePreviousValue of a List<...> parameter (moto: the stored Python list, then
    # AttributeError 'list' has no attribute 'split' on execute) ---------------------------
    orig_apply = ChangeSet.apply

    def change_set_apply(self: Any) -> None:
        self.parameters = {k: (",".join(v) if isinstance(v, list) else v) for k, v in self.parameters.items()}
        orig_apply(self)

    ChangeSet.apply = change_set_apply

    orig_update_stack = CloudFormationBackend.update_stack

    def update_stack(self: Any, name: str, template: str, role_arn: Any, parameters: Any, tags: Any) -> Any:
        if world.knobs.get(self.region_name, "fail_stack_update"):
            stack = self.get_stack(name)
            roll_back(stack)
            return stack
        return orig_update_stack(self, name, template, role_arn, parameters, tags)

    CloudFormationBackend.update_stack = update_stack

    # -- CancelUpdateStack / ContinueUpdateRollback (moto: not implemented) ----------------
    # Updates finish inside the request here, so a stack is never UPDATE_IN_PROGRESS or
    # UPDATE_ROLLBACK_FAILED when these arrive: answer as AWS does in that case.
    def cancel_update_stack(self: Any) -> Any:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        raise ValidationError(message=f"CancelUpdateStack cannot be called from current stack status {stack.status}")

    def continue_update_rollback(self: Any) -> Any:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        raise ValidationError(message=f"Stack {stack.name} is in {stack.status} state and can not continue update rollback")

    R.cancel_update_stack = cancel_update_stack
    R.continue_update_rollback = continue_update_rollback
