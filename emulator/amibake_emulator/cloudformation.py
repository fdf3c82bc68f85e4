"""CloudFormation: what a roll of a stack-managed Auto Scaling group needs.

`amibake roll` puts a new ImageId into a stack (UpdateStack, or CreateChangeSet +
ExecuteChangeSet) and expects the group's instances to be replaced. moto updates only
resources whose own JSON changed, so the launch template gets a new version while the
ASG keeps its old instances. Here:

  * An update also updates resources that Ref/Fn::GetAtt an updated resource, so a new
    ImageId reaches the launch template AND the ASG using `!GetAtt LT.LatestVersionNumber`;
    the ASG is then recreated by moto with new instances from the new version (all at
    once, whatever the UpdatePolicy; CreationPolicy/signals are not simulated). It keeps
    its name (autoscaling.py).
  * Change sets list those Modify changes for parameter-only updates (moto: none);
    CreateChangeSet defaults ChangeSetType to UPDATE as AWS does (moto: CREATE -> 500).
  * ExecuteChangeSet applies the change set's stack tags, recomputes Outputs, and joins a
    `List<...>` parameter kept with UsePreviousValue back into a string (moto: HTTP 500).
  * stack_update_seconds knob (D, default 0): with D > 0 an UPDATE (ExecuteChangeSet of an
    UPDATE change set, UpdateStack) returns at once and takes D seconds, its stack and
    resource events released over that time; see stack_update.py for the exact timeline.
    With D = 0 the update completes inside the request, as moto does.
  * fail_stack_update knob: the update ends in UPDATE_ROLLBACK_COMPLETE with an
    UPDATE_FAILED event on the ASG, and changes nothing (at once with D = 0; the failure
    at 0.6 D and the rollback done at 1.2 D otherwise). fail_instance_refresh (an alarm
    name) does the same to an update that drives an instance refresh.
  * An update that changes the launch template of a group with UpdatePolicy
    AutoScalingInstanceRefresh drives an instance refresh (instance_refresh.py), shown by
    DescribeInstanceRefreshes (autoscaling.py).
  * A stack with an update in progress refuses another UpdateStack/ExecuteChangeSet
    (ValidationError "Stack:<id> is in <status> state and can not be updated.").
  * Every event of CreateStack, UpdateStack, ExecuteChangeSet, DeleteStack (and
    CancelUpdateStack) carries the request's ClientRequestToken (moto: always none).
  * CancelUpdateStack (moto: not implemented): while UPDATE_IN_PROGRESS (D > 0 only) the
    update rolls back over 0.2 D and changes nothing; in any other status
    ValidationError, as AWS. ContinueUpdateRollback (moto: not implemented) always answers
    ValidationError: no simulated failure leaves a stack UPDATE_ROLLBACK_FAILED.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .stack_update import StackUpdate, fail_at_once, plan, references

if TYPE_CHECKING:
    from .state import World


def install(world: World) -> None:
    """Patches moto's CloudFormation models and responses; the patches close over `world`."""
    current: dict[str, Any] = {"token": None}  # ClientRequestToken of the request being served
    install_dependent_updates()
    install_change_sets()
    install_updates(world, current)
    install_request_tokens(current)
    install_cancel(world)


def install_dependent_updates() -> None:
    """An update reaches resources that depend on a changed one.

    moto only updates a resource whose own JSON changed or that Refs a changed parameter,
    so a new ImageId gives the launch template a new version while the ASG (pointing at
    it through Fn::GetAtt LT.LatestVersionNumber) keeps the old one and its instances."""
    from moto.cloudformation.parsing import ResourceMap

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


def install_change_sets() -> None:
    """Change sets list the resources a parameter-only change modifies; ChangeSetType
    defaults to UPDATE (moto: CREATE, then HTTP 500); UsePreviousValue of a List<...>
    parameter (moto: the stored Python list, then AttributeError on execute)."""
    from moto.cloudformation.models import ChangeSet
    from moto.cloudformation.parsing import ResourceMap
    from moto.cloudformation.responses import CloudFormationResponse as R

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

    orig_create_change_set = R.create_change_set

    def create_change_set(self: Any) -> Any:
        if not self._get_param("ChangeSetType"):
            self.querystring["ChangeSetType"] = ["UPDATE"]
            if isinstance(getattr(self, "params", None), dict):
                self.params["ChangeSetType"] = "UPDATE"
        return orig_create_change_set(self)

    R.create_change_set = create_change_set

    orig_apply = ChangeSet.apply

    def change_set_apply(self: Any) -> None:
        self.parameters = {k: (",".join(v) if isinstance(v, list) else v) for k, v in self.parameters.items()}
        orig_apply(self)

    ChangeSet.apply = change_set_apply


