"""SSM commands: SendCommand and its invocations, answered by the table or a real OS.

amibake runs every provisioning step, validation and boot-test check as an
AWS-RunShellScript command and judges the image by the invocations' status and output.
moto runs nothing and reports every invocation as an instant, empty Success (and sends
each command to every instance of the region), so:

  * SendCommand: refused with InvalidInstanceId for an instance that is not running with
    an Online agent (as AWS does); goes only to the InstanceIds/Targets given. On a
    canned instance nothing runs: stdout, stderr and exit code come from the outputs
    table and the instance's state (outputs.py, instance_state.py; scripts are evaluated
    by the tiny shell, minishell.py, whose recognised commands change that state),
    `bad_image` picks its bad variants, `fail_command_matching` fails matching commands
    (exit 1, stderr). Only when a command succeeds are its changes kept in the
    instance's facts; an unknown command in a step fails it (`allow_unknown_commands`). On a real-OS instance (realos.py) the script really runs.
  * ListCommands and the SendCommand response report the invocations' live status.

Get/ListCommandInvocations and CancelCommand are in ssm_invocations.py. The emulator log
gets one line per invocation (`SendCommand <id> <instance> <document>:
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

from .minishell import Context, run_script
from .outputs import PROBE_HEADER, Badness, RunResult, probe_answer
from .ssm import agent_view, instances_of
from .util import log, utcnow

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
    """Patches moto's SSM command model; the patches close over `world`."""
    install_send_command(world)
    install_command_status(world)


def run_from_table(world: World, account: str, region: str, instance_id: str, document: str, text: str, knobs: dict[str, Any]) -> RunResult:
    """A canned instance's answer: the outputs table and the instance's state, the failure
    knob; what a successful command changed is kept for later commands and images."""
    facts = world.instance_facts(account, region, instance_id)
    working = copy.deepcopy(facts)  # the script sees what it changes as it goes
    table, badness = world.table, Badness(knobs["bad_image"])
    if document == "AWS-RunShellScript" and PROBE_HEADER in text:
        result = probe_answer(knobs["pending_updates"])
    elif document == "AWS-RunShellScript":
        ctx = Context(region=region, allow_unknown=bool(knobs["allow_unknown_commands"]))
        result = run_script(table, text, working, badness, ctx)
    else:  # a document's parameters are not shell
        result = table.run_flat(text, working, badness)
        result.mode = "document"
    fail = knobs["fail_command_matching"]
    if fail and re.search(fail, text):
        result.exit_code = 1
        result.stderr += f"amibake-emulator: simulated failure (fail_command_matching={fail!r})\n"
    elif result.exit_code == 0:
        facts.clear()
        facts.update(working)
    return result


def online(world: World, account: str, region: str, instance: Any, now: float) -> bool:
    view = agent_view(world, account, region, instance, now) if instance else None
    return view is not None and view[0] == "Online"


def resolve_targets(world: World, account: str, region: str, kw: dict[str, Any], by_id: dict[str, Any], now: float) -> list[str]:
    """The command's instances: InstanceIds (each must be Online, else InvalidInstanceId)
    and the Online instances Targets select, the way SSM does. (moto adds EVERY instance
    of the region to a command sent by InstanceIds: its Targets lookup runs with no filter.)"""
    from moto.ssm.exceptions import SSMException

    for instance_id in kw.get("instance_ids") or []:
        if not online(world, account, region, by_id.get(instance_id), now):
            raise SSMException(
                "InvalidInstanceId",
                f"Instance {instance_id} is not in a valid state for account {account} "
                f"(not running, or its SSM agent is not Online)",
            )
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
            if hit and online(world, account, region, instance, now) and instance.id not in wanted:
                wanted.append(instance.id)
    return wanted


def start_invocations(world: World, command: Any, kw: dict[str, Any], account: str, region: str, now: float) -> list[Invocation]:
    """One invocation per instance: run on a real OS, or answered from the table."""
    document = kw.get("document_name") or ""
    parameters = kw.get("parameters") or {}
    text = script_text(document, parameters)
    knobs = world.knobs.effective(region)
    delay = knobs["command_in_progress_seconds"]
    invocations = []
    for instance_id in command.instance_ids:
        box = world.realos.box(account, region, instance_id)
        live, done_at = None, now + delay
        if box is not None and document == "AWS-RunShellScript":
            timeout = float((parameters.get("executionTimeout") or ["3600"])[0])
            live, done_at = box.run(command.command_id, text, timeout), float("inf")
            result = RunResult("", "", -1, "real OS")
        else:
            result = run_from_table(world, account, region, instance_id, document, text, knobs)
        log(f"SendCommand {command.command_id} {instance_id} {document}: {result.mode}, exit {result.exit_code}")
        invocations.append(
            Invocation(
                command_id=command.command_id,
                instance_id=instance_id,
                document_name=document,
                plugin_name=PLUGIN_NAMES.get(document, document),
                comment=kw.get("comment") or "",
                requested=utcnow(),
                visible_at=now + knobs["invocation_missing_seconds"],
                done_at=done_at,
                result=result,
                live=live,
            )
        )
    return invocations


def install_send_command(world: World) -> None:
    """SendCommand: validate targets, then run or answer each invocation."""
    from moto.ssm.models import SimpleSystemManagerBackend

    orig_send = SimpleSystemManagerBackend.send_command

    def send_command(self: Any, **kw: Any) -> Any:
        account, region = self.account_id, self.region_name
        now = time.time()
        by_id = {i.id: i for i in instances_of(account, region)}
        wanted = resolve_targets(world, account, region, kw, by_id, now)
        command = orig_send(self, **{**kw, "instance_ids": list(wanted), "targets": []})
        command.targets = kw.get("targets") or []
        command.instance_ids = wanted
        command.invocations = [command.invocation_response(i, "aws:runShellScript") for i in wanted]
        command.target_count = command.completed_count = len(wanted)
        world.invocations[command.command_id] = start_invocations(world, command, kw, account, region, now)
        return command

    SimpleSystemManagerBackend.send_command = send_command


def command_status(states: list[str]) -> str:
    """A command's status from its invocations'."""
    if "InProgress" in states:
        return "InProgress"
    if all(s == "Cancelled" for s in states):
        return "Cancelled"
    if "Failed" in states:
        return "Failed"
    if "TimedOut" in states:
        return "TimedOut"
    return "Success"


def install_command_status(world: World) -> None:
    """ListCommands and the SendCommand response report the invocations' live status."""
    from moto.ssm.models import Command

    orig_response_object = Command.response_object

    def response_object(self: Any) -> dict[str, Any]:
        obj = orig_response_object(self)
        invs = world.invocations.get(self.command_id)
        if invs:
            now = time.time()
            states = [i.status(now) for i in invs]
            status = command_status(states)
            obj.update(
                Status=status,
                StatusDetails=status,
                CompletedCount=sum(s != "InProgress" for s in states),
                ErrorCount=sum(s == "Failed" for s in states),
            )
        return obj

    Command.response_object = response_object
