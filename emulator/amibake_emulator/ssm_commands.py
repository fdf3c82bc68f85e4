"""SSM commands: SendCommand and its invocations, answered by the table or a real OS.

amibake runs every provisioning step, validation and boot-test check as an
AWS-RunShellScript command and judges the image by the invocations' status and output.
moto runs nothing and reports every invocation as an instant, empty Success (and sends
each command to every instance of the region), so:

  * SendCommand: refused with InvalidInstanceId for an instance that is not running with
    an Online agent (as AWS does); goes only to the InstanceIds/Targets given. On a
    canned instance nothing runs: stdout, stderr and exit code come from the outputs
    table (outputs.py; scripts are evaluated by the tiny shell, minishell.py),
    `bad_image` picks its bad variants, `fail_command_matching` fails matching commands
    (exit 1, stderr). Only when a command succeeds, what it installed is remembered in
    the instance's facts. On a real-OS instance (realos.py) the script really runs.
  * GetCommandInvocation (moto: always Success/empty output; InvalidCommandId for an
    unknown command): status from the result, InProgress (ResponseCode -1) for
    command_in_progress_seconds, InvocationDoesNotExist for unknown command/instance/
    plugin and during invocation_missing_seconds; output cut at SSM's limits.
  * ListCommandInvocations, CancelCommand (moto: not implemented); ListCommands and the
    SendCommand response report the live status.

The emulator log gets one line per invocation (`SendCommand <id> <instance> <document>:
shell|flat (why)|document|real OS, exit N`).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .container import STDERR_LIMIT, STDOUT_LIMIT
from .minishell import run_script
from .outputs import Badness, RunResult, remember_from_script
from .ssm import agent_view, instances_of
from .util import epoch_to_dt, log, utcnow

if TYPE_CHECKING:
    from .state import World

PLUGIN_NAMES = {
    "AWS-RunShellScript": "aws:runShellScript",
    "AWS-RunPowerShellScript": "aws:runPowerShellScript",
    "AWS-ConfigureAWSPackage": "configurePackage",
}


def script_text(document_name: str, parameters: dict[str, Any]) -> str:
    if document_name == "AWS-RunShellScript":
        commands = parameters.get("commands", [])
        return "\n".join(commands if isinstance(commands, list) else [str(commands)])
    return f"{document_name} {json.dumps(parameters, sort_keys=True)}"


@dataclass
class Invocation:
    command_id: str
    instance_id: str
    document_name: str
    plugin_name: str
    comment: str
    requested: dt.datetime
    visible_at: float
    done_at: float
    result: RunResult
    cancelled_at: float | None = None
    live: Any = None  # realos.Live: a command really running on a real-OS instance

    def status(self, now: float) -> str:
        if self.live is not None:
            return self.live.status
        if self.cancelled_at is not None:
            return "Cancelled"
        if now < self.done_at:
            return "InProgress"
        return "Success" if self.result.exit_code == 0 else "Failed"

    def final(self, now: float) -> bool:
        """Done with an exit code: its output and ResponseCode are reported."""
        return self.status(now) in ("Success", "Failed", "TimedOut")

    def details(self, now: float) -> str:
        return self.live.details if self.live is not None else self.status(now)

    def output(self) -> tuple[str, str, int]:
        """(stdout, stderr, exit code): so far, for a live command."""
        if self.live is not None:
            with self.live.lock:
                return self.live.stdout, self.live.stderr, self.live.exit_code
        return self.result.stdout, self.result.stderr, self.result.exit_code

    def ended(self) -> float:
        if self.live is not None:
            return self.live.ended_at or time.time()
        return self.cancelled_at if self.cancelled_at is not None else self.done_at


def install(world: World) -> None:
    """Patches moto's SSM command model and responses; the patches close over `world`."""
    from moto.core.responses import ActionResult
    from moto.ssm.exceptions import SSMException
    from moto.ssm.models import Command, SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse as R

    def run_from_table(account: str, region: str, instance_id: str, document: str, text: str, knobs: dict[str, Any]) -> RunResult:
        """A canned instance's answer: the outputs table, the failure knob, and what the
        command installed remembered for later commands and images."""
        facts = world.instance_facts(account, region, instance_id)
        working = copy.deepcopy(facts)  # the script sees what it installs as it goes
        table, badness = world.table, Badness(knobs["bad_image"])
        if document == "AWS-RunShellScript":
            result = run_script(table, text, working, badness)
        else:  # a document's parameters are not shell
            result = table.run_flat(text, working, badness)
            result.mode = "document"
        fail = knobs["fail_command_matching"]
        if fail and re.search(fail, text):
            result.exit_code = 1
            result.stderr += f"amibake-emulator: simulated failure (fail_command_matching={fail!r})\n"
        elif result.exit_code == 0:
            remember_from_script(text, working)
            facts.clear()
            facts.update(working)
        return result

    # -- SendCommand: validate targets, compute results from the table --------------------
    orig_send = SimpleSystemManagerBackend.send_command

    def send_command(self: Any, **kw: Any) -> Any:
        account, region = self.account_id, self.region_name
        now = time.time()
        by_id = {i.id: i for i in instances_of(account, region)}
        for instance_id in kw.get("instance_ids") or []:
            instance = by_id.get(instance_id)
            view = agent_view(world, account, region, instance, now) if instance else None
            if view is None or view[0] != "Online":
                raise SSMException(
                    "InvalidInstanceId",
                    f"Instance {instance_id} is not in a valid state for account {account} "
                    f"(not running, or its SSM agent is not Online)",
                )
        # moto adds EVERY instance of the region to a command sent by InstanceIds (its
        # Targets lookup runs with no filter); resolve the targets the way SSM does instead.
        wanted = list(dict.fromkeys(kw.get("instance_ids") or []))
        for target in kw.get("targets") or []:
            key, values = target.get("Key", ""), set(target.get("Values", []))
            for instance in by_id.values():
                tags = {t["key"]: t["value"] for t in instance.get_tags()}
                hit = (
                    (key == "InstanceIds" and instance.id in values)
                    or (key.startswith("tag:") and tags.get(key[4:]) in values)
                    or (key == "tag-key" and bool(values & set(tags)))
                )
                view = agent_view(world, account, region, instance, now)
                if hit and view is not None and view[0] == "Online" and instance.id not in wanted:
                    wanted.append(instance.id)
        command = orig_send(self, **{**kw, "instance_ids": list(wanted), "targets": []})
        command.targets = kw.get("targets") or []
        command.instance_ids = wanted
        command.invocations = [command.invocation_response(i, "aws:runShellScript") for i in wanted]
        command.target_count = command.completed_count = len(wanted)
        document = kw.get("document_name") or ""
        parameters = kw.get("parameters") or {}
        text = script_text(document, parameters)
        knobs = world.knobs.effective(region)
        delay = knobs["command_in_progress_seconds"]
        plugin = PLUGIN_NAMES.get(document, document)
        invocations = []
        for instance_id in command.instance_ids:
            box = world.realos.box(account, region, instance_id)
            live, done_at = None, now + delay
            if box is not None and document == "AWS-RunShellScript":
                timeout = float((parameters.get("executionTimeout") or ["3600"])[0])
                live, done_at = box.run(command.command_id, text, timeout), float("inf")
                result = RunResult("", "", -1, "real OS")
            else:
                result = run_from_table(account, region, instance_id, document, text, knobs)
            log(f"SendCommand {command.command_id} {instance_id} {document}: {result.mode}, exit {result.exit_code}")
            invocations.append(
                Invocation(
                    command_id=command.command_id,
                    instance_id=instance_id,
                    document_name=document,
                    plugin_name=plugin,
                    comment=kw.get("comment") or "",
                    requested=utcnow(),
                    visible_at=now + knobs["invocation_missing_seconds"],
                    done_at=done_at,
                    result=result,
                    live=live,
                )
            )
        world.invocations[command.command_id] = invocations
        return command

    SimpleSystemManagerBackend.send_command = send_command

    orig_response_object = Command.response_object

    def response_object(self: Any) -> dict[str, Any]:
        obj = orig_response_object(self)
        invs = world.invocations.get(self.command_id)
        if invs:
            now = time.time()
            states = [i.status(now) for i in invs]
            if "InProgress" in states:
                status = "InProgress"
            elif all(s == "Cancelled" for s in states):
                status = "Cancelled"
            elif "Failed" in states:
                status = "Failed"
            elif "TimedOut" in states:
                status = "TimedOut"
            else:
                status = "Success"
            done = [s for s in states if s != "InProgress"]
            obj.update(
                Status=status,
                StatusDetails=status,
                CompletedCount=len(done),
                ErrorCount=sum(s == "Failed" for s in states),
            )
        return obj

    Command.response_object = response_object

    def find_invocations(command_id: str) -> list[Invocation]:
        return world.invocations.get(command_id, [])

    def iso(when: dt.datetime) -> str:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"

    def timing(inv: Invocation, now: float) -> tuple[str, str, str]:
        """ExecutionStartDateTime, ExecutionEndDateTime, ExecutionElapsedTime."""
        if inv.status(now) == "InProgress":
            return iso(inv.requested), "", ""
        end = epoch_to_dt(inv.ended())
        secs = max(0.0, (end - inv.requested).total_seconds())
        return iso(inv.requested), iso(end), f"PT{secs:.3f}S"

    # -- GetCommandInvocation -------------------------------------------------------------
    def get_command_invocation(self: Any) -> Any:
        command_id = self._get_param("CommandId")
        instance_id = self._get_param("InstanceId")
        plugin_name = self._get_param("PluginName")
        now = time.time()
        inv = next((i for i in find_invocations(command_id) if i.instance_id == instance_id), None)
        if inv is None or now < inv.visible_at or (plugin_name and plugin_name != inv.plugin_name):
            raise SSMException(
                "InvocationDoesNotExist",
                "An error occurred (InvocationDoesNotExist) when calling the GetCommandInvocation operation",
            )
        status = inv.status(now)
        started, ended, took = timing(inv, now)
        final = inv.final(now)
        stdout, stderr, code = inv.output()
        if not final and inv.live is None:
            stdout = stderr = ""
        return ActionResult(
            {
                "CommandId": inv.command_id,
                "InstanceId": inv.instance_id,
                "Comment": inv.comment,
                "DocumentName": inv.document_name,
                "DocumentVersion": "$DEFAULT",
                "PluginName": inv.plugin_name,
                "ResponseCode": code if final else -1,
                "ExecutionStartDateTime": started,
                "ExecutionElapsedTime": took,
                "ExecutionEndDateTime": ended,
                "Status": status,
                "StatusDetails": inv.details(now),
                "StandardOutputContent": stdout[:STDOUT_LIMIT],
                "StandardOutputUrl": "",
                "StandardErrorContent": stderr[:STDERR_LIMIT],
                "StandardErrorUrl": "",
                "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
            }
        )

    R.get_command_invocation = get_command_invocation

    # -- ListCommandInvocations -----------------------------------------------------------
    def list_command_invocations(self: Any) -> Any:
        command_id = self._get_param("CommandId")
        instance_id = self._get_param("InstanceId")
        details = bool(self._get_param("Details"))
        filters = {f["key"]: f["value"] for f in self._get_param("Filters", []) or []}
        now = time.time()
        if command_id:
            self.ssm_backend.get_command_by_id(command_id)  # InvalidCommandId if unknown
            pool = find_invocations(command_id)
        else:
            known = {c.command_id for c in self.ssm_backend._commands}
            pool = [i for cid, invs in world.invocations.items() if cid in known for i in invs]
        rows = []
        for inv in pool:
            status = inv.status(now)
            if now < inv.visible_at:
                continue
            if instance_id and inv.instance_id != instance_id:
                continue
            if "Status" in filters and status != filters["Status"]:
                continue
            if "DocumentName" in filters and inv.document_name != filters["DocumentName"]:
                continue
            final = inv.final(now)
            stdout, stderr, code = inv.output()
            row: dict[str, Any] = {
                "CommandId": inv.command_id,
                "InstanceId": inv.instance_id,
                "InstanceName": "",
                "Comment": inv.comment,
                "DocumentName": inv.document_name,
                "DocumentVersion": "$DEFAULT",
                "RequestedDateTime": inv.requested,
                "Status": status,
                "StatusDetails": status,
                "StandardOutputUrl": "",
                "StandardErrorUrl": "",
                "CommandPlugins": [],
            }
            if details:
                output = stdout if final else ""
                if final and stderr:
                    output += "\n\n----------ERROR-------\n" + stderr
                row["CommandPlugins"] = [
                    {
                        "Name": inv.plugin_name,
                        "Status": status,
                        "StatusDetails": status,
                        "ResponseCode": code if final else -1,
                        "ResponseStartDateTime": inv.requested,
                        "ResponseFinishDateTime": epoch_to_dt(inv.ended()) if final else None,
                        "Output": output[:2500],
                        "StandardOutputUrl": "",
                        "StandardErrorUrl": "",
                    }
                ]
                if not final:
                    del row["CommandPlugins"][0]["ResponseFinishDateTime"]
            rows.append(row)
        start = int(self._get_param("NextToken") or 0)
        size = int(self._get_param("MaxResults") or 50)
        result: dict[str, Any] = {"CommandInvocations": rows[start : start + size]}
        if start + size < len(rows):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    R.list_command_invocations = list_command_invocations

    # -- CancelCommand --------------------------------------------------------------------
    def cancel_command(self: Any) -> Any:
        command_id = self._get_param("CommandId")
        instance_ids = self._get_param("InstanceIds", []) or []
        self.ssm_backend.get_command_by_id(command_id)  # InvalidCommandId if unknown
        now = time.time()
        for inv in find_invocations(command_id):
            if (not instance_ids or inv.instance_id in instance_ids) and inv.status(now) == "InProgress":
                inv.cancelled_at = now
                if inv.live is not None:
                    inv.live.cancel()
        return ActionResult({})

    R.cancel_command = cancel_command
