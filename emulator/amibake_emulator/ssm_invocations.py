"""SSM command invocations: GetCommandInvocation, ListCommandInvocations, CancelCommand.

The invocations SendCommand made (ssm_commands.py, `world.invocations`), as amibake polls
them:

  * GetCommandInvocation (moto: always Success/empty output; InvalidCommandId for an
    unknown command): status from the result, InProgress (ResponseCode -1) for
    command_in_progress_seconds, InvocationDoesNotExist for unknown command/instance/
    plugin and during invocation_missing_seconds; output cut at SSM's limits.
  * ListCommandInvocations (moto: not implemented): filters InstanceId, Status,
    DocumentName; Details gives each plugin's output; MaxResults/NextToken.
  * CancelCommand (moto: not implemented): InProgress invocations become Cancelled; a
    real-OS command is stopped.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from .container import STDERR_LIMIT, STDOUT_LIMIT
from .util import epoch_to_dt

if TYPE_CHECKING:
    from .ssm_commands import Invocation
    from .state import World


def install(world: World) -> None:
    """Patches moto's SSM responses; the patches close over `world`."""
    install_get_invocation(world)
    install_list_invocations(world)
    install_cancel_command(world)


def iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def timing(inv: Invocation, now: float) -> tuple[str, str, str]:
    """ExecutionStartDateTime, ExecutionEndDateTime, ExecutionElapsedTime."""
    if inv.status(now) == "InProgress":
        return iso(inv.requested), "", ""
    end = epoch_to_dt(inv.ended())
    secs = max(0.0, (end - inv.requested).total_seconds())
    return iso(inv.requested), iso(end), f"PT{secs:.3f}S"


def invocation_result(inv: Invocation, now: float) -> dict[str, Any]:
    """GetCommandInvocation's answer; output only once final (or as far as a live one got)."""
    started, ended, took = timing(inv, now)
    final = inv.final(now)
    stdout, stderr, code = inv.output()
    if not final and inv.live is None:
        stdout = stderr = ""
    return {
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
        "Status": inv.status(now),
        "StatusDetails": inv.details(now),
        "StandardOutputContent": stdout[:STDOUT_LIMIT],
        "StandardOutputUrl": "",
        "StandardErrorContent": stderr[:STDERR_LIMIT],
        "StandardErrorUrl": "",
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
    }


def install_get_invocation(world: World) -> None:
    from moto.core.responses import ActionResult
    from moto.ssm.exceptions import SSMException
    from moto.ssm.responses import SimpleSystemManagerResponse as R

    def get_command_invocation(self: Any) -> Any:
        command_id = self._get_param("CommandId")
        instance_id = self._get_param("InstanceId")
        plugin_name = self._get_param("PluginName")
        now = time.time()
        inv = next((i for i in world.invocations.get(command_id, []) if i.instance_id == instance_id), None)
        if inv is None or now < inv.visible_at or (plugin_name and plugin_name != inv.plugin_name):
            raise SSMException(
                "InvocationDoesNotExist",
                "An error occurred (InvocationDoesNotExist) when calling the GetCommandInvocation operation",
            )
        return ActionResult(invocation_result(inv, now))

    R.get_command_invocation = get_command_invocation


def plugin_row(inv: Invocation, now: float) -> dict[str, Any]:
    """The one plugin's entry of a ListCommandInvocations row with Details."""
    status, final = inv.status(now), inv.final(now)
    stdout, stderr, code = inv.output()
    output = stdout if final else ""
    if final and stderr:
        output += "\n\n----------ERROR-------\n" + stderr
    plugin = {
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
    if not final:
        del plugin["ResponseFinishDateTime"]
    return plugin


def invocation_row(inv: Invocation, now: float, details: bool) -> dict[str, Any]:
    status = inv.status(now)
    return {
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
        "CommandPlugins": [plugin_row(inv, now)] if details else [],
    }


def listed(inv: Invocation, now: float, instance_id: str | None, filters: dict[str, str]) -> bool:
    if now < inv.visible_at or (instance_id and inv.instance_id != instance_id):
        return False
    if "Status" in filters and inv.status(now) != filters["Status"]:
        return False
    return not ("DocumentName" in filters and inv.document_name != filters["DocumentName"])


def install_list_invocations(world: World) -> None:
    from moto.core.responses import ActionResult
    from moto.ssm.responses import SimpleSystemManagerResponse as R

    def list_command_invocations(self: Any) -> Any:
        command_id = self._get_param("CommandId")
        instance_id = self._get_param("InstanceId")
        details = bool(self._get_param("Details"))
        filters = {f["key"]: f["value"] for f in self._get_param("Filters", []) or []}
        now = time.time()
        if command_id:
            self.ssm_backend.get_command_by_id(command_id)  # InvalidCommandId if unknown
            pool = world.invocations.get(command_id, [])
        else:
            known = {c.command_id for c in self.ssm_backend._commands}
            pool = [i for cid, invs in world.invocations.items() if cid in known for i in invs]
        rows = [invocation_row(inv, now, details) for inv in pool if listed(inv, now, instance_id, filters)]
        start = int(self._get_param("NextToken") or 0)
        size = int(self._get_param("MaxResults") or 50)
        result: dict[str, Any] = {"CommandInvocations": rows[start : start + size]}
        if start + size < len(rows):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    R.list_command_invocations = list_command_invocations


def install_cancel_command(world: World) -> None:
    from moto.core.responses import ActionResult
    from moto.ssm.responses import SimpleSystemManagerResponse as R

    def cancel_command(self: Any) -> Any:
        command_id = self._get_param("CommandId")
        instance_ids = self._get_param("InstanceIds", []) or []
        self.ssm_backend.get_command_by_id(command_id)  # InvalidCommandId if unknown
        now = time.time()
        for inv in world.invocations.get(command_id, []):
            if (not instance_ids or inv.instance_id in instance_ids) and inv.status(now) == "InProgress":
                inv.cancelled_at = now
                if inv.live is not None:
                    inv.live.cancel()
        return ActionResult({})

    R.cancel_command = cancel_command
