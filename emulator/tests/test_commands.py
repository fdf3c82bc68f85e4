"""SendCommand and its invocations: answers from the outputs table, what a script leaves
behind, and the knobs that make commands fail, bad, slow or cancelled."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from support import COPY_REGION, REGION, error_code, run, wait_for

ORDER_CHECK = """#!/bin/bash
set -euo pipefail
echo '::amibake:: check agent started after cloud-final'
final=$(systemctl show -p ExecMainExitTimestampMonotonic --value cloud-final.service)
agent=$(systemctl show -p ActiveEnterTimestampMonotonic --value codedeploy-agent)
echo "cloud-final exited at ${final}us, codedeploy-agent active at ${agent}us"
if [ "$final" -gt 0 ] && [ "$agent" -gt "$final" ]; then echo ordered; else echo NOT-ordered; exit 1; fi
"""
INSTALL = (
    "set -euo pipefail\n"
    "dnf install -y https://aws-codedeploy-eu-west-3.s3.eu-west-3.amazonaws.com/releases/codedeploy-agent-1.7.1-999.noarch.rpm\n"
    "mkdir -p /etc/systemd/system/codedeploy-agent.service.d\n"
    "cat > /etc/systemd/system/codedeploy-agent.service.d/50-amibake.conf <<'EOF'\n[Unit]\nAfter=cloud-final.service\nEOF\n"
    "systemctl daemon-reload\n"
)


def stdout(ssm, iid: str, script: str) -> str:
    return run(ssm, iid, script)["StandardOutputContent"]


def test_scripts_are_answered_from_the_table_and_the_instance_state(ssm, builder):
    # A fresh base image: nothing a bake installs is there (no canned default answers it).
    inv = run(ssm, builder, "set -euo pipefail\nrpm -q codedeploy-agent")
    assert (inv["Status"], inv["ResponseCode"], inv["StandardOutputContent"]) == ("Failed", 1, "package codedeploy-agent is not installed\n")
    inv = run(ssm, builder, "definitely-not-a-known-command")
    assert (inv["Status"], inv["ResponseCode"], inv["StandardOutputContent"]) == ("Failed", 127, ""), "unknown command in a step: 127"
    marked = stdout(ssm, builder, "echo '::amibake:step-begin::'\ncloud-init status --wait\necho ::amibake:step-end::")
    assert marked == "::amibake:step-begin::\nstatus: done\n::amibake:step-end::\n"
    assert stdout(ssm, builder, "systemctl is-active cloud-final && systemctl is-enabled cloud-final") == "active\nenabled\n"
    inv = run(ssm, builder, "#!/bin/bash\nset -euo pipefail\necho '::amibake:: check made up'\nsome-unknown-tool && echo OK")
    assert inv["ResponseCode"] == 127 and "OK" not in inv["StandardOutputContent"], "unknown command: 127"
    assert run(ssm, builder, "dnf -y install java-17-amazon-corretto-headless")["Status"] == "Success"
    assert stdout(ssm, builder, "java -version 2>&1").startswith('openjdk version "17')
    inv = run(ssm, builder, "", document="AWS-ConfigureAWSPackage", params={"action": ["Install"], "name": ["AmazonCloudWatchAgent"]})
    assert (inv["Status"], inv["PluginName"]) == ("Success", "configurePackage")


def test_what_a_script_installs_is_remembered(ssm, builder):
    assert run(ssm, builder, INSTALL)["Status"] == "Success"
    assert stdout(ssm, builder, "rpm -q codedeploy-agent") == "codedeploy-agent-1.7.1-999.noarch\n"
    drop_in = "DropInPaths=/etc/systemd/system/codedeploy-agent.service.d/50-amibake.conf\n"
    assert stdout(ssm, builder, "systemctl show -p DropInPaths codedeploy-agent") == drop_in
    inv = run(ssm, builder, ORDER_CHECK)
    assert inv["ResponseCode"] == 0 and inv["StandardOutputContent"].endswith("\nordered\n")


def test_bad_image_answers_the_bad_variants_per_region(emu, ssm, builder):
    assert run(ssm, builder, INSTALL)["Status"] == "Success"
    emu.config(bad_image=True)
    assert stdout(ssm, builder, "systemctl show -p DropInPaths codedeploy-agent") == "DropInPaths=\n"
    inv = run(ssm, builder, ORDER_CHECK)
    assert (inv["Status"], inv["ResponseCode"]) == ("Failed", 1) and inv["StandardOutputContent"].endswith("NOT-ordered\n")
    assert stdout(ssm, builder, "rpm -q codedeploy-agent") == "codedeploy-agent-1.6.0-49.noarch\n"
    emu.config(bad_image=["systemd:codedeploy-agent.service"])
    assert stdout(ssm, builder, "rpm -q codedeploy-agent") == "codedeploy-agent-1.7.1-999.noarch\n", "only the listed key is bad"
    assert run(ssm, builder, ORDER_CHECK)["ResponseCode"] == 1
    assert emu.get(f"/_amibake/config?region={COPY_REGION}")["bad_image"] is False


def test_fail_command_matching_fails_the_command(emu, ssm, builder):
    emu.config(fail_command_matching=r"dnf\s+upgrade")
    inv = run(ssm, builder, "dnf upgrade -y")
    assert (inv["Status"], inv["ResponseCode"]) == ("Failed", 1) and "simulated failure" in inv["StandardErrorContent"]


def test_slow_command_lifecycle(emu, ssm, builder):
    emu.config(command_in_progress_seconds=2)
    cmd = ssm.send_command(InstanceIds=[builder], DocumentName="AWS-RunShellScript", Parameters={"commands": ["cloud-init status --wait"]})["Command"]
    first = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=builder)
    assert (first["Status"], first["ResponseCode"], first["StandardOutputContent"]) == ("InProgress", -1, "")
    listed = ssm.list_command_invocations(CommandId=cmd["CommandId"], Details=True)["CommandInvocations"]
    assert [i["Status"] for i in listed] == ["InProgress"]
    assert ssm.list_commands(CommandId=cmd["CommandId"])["Commands"][0]["Status"] == "InProgress"
    final = wait_for("the command done", lambda: (i := ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=builder))["Status"] != "InProgress" and i)
    assert (final["Status"], final["StandardOutputContent"]) == ("Success", "status: done\n")
    listed = ssm.list_command_invocations(CommandId=cmd["CommandId"], Details=True)["CommandInvocations"]
    assert listed[0]["CommandPlugins"][0]["Output"] == "status: done\n"
    assert ssm.list_commands(CommandId=cmd["CommandId"])["Commands"][0]["Status"] == "Success"


def test_cancel_and_unknown_invocations(emu, ssm, builder):
    emu.config(command_in_progress_seconds=60)
    cmd = ssm.send_command(InstanceIds=[builder], DocumentName="AWS-RunShellScript", Parameters={"commands": ["sleep 600"]})["Command"]
    ssm.cancel_command(CommandId=cmd["CommandId"])
    assert ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=builder)["Status"] == "Cancelled"
    unknown = "00000000-0000-0000-0000-000000000000"
    assert error_code(ssm.get_command_invocation, CommandId=unknown, InstanceId=builder) == "InvocationDoesNotExist"


def test_invocation_missing_at_first(emu, ssm, builder):
    emu.config(invocation_missing_seconds=30)
    cmd = ssm.send_command(InstanceIds=[builder], DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]})["Command"]
    assert error_code(ssm.get_command_invocation, CommandId=cmd["CommandId"], InstanceId=builder) == "InvocationDoesNotExist"


def test_targets_select_only_the_targeted_instances(ssm, builder):
    cmd = ssm.send_command(Targets=[{"Key": "InstanceIds", "Values": [builder]}], DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]})["Command"]
    listed = ssm.list_command_invocations(CommandId=cmd["CommandId"])["CommandInvocations"]
    assert [i["InstanceId"] for i in listed] == [builder], "only the targeted instance, not every one in the region"


PROBE = "#!/bin/bash\nset -euo pipefail\n# amibake step: probe: pending updates\napt-get update -qq >&2\n"


def test_the_update_probe_is_answered_from_the_pending_updates_knob(emu, ssm, builder):
    assert stdout(ssm, builder, PROBE) == "amibake-probe\tcounts\t0\t0\namibake-probe\tend\n", "nothing pending by default"
    emu.config(pending_updates=[
        {"package": "tzdata", "installed": "2024a-1", "candidate": "2024b-1", "security": False},
        {"package": "libssl3", "installed": "3.0.1-1", "candidate": "3.0.1-2", "security": True},
    ])
    assert stdout(ssm, builder, PROBE).splitlines() == [
        "amibake-probe\tcounts\t2\t1",
        "amibake-update\tlibssl3\t3.0.1-1\t3.0.1-2\tsecurity",  # security first
        "amibake-update\ttzdata\t2024a-1\t2024b-1\tother",
        "amibake-probe\tend",
    ]
    # Any other script still comes from the table.
    assert stdout(ssm, builder, "cloud-init status") == "status: done\n"


def test_a_pending_update_that_would_be_structure_is_refused(emu):
    good = {"package": "p", "installed": "1", "candidate": "2", "security": True}
    for bad in ([{**good, "package": "a\tb"}], [{**good, "candidate": "2\n"}], [{**good, "security": "yes"}],
                [{"package": "p"}], [{**good, "extra": 1}], "libssl3"):
        req = urllib.request.Request(emu.endpoint + "/_amibake/config",
                                     data=json.dumps({"region": REGION, "pending_updates": bad}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        assert status == 400, bad
