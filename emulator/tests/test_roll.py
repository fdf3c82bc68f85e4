"""Rolling a stack's Auto Scaling group onto a baked image, as `amibake roll` does.

  at once    stack_update_seconds 0 (the default): a small template; change set, the roll,
             a fail_stack_update rollback, CancelUpdateStack on a settled stack
  over time  cfn-templates/asg-rolling.yaml and cfn-templates/asg-instance-refresh.yaml side
             by side: updates that take D seconds (2-4 s) with their events released over
             that time and marked with the ClientRequestToken, the instance refresh's
             progression (Pending, InProgress, the checkpoint, Baking, Successful), failure
             and rollback (fail_stack_update, fail_instance_refresh), CancelUpdateStack, and
             an instant update's refresh (already Successful)
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from support import REGION, error_code, wait_for

REPO = Path(__file__).resolve().parents[2]
# The refresh statuses amibake's idle check counts as busy (src/aws/asg.rs).
RUNNING = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")

STACK_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  ImageId: {Type: "AWS::EC2::Image::Id"}
  SubnetIds: {Type: "List<AWS::EC2::Subnet::Id>"}
Resources:
  Template:
    Type: AWS::EC2::LaunchTemplate
    Properties:
      LaunchTemplateData:
        ImageId: !Ref ImageId
        InstanceType: t3.small
        MetadataOptions: {HttpTokens: required}
  Fleet:
    Type: AWS::AutoScaling::AutoScalingGroup
    UpdatePolicy:
      AutoScalingRollingUpdate: {MinInstancesInService: 1, MaxBatchSize: 1, PauseTime: PT5M, WaitOnResourceSignals: true}
    Properties:
      MinSize: "2"
      MaxSize: "4"
      DesiredCapacity: "2"
      VPCZoneIdentifier: !Ref SubnetIds
      LaunchTemplate:
        LaunchTemplateId: !Ref Template
        Version: !GetAtt Template.LatestVersionNumber
"""



def check(cond: bool, what: str) -> None:
    assert cond, what


@pytest.fixture
def image_id(ec2, builder) -> str:
    """An available image to roll onto (of a running builder)."""
    return ec2.create_image(InstanceId=builder, Name=f"roll-{uuid.uuid4().hex[:12]}")["ImageId"]


def test_roll_at_once(emu, ec2, source, image_id):
    instant(emu, ec2, source, image_id)


def test_roll_over_time(emu, ec2, source, image_id):
    rolling, refresh = create_stacks(emu, ec2, source)
    roll_over_time(emu, rolling, refresh, source, image_id)
    rolled = fail_over_time(emu, rolling, refresh, source, image_id)
    cancel_over_time(emu, refresh, rolled, source, image_id)
    instant_refresh(emu, refresh, source, image_id)
    for s in (rolling, refresh):
        s.cfn.delete_stack(StackName=s.name)


