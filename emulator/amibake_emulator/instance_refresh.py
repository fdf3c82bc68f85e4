"""Instance refreshes: what CloudFormation's AutoScalingInstanceRefresh update policy runs.

moto has no instance refreshes (DescribeInstanceRefreshes: not implemented). When a stack
update changes the launch template of an Auto Scaling group whose resource has
`UpdatePolicy: AutoScalingInstanceRefresh` (cfn-templates/asg-instance-refresh.yaml),
stack_update.py creates a `Refresh` here and autoscaling.py answers
DescribeInstanceRefreshes from `world.refreshes`.

A refresh is a pure function of time: its status, progress and reason are computed from
the clock on every DescribeInstanceRefreshes, never stored, so every client sees the
same answer for the same moment. With D = stack_update_seconds and t0 the start of the
stack update (times are t0 + fraction of D; D = 0 puts them all at t0):

  0.15 D  the refresh exists (StartTime): Pending
  0.20 D  InProgress: the group's N instances (N = its desired capacity) are replaced one
          by one; PercentageComplete 0 -> 100 and InstancesToUpdate N -> 0 in steps of
          one instance. At each checkpoint below 100 (CheckpointPercentages) it waits
          (a fifth of the InProgress window, at most half of it in all); StatusReason
          then says so.
  0.70 D  Baking when the preferences have BakeTime > 0 (the last fifth of D), else
          InProgress lasts until 0.9 D
  0.90 D  Successful (EndTime)

Stopped by a failure at 0.6 D (`fail_instance_refresh` or `fail_stack_update`): Failed
(StatusReason: the alarm in ALARM state, or the instance that failed its health checks),
progress frozen, EndTime; from 0.7 D RollbackInProgress (RollbackDetails: reason, start,
progress at the rollback; PercentageComplete goes back down to 0, InstancesToUpdate
keeps the number of instances never updated, as AWS documents); RollbackSuccessful at
1.05 D (EndTime). Stopped by CancelUpdateStack at tc: RollbackInProgress from tc,
RollbackSuccessful at tc + 0.15 D.

Preferences echo the template's (resolved against the update's parameters: Ref, Fn::If,
conditions, AWS::NoValue), with AWS's defaults for what the template leaves out
(MinHealthyPercentage 90, MaxHealthyPercentage 100, SkipMatching false, BakeTime 0,
CheckpointDelay 3600 with checkpoints, ScaleInProtectedInstances/StandbyInstances
Ignore). The emulator's waits are fractions of D, not CheckpointDelay/BakeTime seconds.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from .util import epoch_to_dt, log

INT_PREFERENCES = ("MinHealthyPercentage", "MaxHealthyPercentage", "InstanceWarmup", "CheckpointDelay", "BakeTime")
DEFAULT_PREFERENCES: dict[str, Any] = {
    "MinHealthyPercentage": 90,
    "MaxHealthyPercentage": 100,
    "SkipMatching": False,
    "BakeTime": 0,
    "ScaleInProtectedInstances": "Ignore",
    "StandbyInstances": "Ignore",
}
RUNNING = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")


def resolve(stack: Any, template: dict[str, Any], parameters: dict[str, Any], node: Any) -> Any:
    """`node` of `template` with Ref / Fn::If / conditions resolved against `parameters`
    (moto's own resolver on a throwaway resource map; no resource is created)."""
    from moto.cloudformation.parsing import ResourceMap, clean_json

    flat = {k: (",".join(v) if isinstance(v, list) else v) for k, v in (parameters or {}).items()}
    rmap = ResourceMap(
        stack.stack_id, stack.name, flat, stack.tags, region_name=stack.region_name,
        account_id=stack.account_id, template=template, cross_stack_resources=stack.cross_stack_resources,
    )
    rmap.load_mapping()
    rmap.load_parameters()
    rmap.load_conditions()
    return clean_json(node, rmap)


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def preferences(raw: Any) -> dict[str, Any]:
    """RefreshPreferences as DescribeInstanceRefreshes shows them, from the template's
    resolved `Preferences`, with AWS's defaults."""
    raw = raw if isinstance(raw, dict) else {}
    out = dict(DEFAULT_PREFERENCES)
    for key in INT_PREFERENCES:
        if _int(raw.get(key)) is not None:
            out[key] = _int(raw[key])
    if "SkipMatching" in raw:
        out["SkipMatching"] = str(raw["SkipMatching"]).lower() == "true"
    for key in ("ScaleInProtectedInstances", "StandbyInstances"):
        if isinstance(raw.get(key), str):
            out[key] = raw[key]
    checkpoints = raw.get("CheckpointPercentages")
    if isinstance(checkpoints, list):
        values = [v for v in (_int(c) for c in checkpoints) if v is not None]
        if values:
            out["CheckpointPercentages"] = values
            out.setdefault("CheckpointDelay", 3600)
    alarms = (raw.get("AlarmSpecification") or {}).get("Alarms") if isinstance(raw.get("AlarmSpecification"), dict) else None
    if isinstance(alarms, str):
        alarms = alarms.split(",")
    if isinstance(alarms, list):
        names = [str(a) for a in alarms if str(a).strip()]
        if names:
            out["AlarmSpecification"] = {"Alarms": names}
    return out


def group_preferences(stack: Any, template: dict[str, Any], parameters: dict[str, Any], group: str) -> tuple[dict[str, Any], str]:
    """(Preferences, Strategy) of the group's AutoScalingInstanceRefresh update policy."""
    policy = (template.get("Resources", {}).get(group, {}).get("UpdatePolicy") or {}).get("AutoScalingInstanceRefresh") or {}
    try:
        policy = resolve(stack, template, parameters, policy)
    except Exception as e:  # what cannot be resolved is left out (AWS's defaults apply)
        log(f"instance refresh of {group}: preferences not resolved ({type(e).__name__}: {e}); literal values only")
    strategy = policy.get("Strategy") if isinstance(policy.get("Strategy"), str) else "Rolling"
    return preferences(policy.get("Preferences")), strategy


class Refresh:
    """One instance refresh of `group`, from `created` (StartTime) to `done`
    (Successful) unless `stop()`ped; `duration` is the stack update's D."""

    def __init__(self, *, account: str, region: str, group: str, size: int, created: float, done: float,
                 duration: float, prefs: dict[str, Any], strategy: str, desired: dict[str, Any] | None) -> None:
        self.id = str(uuid.uuid4())
        self.account, self.region, self.group = account, region, group
        self.size = max(0, int(size))
        self.created, self.done = created, done
        self.prefs, self.strategy, self.desired = prefs, strategy, desired
        self.progress_from = min(done, created + 0.05 * duration)
        self.bake_from = max(self.progress_from, done - 0.2 * duration) if prefs.get("BakeTime", 0) > 0 else done
        # When a failure or cancellation stopped it, and its rollback.
        self.stopped_at: float | None = None
        self.reason = ""
        self.show_failed = False
        self.rollback_from = self.rollback_to = 0.0
        self._plan()

    def _plan(self) -> None:
        """The replacement times of the N instances, and the waits at checkpoints."""
        n = self.size
        cut: dict[int, int] = {}  # instances replaced at a checkpoint -> its percentage
        for cp in sorted(self.prefs.get("CheckpointPercentages", [])):
            k = math.ceil(n * cp / 100)
            if 0 < k < n and cp < 100:
                cut.setdefault(k, cp)
        window = max(0.0, self.bake_from - self.progress_from)
        wait = window * min(0.2, 0.5 / len(cut)) if cut else 0.0
        each = (window - wait * len(cut)) / n if n else 0.0
        self.steps: list[float] = []
        self.waits: list[tuple[float, float, int, int]] = []  # from, to, percentage, replaced
        t = self.progress_from
        for i in range(1, n + 1):
            t += each
            self.steps.append(t)
            if i in cut:
                self.waits.append((t, t + wait, cut[i], i))
                t += wait

    def stop(self, at: float, reason: str, failed: bool, rollback_from: float, rollback_to: float) -> None:
        """A failure (`failed`: status Failed until the rollback starts) or a cancellation
        at `at`; the rollback runs from `rollback_from` to `rollback_to`."""
        self.stopped_at, self.reason, self.show_failed = at, reason, failed
        self.rollback_from, self.rollback_to = rollback_from, max(rollback_from, rollback_to)

    def replaced(self, now: float) -> int:
        return sum(1 for t in self.steps if t <= now)

    def percentage(self, replaced: int) -> int:
        return 100 if self.size == 0 else (100 * replaced) // self.size

    def running(self, now: float) -> bool:
        return self.view(now)["Status"] in RUNNING

    def view(self, now: float) -> dict[str, Any]:
        """The InstanceRefresh as DescribeInstanceRefreshes shows it at `now`."""
        out: dict[str, Any] = {
            "InstanceRefreshId": self.id,
            "AutoScalingGroupName": self.group,
            "StartTime": epoch_to_dt(self.created),
            "Strategy": self.strategy,
            "Preferences": self.prefs,
        }
        if self.desired:
            out["DesiredConfiguration"] = self.desired
        if self.stopped_at is not None and now >= self.stopped_at:
            return self._stopped(out, now)
        replaced, reason = self.replaced(now), None
        if now < self.progress_from:
            status = "Pending"
        elif now < self.bake_from:
            status = "InProgress"
            for start, end, cp, k in self.waits:
                if start <= now < end:
                    reason = (f"Instance refresh paused at checkpoint {cp}%: {k} of {self.size} instance(s) replaced; "
                              f"waiting {self.prefs.get('CheckpointDelay', 3600)} seconds (CheckpointDelay) before it continues.")
        elif now < self.done:
            status, replaced = "Baking", self.size
            reason = f"Every instance is replaced; waiting {self.prefs.get('BakeTime', 0)} seconds (BakeTime) before the refresh succeeds."
        else:
            status, replaced = "Successful", self.size
            out["EndTime"] = epoch_to_dt(self.done)
        out.update(self._progress(self.percentage(replaced), self.size - replaced))
        out["Status"] = status
        if reason:
            out["StatusReason"] = reason
        return out

    def _stopped(self, out: dict[str, Any], now: float) -> dict[str, Any]:
        at = self.stopped_at or 0.0
        replaced = self.replaced(at)
        pct, todo = self.percentage(replaced), self.size - replaced
        if self.show_failed and now < self.rollback_from:
            out.update(self._progress(pct, todo), Status="Failed", StatusReason=self.reason, EndTime=epoch_to_dt(at))
            return out
        out["RollbackDetails"] = {
            "RollbackReason": self.reason,
            "RollbackStartTime": epoch_to_dt(self.rollback_from),
            "PercentageCompleteOnRollback": pct,
            "InstancesToUpdateOnRollback": todo,
            "ProgressDetailsOnRollback": {"LivePoolProgress": {"PercentageComplete": pct, "InstancesToUpdate": todo}},
        }
        if now < self.rollback_to:
            span = self.rollback_to - self.rollback_from
            restored = math.floor(replaced * max(0.0, now - self.rollback_from) / span) if span > 0 else replaced
            out.update(self._progress(self.percentage(replaced - restored), todo),
                       Status="RollbackInProgress", StatusReason=f"Rolling back: {self.reason}")
        else:
            out.update(self._progress(0, todo), Status="RollbackSuccessful", StatusReason=f"Rolled back: {self.reason}",
                       EndTime=epoch_to_dt(self.rollback_to))
        return out

    @staticmethod
    def _progress(pct: int, todo: int) -> dict[str, Any]:
        return {
            "PercentageComplete": pct,
            "InstancesToUpdate": todo,
            "ProgressDetails": {"LivePoolProgress": {"PercentageComplete": pct, "InstancesToUpdate": todo}},
        }


def describe(refreshes: list[Refresh], account: str, region: str, group: str, ids: list[str],
             max_records: int, token: str | None, now: float) -> dict[str, Any]:
    """The DescribeInstanceRefreshes answer: the group's refreshes that exist at `now`,
    newest first, `max_records` a page (NextToken: the offset)."""
    rows = [r for r in refreshes if (r.account, r.region, r.group) == (account, region, group)
            and r.created <= now and (not ids or r.id in ids)]
    rows = sorted(reversed(rows), key=lambda r: r.created, reverse=True)
    start = int(token) if token and token.isdigit() else 0
    page = rows[start:start + max_records]
    more = start + max_records < len(rows)
    return {"InstanceRefreshes": [r.view(now) for r in page], **({"NextToken": str(start + max_records)} if more else {})}
