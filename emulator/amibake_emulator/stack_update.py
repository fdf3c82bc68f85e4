"""CloudFormation stack updates that take time (the `stack_update_seconds` knob).

moto finishes an update inside the request. With stack_update_seconds = D > 0, an UPDATE
(ExecuteChangeSet of an UPDATE change set, or UpdateStack) returns at once and runs for D
seconds of wall time, driven by the World's timeline (each request first applies what is
due, so what a client sees depends only on the time). Times below are t0 + fraction of D,
t0 being the request; "the group" is the stack's (first) Auto Scaling group:

  0      stack UPDATE_IN_PROGRESS "User Initiated" (DescribeStacks: UPDATE_IN_PROGRESS);
         an UPDATE change set shows ExecutionStatus EXECUTE_IN_PROGRESS
  0.05   every other changed resource (the launch template) UPDATE_IN_PROGRESS
         (CREATE_IN_PROGRESS for an added one)
  0.10   ... UPDATE_COMPLETE (CREATE_COMPLETE)
  0.15   the group UPDATE_IN_PROGRESS: "Rolling update initiated"
         (AutoScalingRollingUpdate) or "Instance refresh <id> started"
         (AutoScalingInstanceRefresh, see instance_refresh.py); no reason otherwise
  0.90   moto's real update runs: new parameters, template, tags, outputs
         (LaunchTemplateVersion + 1) and the group's new instances appear; the group
         UPDATE_COMPLETE; stack UPDATE_COMPLETE_CLEANUP_IN_PROGRESS (its status too)
  0.95   removed resources DELETE_IN_PROGRESS / DELETE_COMPLETE
  1.00   stack UPDATE_COMPLETE; change set EXECUTE_COMPLETE

Failing (fail_stack_update, or fail_instance_refresh when the update drives an instance
refresh; both read when the update starts): nothing is applied, and

  0.60   the group UPDATE_FAILED ("Received 0 SUCCESS signal(s) out of 1. Unable to
         satisfy 100% MinSuccessfulInstancesPercent requirement", or the refresh's
         StatusReason); stack UPDATE_ROLLBACK_IN_PROGRESS "The following resource(s)
         failed to update: [<group>]. (amibake-emulator <knob>)"
  0.70   the group UPDATE_IN_PROGRESS (rolling back), 1.05 UPDATE_COMPLETE
  1.08   the other updated resources UPDATE_IN_PROGRESS, 1.10 UPDATE_COMPLETE
  1.15   stack UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS
  1.20   stack UPDATE_ROLLBACK_COMPLETE; change set EXECUTE_COMPLETE

CancelUpdateStack at tc while the stack is UPDATE_IN_PROGRESS (before 0.9 D, or 0.6 D when
failing): the steps still due are dropped; every resource whose update had begun and not
ended UPDATE_FAILED "Resource update cancelled"; stack UPDATE_ROLLBACK_IN_PROGRESS
"Resource update cancelled"; the group (if begun) rolls back from tc + 0.03 D to
tc + 0.12 D, the other begun resources tc + 0.13 / 0.14 D; cleanup tc + 0.17 D; stack
UPDATE_ROLLBACK_COMPLETE at tc + 0.2 D. Nothing changes.

Every event carries the ClientRequestToken of the operation (CancelUpdateStack's own
token, when it gives one, for the events of the cancellation) and the time it was due
as its Timestamp. With D = 0 the update is moto's, inside the request (cloudformation.py);
`plan()` serves both.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from . import allowed_images
from .instance_refresh import Refresh, group_preferences
from .util import epoch_to_dt, log

if TYPE_CHECKING:
    from .state import World

STACK_TYPE = "AWS::CloudFormation::Stack"
ASG_TYPE = "AWS::AutoScaling::AutoScalingGroup"
LT_TYPE = "AWS::EC2::LaunchTemplate"
ROLLING_FAILURE = "Received 0 SUCCESS signal(s) out of 1. Unable to satisfy 100% MinSuccessfulInstancesPercent requirement"
CANCELLED = "Resource update cancelled"
BEGIN = {"Add": ("CREATE_IN_PROGRESS", "CREATE_COMPLETE"), "Modify": ("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"),
         "Remove": ("DELETE_IN_PROGRESS", "DELETE_COMPLETE")}


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


def add_event(stack: Any, token: str | None, when: float, logical: str, physical: str, rtype: str,
              status: str, reason: str | None = None) -> None:
    from moto.cloudformation.models import Event

    e = Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical, physical_resource_id=physical,
              resource_type=rtype, resource_status=status, resource_status_reason=reason, resource_properties=None)
    e.timestamp = epoch_to_dt(when)
    e.client_request_token = token
    e.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
    stack.events.append(e)


@dataclass
class Resource:
    logical: str
    physical: str
    rtype: str
    action: str  # Add | Modify | Remove


@dataclass
class Plan:
    """What an update does, worked out when it starts."""

    others: list[Resource] = field(default_factory=list)  # changed resources but the group
    group: Resource | None = None  # the stack's Auto Scaling group
    group_changed: bool = False
    group_reason: str | None = None  # of its UPDATE_IN_PROGRESS
    refresh: Refresh | None = None
    failure: str | None = None  # the group's UPDATE_FAILED reason when the update fails
    knob: str = ""  # which knob made it fail


def _flat(parameters: dict[str, Any] | None) -> dict[str, Any]:
    return {k: (",".join(v) if isinstance(v, list) else v) for k, v in (parameters or {}).items()}


def plan(world: World, backend: Any, stack: Any, template: dict[str, Any], parameters: dict[str, Any] | None,
         start: float, duration: float) -> Plan:
    """The resources an update touches, the group's policy, its instance refresh (not yet
    in `world.refreshes`) and whether it fails, from the knobs at `start`."""
    from moto.ec2.utils import random_instance_id

    rmap = stack.resource_map
    diff = rmap.build_resource_diff(template, _flat(parameters))
    new, old = template.get("Resources", {}), stack.template_dict.get("Resources", {})
    groups = [n for n, r in new.items() if r.get("Type") == ASG_TYPE] or [n for n, r in old.items() if r.get("Type") == ASG_TYPE]

    def resource(name: str, action: str) -> Resource:
        body = (old if action == "Remove" else new).get(name) or old.get(name) or {}
        parsed = rmap._parsed_resources.get(name)
        return Resource(name, str(getattr(parsed, "physical_resource_id", "") or ""), body.get("Type", ""), action)

    p = Plan()
    group = groups[0] if groups else None
    for action in ("Add", "Modify", "Remove"):
        p.others += [resource(n, action) for n in diff[action] if n != group]
    knobs = world.knobs
    failing = knobs.get(backend.region_name, "fail_stack_update")
    alarm = knobs.get(backend.region_name, "fail_instance_refresh")
    if group is None:
        if failing:
            p.failure, p.knob = ROLLING_FAILURE, "fail_stack_update"
        return p
    p.group = resource(group, "Modify")
    p.group.physical = p.group.physical or group
    p.group_changed = group in diff["Modify"]
    policy = (new.get(group) or old.get(group) or {}).get("UpdatePolicy") or {}
    changed_templates = {r.logical for r in p.others if r.rtype == LT_TYPE and r.action == "Modify"}
    if "AutoScalingInstanceRefresh" in policy and p.group_changed and references(new.get(group, {})) & changed_templates:
        p.refresh = new_refresh(backend, stack, template, parameters, group, p.group.physical, start, duration)
        p.group_reason = f"Instance refresh {p.refresh.id} started"
    elif "AutoScalingRollingUpdate" in policy:
        p.group_reason = "Rolling update initiated"
    refused = allowed_images.refused_launch(world, backend.account_id, backend.region_name, _flat(parameters)) if p.group_changed else None
    if refused:
        p.failure, p.knob = refused, "allowed_images"
    elif p.refresh is not None and alarm:
        p.failure, p.knob = f"Instance refresh failed: alarm {alarm} is in ALARM state.", "fail_instance_refresh"
    elif failing and p.refresh is not None:
        p.failure = f"Instance refresh failed: instances failed health checks ({random_instance_id()} did not become healthy)."
        p.knob = "fail_stack_update"
    elif failing:
        p.failure, p.knob = ROLLING_FAILURE, "fail_stack_update"
    if p.refresh is not None and p.failure:
        p.refresh.stop(start + 0.6 * duration, p.failure, True, start + 0.7 * duration, start + 1.05 * duration)
    return p


def new_refresh(backend: Any, stack: Any, template: dict[str, Any], parameters: dict[str, Any] | None,
                group: str, name: str, start: float, duration: float) -> Refresh:
    prefs, strategy = group_preferences(stack, template, parameters or {}, group)
    model = stack.resource_map._parsed_resources.get(group)
    desired = None
    try:
        lt = model.ec2_launch_template
        desired = {"LaunchTemplate": {"LaunchTemplateId": lt.id, "LaunchTemplateName": lt.name,
                                      "Version": str(lt.latest_version_number + 1)}}
    except AttributeError:
        pass
    try:
        size = int(getattr(model, "desired_capacity", 0) or 0)
    except (TypeError, ValueError):
        size = 0
    return Refresh(account=backend.account_id, region=backend.region_name, group=name, size=size,
                   created=start + 0.15 * duration, done=start + 0.9 * duration, duration=duration,
                   prefs=prefs, strategy=strategy, desired=desired)


def fail_at_once(stack: Any, p: Plan, token: str | None) -> None:
    """D = 0 and failing: the whole rolled-back update inside the request."""
    now = time.time()
    add_event(stack, token, now, stack.name, stack.stack_id, STACK_TYPE, "UPDATE_IN_PROGRESS", "User Initiated")
    if p.group is not None:
        g = p.group
        add_event(stack, token, now, g.logical, g.physical, ASG_TYPE, "UPDATE_IN_PROGRESS", p.group_reason or "Rolling update initiated")
        add_event(stack, token, now, g.logical, g.physical, ASG_TYPE, "UPDATE_FAILED", p.failure)
    failed = p.group.logical if p.group else "unknown"
    add_event(stack, token, now, stack.name, stack.stack_id, STACK_TYPE, "UPDATE_ROLLBACK_IN_PROGRESS",
              f"The following resource(s) failed to update: [{failed}]. (amibake-emulator {p.knob})")
    add_event(stack, token, now, stack.name, stack.stack_id, STACK_TYPE, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    add_event(stack, token, now, stack.name, stack.stack_id, STACK_TYPE, "UPDATE_ROLLBACK_COMPLETE")
    stack.status = "UPDATE_ROLLBACK_COMPLETE"


class StackUpdate:
    """One update in progress (D > 0), in `world.stack_updates` until it settles."""

    def __init__(self, world: World, backend: Any, stack: Any, p: Plan, token: str | None, start: float,
                 duration: float, apply: Callable[[], None], change_set: Any = None) -> None:
        self.world, self.backend, self.stack, self.plan = world, backend, stack, p
        self.token, self.start, self.duration = token, start, duration
        self.apply, self.change_set = apply, change_set
        self.epoch = 0  # bumped to drop the steps still due (cancel, errors)
        self.begun: list[Resource] = []  # resources whose update began, in order
        self.open: list[Resource] = []  # ... and has not ended
        self.broken = False

    # -- plumbing -----------------------------------------------------------------------
    def at(self, fraction: float, fn: Callable[[float], None], base: float | None = None) -> None:
        when = (self.start if base is None else base) + fraction * self.duration
        epoch = self.epoch

        def step() -> None:
            if epoch != self.epoch or self.backend.stacks.get(self.stack.stack_id) is not self.stack:
                return
            try:
                fn(when)
            except Exception as e:  # never let a step break the request that ran it
                log(f"stack update of {self.stack.name} failed in the emulator:\n{traceback.format_exc()}")
                self.fail_inside(when, e)

        self.world.at(when, step)

    def stack_event(self, when: float, status: str, reason: str | None = None) -> None:
        add_event(self.stack, self.token, when, self.stack.name, self.stack.stack_id, STACK_TYPE, status, reason)
        self.stack.status = status

    def event(self, when: float, r: Resource, status: str, reason: str | None = None) -> None:
        add_event(self.stack, self.token, when, r.logical, r.physical, r.rtype, status, reason)

    def begin_resource(self, when: float, r: Resource, reason: str | None = None) -> None:
        self.event(when, r, BEGIN[r.action][0], reason)
        self.begun.append(r)
        self.open.append(r)

    def end_resource(self, when: float, r: Resource) -> None:
        self.event(when, r, BEGIN[r.action][1])
        if r in self.open:
            self.open.remove(r)

    def settle(self) -> None:
        self.world.stack_updates.pop(self.stack.stack_id, None)
        if self.change_set is not None:
            self.change_set.execution_status = "EXECUTE_COMPLETE"

    # -- the update -----------------------------------------------------------------------
    def begin(self) -> None:
        p = self.plan
        self.world.stack_updates[self.stack.stack_id] = self
        if self.change_set is not None:
            self.change_set.execution_status = "EXECUTE_IN_PROGRESS"
        if p.refresh is not None:
            self.world.refreshes.append(p.refresh)
        self.stack_event(self.start, "UPDATE_IN_PROGRESS", "User Initiated")
        for r in (r for r in p.others if r.action != "Remove"):
            self.at(0.05, lambda w, r=r: self.begin_resource(w, r))
            self.at(0.10, lambda w, r=r: self.end_resource(w, r))
        group = p.group
        if group is not None and (p.group_changed or p.failure):
            self.at(0.15, lambda w: self.begin_resource(w, group, p.group_reason))
        if p.failure:
            self.at(0.6, self.failed)
            return
        self.at(0.9, self.applied)
        for r in (r for r in p.others if r.action == "Remove"):
            self.at(0.95, lambda w, r=r: (self.begin_resource(w, r), self.end_resource(w, r)))
        self.at(1.0, self.completed)

    def applied(self, when: float) -> None:
        n = len(self.stack.events)
        try:
            self.apply()  # moto's update; its own two stack events are replaced by ours
        finally:
            del self.stack.events[n:]
        if self.plan.group in self.open:
            self.end_resource(when, self.plan.group)
        self.stack_event(when, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")

    def completed(self, when: float) -> None:
        self.stack_event(when, "UPDATE_COMPLETE")
        self.settle()

    def failed(self, when: float) -> None:
        p = self.plan
        if p.group is not None:
            self.event(when, p.group, "UPDATE_FAILED", p.failure)
            if p.group in self.open:
                self.open.remove(p.group)
        failed = p.group.logical if p.group else "unknown"
        self.stack_event(when, "UPDATE_ROLLBACK_IN_PROGRESS",
                         f"The following resource(s) failed to update: [{failed}]. (amibake-emulator {p.knob})")
        self.roll_back((0.70, 1.05, 1.08, 1.10, 1.15, 1.20), base=self.start)

    def roll_back(self, times: tuple[float, ...], base: float) -> None:
        """Puts back every resource whose update began: the group first, then the others."""
        group_from, group_to, others_from, others_to, cleanup, done = times
        group = self.plan.group
        if group is not None and group in self.begun:
            self.at(group_from, lambda w: self.event(w, group, "UPDATE_IN_PROGRESS"), base)
            self.at(group_to, lambda w: self.event(w, group, "UPDATE_COMPLETE"), base)
        for r in (r for r in self.begun if r is not group):
            undo = BEGIN["Remove" if r.action == "Add" else "Modify"]
            self.at(others_from, lambda w, r=r, s=undo[0]: self.event(w, r, s), base)
            self.at(others_to, lambda w, r=r, s=undo[1]: self.event(w, r, s), base)
        self.at(cleanup, lambda w: self.stack_event(w, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"), base)
        self.at(done, lambda w: (self.stack_event(w, "UPDATE_ROLLBACK_COMPLETE"), self.settle()), base)

    def cancel(self, now: float, token: str | None) -> None:
        """CancelUpdateStack while UPDATE_IN_PROGRESS: roll back from `now`."""
        self.epoch += 1
        self.token = token or self.token
        for r in list(self.open):
            self.event(now, r, "UPDATE_FAILED", CANCELLED)
        self.open.clear()
        self.stack_event(now, "UPDATE_ROLLBACK_IN_PROGRESS", CANCELLED)
        refresh = self.plan.refresh
        if refresh is not None and now < refresh.created:
            self.world.refreshes.remove(refresh)
        elif refresh is not None:
            refresh.stop(now, "The stack update was cancelled (CancelUpdateStack).", False, now, now + 0.12 * self.duration)
        self.roll_back((0.03, 0.12, 0.13, 0.14, 0.17, 0.20), base=now)

    def fail_inside(self, when: float, error: Exception) -> None:
        """A step raised (an emulator or moto error): roll back from here, or give up."""
        self.epoch += 1
        reason = f"amibake-emulator could not apply the update: {type(error).__name__}: {error}"
        if self.broken:
            self.stack_event(when, "UPDATE_ROLLBACK_FAILED", reason)
            self.settle()
            return
        self.broken = True
        for r in list(self.open):
            self.event(when, r, "UPDATE_FAILED", reason)
        self.open.clear()
        self.stack_event(when, "UPDATE_ROLLBACK_IN_PROGRESS", reason)
        if self.plan.refresh is not None:
            self.plan.refresh.stop(when, reason, False, when, when + 0.12 * self.duration)
        self.roll_back((0.03, 0.12, 0.13, 0.14, 0.17, 0.20), base=when)
