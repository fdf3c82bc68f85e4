"""The outputs table (emulator/outputs.yaml): what a canned instance answers.

Without `real_os` no instance boots and no script runs, yet amibake's steps and checks
must see realistic output: `rpm -q codedeploy-agent`, `systemctl show` timestamps, ...
The table maps command lines (regexes) to stdout/stderr/exit code, in a `good` and a `bad`
variant (the `bad_image` knob picks), and answers `systemctl show|is-active|is-enabled`
from per-unit properties. `pieces()` finds every command of a text the table knows;
`run_flat()` answers a script without shell semantics (every match prints, plus marker
echo lines), the fallback for what the tiny shell (`minishell`) cannot parse.

`remember_from_script()` records what a successful script installed (the CodeDeploy
agent's version, systemd drop-ins, packages) in the instance's facts, so that a later
command, an image made from the instance and instances launched from that image answer
with what was really installed. Format and examples: emulator/README.md,
"Command outputs".
"""

from __future__ import annotations

import re
import shlex
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CODEDEPLOY_INSTALL = re.compile(
    r"releases/codedeploy-agent(?:-(?P<rpm>[0-9][\w.+~-]*?)\.noarch\.rpm"
    r"|_(?P<deb>[0-9][\w.+~-]*?)_all\.deb)"
)
# The 2.x step's first marker names its pin; the agent reports it without the bucket's build.
CODEDEPLOY_V2 = re.compile(r"::amibake:: codedeploy-agent (?P<pin>[0-9][\w.+~]*)(?:-\d+)?: the 2\.x line")
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

    # -- matching a script against the table ----------------------------------------------
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
    for m in CODEDEPLOY_V2.finditer(script):
        facts["codedeploy_agent_version"] = m.group("pin")
    for m in PACKAGE_INSTALL.finditer(script):
        names = [a.strip("'\"") for a in m.group("args").split() if not a.startswith("-")]
        packages = facts.setdefault("packages", [])
        packages += [n for n in names if n and n not in packages and re.fullmatch(r"[\w.+:@-]+", n)]
    for m in DROPIN_WRITE.finditer(script):
        paths = facts.setdefault("dropins", {}).setdefault(m.group("unit"), [])
        path = m.group(0)
        if path not in paths:
            paths.append(path)


# The update probe's script (src/script/probe.rs) says what it is in its header line; no
# package manager runs here, so the `pending_updates` knob answers it instead.
PROBE_HEADER = "# amibake step: probe: pending updates"
PENDING_FIELDS = ("package", "installed", "candidate", "security")


def check_pending_updates(value: Any) -> list[dict[str, Any]]:
    """The `pending_updates` knob: a list of {package, installed, candidate, security}; a
    value holding a tab or a line break is refused (it would be structure in the output)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("pending_updates must be a list of {package, installed, candidate, security}")
    for u in value:
        if not isinstance(u, dict) or set(u) != set(PENDING_FIELDS) or not isinstance(u["security"], bool):
            raise ValueError(f"pending_updates: each entry is {{package, installed, candidate, security: bool}}, got {u!r}")
        if any(not isinstance(u[k], str) or not u[k] or re.search(r"[\t\r\n]", u[k]) for k in PENDING_FIELDS[:3]):
            raise ValueError(f"pending_updates: package, installed and candidate are non-empty one-line strings without tabs: {u!r}")
    return value


def probe_answer(pending: list[dict[str, Any]]) -> RunResult:
    """What the update probe prints on an instance where `pending` is pending."""
    ordered = sorted(pending, key=lambda u: not u["security"])
    lines = [f"amibake-probe\tcounts\t{len(pending)}\t{sum(u['security'] for u in pending)}"]
    lines += [
        f"amibake-update\t{u['package']}\t{u['installed']}\t{u['candidate']}\t{'security' if u['security'] else 'other'}"
        for u in ordered
    ]
    lines.append("amibake-probe\tend")
    return RunResult("".join(line + "\n" for line in lines), "", 0, "probe (pending_updates)")