def instant(emu, ec2, source: str, image_id: str) -> None:
    """Stack updates inside the request (stack_update_seconds 0)."""
    cfn = emu.client("cloudformation")
    autoscaling = emu.client("autoscaling")
    stack = f"roll-{uuid.uuid4().hex[:8]}"
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]

    def params(ami: str) -> list[dict]:
        return [{"ParameterKey": "ImageId", "ParameterValue": ami}, {"ParameterKey": "SubnetIds", "ParameterValue": ",".join(subnets)}]

    def fleet() -> tuple[str, set[str], set[str]]:
        res = cfn.describe_stack_resources(StackName=stack)["StackResources"]
        name = next(r["PhysicalResourceId"] for r in res if r["LogicalResourceId"] == "Fleet")
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        ids = {i["InstanceId"] for i in group["Instances"]}
        images = {i["ImageId"] for r in ec2.describe_instances(InstanceIds=list(ids))["Reservations"] for i in r["Instances"]}
        return name, ids, images

    cfn.create_stack(StackName=stack, TemplateBody=STACK_TEMPLATE, Parameters=params(source))
    check(cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE", "stack with LaunchTemplate + ASG (UpdatePolicy) created")
    asg_name, before, images = fleet()
    check(images == {source} and len(before) == 2, "ASG instances run the source AMI")
    tags = {t["Key"]: t["Value"] for t in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])["AutoScalingGroups"][0]["Tags"]}
    check(tags.get("aws:cloudformation:stack-name") == stack and tags.get("aws:cloudformation:logical-id") == "Fleet", f"the stack's group carries the stack's tags: {tags}")
    cfn.create_change_set(StackName=stack, ChangeSetName="roll-1", UsePreviousTemplate=True, Parameters=params(image_id))
    changes = cfn.describe_change_set(StackName=stack, ChangeSetName="roll-1")["Changes"]
    check({c["ResourceChange"]["LogicalResourceId"] for c in changes} == {"Template", "Fleet"}, "change set (default ChangeSetType UPDATE) lists Template and Fleet")
    known = len(cfn.describe_stack_events(StackName=stack)["StackEvents"])
    cfn.execute_change_set(StackName=stack, ChangeSetName="roll-1", ClientRequestToken="roll-roll-1")
    check(cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE", "roll: UPDATE_COMPLETE")
    new_events = cfn.describe_stack_events(StackName=stack)["StackEvents"][: -known]
    check(new_events and all(e.get("ClientRequestToken") == "roll-roll-1" for e in new_events), "the roll's events carry its ClientRequestToken")
    name_after, after, images = fleet()
    tags = {t["Key"]: t["Value"] for t in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])["AutoScalingGroups"][0]["Tags"]}
    check(tags.get("aws:cloudformation:stack-name") == stack, f"an updated group keeps the stack's tags: {tags}")
    check(name_after == asg_name and images == {image_id} and not (after & before), "roll replaced the ASG's instances with the new AMI, same ASG name")
    old_states = {i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=list(before))["Reservations"] for i in r["Instances"]}
    check(old_states == {"terminated"}, "the replaced instances are terminated")
    check(error_code(cfn.cancel_update_stack, StackName=stack) == "ValidationError", "CancelUpdateStack on a settled stack -> ValidationError")
    emu.config(region=REGION, fail_stack_update=True)
    cfn.create_change_set(StackName=stack, ChangeSetName="roll-2", UsePreviousTemplate=True, Parameters=params(source))
    cfn.execute_change_set(StackName=stack, ChangeSetName="roll-2")
    status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    check(status == "UPDATE_ROLLBACK_COMPLETE" and any(e["ResourceStatus"] == "UPDATE_FAILED" and e["LogicalResourceId"] == "Fleet" for e in events), "fail_stack_update: UPDATE_ROLLBACK_COMPLETE with an UPDATE_FAILED event")
    check(fleet()[1:] == (after, {image_id}), "rolled-back stack keeps its instances")
    emu.config(region=REGION, fail_stack_update=False)
    cfn.delete_stack(StackName=stack)


