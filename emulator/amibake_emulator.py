#!/usr/bin/env python3
"""amibake's local AWS emulator: moto 5.2.5 in server mode, extended only where amibake
needs an API moto lacks or answers unrealistically.

Run:  amibake_emulator.py --port 0 --port-file FILE [--outputs emulator/outputs.yaml]
Binds 127.0.0.1 only, writes the chosen port to FILE, serves until SIGTERM/SIGINT.
Clients use endpoint http://127.0.0.1:PORT with any region and dummy credentials
(AWS_ACCESS_KEY_ID=testing -> moto's default account 123456789012).

Simulated on top of moto (everything else is plain moto 5.2.5):

SSM
  * DescribeInstanceInformation (moto: not implemented). An EC2 instance of the same
    account/region is listed once it is `running` and its agent has "registered"
    (agent_online_seconds after it became running): PingStatus Online, LastPingDateTime
    = now, PlatformType Linux, PlatformName/Version from its AMI lineage, AgentVersion,
    IsLatestVersion, ResourceType EC2Instance. For reboot_offline_seconds after
    RebootInstances it is listed as ConnectionLost with LastPingDateTime = the last ping
    before the reboot. Pending/stopping/stopped/terminated instances are not listed.
    Filters: InstanceIds, PingStatus, PlatformTypes, AgentVersion, ResourceType, tag:K,
    tag-key (both InstanceInformationFilterList and Filters); MaxResults/NextToken.
  * SendCommand: refused with InvalidInstanceId for an instance that is not running with
    an Online agent (as AWS does); goes only to the InstanceIds/Targets given (moto also
    adds every other instance of the region to each command). Nothing runs: stdout,
    stderr and exit code come from the outputs table (emulator/outputs.yaml), `bad_image`
    picks its bad variants, `fail_command_matching` fails matching commands (exit 1,
    stderr). Only when a command succeeds, the install of a
    CodeDeploy agent (releases/codedeploy-agent-<v>.noarch.rpm | _<v>_all.deb), the
    systemd drop-ins written (/etc/systemd/system/<unit>.d/<f>.conf) and the packages
    installed (dnf/yum/apt-get install) are remembered per instance and carried by
    CreateImage -> CopyImage -> RunInstances. Scripts are evaluated by a tiny shell
    (variables, $(...), if, test, &&/||, echo, set -e, pipes into grep) whose external
    commands are answered by the table, so a check's own logic runs on table data.
  * GetCommandInvocation (moto: always Success/empty output; InvalidCommandId for an
    unknown command): status from the table, InProgress (ResponseCode -1) for
    command_in_progress_seconds, InvocationDoesNotExist for unknown command/instance/plugin
    and during invocation_missing_seconds.
  * ListCommandInvocations, CancelCommand (moto: not implemented); ListCommands and the
    SendCommand response report the live status.
  * GetParameter(s)/GetParametersByPath for
    /aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id
    (moto ships only the Amazon Linux public parameters): it names an Ubuntu 24.04 AMI
    seeded in every region's DescribeImages (owner 099720109477). The Amazon Linux
    parameters are moto's own and resolve to available AMIs.

EC2
  * RunInstances honours ClientToken (moto: ignored): a repeated token returns the first
    reservation. Instances show `pending` for instance_pending_seconds (also after
    StartInstances); StopInstances shows `stopping` for instance_stopping_seconds.
    Launching from an AMI that is still `pending` fails (InvalidAMIID.Unavailable).
  * RebootInstances: moto marks even a stopped instance running; here only running
    instances reboot, and their agent goes offline for reboot_offline_seconds.
  * CreateImage: AMI names are validated like AWS (3-128 chars of [A-Za-z0-9()[] ./'@_-],
    InvalidAMIName.Malformed) and unique per account/region (InvalidAMIName.Duplicate);
    TagSpecifications for `snapshot` are applied (moto: NotImplementedError -> HTTP 500);
    the snapshot is encrypted when the instance's root volume is; the image is `pending`
    for image_pending_seconds.
  * CopyImage: TagSpecifications (image, snapshot), CopyImageTags, Encrypted, ClientToken
    idempotency (moto: all ignored), name checks as CreateImage, the copy is `pending`
    for copy_pending_seconds, copying a source that is not `available` fails
    (IncorrectState).
  * EnableImageDeprecation / DisableImageDeprecation (moto: not implemented); the
    DeprecationTime shows in DescribeImages.
  * DescribeImages block device mappings report the snapshot's Encrypted flag and the
    source root volume's size.

CloudFormation (what a roll needs)
  * An update also updates resources that Ref/Fn::GetAtt an updated resource (moto only
    touches resources whose own JSON or referenced parameters changed), so a new ImageId
    reaches the launch template AND the ASG using `!GetAtt LT.LatestVersionNumber`; the
    ASG is then recreated by moto with new instances from the new version (all at once,
    UpdatePolicy/CreationPolicy/signals are not simulated) and keeps its name.
  * Change sets list those Modify changes for parameter-only updates (moto: none);
    CreateChangeSet defaults ChangeSetType to UPDATE as AWS does (moto: CREATE -> 500).
  * fail_stack_update knob: ExecuteChangeSet/UpdateStack end in UPDATE_ROLLBACK_COMPLETE
    with an UPDATE_FAILED event on the ASG, and change nothing.
  * CancelUpdateStack / ContinueUpdateRollback (moto: not implemented): updates finish
    inside the request, so these answer ValidationError like AWS for a settled stack.

IAM
  * Instance profiles named by --seed-instance-profile (default: amibake-builder) exist in
    the default account, so RunInstances with IamInstanceProfile works without IAM calls.

Request accounting: every AWS request is counted by region and action; with the
throttle_ec2 knob, EC2 requests draw from EC2's documented request buckets (per region,
per category or per action) and get RequestLimitExceeded when theirs is empty.

Control endpoint (not AWS): GET/POST /_amibake/config, GET /_amibake/facts,
GET /_amibake/stats, POST /_amibake/stats/reset, GET /_amibake/health; see
emulator/README.md. POST /moto-api/reset also clears the
emulator's own state.

Real instances (the `real_os` knob, emulator/realos.py): instances boot as real systemd +
cloud-init containers and AWS-RunShellScript commands run in them; see realos.py.

NOT simulated without `real_os`: no script or document runs, nothing boots; user data is
ignored; the outputs table is the only source of command output; no S3/CloudWatch output of commands;
SSM documents are not validated; CreateImage does not reboot the instance; KMS keys are
not checked; instance profiles grant nothing (an instance without one still gets an
Online agent unless require_instance_profile is set); stack operations complete within
the request (no *_IN_PROGRESS phase to poll); Auto Scaling health checks, lifecycle hooks
and scaling activities, and everything not listed above, are plain moto 5.2.5.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import io
import json
import os
import re
import shlex
import signal
import string
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realos import STDERR_LIMIT, STDOUT_LIMIT, RealOS  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUTS = HERE / "outputs.yaml"

UBUNTU_2404_PARAMETER = (
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
)
CANONICAL_OWNER = "099720109477"
SSM_AGENT_VERSION = "3.3.1802.0"

# ---------------------------------------------------------------------------------------
# Knobs: per region, changed at run time through POST /_amibake/config.
# ---------------------------------------------------------------------------------------

KNOB_DEFAULTS: dict[str, Any] = {
    "bad_image": False,  # answer commands with the table's `bad` variants
    "fail_command_matching": None,  # regex: matching commands fail (exit 1)
    "require_instance_profile": False,  # agent only comes online with an instance profile
    "instance_pending_seconds": 0.0,  # RunInstances/StartInstances -> pending for L s
    "instance_stopping_seconds": 0.0,  # StopInstances -> stopping for S s
    "image_pending_seconds": 0.0,  # CreateImage -> pending for I s
    "copy_pending_seconds": 0.0,  # CopyImage -> pending for C s
    "agent_online_seconds": 0.0,  # agent Online O s after the instance is running
    "command_in_progress_seconds": 0.0,  # invocations InProgress for K s
    "invocation_missing_seconds": 0.0,  # GetCommandInvocation InvocationDoesNotExist for M s
    "reboot_offline_seconds": 1.0,  # agent ConnectionLost for R s after RebootInstances
    "fail_stack_update": False,  # CloudFormation updates roll back (UPDATE_ROLLBACK_COMPLETE)
    "throttle_ec2": False,  # EC2's documented request buckets: RequestLimitExceeded when empty
    "real_os": False,  # "debian" | "amazon": instances boot a real systemd + cloud-init root
}


def _check_knob(key: str, value: Any) -> Any:
    if key not in KNOB_DEFAULTS:
        raise ValueError(f"unknown knob {key!r}; known: {sorted(KNOB_DEFAULTS)}")
    if key == "bad_image":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        if not isinstance(value, bool):
            raise ValueError("bad_image must be true, false or a list of table keys")
        return value
    if key in ("require_instance_profile", "fail_stack_update", "throttle_ec2"):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if key == "real_os":
        return REALOS.check(value)
    if key == "fail_command_matching":
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{key} must be a regex string or null")
            re.compile(value)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{key} must be a number >= 0")
    return float(value)


@dataclass
class Knobs:
    initial: dict[str, Any] = field(default_factory=lambda: dict(KNOB_DEFAULTS))
    defaults: dict[str, Any] = field(default_factory=lambda: dict(KNOB_DEFAULTS))
    regions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, region: str, key: str) -> Any:
        return self.regions.get(region, {}).get(key, self.defaults[key])

    def effective(self, region: str) -> dict[str, Any]:
        return {k: self.get(region, k) for k in KNOB_DEFAULTS}

    def update(self, body: dict[str, Any]) -> dict[str, Any]:
        body = dict(body)
        region = body.pop("region", "*") or "*"
        reset = body.pop("reset", False)
        checked = {k: _check_knob(k, v) for k, v in body.items()}
        if region == "*":
            if reset:
                self.defaults = dict(self.initial)
                self.regions.clear()
            self.defaults.update(checked)
            return {"region": "*", **self.defaults}
        if reset:
            self.regions.pop(region, None)
        self.regions.setdefault(region, {}).update(checked)
        return {"region": region, **self.effective(region)}

    def snapshot(self) -> dict[str, Any]:
        return {
            "defaults": dict(self.defaults),
            "regions": {r: self.effective(r) for r in sorted(self.regions)},
        }


# ---------------------------------------------------------------------------------------
# The outputs table (emulator/outputs.yaml) and how a script is "run" against it.
# ---------------------------------------------------------------------------------------

CODEDEPLOY_INSTALL = re.compile(
    r"releases/codedeploy-agent(?:-(?P<rpm>[0-9][\w.+~-]*?)\.noarch\.rpm"
    r"|_(?P<deb>[0-9][\w.+~-]*?)_all\.deb)"
)
DROPIN_WRITE = re.compile(  # not the ".name.conf.XXXXXX" temp file written before it
    r"/etc/systemd/system/(?P<unit>[\w@.:-]+?\.(?:service|socket|timer|target|mount|path))"
    r"\.d/(?P<file>[\w@:-][\w@.:-]*\.conf)(?![\w@.:-])"
)
PACKAGE_INSTALL = re.compile(
    r"\b(?:dnf|yum|apt-get|apt_get|apt)\b[^\n;|&]*?\binstall\b(?P<args>[^\n;|&]*)"
)
SYSTEMCTL = re.compile(r"\bsystemctl\s+(?P<args>[^\n;|&)`]*)")
ECHO_LINE = re.compile(r"""^[ \t]*echo[ \t]+(?:-[neE]+[ \t]+)?(['"]?)([^'"$`\\\n]*)\1[ \t]*$""", re.M)


@dataclass
class Variant:
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0

    @staticmethod
    def parse(raw: Any) -> "Variant":
        if raw is None:
            return Variant()
        if isinstance(raw, str):
            return Variant(stdout=raw)
        return Variant(
            stdout=str(raw.get("stdout", "")),
            stderr=str(raw.get("stderr", "")),
            exit_code=int(raw.get("exit_code", 0)),
        )


@dataclass
class Piece:
    """One matched command's contribution to an invocation's result."""

    start: int
    stdout: str
    stderr: str
    exit_code: int


@dataclass
class RunResult:
    stdout: str
    stderr: str
    exit_code: int
    mode: str = ""  # "shell" or "flat (why)", for the log


class Badness:
    """Which table answers use their `bad` variant: all (bad_image true), none, or those
    whose key is listed (a `commands` key, `systemd:<unit>` or `systemd:<unit>:<Property>`)."""

    def __init__(self, knob: bool | list[str]):
        self.all = knob is True
        self.keys = set(knob) if isinstance(knob, list) else set()

    def __call__(self, *keys: str) -> bool:
        return self.all or any(k in self.keys for k in keys)


class OutputTable:
    def __init__(self, path: Path):
        raw = yaml.safe_load(path.read_text()) or {}
        self.path = path
        self.defaults: dict[str, Any] = raw.get("defaults", {})
        self.markers = re.compile(raw["markers"]) if raw.get("markers") else None
        self.strict = re.compile(raw["strict_when"], re.M) if raw.get("strict_when") else None
        self.commands = []
        self.requires: dict[str, str] = {}
        for entry in raw.get("commands", []):
            good = Variant.parse(entry.get("good"))
            bad = Variant.parse(entry["bad"]) if "bad" in entry else good
            self.commands.append((entry["key"], re.compile(entry["match"], re.M), good, bad))
            if entry.get("requires_package"):
                self.requires[entry["key"]] = entry["requires_package"]
        self.units: dict[str, dict[str, tuple[str, str]]] = {}
        for unit, props in (raw.get("systemd", {}).get("units", {}) or {}).items():
            self.units[unit] = {
                p: (str(v.get("good", "")), str(v.get("bad", v.get("good", ""))))
                for p, v in props.items()
            }

    def keys(self) -> list[str]:
        return [k for k, *_ in self.commands]

    # -- variables ------------------------------------------------------------------------
    def variables(self, facts: dict[str, Any], unit: str | None = None) -> dict[str, str]:
        dropins = facts.get("dropins", {}).get(unit or "", [])
        if not dropins:
            default = self.defaults.get("dropin_paths", {}).get(unit or "")
            dropins = [default] if default else []
        return {
            "codedeploy_agent_version": facts.get("codedeploy_agent_version")
            or str(self.defaults.get("codedeploy_agent_version", "")),
            "dropin_paths": " ".join(dropins),
        }

    # -- running a script -----------------------------------------------------------------
    def run(self, script: str, facts: dict[str, Any], bad: "Badness") -> RunResult:
        """Evaluate the script with the mini shell; fall back to flat matching."""
        try:
            result = MiniShell(self, facts, bad).run(script)
            result.mode = "shell"
            return result
        except Unsupported as e:
            result = self.run_flat(script, facts, bad)
            result.mode = f"flat ({e})"
            return result

    def pieces(self, text: str, facts: dict[str, Any], bad: "Badness", merge_2to1: bool) -> list[Piece]:
        """The table's answers for every command the text contains, in text order."""
        pieces: list[Piece] = []
        taken: list[tuple[int, int]] = []

        def free(a: int, b: int) -> bool:
            return all(b <= s or a >= e for s, e in taken)

        for key, regex, good, badv in self.commands:
            if key in self.requires and self.requires[key] not in facts.get("packages", []):
                continue  # not installed on this instance: as if the table did not know it
            for m in regex.finditer(text):
                if not free(m.start(), m.end()):
                    continue
                taken.append((m.start(), m.end()))
                v = badv if bad(key) else good
                subst = self.variables(facts)
                out = string.Template(v.stdout).safe_substitute(subst)
                err = string.Template(v.stderr).safe_substitute(subst)
                line_end = text.find("\n", m.end())
                if merge_2to1 and "2>&1" in text[m.start() : line_end if line_end >= 0 else len(text)]:
                    out, err = "\n".join(x for x in (out, err) if x), ""
                pieces.append(Piece(m.start(), out, err, v.exit_code))

        for m in SYSTEMCTL.finditer(text):
            if free(m.start(), m.end()):
                taken.append((m.start(), m.end()))
                pieces.append(self._systemctl(m.start(), m.group("args"), facts, bad))
        pieces.sort(key=lambda p: p.start)
        return pieces

    @staticmethod
    def join(pieces: list[Piece]) -> RunResult:
        stdout = "".join(p.stdout + "\n" for p in pieces if p.stdout)
        stderr = "".join(p.stderr + "\n" for p in pieces if p.stderr)
        code = next((p.exit_code for p in pieces if p.exit_code), 0)
        return RunResult(stdout, stderr, code)

    def run_flat(self, script: str, facts: dict[str, Any], bad: "Badness") -> RunResult:
        """No shell semantics: every table match prints, plus marker echo lines."""
        pieces = self.pieces(script, facts, bad, merge_2to1=True)
        if not pieces and self.strict and self.strict.search(script):
            return RunResult("", "amibake-emulator: no command of this check is in the outputs table\n", 127)
        if self.markers:
            spans = [(p.start, p.start + 1) for p in pieces]
            for m in ECHO_LINE.finditer(script):
                if self.markers.search(m.group(2)) and all(m.end() <= a or m.start() >= b for a, b in spans):
                    pieces.append(Piece(m.start(), m.group(2), "", 0))
        pieces.sort(key=lambda p: p.start)
        return self.join(pieces)

    def _systemctl(self, start: int, args: str, facts: dict[str, Any], bad: "Badness") -> Piece:
        try:
            tokens = shlex.split(args)
        except ValueError:
            tokens = args.split()
        # Stop at the first redirection (2>/dev/null, >out, <in).
        cut = next((i for i, t in enumerate(tokens) if re.match(r"^\d*[<>]", t)), len(tokens))
        tokens = tokens[:cut]
        verb, props, value_only, quiet, units = None, [], False, False, []
        i = 0
        while i < len(tokens):
            t = tokens[i]
            if t in ("-p", "--property", "-P") and i + 1 < len(tokens):
                props += tokens[i + 1].split(",")
                value_only |= t == "-P"
                i += 2
                continue
            if t.startswith("--property="):
                props += t.split("=", 1)[1].split(",")
            elif t.startswith("-p") and len(t) > 2:
                props += t[2:].split(",")
            elif t == "--value":
                value_only = True
            elif t in ("-q", "--quiet"):
                quiet = True
            elif t.startswith("-"):
                pass
            elif verb is None:
                verb = t
            else:
                units.append(t if "." in t else t + ".service")
            i += 1

        def prop(unit: str, name: str) -> str | None:
            for table in (self.units.get(unit, {}), self.units.get("*", {})):
                if name in table:
                    good, badv = table[name]
                    tmpl = badv if bad(f"systemd:{unit}", f"systemd:{unit}:{name}") else good
                    return string.Template(tmpl).safe_substitute(self.variables(facts, unit))
            return None

        if verb == "show":
            blocks = []
            for unit in units:
                names = props or list({**self.units.get("*", {}), **self.units.get(unit, {})})
                lines = []
                for name in names:
                    value = prop(unit, name)
                    if value is not None:
                        lines.append(value if value_only else f"{name}={value}")
                blocks.append("\n".join(lines))
            return Piece(start, "\n\n".join(b for b in blocks if b), "", 0)
        if verb in ("is-active", "is-enabled"):
            name, ok = ("ActiveState", "active") if verb == "is-active" else ("UnitFileState", "enabled")
            states = [prop(u, name) or ("inactive" if verb == "is-active" else "disabled") for u in units]
            code = 0 if states and all(s == ok for s in states) else (3 if verb == "is-active" else 1)
            return Piece(start, "" if quiet else "\n".join(states), "", code)
        # systemctl start/enable/daemon-reload/...: succeeds silently.
        return Piece(start, "", "", 0)


def remember_from_script(script: str, facts: dict[str, Any]) -> None:
    """Record what a (successful) provisioning script installed on the instance."""
    for m in CODEDEPLOY_INSTALL.finditer(script):
        facts["codedeploy_agent_version"] = m.group("rpm") or m.group("deb")
    for m in PACKAGE_INSTALL.finditer(script):
        names = [a.strip("'\"") for a in m.group("args").split() if not a.startswith("-")]
        packages = facts.setdefault("packages", [])
        packages += [n for n in names if n and n not in packages and re.fullmatch(r"[\w.+:@-]+", n)]
    for m in DROPIN_WRITE.finditer(script):
        paths = facts.setdefault("dropins", {}).setdefault(m.group("unit"), [])
        path = m.group(0)
        if path not in paths:
            paths.append(path)


# ---------------------------------------------------------------------------------------
# A tiny shell, so that check scripts with logic are judged on the table's answers:
#   final=$(systemctl show -p ExecMainExitTimestampMonotonic --value cloud-final.service)
#   if [ "$agent" -gt "$final" ]; then echo ordered; else echo NOT-ordered; exit 1; fi
# Supported: assignments, $var ${var} ${var:-x} $? $(...), '...' "..." \x, ; && || ! |,
# if/elif/else/fi, redirections (>, >>, 2>, &>, 2>&1, >&2, <, heredocs), set -e/-u/-o
# pipefail, builtins echo printf test [ true false : exit set export local readonly cd
# trap, and pipes into grep/cat/head/tail. Every other command is a leaf answered by the
# table (see OutputTable.pieces); a leaf the table does not know prints nothing and exits
# 0, except queries about the image (grep, command -v, which, type, stat, file tests),
# which answer "no" (1). Anything else (loops, case, functions, subshells, $((...)),
# backticks, [[ ]]) raises Unsupported and the script is matched flat instead.
# ---------------------------------------------------------------------------------------


class Unsupported(Exception):
    pass


class ExitScript(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


OPERATORS = ("&&", "||", ";;", ";", "|", "&", "(", ")", "\n")
REDIRECT = re.compile(r"(\d*)(>>|>&|>\||>|<<-|<<<|<<|<&|<>|<)|(&>>|&>)")
RESERVED = {"if", "then", "elif", "else", "fi", "for", "while", "until", "do", "done", "case", "esac", "function", "select", "{", "}", "[[", "]]", "time", "coproc"}
QUERIES = {"grep", "egrep", "fgrep", "which", "type", "stat", "find"}


@dataclass
class Tok:
    kind: str  # "word", "op", "redir"
    text: str
    start: int
    end: int
    fd: str = ""  # redir: the explicit fd ("2" in 2>), "&" for &>


def lex(src: str) -> list[Tok]:
    toks: list[Tok] = []
    heredocs: list[tuple[str, bool]] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\" and src.startswith("\\\n", i):
            i += 2
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "#":
            while i < n and src[i] != "\n":
                i += 1
            continue
        if c == "\n":
            toks.append(Tok("op", "\n", i, i + 1))
            i += 1
            for delim, strip in heredocs:  # skip heredoc bodies
                while i < n:
                    j = src.find("\n", i)
                    line = src[i : j if j >= 0 else n]
                    i = j + 1 if j >= 0 else n
                    if (line.lstrip("\t") if strip else line) == delim:
                        break
            heredocs = []
            continue
        m = REDIRECT.match(src, i)
        if m:
            op = m.group(2) or m.group(3)
            fd = m.group(1) if m.group(2) else "&"
            toks.append(Tok("redir", op, i, m.end(), fd))
            i = m.end()
            if op in ("<<", "<<-"):
                while i < n and src[i] in " \t":
                    i += 1
                start = i
                i = scan_word(src, i)
                heredocs.append((re.sub(r"[\"'\\]", "", src[start:i]), op == "<<-"))
                toks.append(Tok("word", src[start:i], start, i))
            continue
        op = next((o for o in OPERATORS if src.startswith(o, i)), None)
        if op:
            toks.append(Tok("op", op, i, i + len(op)))
            i += len(op)
            continue
        start = i
        i = scan_word(src, i)
        if i == start:
            raise Unsupported(f"unexpected {src[i]!r}")
        toks.append(Tok("word", src[start:i], start, i))
    if heredocs:
        raise Unsupported("unterminated heredoc")
    return toks


def scan_word(src: str, i: int) -> int:
    """End of the shell word starting at i (quotes and $(...) included)."""
    n = len(src)
    start = i
    while i < n:
        c = src[i]
        if c in " \t\r\n;&|()<>":
            if c == "(" and i > start:
                raise Unsupported("function definition or array")
            break
        if c == "\\":
            i += 2
        elif c == "'":
            j = src.find("'", i + 1)
            if j < 0:
                raise Unsupported("unterminated quote")
            i = j + 1
        elif c == '"':
            i = skip_double_quoted(src, i + 1)
        elif c == "`":
            raise Unsupported("backticks")
        elif src.startswith("$((", i):
            raise Unsupported("arithmetic")
        elif src.startswith("$(", i):
            i = skip_parens(src, i + 2)
        elif src.startswith("${", i):
            j = src.find("}", i)
            if j < 0:
                raise Unsupported("unterminated ${")
            i = j + 1
        else:
            i += 1
    return i


def skip_double_quoted(src: str, i: int) -> int:
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif src.startswith("$((", i):
            raise Unsupported("arithmetic")
        elif src.startswith("$(", i):
            i = skip_parens(src, i + 2)
        elif c == "`":
            raise Unsupported("backticks")
        else:
            i += 1
    raise Unsupported("unterminated double quote")


def skip_parens(src: str, i: int) -> int:
    depth = 1
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            j = src.find("'", i + 1)
            if j < 0:
                raise Unsupported("unterminated quote")
            i = j + 1
            continue
        if c == '"':
            i = skip_double_quoted(src, i + 1)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise Unsupported("unterminated $(")


# The parsed script: lists of and-or chains of pipelines of simple commands or ifs.
@dataclass
class Simple:
    words: list[str]
    redirs: list[tuple[str, str, str]]  # (fd, op, target)
    start: int
    end: int


@dataclass
class If:
    branches: list[tuple[list[Any], list[Any]]]  # (condition list, body list)
    otherwise: list[Any] | None


@dataclass
class Pipeline:
    commands: list[Any]
    negated: bool
    start: int
    end: int


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]]