def refuse_if_busy(stack: Any) -> None:
    from moto.cloudformation.exceptions import ValidationError

    if stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS":
        raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")


def start_update(world: World, current: dict[str, Any], backend: Any, stack: Any, template: dict[str, Any], parameters: Any, apply: Any, change_set: Any = None) -> None:
    """Runs an UPDATE: inside the request (D = 0, moto's own events), or over D seconds."""
    duration = float(world.knobs.get(backend.region_name, "stack_update_seconds") or 0)
    now = time.time()
    p = plan(world, backend, stack, template, parameters, now, duration)
    token = current["token"]
    if duration > 0:
        StackUpdate(world, backend, stack, p, token, now, duration, apply, change_set).begin()
        return
    if p.failure:
        fail_at_once(stack, p, token)
    else:
        apply()
    if change_set is not None:
        change_set.execution_status = "EXECUTE_COMPLETE"
    if p.refresh is not None:
        world.refreshes.append(p.refresh)


def install_updates(world: World, current: dict[str, Any]) -> None:
    """ExecuteChangeSet and UpdateStack: at once (moto) or over stack_update_seconds
    (stack_update.py); refused while another update runs."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend, Stack

    orig_execute = CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name and (not stack_name or stack_name in (c.stack_name, c.stack_id))),
            None,
        )
        if change_set is None:
            raise ValidationError(message=f"ChangeSet [{change_set_name}] does not exist")
        stack = self.stacks[change_set.stack_id]

        def apply() -> None:
            orig_execute(self, change_set_name=change_set.change_set_id, stack_name=stack_name)
            # AWS applies the change set's stack tags (moto keeps the old ones).
            if change_set.tags:
                stack.tags = dict(change_set.tags)
            # ... and recomputes the outputs (moto keeps the ones from creation).
            stack.output_map = stack._create_output_map()

        if change_set.change_set_type != "UPDATE":
            apply()
            return
        refuse_if_busy(stack)
        start_update(world, current, self, stack, change_set.template_dict, change_set.parameters, apply, change_set)

    CloudFormationBackend.execute_change_set = execute_change_set

    orig_update_stack = CloudFormationBackend.update_stack

    def update_stack(self: Any, name: str, template: str, role_arn: Any, parameters: Any, tags: Any) -> Any:
        stack = self.get_stack(name)
        refuse_if_busy(stack)
        resolved = self._resolve_update_parameters(instance=stack, incoming_params=parameters)
        start_update(world, current, self, stack, Stack.parse_template(template), resolved,
                     lambda: orig_update_stack(self, name, template, role_arn, parameters, tags))
        return stack

    CloudFormationBackend.update_stack = update_stack


def install_request_tokens(current: dict[str, Any]) -> None:
    """ClientRequestToken on every event of the operation (moto: always None)."""
    from moto.cloudformation.models import Event
    from moto.cloudformation.responses import CloudFormationResponse as R

    orig_event_init = Event.__init__

    def event_init(self: Any, *args: Any, **kwargs: Any) -> None:
        orig_event_init(self, *args, **kwargs)
        self.client_request_token = current["token"]

    Event.__init__ = event_init

    def with_token(orig: Any) -> Any:
        def handler(self: Any) -> Any:
            current["token"] = self._get_param("ClientRequestToken")
            try:
                return orig(self)
            finally:
                current["token"] = None

        return handler

    for action in ("create_stack", "update_stack", "execute_change_set", "delete_stack"):
        setattr(R, action, with_token(getattr(R, action)))


def install_cancel(world: World) -> None:
    """CancelUpdateStack / ContinueUpdateRollback (moto: not implemented).

    A stack is UPDATE_IN_PROGRESS only during an update that takes time (D > 0): then
    CancelUpdateStack rolls it back (stack_update.py). It is never UPDATE_ROLLBACK_FAILED
    after a simulated failure, so ContinueUpdateRollback always answers as AWS does for a
    stack in any other state."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse as R
    from moto.core.responses import EmptyResult

    def cancel_update_stack(self: Any) -> Any:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        update = world.stack_updates.get(stack.stack_id)
        if stack.status == "UPDATE_IN_PROGRESS" and update is not None:
            update.cancel(time.time(), self._get_param("ClientRequestToken"))
            return EmptyResult()
        raise ValidationError(message=f"CancelUpdateStack cannot be called from current stack status {stack.status}")

    def continue_update_rollback(self: Any) -> Any:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        raise ValidationError(message=f"Stack {stack.name} is in {stack.status} state and can not continue update rollback")

    R.cancel_update_stack = cancel_update_stack
    R.continue_update_rollback = continue_update_rollback