class Stack:
    """A stack made from one of cfn-templates/, rolled by change sets as amibake does."""

    def __init__(self, emu, ec2, name: str, template: str, extra: dict[str, str]):
        self.cfn, self.asg, self.ec2 = emu.client("cloudformation"), emu.client("autoscaling"), ec2
        self.name, self.body, self.extra = name, (REPO / "cfn-templates" / template).read_text(), extra
        self.group = ""

    def create(self, ami: str, vpc: str, subnets: list[str]) -> None:
        given = {"ImageId": ami, "VpcId": vpc, "Subnets": ",".join(subnets), "InstanceProfile": "amibake-builder", **self.extra}
        self.cfn.create_stack(StackName=self.name, TemplateBody=self.body, ClientRequestToken=f"{self.name}-create",
                              Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()])
        self.group = self.output("AsgName")

    def describe(self) -> dict:
        return self.cfn.describe_stacks(StackName=self.name)["Stacks"][0]

    def status(self) -> str:
        return self.describe()["StackStatus"]

    def output(self, key: str) -> str:
        return next(o["OutputValue"] for o in self.describe()["Outputs"] if o["OutputKey"] == key)

    def image(self) -> str:
        return next(p["ParameterValue"] for p in self.describe()["Parameters"] if p["ParameterKey"] == "ImageId")

    def fleet(self) -> tuple[set[str], set[str]]:
        """The group's instances and the images they run."""
        group = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])["AutoScalingGroups"][0]
        ids = {i["InstanceId"] for i in group["Instances"]}
        images = {i["ImageId"] for r in self.ec2.describe_instances(InstanceIds=list(ids))["Reservations"] for i in r["Instances"]}
        return ids, images

    def execute(self, ami: str, token: str) -> None:
        """CreateChangeSet (every other parameter kept) + ExecuteChangeSet with `token`."""
        keep = [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in self.describe()["Parameters"] if p["ParameterKey"] != "ImageId"]
        self.cfn.create_change_set(StackName=self.name, ChangeSetName=token, UsePreviousTemplate=True,
                                   Parameters=[{"ParameterKey": "ImageId", "ParameterValue": ami}, *keep])
        self.cfn.execute_change_set(StackName=self.name, ChangeSetName=token, ClientRequestToken=token)

    def events(self, token: str) -> list[dict]:
        """The operation's events (by its token), oldest first."""
        return [e for e in reversed(self.cfn.describe_stack_events(StackName=self.name)["StackEvents"]) if e.get("ClientRequestToken") == token]

    def refreshes(self, **kwargs) -> list[dict]:
        return self.asg.describe_instance_refreshes(AutoScalingGroupName=self.group, **kwargs)["InstanceRefreshes"]


def follow(stacks: list[Stack], timeout: float = 15.0) -> dict[str, list[tuple]]:
    """Polls until every stack settles; per stack each change seen: (stack status, newest
    refresh's id, Status, PercentageComplete, InstancesToUpdate, StatusReason)."""
    seen: dict[str, list[tuple]] = {s.name: [] for s in stacks}
    deadline = time.time() + timeout
    while time.time() < deadline:
        settled = True
        for s in stacks:
            status = s.status()
            r = (s.refreshes(MaxRecords=1) or [{}])[0]
            row = (status, r.get("InstanceRefreshId"), r.get("Status"), r.get("PercentageComplete"), r.get("InstancesToUpdate"), r.get("StatusReason"))
            if not seen[s.name] or seen[s.name][-1] != row:
                seen[s.name].append(row)
            settled = settled and not status.endswith("_IN_PROGRESS")
        if settled:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"stacks not settled within {timeout} s: {seen}")


def statuses(rows: list[tuple], refresh_id: str) -> list[str]:
    """The refresh's statuses in the order seen, each once."""
    out: list[str] = []
    for row in rows:
        if row[1] == refresh_id and (not out or out[-1] != row[2]):
            out.append(row[2])
    return out


def offsets(events: list[dict]) -> list[tuple[str, str, float]]:
    """(logical id, status, seconds after the first event) of each event."""
    first = events[0]["Timestamp"]
    return [(e["LogicalResourceId"], e["ResourceStatus"], (e["Timestamp"] - first).total_seconds()) for e in events]


def near(value: float, want: float, slack: float = 0.02) -> bool:
    return abs(value - want) <= slack


def create_stacks(emu, ec2, source: str) -> tuple[Stack, Stack]:
    """Both shipped templates, created at once (stack_update_seconds 0)."""
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]][:2]
    tag = uuid.uuid4().hex[:6]
    rolling = Stack(emu, ec2, f"roll-rolling-{tag}", "asg-rolling.yaml", {})
    refresh = Stack(emu, ec2, f"roll-refresh-{tag}", "asg-instance-refresh.yaml", {"RollbackAlarms": "web-5xx"})
    for s in (rolling, refresh):
        s.create(source, vpc, subnets)
    check(rolling.status() == refresh.status() == "CREATE_COMPLETE" and rolling.events(f"{rolling.name}-create")[-1]["ResourceStatus"] == "CREATE_COMPLETE",
          "asg-rolling.yaml and asg-instance-refresh.yaml stacks created at once, events marked with CreateStack's token")
    return rolling, refresh