class Parser:
    def __init__(self, toks: list[Tok]):
        self.toks = toks
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def at_word(self, *words: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "word" and t.text in words

    def expect_word(self, word: str) -> None:
        if not self.at_word(word):
            raise Unsupported(f"expected {word!r}")
        self.i += 1

    def skip_separators(self) -> None:
        while (t := self.peek()) is not None and t.kind == "op" and t.text in (";", "\n"):
            self.i += 1

    def parse_list(self, until: tuple[str, ...] = ()) -> list[AndOr]:
        items: list[AndOr] = []
        self.skip_separators()
        while (t := self.peek()) is not None and not (t.kind == "word" and t.text in until):
            items.append(self.parse_and_or())
            t = self.peek()
            if t is not None and t.kind == "op" and t.text == "&":
                raise Unsupported("background job")
            self.skip_separators()
        return items

    def parse_and_or(self) -> AndOr:
        first = self.parse_pipeline()
        rest = []
        while (t := self.peek()) is not None and t.kind == "op" and t.text in ("&&", "||"):
            self.i += 1
            while (u := self.peek()) is not None and u.kind == "op" and u.text == "\n":
                self.i += 1
            rest.append((t.text, self.parse_pipeline()))
        return AndOr(first, rest)

    def parse_pipeline(self) -> Pipeline:
        negated = False
        if self.at_word("!"):
            negated = True
            self.i += 1
        start_tok = self.peek()
        commands = [self.parse_command()]
        while (t := self.peek()) is not None and t.kind == "op" and t.text == "|":
            self.i += 1
            commands.append(self.parse_command())
        end = self.toks[self.i - 1].end
        return Pipeline(commands, negated, start_tok.start if start_tok else 0, end)

    def parse_command(self) -> Any:
        t = self.peek()
        if t is None:
            raise Unsupported("missing command")
        if t.kind == "op":
            raise Unsupported(f"operator {t.text!r}")
        if t.kind == "word" and t.text == "if":
            return self.parse_if()
        if t.kind == "word" and t.text in RESERVED:
            raise Unsupported(f"{t.text!r}")
        words: list[str] = []
        redirs: list[tuple[str, str, str]] = []
        start = t.start
        end = t.end
        while (t := self.peek()) is not None and t.kind != "op":
            if t.kind == "redir":
                self.i += 1
                target = self.peek()
                if target is None or target.kind != "word":
                    raise Unsupported("redirection without target")
                redirs.append((t.fd, t.text, target.text))
                end = target.end
            else:
                words.append(t.text)
                end = t.end
            self.i += 1
        if not words and not redirs:
            raise Unsupported("empty command")
        return Simple(words, redirs, start, end)

    def parse_if(self) -> If:
        self.expect_word("if")
        branches = []
        cond = self.parse_list(("then",))
        self.expect_word("then")
        body = self.parse_list(("elif", "else", "fi"))
        branches.append((cond, body))
        otherwise = None
        while True:
            if self.at_word("elif"):
                self.i += 1
                cond = self.parse_list(("then",))
                self.expect_word("then")
                branches.append((cond, self.parse_list(("elif", "else", "fi"))))
            elif self.at_word("else"):
                self.i += 1
                otherwise = self.parse_list(("fi",))
            else:
                break
        self.expect_word("fi")
        return If(branches, otherwise)


class MiniShell:
    def __init__(self, table: OutputTable, facts: dict[str, Any], bad: Badness, vars: dict[str, str] | None = None, options: set[str] | None = None):
        self.table = table
        self.facts = facts
        self.bad = bad
        self.vars: dict[str, str] = dict(vars or {})
        self.options: set[str] = set(options or ())
        self.out: list[str] = []
        self.err: list[str] = []
        self.status = 0
        self.src = ""
        self.strict = False  # a check: unknown commands fail (127) instead of succeeding

    def run(self, script: str) -> RunResult:
        self.src = script
        self.strict = self.strict or bool(self.table.strict and self.table.strict.search(script))
        program = Parser(lex(script))
        items = program.parse_list()
        if program.peek() is not None:
            raise Unsupported(f"unexpected {program.peek().text!r}")  # type: ignore[union-attr]
        try:
            self.exec_list(items, cond=False)
            code = self.status
        except ExitScript as e:
            code = e.code
        return RunResult("".join(self.out), "".join(self.err), code)

    # -- control flow ---------------------------------------------------------------------
    def exec_list(self, items: list[AndOr], cond: bool) -> int:
        for item in items:
            self.exec_and_or(item, cond)
        return self.status

    def exec_and_or(self, item: AndOr, cond: bool) -> None:
        chain = [("", item.first)] + item.rest
        for index, (op, pipeline) in enumerate(chain):
            if op == "&&" and self.status != 0:
                continue
            if op == "||" and self.status == 0:
                continue
            last = index == len(chain) - 1
            self.status = self.exec_pipeline(pipeline, cond or not last or pipeline.negated)

    def exec_pipeline(self, pipeline: Pipeline, cond: bool) -> int:
        if len(pipeline.commands) == 1:
            status = self.exec_command(pipeline.commands[0], cond)
        else:
            status = self.exec_piped(pipeline)
        if pipeline.negated:
            return 0 if status else 1
        if status and not cond and "errexit" in self.options:
            raise ExitScript(status)
        return status

    def exec_command(self, command: Any, cond: bool) -> int:
        if isinstance(command, If):
            for condition, body in command.branches:
                if self.exec_list(condition, cond=True) == 0:
                    self.status = 0
                    return self.exec_list(body, cond)
            self.status = 0
            if command.otherwise is not None:
                return self.exec_list(command.otherwise, cond)
            return 0
        out, err, status = self.simple(command)
        self.emit(command, out, err)
        return status

    def exec_piped(self, pipeline: Pipeline) -> int:
        """a | filter | ...: the first command's stdout runs through grep/cat/head/tail."""
        first, filters = pipeline.commands[0], pipeline.commands[1:]
        if not isinstance(first, Simple) or not all(isinstance(f, Simple) for f in filters):
            raise Unsupported("if inside a pipeline")
        out, err, first_status = self.simple(first)
        routed = self.route(first, out, err, stdout="pipe")
        self.out.append(routed["out"])
        self.err.append(routed["err"])
        data = routed["pipe"]
        statuses = [first_status]
        for f in filters:
            data, status = self.filter(self.expand_words(f.words), data)
            statuses.append(status)
        self.emit(filters[-1], data, "")
        if "pipefail" in self.options:
            return next((s for s in reversed(statuses) if s), 0)
        return statuses[-1]

    def filter(self, argv: list[str], data: str) -> tuple[str, int]:
        name, args = argv[0], argv[1:]
        lines = data.splitlines(keepends=True)
        if name == "cat" and not [a for a in args if not a.startswith("-")]:
            return data, 0
        if name in ("head", "tail"):
            count = 10
            rest = list(args)
            while rest:
                a = rest.pop(0)
                if a == "-n" and rest:
                    count = int(rest.pop(0))
                elif re.fullmatch(r"-n?\d+", a):
                    count = int(a.lstrip("-n"))
                else:
                    raise Unsupported(f"{name} {a}")
            picked = lines[:count] if name == "head" else lines[-count:] if count else []
            return "".join(picked), 0
        if name in ("grep", "egrep", "fgrep"):
            flags, patterns, rest = set(), [], list(args)
            while rest:
                a = rest.pop(0)
                if a == "-e" and rest:
                    patterns.append(rest.pop(0))
                elif a.startswith("-") and len(a) > 1 and re.fullmatch(r"-[qsEFivxwc]+", a):
                    flags |= set(a[1:])
                elif a.startswith("-"):
                    raise Unsupported(f"grep {a}")
                elif not patterns:
                    patterns.append(a)
                else:
                    raise Unsupported("grep on files")
            if name == "fgrep":
                flags.add("F")
            regexes = []
            for pat in patterns:
                body = re.escape(pat) if "F" in flags else bre_to_python(pat, "E" in flags or name == "egrep")
                if "x" in flags:
                    body = f"(?:{body})\\Z"
                elif "w" in flags:
                    body = rf"\b(?:{body})\b"
                regexes.append(re.compile(body, re.I if "i" in flags else 0))
            hits = [ln for ln in lines if any(r.search(ln.rstrip("\n")) if "x" not in flags else r.match(ln.rstrip("\n")) for r in regexes) != ("v" in flags)]
            status = 0 if hits else 1
            if "q" in flags:
                return "", status
            if "c" in flags:
                return f"{len(hits)}\n", status
            return "".join(hits), status
        raise Unsupported(f"pipe into {name}")

    def route(self, command: Simple, out: str, err: str, stdout: str = "out") -> dict[str, str]:
        """Apply the command's redirections: text per destination (out, err, pipe, null)."""
        dest = {"1": stdout, "2": "err"}
        for fd, op, target in command.redirs:
            if op in ("<", "<<", "<<-", "<<<", "<&", "<>"):
                continue
            if fd == "&":
                dest["1"] = dest["2"] = "null"
            elif op == ">&":
                dest[fd or "1"] = dest.get(self.expand_one(target), "null")
            else:
                dest[fd or "1"] = "null"  # a file: invisible here
        routed = {"out": "", "err": "", "pipe": "", "null": ""}
        routed[dest["1"]] += out
        routed[dest["2"]] += err
        return routed

    def emit(self, command: Simple, out: str, err: str) -> None:
        routed = self.route(command, out, err)
        self.out.append(routed["out"])
        self.err.append(routed["err"])

    # -- simple commands --------------------------------------------------------------------
    def simple(self, command: Simple) -> tuple[str, str, int]:
        words = list(command.words)
        assignments = []
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            assignments.append(words.pop(0))
        if not words:
            self.last_subst_status = 0
            for a in assignments:
                name, value = a.split("=", 1)
                self.vars[name] = self.expand_one(value)
            return "", "", self.last_subst_status
        argv = self.expand_words(words)
        if not argv:
            return "", "", 0
        name, args = argv[0], argv[1:]
        if name == "echo":
            return self.echo(args), "", 0
        if name == "printf":
            return self.printf(args), "", 0
        if name in ("test", "["):
            if name == "[":
                if not args or args[-1] != "]":
                    return "", "[: missing `]'\n", 2
                args = args[:-1]
            return self.test(args)
        if name in ("true", ":", "cd", "trap", "shopt", "umask", "wait", "hash"):
            return "", "", 0
        if name == "false":
            return "", "", 1
        if name == "exit":
            raise ExitScript(int(args[0]) if args and args[0].lstrip("-").isdigit() else self.status)
        if name == "set":
            self.set_options(args)
            return "", "", 0
        if name in ("export", "local", "readonly", "declare", "typeset"):
            for a in args:
                if "=" in a and not a.startswith("-"):
                    k, v = a.split("=", 1)
                    self.vars[k] = v
            return "", "", 0
        if name in ("source", ".", "eval", "exec", "return", "shift", "read", "let", "unset", "getopts"):
            raise Unsupported(f"builtin {name}")
        return self.leaf(command, argv)

    def leaf(self, command: Simple, argv: list[str]) -> tuple[str, str, int]:
        """An external command: the table answers, from the command as written."""
        expanded = " ".join(shlex.quote(a) for a in argv)
        remember_from_script(expanded, self.facts)
        pieces = self.table.pieces(expanded, self.facts, self.bad, merge_2to1=False)
        if pieces:
            result = OutputTable.join(pieces)
            return result.stdout, result.stderr, result.exit_code
        name = argv[0].rsplit("/", 1)[-1]
        if name in QUERIES or (name == "command" and "-v" in argv[1:]):
            return "", "", 1  # a question about the image the table cannot answer: "no"
        if self.strict:
            return "", f"amibake-emulator: {expanded}: not in the outputs table\n", 127
        return "", "", 0

    def set_options(self, args: list[str]) -> None:
        i = 0
        while i < len(args):
            a = args[i]
            on = a.startswith("-")
            if a in ("-o", "+o") and i + 1 < len(args):
                opt = args[i + 1]
                i += 1
                (self.options.add if on else self.options.discard)(opt)
            elif re.fullmatch(r"[-+][a-zA-Z]+", a):
                for flag in a[1:]:
                    opt = {"e": "errexit", "u": "nounset", "x": "xtrace"}.get(flag)
                    if opt:
                        (self.options.add if on else self.options.discard)(opt)
            i += 1

    def echo(self, args: list[str]) -> str:
        newline, escapes = True, False
        while args and re.fullmatch(r"-[neE]+", args[0]):
            newline &= "n" not in args[0]
            escapes = "e" in args[0] or (escapes and "E" not in args[0])
            args = args[1:]
        text = " ".join(args)
        if escapes:
            text = text.encode().decode("unicode_escape")
        return text + ("\n" if newline else "")

    def printf(self, args: list[str]) -> str:
        if not args:
            return ""
        fmt, values = args[0], args[1:]
        fmt = fmt.replace("\\n", "\n").replace("\\t", "\t")
        conversions = len(re.findall(r"%[sdq]", fmt))
        out = []
        while True:
            chunk, used = [], 0

            def conv(m: re.Match[str]) -> str:
                nonlocal used
                if m.group(0) == "%%":
                    return "%"
                v = values[used] if used < len(values) else ""
                used += 1
                return str(int(v or 0)) if m.group(0) == "%d" else v

            chunk.append(re.sub(r"%%|%[sdq]", conv, fmt))
            out += chunk
            values = values[used:]
            if not values or not conversions:
                break
        return "".join(out)

    def test(self, args: list[str]) -> tuple[str, str, int]:
        negate = False
        if args and args[0] == "!":
            negate, args = True, args[1:]

        def result(ok: bool) -> tuple[str, str, int]:
            return "", "", 0 if ok != negate else 1

        if len(args) == 0:
            return result(False)
        if len(args) == 1:
            return result(args[0] != "")
        if len(args) == 2:
            op, a = args
            if op == "-z":
                return result(a == "")
            if op == "-n":
                return result(a != "")
            if op in ("-e", "-f", "-d", "-x", "-r", "-w", "-s", "-L", "-h", "-S", "-p", "-b", "-c"):
                return result(False)  # the image's files are unknown: "no"
            raise Unsupported(f"test {op}")
        if len(args) == 3:
            a, op, b = args
            if op in ("=", "=="):
                return result(a == b)
            if op == "!=":
                return result(a != b)
            if op in ("-eq", "-ne", "-gt", "-ge", "-lt", "-le"):
                try:
                    x, y = int(a), int(b)
                except ValueError:
                    bad_value = a if not re.fullmatch(r"\s*-?\d+\s*", a) else b
                    return "", f"[: {bad_value}: integer expression expected\n", 2
                ok = {"-eq": x == y, "-ne": x != y, "-gt": x > y, "-ge": x >= y, "-lt": x < y, "-le": x <= y}[op]
                return result(ok)
        raise Unsupported("test with -a/-o or many arguments")

    # -- expansion ----------------------------------------------------------------------------
    def expand_one(self, word: str) -> str:
        return "".join(text for text, _ in self.expand_parts(word))

    def expand_words(self, words: list[str]) -> list[str]:
        argv: list[str] = []
        for word in words:
            fields: list[str] = []
            current: str | None = None
            for text, splittable in self.expand_parts(word):
                if not splittable:
                    current = (current or "") + text
                    continue
                parts = re.split(r"[ \t\n]+", text)
                for k, part in enumerate(parts):
                    if k > 0:
                        if current is not None and current != "":
                            fields.append(current)
                        current = None
                    if part:
                        current = (current or "") + part
            if current is not None:
                fields.append(current)
            argv.extend(fields)
        return argv

    def expand_parts(self, word: str) -> list[tuple[str, bool]]:
        """(text, subject to field splitting) pieces of one word."""
        parts: list[tuple[str, bool]] = []
        i, n = 0, len(word)
        while i < n:
            c = word[i]
            if c == "'":
                j = word.index("'", i + 1)
                parts.append((word[i + 1 : j], False))
                i = j + 1
            elif c == '"':
                j = skip_double_quoted(word, i + 1)
                parts.append((self.expand_double(word[i + 1 : j - 1]), False))
                i = j
            elif c == "\\":
                parts.append((word[i + 1 : i + 2], False))
                i += 2
            elif c == "$":
                text, i = self.dollar(word, i)
                parts.append((text, True))
            else:
                j = i
                while j < n and word[j] not in "'\"\\$":
                    j += 1
                parts.append((word[i:j], False))
                i = j
        return parts

    def expand_double(self, body: str) -> str:
        out, i = [], 0
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body) and body[i + 1] in '$`"\\\n':
                out.append(body[i + 1])
                i += 2
            elif c == "$":
                text, i = self.dollar(body, i)
                out.append(text)
            else:
                out.append(c)
                i += 1
        return "".join(out)

    def dollar(self, s: str, i: int) -> tuple[str, int]:
        """Expand the $-expression at s[i]; return (text, index after it)."""
        if s.startswith("$(", i):
            j = skip_parens(s, i + 2)
            return self.substitute(s[i + 2 : j - 1]), j
        if s.startswith("${", i):
            j = s.index("}", i)
            inner = s[i + 2 : j]
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=])(.*))?", inner, re.S)
            if not m:
                raise Unsupported(f"${{{inner}}}")
            name, op, default = m.groups()
            value = self.vars.get(name)
            if op is not None:
                if value is None or (op.startswith(":") and value == ""):
                    value = self.expand_double(default)
                return value, j + 1
            return self.var(name), j + 1
        m = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*|[?$#@*0-9!-])").match(s, i)
        if not m:
            return "$", i + 1
        name = m.group(1)
        if name == "?":
            return str(self.status), m.end()
        if name == "$":
            return "4242", m.end()
        if name in ("@", "*", "#") or name.isdigit():
            return ("0" if name == "#" else ""), m.end()
        return self.var(name), m.end()

    def var(self, name: str) -> str:
        if name in self.vars:
            return self.vars[name]
        if name in ("HOME", "PATH", "USER", "HOSTNAME", "PWD"):
            return {"HOME": "/root", "USER": "root", "PWD": "/usr/bin", "HOSTNAME": "ip-10-0-0-1"}.get(name, "/usr/local/bin:/usr/bin:/bin")
        if "nounset" in self.options:
            self.err.append(f"bash: {name}: unbound variable\n")
            raise ExitScript(1)
        return ""

    def substitute(self, inner: str) -> str:
        child = MiniShell(self.table, self.facts, self.bad, self.vars, self.options - {"errexit"})
        child.strict = self.strict
        result = child.run(inner)
        self.err.append(result.stderr)
        self.last_subst_status = result.exit_code
        self.status = result.exit_code
        return result.stdout.rstrip("\n")

    last_subst_status = 0


def bre_to_python(pattern: str, extended: bool) -> str:
    if extended:
        return pattern
    # basic regex: \( \) \{ \} \| \+ \? are the operators; bare ones are literal
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(nxt if nxt in "(){}|+?" else "\\" + nxt)
            i += 2
            continue
        out.append("\\" + c if c in "(){}|+?" else c)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------
# The emulator's own state: knobs, remembered facts, scheduled transitions, invocations.
# Every AWS request runs under WORLD.lock, after WORLD.tick() applied what is due.
# ---------------------------------------------------------------------------------------


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


class World:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.knobs = Knobs()
        self.table: OutputTable | None = None
        self.reset()

    def reset(self) -> None:
        # ("instance"|"image", account, region, id) -> facts
        self.facts: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.timeline: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0
        self.invocations: dict[str, list[Invocation]] = {}  # command id -> invocations
        self.tokens: dict[tuple[str, str, str, str], Any] = {}  # idempotency

    def at(self, when: float, fn: Callable[[], None]) -> None:
        self.seq += 1
        self.timeline.append((when, self.seq, fn))
        self.timeline.sort(key=lambda t: (t[0], t[1]))

    def tick(self) -> None:
        now = time.time()
        while self.timeline and self.timeline[0][0] <= now:
            _, _, fn = self.timeline.pop(0)
            fn()

    def instance_facts(self, account: str, region: str, instance_id: str) -> dict[str, Any]:
        return self.facts.setdefault(("instance", account, region, instance_id), {})

    def image_facts(self, account: str, region: str, image_id: str) -> dict[str, Any]:
        return self.facts.setdefault(("image", account, region, image_id), {})


WORLD = World()
REALOS = RealOS(None, Path("/nonexistent"))  # replaced in main() with --realos-rootfs/--realos-work


def log(msg: str) -> None:
    print(f"amibake-emulator: {msg}", file=sys.stderr, flush=True)


def utcnow() -> dt.datetime:
    from moto.core.utils import utcnow as moto_utcnow

    return moto_utcnow()


# ---------------------------------------------------------------------------------------
# EC2 patches.
# ---------------------------------------------------------------------------------------

AMI_NAME = re.compile(r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}$")


def os_of_image(ami: Any) -> tuple[str, str]:
    text = f"{getattr(ami, 'name', '') or ''} {getattr(ami, 'description', '') or ''}".lower()
    if "ubuntu" in text:
        m = re.search(r"(\d\d\.\d\d)", text)
        return "Ubuntu", m.group(1) if m else "24.04"
    if "al2023" in text or "2023" in text:
        return "Amazon Linux", "2023"
    if "amzn2" in text or "amazon linux 2" in text:
        return "Amazon Linux", "2"
    return "Amazon Linux", "2023"


def ubuntu_ami_id(region: str) -> str:
    return "ami-0" + hashlib.sha256(f"ubuntu-24.04-{region}".encode()).hexdigest()[:16]


def patch_ec2(seed_profiles: list[str]) -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models import EC2Backend, ec2_backends
    from moto.ec2.models.amis import Ami
    from moto.ec2.responses import EC2Response

    # -- seed an Ubuntu 24.04 AMI in every region (moto ships only 2017-era Ubuntu AMIs) --
    orig_load_amis = EC2Backend._load_amis

    def _load_amis(self: Any) -> None:
        orig_load_amis(self)
        ami_id = ubuntu_ami_id(self.region_name)
        self.amis[ami_id] = Ami(
            self,
            ami_id,
            name="ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250115",
            description="Canonical, Ubuntu, 24.04, amd64 noble image",
            owner_id=CANONICAL_OWNER,
            public=True,
            virtualization_type="hvm",
            architecture="x86_64",
            state="available",
            creation_date=dt.datetime(2025, 1, 15, 12, 0, 0),
            hypervisor="xen",
            root_device_type="ebs",
            root_device_name="/dev/sda1",
            region_name=self.region_name,
            boot_mode="uefi-preferred",
        )

    EC2Backend._load_amis = _load_amis

    def ec2_error(code: str, message: str) -> Exception:
        return EC2ClientError(code, message)

    def set_state(instance: Any, name: str, code: int) -> None:
        instance._state.name = name
        instance._state.code = code

    def became_running(backend: Any, instance: Any, when: float) -> None:
        f = WORLD.instance_facts(backend.account_id, backend.region_name, instance.id)
        f["running_since"] = when

    def schedule_running(backend: Any, instance: Any) -> None:
        delay = WORLD.knobs.get(backend.region_name, "instance_pending_seconds")
        now = time.time()
        if delay <= 0:
            became_running(backend, instance, now)
            return
        set_state(instance, "pending", 0)

        def done() -> None:
            if instance._state.name == "pending":
                set_state(instance, "running", 16)
                became_running(backend, instance, now + delay)

        WORLD.at(now + delay, done)

    # -- RunInstances: facts from the AMI, pending delay, unavailable AMIs -----------------
    orig_run_instances = EC2Backend.run_instances

    def run_instances(self: Any, image_id: str, count: int, user_data: Any, sgs: Any, **kw: Any) -> Any:
        if image_id and image_id in self.amis and self.amis[image_id].state != "available":
            raise ec2_error(
                "InvalidAMIID.Unavailable",
                f"The image id '[{image_id}]' is not available (state: {self.amis[image_id].state})",
            )
        reservation = orig_run_instances(self, image_id, count, user_data, sgs, **kw)
        for instance in reservation.instances:
            image_id_used = instance.image_id
            f = WORLD.instance_facts(self.account_id, self.region_name, instance.id)
            f.update(copy.deepcopy(WORLD.image_facts(self.account_id, self.region_name, image_id_used)))
            if "platform" not in f:
                ami = self.amis.get(image_id_used)
                f["platform"] = list(os_of_image(ami)) if ami else ["Amazon Linux", "2023"]
            f.pop("running_since", None)
            f.pop("last_reboot", None)
            flavour = WORLD.knobs.get(self.region_name, "real_os")
            if flavour or REALOS.is_real_image(self.account_id, self.region_name, image_id_used):
                REALOS.launch(self.account_id, self.region_name, instance, image_id_used, flavour or "debian")
            else:
                schedule_running(self, instance)
        return reservation

    EC2Backend.run_instances = run_instances

    orig_start = EC2Backend.start_instances

    def start_instances(self: Any, instance_ids: list[str]) -> Any:
        was = {i.id: i.state for i in self.get_multi_instances_by_id(instance_ids)}
        result = orig_start(self, instance_ids)
        for instance, _prev in result:
            if REALOS.start(self.account_id, self.region_name, instance.id):
                continue
            if was.get(instance.id) != "running":
                schedule_running(self, instance)
        return result

    EC2Backend.start_instances = start_instances

    orig_stop = EC2Backend.stop_instances

    def stop_instances(self: Any, instance_ids: list[str]) -> Any:
        result = orig_stop(self, instance_ids)
        delay = WORLD.knobs.get(self.region_name, "instance_stopping_seconds")
        for instance, prev in result:
            WORLD.instance_facts(self.account_id, self.region_name, instance.id).pop("running_since", None)
            if REALOS.stop(self.account_id, self.region_name, instance.id):
                continue
            if delay > 0 and prev.name in ("running", "pending"):
                set_state(instance, "stopping", 64)

                def done(instance: Any = instance) -> None:
                    if instance._state.name == "stopping":
                        set_state(instance, "stopped", 80)

                WORLD.at(time.time() + delay, done)
        return result

    EC2Backend.stop_instances = stop_instances

    orig_terminate = EC2Backend.terminate_instances

    def terminate_instances(self: Any, instance_ids: list[str]) -> Any:
        result = orig_terminate(self, instance_ids)
        for instance, _prev in result:
            WORLD.instance_facts(self.account_id, self.region_name, instance.id).pop("running_since", None)
            REALOS.terminate(self.account_id, self.region_name, instance.id)
        return result

    EC2Backend.terminate_instances = terminate_instances

    def reboot_instances(self: Any, instance_ids: list[str]) -> Any:
        rebooted = []
        for instance in self.get_multi_instances_by_id(instance_ids):
            if instance.state == "running":
                f = WORLD.instance_facts(self.account_id, self.region_name, instance.id)
                f["last_reboot"] = time.time()
                REALOS.reboot(self.account_id, self.region_name, instance.id)
                rebooted.append(instance)
        return rebooted

    EC2Backend.reboot_instances = reboot_instances

    # -- RunInstances ClientToken idempotency (response level: needs the raw parameter) ---
    orig_run_response = EC2Response.run_instances

    def run_instances_response(self: Any) -> Any:
        token = self._get_param("ClientToken")
        if token:
            for reservation in self.ec2_backend.reservations.values():
                if any(i.client_token == token for i in reservation.instances):
                    from moto.core.responses import ActionResult

                    self.error_on_dryrun()
                    return ActionResult(reservation)
        return orig_run_response(self)

    EC2Response.run_instances = run_instances_response

    # -- CreateImage ------------------------------------------------------------------------
    def check_name(backend: Any, name: str | None) -> None:
        if not name or not AMI_NAME.match(name):
            raise ec2_error(
                "InvalidAMIName.Malformed",
                f"AMI names must be between 3 and 128 characters long, and may contain letters, "
                f"numbers, '(', ')', '.', '-', '/', '_', ' ', '[', ']', '@' and '''; got {name!r}",
            )
        for ami in backend.amis.values():
            if ami.name == name and ami.owner_id == backend.account_id:
                raise ec2_error("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {ami.id}")

    def split_tag_specs(specs: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
        image, snapshot = {}, {}
        for spec in specs or []:
            kind = spec.get("ResourceType")
            tags = {t["Key"]: t.get("Value", "") for t in spec.get("Tags", spec.get("Tag", []))}
            if kind == "image":
                image.update(tags)
            elif kind == "snapshot":
                snapshot.update(tags)
            else:
                raise ec2_error(
                    "InvalidParameterValue",
                    f"'{kind}' is not a valid taggable resource type for this operation.",
                )
        return image, snapshot

    def schedule_available(ami: Any, region: str, knob: str) -> None:
        delay = WORLD.knobs.get(region, knob)
        if delay > 0:
            ami.state = "pending"

            def done() -> None:
                if ami.state == "pending":
                    ami.state = "available"

            WORLD.at(time.time() + delay, done)

    def create_image_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        backend = self.ec2_backend
        name = self._get_param("Name")
        instance_id = self._get_param("InstanceId")
        image_tags, snapshot_tags = split_tag_specs(self._get_param("TagSpecifications", []))
        self.error_on_dryrun()
        check_name(backend, name)
        instance = backend.get_instance(instance_id)
        ami = backend.create_image(instance_id, name, self._get_param("Description", ""), tag_specifications=[])
        ami.add_tags(image_tags)
        ami.ebs_snapshot.add_tags(snapshot_tags)
        root = instance.block_device_mapping.get(instance.root_device_name) or next(
            iter(instance.block_device_mapping.values()), None
        )
        if root is not None and root.volume_id in backend.volumes:
            volume = backend.volumes[root.volume_id]
            ami.ebs_snapshot.encrypted = bool(volume.encrypted)
            ami.ebs_snapshot.kms_key_id = volume.kms_key_id
            ami.amibake_root_size = volume.size
        account, region = backend.account_id, backend.region_name
        image_f = WORLD.image_facts(account, region, ami.id)
        image_f.update(copy.deepcopy(WORLD.instance_facts(account, region, instance_id)))
        for transient in ("running_since", "last_reboot"):
            image_f.pop(transient, None)
        if REALOS.create_image(
            account, region, instance_id, ami.id, lambda ok: setattr(ami, "state", "available" if ok else "failed")
        ):
            ami.state = "pending"
        else:
            schedule_available(ami, region, "image_pending_seconds")
        return ActionResult({"ImageId": ami.id})

    EC2Response.create_image = create_image_response

    # -- CopyImage --------------------------------------------------------------------------
    def copy_image_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        backend = self.ec2_backend
        account, region = backend.account_id, backend.region_name
        source_id = self._get_param("SourceImageId")
        source_region = self._get_param("SourceRegion")
        token = self._get_param("ClientToken")
        image_tags, snapshot_tags = split_tag_specs(self._get_param("TagSpecifications", []))
        self.error_on_dryrun()
        if token and (account, region, "CopyImage", token) in WORLD.tokens:
            return ActionResult({"ImageId": WORLD.tokens[(account, region, "CopyImage", token)]})
        source_backend = ec2_backends[account][source_region]
        source = source_backend.describe_images(ami_ids=[source_id])[0]
        if source.state != "available":
            raise ec2_error("IncorrectState", f"Image {source_id} is in state {source.state}; it must be available")
        name = self._get_param("Name") or source.name
        check_name(backend, name)
        ami = backend.copy_image(source_id, source_region, name, self._get_param("Description"))
        if self._get_param("CopyImageTags"):
            ami.add_tags({t["key"]: t["value"] for t in source.get_tags()})
        ami.add_tags(image_tags)
        ami.ebs_snapshot.add_tags(snapshot_tags)
        ami.ebs_snapshot.encrypted = bool(self._get_param("Encrypted")) or source.ebs_snapshot.encrypted
        ami.ebs_snapshot.kms_key_id = self._get_param("KmsKeyId") or source.ebs_snapshot.kms_key_id
        ami.amibake_root_size = getattr(source, "amibake_root_size", 15)
        WORLD.image_facts(account, region, ami.id).update(
            copy.deepcopy(WORLD.image_facts(account, source_region, source_id))
        )
        if token:
            WORLD.tokens[(account, region, "CopyImage", token)] = ami.id
        REALOS.copy_image(account, source_region, source_id, region, ami.id)
        schedule_available(ami, region, "copy_pending_seconds")
        return ActionResult({"ImageId": ami.id})

    EC2Response.copy_image = copy_image_response

    orig_deregister = EC2Backend.deregister_image

    def deregister_image(self: Any, ami_id: str) -> None:
        orig_deregister(self, ami_id)
        REALOS.deregister(self.account_id, self.region_name, ami_id)

    EC2Backend.deregister_image = deregister_image

    # -- Image deprecation ------------------------------------------------------------------
    def enable_image_deprecation(self: Any) -> Any:
        from moto.core.responses import ActionResult

        image_id = self._get_param("ImageId")
        when = self._get_param("DeprecateAt")
        self.error_on_dryrun()
        ami = self.ec2_backend.describe_images(ami_ids=[image_id])[0]
        if isinstance(when, str):
            when = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        if isinstance(when, dt.datetime) and when.tzinfo is not None:
            when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
        ami.deprecation_time = when
        return ActionResult({"Return": True})

    def disable_image_deprecation(self: Any) -> Any:
        from moto.core.responses import ActionResult

        image_id = self._get_param("ImageId")
        self.error_on_dryrun()
        ami = self.ec2_backend.describe_images(ami_ids=[image_id])[0]
        ami.deprecation_time = None
        return ActionResult({"Return": True})

    EC2Response.enable_image_deprecation = enable_image_deprecation
    EC2Response.disable_image_deprecation = disable_image_deprecation

    # -- DescribeImages: the snapshot's Encrypted flag --------------------------------------
    def block_device_mappings(self: Any) -> list[dict[str, Any]]:
        return [
            {
                "DeviceName": self.root_device_name,
                "Ebs": {
                    "SnapshotId": self.ebs_snapshot.id,
                    "VolumeSize": getattr(self, "amibake_root_size", 15),
                    "DeleteOnTermination": True,
                    "VolumeType": "standard",
                    "Encrypted": bool(self.ebs_snapshot.encrypted),
                },
            }
        ]

    Ami.block_device_mappings = property(block_device_mappings)

    # -- IAM instance profiles RunInstances may name ----------------------------------------
    if seed_profiles:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.iam.models import iam_backends

        iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        )
        for name in seed_profiles:
            role = iam.create_role(
                role_name=name,
                assume_role_policy_document=trust,
                path="/",
                permissions_boundary=None,
                description="seeded by amibake-emulator",
                tags=[],
                max_session_duration=None,
            )
            iam.create_instance_profile(name=name, path="/", role_names=[role.name], tags=[])


# ---------------------------------------------------------------------------------------
# SSM patches.
# ---------------------------------------------------------------------------------------

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


def agent_view(account: str, region: str, instance: Any, now: float) -> tuple[str, float] | None:
    """(PingStatus, last ping epoch) of the instance's SSM agent, or None if unregistered."""
    if instance.state != "running":
        return None
    box = REALOS.box(account, region, instance.id)
    if box is not None:
        return box.agent(now)
    if WORLD.knobs.get(region, "require_instance_profile"):
        assoc = instance.ec2_backend.iam_instance_profile_associations.get(instance.id)
        if assoc is None:
            return None
    f = WORLD.instance_facts(account, region, instance.id)
    running_since = f.setdefault("running_since", instance.launch_time.replace(tzinfo=dt.timezone.utc).timestamp())
    registered = running_since + WORLD.knobs.get(region, "agent_online_seconds")
    if now < registered:
        return None
    last_reboot = f.get("last_reboot")
    if last_reboot is not None and last_reboot >= registered:
        if now < last_reboot + WORLD.knobs.get(region, "reboot_offline_seconds"):
            return "ConnectionLost", last_reboot
    return "Online", now


def epoch_to_dt(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).replace(tzinfo=None)


def patch_ssm() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.models import ec2_backends
    from moto.ssm.exceptions import SSMException
    from moto.ssm.models import Command, ParameterDict, Parameter, SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse as R

    # -- the Ubuntu 24.04 public parameter -------------------------------------------------
    orig_check = ParameterDict._check_loading_status

    def _check_loading_status(self: Any, key: str) -> None:
        orig_check(self, key)
        key = str(key or "")
        under = len(key) > 1 and UBUNTU_2404_PARAMETER.startswith(key.rstrip("/") + "/")
        if key.startswith("/aws/service/canonical") or under:
            if not getattr(self, "amibake_canonical_loaded", False):
                self.amibake_canonical_loaded = True
                super(ParameterDict, self).__getitem__(UBUNTU_2404_PARAMETER).append(
                    Parameter(
                        account_id=self.account_id,
                        name=UBUNTU_2404_PARAMETER,
                        value=ubuntu_ami_id(self.region_name),
                        parameter_type="String",
                        description=None,
                        allowed_pattern=None,
                        keyid=None,
                        last_modified_date=utcnow(),
                        version=1,
                        data_type="aws:ec2:image",
                    )
                )

    ParameterDict._check_loading_status = _check_loading_status

    def instances_of(account: str, region: str) -> list[Any]:
        return list(ec2_backends[account][region].all_instances())

    # -- DescribeInstanceInformation --------------------------------------------------------
    def describe_instance_information(self: Any) -> Any:
        account, region = self.current_account, self.region
        now = time.time()
        wanted: dict[str, set[str]] = {}
        for flt in self._get_param("InstanceInformationFilterList", []) or []:
            wanted.setdefault(flt.get("key"), set()).update(flt.get("valueSet", []))
        for flt in self._get_param("Filters", []) or []:
            wanted.setdefault(flt.get("Key"), set()).update(flt.get("Values", []))
        rows = []
        for instance in instances_of(account, region):
            view = agent_view(account, region, instance, now)
            if view is None:
                continue
            ping, last = view
            f = WORLD.instance_facts(account, region, instance.id)
            platform_name, platform_version = f.get("platform", ["Amazon Linux", "2023"])
            tags = {t["key"]: t["value"] for t in instance.get_tags()}
            fields = {
                "InstanceIds": instance.id,
                "PingStatus": ping,
                "PlatformTypes": "Linux",
                "AgentVersion": SSM_AGENT_VERSION,
                "ResourceType": "EC2Instance",
            }
            ok = True
            for key, values in wanted.items():
                if key in fields:
                    ok &= fields[key] in values
                elif key and key.startswith("tag:"):
                    ok &= tags.get(key[4:]) in values
                elif key == "tag-key":
                    ok &= bool(set(tags) & values)
            if not ok:
                continue
            rows.append(
                {
                    "InstanceId": instance.id,
                    "PingStatus": ping,
                    "LastPingDateTime": epoch_to_dt(last),
                    "AgentVersion": SSM_AGENT_VERSION,
                    "IsLatestVersion": True,
                    "PlatformType": "Linux",
                    "PlatformName": platform_name,
                    "PlatformVersion": platform_version,
                    "ResourceType": "EC2Instance",
                    "IPAddress": instance.private_ip,
                    "ComputerName": f"ip-{(instance.private_ip or '10.0.0.1').replace('.', '-')}.{region}.compute.internal",
                    "SourceId": instance.id,
                    "SourceType": "AWS::EC2::Instance",
                }
            )
        start = int(self._get_param("NextToken") or 0)
        size = int(self._get_param("MaxResults") or 50)
        page = rows[start : start + size]
        result: dict[str, Any] = {"InstanceInformationList": page}
        if start + size < len(rows):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    R.describe_instance_information = describe_instance_information

    def run_from_table(account: str, region: str, instance_id: str, document: str, text: str, knobs: dict[str, Any]) -> RunResult:
        """A canned instance's answer: the outputs table, the failure knob, and what the
        command installed remembered for later commands and images."""
        facts = WORLD.instance_facts(account, region, instance_id)
        working = copy.deepcopy(facts)  # the script sees what it installs as it goes
        table, badness = WORLD.table, Badness(knobs["bad_image"])
        assert table is not None
        if document == "AWS-RunShellScript":
            result = table.run(text, working, badness)
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
            view = agent_view(account, region, instance, now) if instance else None
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
                view = agent_view(account, region, instance, now)
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
        knobs = WORLD.knobs.effective(region)
        delay = knobs["command_in_progress_seconds"]
        plugin = PLUGIN_NAMES.get(document, document)
        invocations = []
        for instance_id in command.instance_ids:
            box = REALOS.box(account, region, instance_id)
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
        WORLD.invocations[command.command_id] = invocations
        return command

    SimpleSystemManagerBackend.send_command = send_command

    orig_response_object = Command.response_object

    def response_object(self: Any) -> dict[str, Any]:
        obj = orig_response_object(self)
        invs = WORLD.invocations.get(self.command_id)
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
        return WORLD.invocations.get(command_id, [])

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
            pool = [i for cid, invs in WORLD.invocations.items() if cid in known for i in invs]
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


# ---------------------------------------------------------------------------------------
# CloudFormation patches (what a roll needs).
# ---------------------------------------------------------------------------------------


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


def patch_cloudformation() -> None:
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

    # -- an updated ASG keeps its name (moto recreates it under a new generated name) -------
    from moto.autoscaling.models import FakeAutoScalingGroup

    orig_asg_update = FakeAutoScalingGroup.update_from_cloudformation_json.__func__

    def asg_update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> Any:
        if "AutoScalingGroupName" not in cloudformation_json.get("Properties", {}):
            new_resource_name = original_resource.name
        return orig_asg_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)

    FakeAutoScalingGroup.update_from_cloudformation_json = classmethod(asg_update)

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
        if change_set.change_set_type == "UPDATE" and WORLD.knobs.get(self.region_name, "fail_stack_update"):
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

    # -- DescribeInstanceRefreshes (moto: not implemented, HTTP 500): none ever runs -------
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    def describe_instance_refreshes(self: Any) -> Any:
        return ActionResult({"InstanceRefreshes": []})

    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes

    orig_update_stack = CloudFormationBackend.update_stack

    def update_stack(self: Any, name: str, template: str, role_arn: Any, parameters: Any, tags: Any) -> Any:
        if WORLD.knobs.get(self.region_name, "fail_stack_update"):
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


