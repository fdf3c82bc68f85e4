"""The instance-state model: a check answers from what the instance's own successful
steps installed, wrote, enabled or removed (instance_state.py), not from a table of
expected answers; an unknown command in a step fails unless the knob allows it."""

from __future__ import annotations

import uuid

from support import launch, run

STEP = "#!/bin/bash\nset -euo pipefail\n# amibake step: {name}\n{body}\n"
CHECK = "#!/bin/bash\nset -euo pipefail\n# amibake step: check: {name}\necho '::amibake:: check {name}'\n{body}\n"


def step(ssm, iid: str, body: str) -> dict:
    return run(ssm, iid, STEP.format(name="test", body=body))


def check(ssm, iid: str, body: str) -> tuple[int, str, str]:
    inv = run(ssm, iid, CHECK.format(name="test", body=body))
    return inv["ResponseCode"], inv["StandardOutputContent"].split("\n", 1)[1], inv["StandardErrorContent"]


def test_a_fresh_base_image_has_none_of_what_a_bake_installs(ssm, builder):
    code, out, err = check(ssm, builder, "rpm -q codedeploy-agent")
    assert (code, out) == (1, "package codedeploy-agent is not installed\n")
    code, out, _ = check(ssm, builder, "systemctl is-enabled tomcat9")
    assert code != 0 and "enabled" not in out.split(), out
    code, _, err = check(ssm, builder, "java -version 2>&1")
    assert code == 127, err
    code, out, _ = check(ssm, builder, "systemctl show -p DropInPaths codedeploy-agent")
    assert (code, out) == (0, "DropInPaths=\n")
    code, _, _ = check(ssm, builder, "/opt/codedeploy-agent/bin/codedeploy-agent --version")
    assert code == 127
    code, _, _ = check(ssm, builder, "command -v cfn-signal")
    assert code == 1
    # What a real base image has: the OS's own units.
    code, out, _ = check(ssm, builder, "systemctl is-enabled cloud-final.service")
    assert (code, out) == (0, "enabled\n")


def test_checks_answer_from_what_the_steps_did(ssm, builder):
    assert step(ssm, builder, "dnf -y install java-17-amazon-corretto-headless tomcat9 aws-cfn-bootstrap")["Status"] == "Success"
    code, out, _ = check(ssm, builder, "systemctl is-enabled tomcat9")
    assert (code, out) == (1, "disabled\n"), "a package's unit is not enabled until a step enables it"
    assert step(ssm, builder, "systemctl enable tomcat9")["Status"] == "Success"
    assert check(ssm, builder, "systemctl is-enabled tomcat9")[:2] == (0, "enabled\n")
    code, out, _ = check(ssm, builder, "java -version 2>&1")
    assert code == 0 and out.startswith('openjdk version "17.'), out
    assert check(ssm, builder, "command -v cfn-signal")[:2] == (0, "/opt/aws/bin/cfn-signal\n")
    code, out, _ = check(ssm, builder, "rpm -q tomcat9")
    assert code == 0 and out.startswith("tomcat9-"), out
    # Removed again: gone.
    assert step(ssm, builder, "systemctl disable tomcat9\ndnf -y remove tomcat9")["Status"] == "Success"
    assert check(ssm, builder, "rpm -q tomcat9")[:2] == (1, "package tomcat9 is not installed\n")


def test_files_written_by_a_step_are_seen_and_removed(ssm, builder):
    body = (
        "mkdir -p /etc/app\n"
        "cat > /etc/app/app.env <<'EOF'\nA=1\nEOF\n"
        "printf 'B=2\\n' | tee /etc/app/more.env >/dev/null\n"
        "mkdir -p /etc/systemd/system/codedeploy-agent.service.d\n"
        "tmp=$(mktemp /etc/systemd/system/codedeploy-agent.service.d/.amibake.XXXXXX)\n"
        "cat > \"$tmp\" <<'EOF'\n[Unit]\nAfter=cloud-final.service\nEOF\n"
        "mv -f -T \"$tmp\" /etc/systemd/system/codedeploy-agent.service.d/10-after-cloud-init.conf\n"
    )
    assert step(ssm, builder, body)["Status"] == "Success"
    assert check(ssm, builder, "test -f /etc/app/app.env && echo yes")[:2] == (0, "yes\n")
    assert check(ssm, builder, "cat /etc/app/app.env")[:2] == (0, "A=1\n")
    assert check(ssm, builder, "cat /etc/app/more.env")[:2] == (0, "B=2\n")
    drop_in = "DropInPaths=/etc/systemd/system/codedeploy-agent.service.d/10-after-cloud-init.conf\n"
    assert check(ssm, builder, "systemctl show -p DropInPaths codedeploy-agent")[:2] == (0, drop_in)
    assert step(ssm, builder, "rm -f /etc/app/app.env")["Status"] == "Success"
    assert check(ssm, builder, "test -f /etc/app/app.env")[0] == 1


def test_a_failed_step_changes_nothing(ssm, builder):
    inv = step(ssm, builder, "dnf -y install tomcat9\nsystemctl enable tomcat9\nfalse")
    assert inv["Status"] == "Failed"
    assert check(ssm, builder, "rpm -q tomcat9")[0] == 1


def test_enabling_a_unit_nothing_installed_fails(ssm, builder):
    inv = step(ssm, builder, "systemctl enable tomcat9")
    assert (inv["Status"], inv["ResponseCode"]) == ("Failed", 1)
    assert "Unit file tomcat9.service does not exist" in inv["StandardErrorContent"]


def test_an_unknown_command_in_a_step_fails_unless_the_knob_allows_it(emu, ssm, builder):
    inv = step(ssm, builder, "frobnicate --all")
    assert (inv["Status"], inv["ResponseCode"]) == ("Failed", 127)
    assert "amibake emulator: unrecognised command `frobnicate` in a step" in inv["StandardErrorContent"]
    emu.config(allow_unknown_commands=True)
    assert step(ssm, builder, "frobnicate --all")["Status"] == "Success"


def test_an_image_carries_the_state_to_the_instances_launched_from_it(ec2, ssm, builder):
    assert step(ssm, builder, "dnf -y install tomcat9\nsystemctl enable tomcat9")["Status"] == "Success"
    image = ec2.create_image(InstanceId=builder, Name=f"state-{uuid.uuid4().hex[:12]}")["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[image], WaiterConfig={"Delay": 1})
    boot = launch(ec2, ssm, image)
    try:
        assert check(ssm, boot, "systemctl is-enabled tomcat9")[:2] == (0, "enabled\n")
        assert check(ssm, boot, "systemctl is-active tomcat9")[:2] == (0, "active\n"), "enabled units start at boot"
    finally:
        ec2.terminate_instances(InstanceIds=[boot])
        ec2.deregister_image(ImageId=image)


def test_a_package_no_repository_has_fails_the_step(ssm, builder):
    inv = step(ssm, builder, "dnf -y install tomcat99")
    assert (inv["Status"], inv["ResponseCode"]) == ("Failed", 1), inv
    assert "No match for argument: tomcat99" in inv["StandardErrorContent"]
    assert check(ssm, builder, "rpm -q tomcat99")[:2] == (1, "package tomcat99 is not installed\n")
    # A version pinned the way dnf takes it names the listed package.
    assert step(ssm, builder, "dnf -y install tomcat9-9.0.96")["Status"] == "Success"
    assert check(ssm, builder, "rpm -q tomcat9")[0] == 0