def roll_over_time(emu, rolling: Stack, refresh: Stack, source: str, image_id: str) -> None:
    """Both roll onto the baked image over D = 4 s."""
    before = {s.name: s.fleet()[0] for s in (rolling, refresh)}
    d = 4.0
    emu.config(region=REGION, stack_update_seconds=d)
    for s in (rolling, refresh):
        s.execute(image_id, f"{s.name}-roll")
    first = rolling.events(f"{rolling.name}-roll")
    check(rolling.status() == "UPDATE_IN_PROGRESS" and (first[0]["ResourceStatus"], first[0].get("ResourceStatusReason")) == ("UPDATE_IN_PROGRESS", "User Initiated")
          and not any(e["ResourceStatus"] == "UPDATE_COMPLETE" for e in first), "stack_update_seconds: ExecuteChangeSet returns at once, UPDATE_IN_PROGRESS 'User Initiated'")
    check(rolling.image() == source and rolling.output("LaunchTemplateVersion") == "1", "... the old parameters and outputs while it runs")
    check(error_code(rolling.cfn.update_stack, StackName=rolling.name, UsePreviousTemplate=True,
                     Parameters=[{"ParameterKey": "ImageId", "ParameterValue": source}]) == "ValidationError", "another update while UPDATE_IN_PROGRESS -> ValidationError")
    seen = follow([rolling, refresh])
    for s in (rolling, refresh):
        events = s.events(f"{s.name}-roll")
        got = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]
        want = [(s.name, "UPDATE_IN_PROGRESS"), ("LaunchTemplate", "UPDATE_IN_PROGRESS"), ("LaunchTemplate", "UPDATE_COMPLETE"), ("AutoScalingGroup", "UPDATE_IN_PROGRESS"),
                ("AutoScalingGroup", "UPDATE_COMPLETE"), (s.name, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"), (s.name, "UPDATE_COMPLETE")]
        check(got == want, f"{s.name}: every event in order, each with the token: {got}")
        at = {(lid, st): t for lid, st, t in offsets(events)}
        check(near(at[("AutoScalingGroup", "UPDATE_IN_PROGRESS")], 0.15 * d) and near(at[("AutoScalingGroup", "UPDATE_COMPLETE")], 0.9 * d)
              and near(at[(s.name, "UPDATE_COMPLETE")], d), "... released over D: the group at 0.15 D and 0.9 D, the stack done at D")
        check(seen[s.name][-1][0] == "UPDATE_COMPLETE" and s.image() == image_id and s.output("LaunchTemplateVersion") == "2", "... then UPDATE_COMPLETE: new ImageId, LaunchTemplateVersion 2")
        ids, images = s.fleet()
        check(images == {image_id} and not (ids & before[s.name]), "... and the group's instances replaced by ones on the new image")
    group_event = next(e for e in refresh.events(f"{refresh.name}-roll") if e["ResourceStatus"] == "UPDATE_IN_PROGRESS" and e["LogicalResourceId"] == "AutoScalingGroup")
    rolling_event = next(e for e in rolling.events(f"{rolling.name}-roll") if e["ResourceStatus"] == "UPDATE_IN_PROGRESS" and e["LogicalResourceId"] == "AutoScalingGroup")
    check(rolling_event["ResourceStatusReason"] == "Rolling update initiated" and rolling.refreshes() == [], "rolling policy: 'Rolling update initiated', no instance refresh")
    done = refresh.refreshes()[0]
    rid = done["InstanceRefreshId"]
    check(group_event["ResourceStatusReason"] == f"Instance refresh {rid} started", "refresh policy: the group's event names the refresh")
    order = statuses(seen[refresh.name], rid)
    check(order == ["Pending", "InProgress", "Baking", "Successful"], f"refresh Pending -> InProgress -> Baking -> Successful: {order}")
    progress = [(r[3], r[4]) for r in seen[refresh.name] if r[1] == rid]
    check(sorted(set(progress), key=lambda p: p[0]) == [(0, 2), (50, 1), (100, 0)] and progress == sorted(progress, key=lambda p: p[0]),
          f"PercentageComplete 0 -> 50 -> 100, InstancesToUpdate 2 -> 1 -> 0: {progress}")
    check(any(r[1] == rid and r[2] in RUNNING for r in seen[refresh.name]), "a running refresh is one amibake's busy check counts")
    check(any(r[1] == rid and "checkpoint 50%" in (r[5] or "") for r in seen[refresh.name]), "at the 50% checkpoint StatusReason says it waits there")
    check(near((done["EndTime"] - done["StartTime"]).total_seconds(), 0.75 * d) and done["PercentageComplete"] == 100 and done["InstancesToUpdate"] == 0,
          "Successful: StartTime at 0.15 D, EndTime at 0.9 D, 100 %, 0 to update")
    check(done["Preferences"] == {"MinHealthyPercentage": 90, "MaxHealthyPercentage": 100, "InstanceWarmup": 300, "SkipMatching": True, "CheckpointPercentages": [50, 100],
                                  "CheckpointDelay": 600, "BakeTime": 600, "AlarmSpecification": {"Alarms": ["web-5xx"]},
                                  "ScaleInProtectedInstances": "Ignore", "StandbyInstances": "Ignore"}, f"Preferences echo the template's: {done['Preferences']}")
    check(done["DesiredConfiguration"]["LaunchTemplate"]["Version"] == "2", "DesiredConfiguration: the new launch template version")



def fail_over_time(emu, rolling: Stack, refresh: Stack, source: str, image_id: str) -> dict:
    """Both fail and roll back over D = 2 s; the refresh that rolled back."""
    d = 2.0
    emu.config(region=REGION, stack_update_seconds=d, fail_stack_update=True, fail_instance_refresh="web-5xx")
    after = {s.name: s.fleet()[0] for s in (rolling, refresh)}
    for s in (rolling, refresh):
        s.execute(source, f"{s.name}-fail")
    seen = follow([rolling, refresh])
    for s in (rolling, refresh):
        events = s.events(f"{s.name}-fail")
        at = {(lid, st): t for lid, st, t in offsets(events)}
        failed = next(e for e in events if e["ResourceStatus"] == "UPDATE_FAILED")
        check(failed["LogicalResourceId"] == "AutoScalingGroup" and near(at[("AutoScalingGroup", "UPDATE_FAILED")], 0.6 * d)
              and near(at[(s.name, "UPDATE_ROLLBACK_IN_PROGRESS")], 0.6 * d) and near(at[(s.name, "UPDATE_ROLLBACK_COMPLETE")], 1.2 * d),
              f"{s.name}: the group UPDATE_FAILED at 0.6 D, UPDATE_ROLLBACK_COMPLETE at 1.2 D")
        check(s.status() == "UPDATE_ROLLBACK_COMPLETE" and s.image() == image_id and s.output("LaunchTemplateVersion") == "2" and s.fleet()[0] == after[s.name],
              "... and nothing changed: old image, parameters, launch template version, instances")
    check(next(e for e in rolling.events(f"{rolling.name}-fail") if e["ResourceStatus"] == "UPDATE_FAILED")["ResourceStatusReason"].startswith("Received 0 SUCCESS signal(s)"),
          "rolling policy (fail_stack_update): the reason as with D = 0")
    rolled = refresh.refreshes()[0]
    reason = rolled["RollbackDetails"]["RollbackReason"]
    order = statuses(seen[refresh.name], rolled["InstanceRefreshId"])
    check(order[-3:] == ["Failed", "RollbackInProgress", "RollbackSuccessful"] and "web-5xx" in reason and "ALARM" in reason,
          f"fail_instance_refresh: the refresh Failed naming the alarm, then RollbackInProgress -> RollbackSuccessful: {order}")
    check(next(e for e in refresh.events(f"{refresh.name}-fail") if e["ResourceStatus"] == "UPDATE_FAILED")["ResourceStatusReason"] == reason,
          "... the group's UPDATE_FAILED gives the refresh's reason")
    check(rolled["PercentageComplete"] == 0 and "EndTime" in rolled, "RollbackSuccessful: PercentageComplete back to 0, EndTime")

    return rolled


def cancel_over_time(emu, refresh: Stack, rolled: dict, source: str, image_id: str) -> None:
    """CancelUpdateStack during a refresh (D = 3 s)."""
    after = refresh.fleet()[0]
    d = 3.0
    emu.config(region=REGION, stack_update_seconds=d, fail_stack_update=False, fail_instance_refresh="")
    refresh.execute(source, f"{refresh.name}-cancel")

    def new_refresh_running() -> bool:
        running = refresh.refreshes()
        return bool(running) and running[0]["Status"] == "InProgress" and running[0]["InstanceRefreshId"] != rolled["InstanceRefreshId"]

    wait_for("the new refresh InProgress", new_refresh_running, interval=0.02)
    refresh.cfn.cancel_update_stack(StackName=refresh.name)
    check(refresh.status() == "UPDATE_ROLLBACK_IN_PROGRESS" and refresh.refreshes()[0]["Status"] == "RollbackInProgress",
          "CancelUpdateStack while UPDATE_IN_PROGRESS: UPDATE_ROLLBACK_IN_PROGRESS, the refresh RollbackInProgress")
    follow([refresh])
    events = refresh.events(f"{refresh.name}-cancel")
    at = {(lid, st): t for lid, st, t in offsets(events)}
    cancelled = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events if e.get("ResourceStatusReason") == "Resource update cancelled"]
    check(cancelled == [("AutoScalingGroup", "UPDATE_FAILED"), (refresh.name, "UPDATE_ROLLBACK_IN_PROGRESS")], f"'Resource update cancelled' on the group and the stack: {cancelled}")
    check(near(at[(refresh.name, "UPDATE_ROLLBACK_COMPLETE")] - at[(refresh.name, "UPDATE_ROLLBACK_IN_PROGRESS")], 0.2 * d)
          and refresh.refreshes()[0]["Status"] == "RollbackSuccessful", "UPDATE_ROLLBACK_COMPLETE 0.2 D later, the refresh RollbackSuccessful")
    check(refresh.image() == image_id and refresh.output("LaunchTemplateVersion") == "2" and refresh.fleet()[0] == after, "... nothing changed")
    check(error_code(refresh.cfn.cancel_update_stack, StackName=refresh.name) == "ValidationError", "CancelUpdateStack once settled -> ValidationError")



def instant_refresh(emu, refresh: Stack, source: str, image_id: str) -> None:
    """D = 0: the refresh of an instant update is there at once."""
    emu.config(region=REGION, stack_update_seconds=0)
    refresh.execute(source, f"{refresh.name}-now")
    newest = refresh.refreshes(MaxRecords=1)
    page = refresh.asg.describe_instance_refreshes(AutoScalingGroupName=refresh.group, MaxRecords=1)
    every = refresh.refreshes()
    check(refresh.status() == "UPDATE_COMPLETE" and newest[0]["Status"] == "Successful" and newest[0]["PercentageComplete"] == 100,
          "D = 0: UPDATE_COMPLETE inside the request, its refresh already Successful")
    check(len(every) == 4 and page.get("NextToken") and [r["StartTime"] for r in every] == sorted((r["StartTime"] for r in every), reverse=True),
          "DescribeInstanceRefreshes: newest first, MaxRecords honoured (NextToken)")
    emu.config(region=REGION, fail_stack_update=True)
    refresh.execute(image_id, f"{refresh.name}-now-fail")
    failed = next(e for e in refresh.events(f"{refresh.name}-now-fail") if e["ResourceStatus"] == "UPDATE_FAILED")
    check(refresh.status() == "UPDATE_ROLLBACK_COMPLETE" and re.search(r"health checks.*\bi-[0-9a-f]+", failed["ResourceStatusReason"])
          and refresh.refreshes()[0]["Status"] == "RollbackSuccessful", f"D = 0, fail_stack_update: at once, the refresh's reason names an instance: {failed['ResourceStatusReason']}")