# ---------------------------------------------------------------------------------------
# Request accounting and EC2's request-rate buckets (what `just bench` measures).
# ---------------------------------------------------------------------------------------

# Each action's own bucket (size, refill per second): the "uncategorized" table of
# https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html
EC2_OWN_BUCKETS: dict[str, tuple[float, float]] = {
    "RunInstances": (5, 2),
    "StartInstances": (5, 2),
    "TerminateInstances": (100, 5),
    "CopyImage": (100, 1),
    "CreateTags": (100, 10),
    "DeleteTags": (100, 10),
    "DeregisterImage": (100, 5),
    "DeleteSnapshot": (100, 5),
    "ModifyImageAttribute": (100, 5),
    "ModifySnapshotAttribute": (100, 5),
}
EC2_RESOURCE_INTENSIVE = {
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "CreateKeyPair",
    "RequestSpotInstances",
    "CancelSpotInstanceRequests",
}
# Non-mutating calls that use the smaller bucket when they carry no filter and no
# pagination. A call by ids counts as unfiltered here (the stricter reading).
EC2_UNFILTERED_CANDIDATES = {
    "DescribeInstances",
    "DescribeInstanceStatus",
    "DescribeNetworkInterfaces",
    "DescribeSecurityGroups",
    "DescribeSnapshots",
    "DescribeSpotInstanceRequests",
    "DescribeVolumes",
}


def ec2_bucket(action: str, params: dict[str, list[str]]) -> tuple[str, float, float]:
    """The bucket an EC2 request draws from: (name, size, refill per second)."""
    if action in EC2_OWN_BUCKETS:
        return (action, *EC2_OWN_BUCKETS[action])
    if action in EC2_RESOURCE_INTENSIVE:
        return ("resource-intensive", 50, 5)
    if action.startswith(("Describe", "List", "Search", "Get")):
        if action in EC2_UNFILTERED_CANDIDATES and not any(
            k.startswith("Filter.") or k in ("MaxResults", "NextToken") for k in params
        ):
            return ("unfiltered-non-mutating", 50, 10)
        return ("non-mutating", 100, 20)
    return ("mutating", 50, 5)


class Traffic:
    """Every AWS request by region and action, and the EC2 token buckets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.since = time.time()
        self.calls: dict[str, dict[str, int]] = {}
        self.throttled: dict[str, dict[str, int]] = {}
        self.buckets: dict[tuple[str, str], list[float]] = {}  # -> [tokens, at]

    def admit(self, region: str, service: str, action: str, params: dict[str, list[str]]) -> bool:
        """Counts the request; False when EC2 would throttle it."""
        name = f"{service}:{action}"
        with self.lock:
            by_region = self.calls.setdefault(region, {})
            by_region[name] = by_region.get(name, 0) + 1
            if service != "ec2" or not WORLD.knobs.get(region, "throttle_ec2"):
                return True
            bucket, size, refill = ec2_bucket(action, params)
            now = time.monotonic()
            tokens, at = self.buckets.get((region, bucket), [size, now])
            tokens = min(size, tokens + (now - at) * refill)
            if tokens < 1:
                self.buckets[(region, bucket)] = [tokens, now]
                throttled = self.throttled.setdefault(region, {})
                throttled[name] = throttled.get(name, 0) + 1
                return False
            self.buckets[(region, bucket)] = [tokens - 1, now]
            return True

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "seconds": round(time.time() - self.since, 3),
                "calls": {r: dict(sorted(c.items())) for r, c in sorted(self.calls.items())},
                "throttled": {r: dict(sorted(c.items())) for r, c in sorted(self.throttled.items())},
            }


TRAFFIC = Traffic()
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


def classify(environ: dict[str, Any]) -> tuple[str, str, str, dict[str, list[str]]] | None:
    """(region, service, action, query parameters) of an AWS request, from its SigV4
    scope and its `Action` parameter or `X-Amz-Target` header. Leaves the body readable."""
    scope = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if scope is None:
        return None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    target = environ.get("HTTP_X_AMZ_TARGET")
    params: dict[str, list[str]] = {}
    if target:
        action = target.rsplit(".", 1)[-1]
    else:
        params = parse_qs(environ.get("QUERY_STRING", ""))
        if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            params.update(parse_qs(body.decode("utf-8", "replace")))
        action = params.get("Action", ["?"])[-1]
    return scope["region"], scope["service"], action, params


def throttled_response(service: str, start_response: Any) -> list[bytes]:
    if service == "ec2":
        data = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            b"<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
            b"</Error></Errors><RequestID>amibake-emulator</RequestID></Response>"
        )
        start_response("503 Service Unavailable", [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))])
        return [data]
    data = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
    start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))])
    return [data]


# ---------------------------------------------------------------------------------------
# The HTTP side: control endpoint in front of moto's WSGI app.
# ---------------------------------------------------------------------------------------


def instance_facts_json() -> dict[str, Any]:
    out: dict[str, Any] = {"instances": {}, "images": {}}
    for (kind, account, region, rid), f in WORLD.facts.items():
        out["instances" if kind == "instance" else "images"][f"{account}/{region}/{rid}"] = f
    return out


def make_app(moto_app: Any) -> Callable[..., Any]:
    from moto import __version__ as moto_version

    def respond(start_response: Any, status: str, body: Any) -> list[bytes]:
        data = json.dumps(body, indent=1, sort_keys=True, default=str).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def control(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        with WORLD.lock:
            WORLD.tick()
            if path == "/_amibake/health":
                return respond(
                    start_response,
                    "200 OK",
                    {"ok": True, "moto": moto_version, "outputs": str(WORLD.table.path), "outputs_keys": WORLD.table.keys()},  # type: ignore[union-attr]
                )
            if path == "/_amibake/stats" and method == "GET":
                return respond(start_response, "200 OK", TRAFFIC.snapshot())
            if path == "/_amibake/stats/reset" and method == "POST":
                TRAFFIC.reset()
                return respond(start_response, "200 OK", TRAFFIC.snapshot())
            if path == "/_amibake/facts" and method == "GET":
                return respond(start_response, "200 OK", instance_facts_json())
            if path == "/_amibake/realos" and method == "GET":
                return respond(start_response, "200 OK", REALOS.report())
            if path == "/_amibake/config" and method == "GET":
                if "region" in query:
                    return respond(start_response, "200 OK", {"region": query["region"], **WORLD.knobs.effective(query["region"])})
                return respond(start_response, "200 OK", WORLD.knobs.snapshot())
            if path == "/_amibake/config" and method == "POST":
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                    body = json.loads(environ["wsgi.input"].read(length) or b"{}")
                    if not isinstance(body, dict):
                        raise ValueError("body must be a JSON object")
                    result = WORLD.knobs.update(body)
                except (ValueError, re.error) as e:
                    return respond(start_response, "400 Bad Request", {"error": str(e)})
                log(f"config {json.dumps(body, sort_keys=True)}")
                return respond(start_response, "200 OK", result)
        return respond(start_response, "404 Not Found", {"error": f"no such endpoint: {method} {path}"})

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_amibake/"):
            return control(environ, start_response)
        request = classify(environ)
        if request is not None and not TRAFFIC.admit(*request):
            return throttled_response(request[1], start_response)
        with WORLD.lock:
            WORLD.tick()
            if path == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
                WORLD.reset()
            return list(moto_app(environ, start_response))

    return app


def serve(host: str, port: int, port_file: Path | None, quiet: bool) -> None:
    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    class Handler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            if not quiet:
                super().log_request(*args, **kwargs)

    moto_app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, port, make_app(moto_app), threaded=True, request_handler=Handler)
    bound = server.server_address[1]
    if port_file is not None:
        tmp = port_file.with_name(port_file.name + ".tmp")
        tmp.write_text(f"{bound}\n")
        tmp.replace(port_file)
    log(f"listening on http://{host}:{bound} (pid {os.getpid()}, outputs table {WORLD.table.path})")  # type: ignore[union-attr]

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    while not stop.wait(0.5):
        pass
    log("stopping")
    server.shutdown()
    server.server_close()
    REALOS.shutdown()
    if port_file is not None:
        try:
            port_file.unlink()
        except FileNotFoundError:
            pass
    log("stopped")
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown of moto's many modules (~1 s)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    p.add_argument("--port-file", type=Path, help="write the bound port here")
    p.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS, help="command outputs table")
    p.add_argument(
        "--seed-instance-profile",
        action="append",
        dest="profiles",
        help="IAM instance profile to create at start (repeatable; default amibake-builder)",
    )
    p.add_argument("--config", help="initial knobs for all regions, as JSON (same keys as POST /_amibake/config)")
    p.add_argument("--quiet", action="store_true", help="do not log every request")
    p.add_argument("--realos-rootfs", type=Path, help="root filesystems for real_os (scripts/realos-rootfs.sh)")
    p.add_argument("--realos-work", type=Path, help="where real-OS instances and images live (removed at exit; consoles kept until the next start)")
    args = p.parse_args(argv)
    global REALOS
    REALOS = RealOS(args.realos_rootfs, args.realos_work or Path(f"/tmp/amibake-realos-{os.getpid()}"))

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    WORLD.table = OutputTable(args.outputs)
    if args.config:
        WORLD.knobs.update({**json.loads(args.config), "region": "*"})
        WORLD.knobs.initial = dict(WORLD.knobs.defaults)
    patch_ec2(args.profiles if args.profiles is not None else ["amibake-builder"])
    patch_ssm()
    patch_cloudformation()
    serve(args.host, args.port, args.port_file, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
