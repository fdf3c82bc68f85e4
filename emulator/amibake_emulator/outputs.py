"""The outputs table (emulator/outputs.yaml): what a canned instance answers.

Without `real_os` no instance boots and no script runs, yet amibake's steps and checks
must see realistic output: `rpm -q codedeploy-agent`, `systemctl show` timestamps, ...
The table holds what the world and the base image answer (cloud-init, the boot, the
regional bucket, per-unit timestamps) and, per entry, a `bad` variant the `bad_image`
knob picks (an image defect). What the bake's own steps installed, wrote or enabled is
not in the table: the instance's state answers it (instance_state.py; a table answer may
name it, as ${codedeploy_agent_version}, never default it). `pieces()` finds every
command of a text the table knows, and answers the systemctl queries from the unit's
state and properties; `run_flat()` answers a check without shell semantics (every match
prints, plus marker echo lines), the fallback for what the tiny shell (`minishell`)
cannot parse. Format and examples: emulator/README.md, "Command outputs".
"""

from __future__ import annotations

import re
import shlex
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .instance_state import Base, State, unit_name

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
        self.base = Base.parse(raw.get("base_image"), raw.get("repository"))
        self.commands = []
        self.requires: dict[str, str] = {}
        self.bad_only: set[str] = set()
        for entry in raw.get("commands", []):
            good = Variant.parse(entry.get("good"))
            bad = Variant.parse(entry["bad"]) if "bad" in entry else good
            self.commands.append((entry["key"], re.compile(entry["match"], re.M), good, bad))
            if entry.get("requires_package"):
                self.requires[entry["key"]] = entry["requires_package"]
            if entry.get("bad_only"):
                self.bad_only.add(entry["key"])
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
        """What a table answer may name: only what this instance's state holds."""
        state = State(facts, self.base)
        return {
            "codedeploy_agent_version": state.agent_version() or "",
            "dropin_paths": " ".join(state.dropins(unit)) if unit else "",
        }

    # -- matching a script against the table ----------------------------------------------
    def pieces(self, text: str, facts: dict[str, Any], bad: "Badness", merge_2to1: bool) -> list[Piece]:
        """The table's answers for every command the text contains, in text order."""
        pieces: list[Piece] = []
        taken: list[tuple[int, int]] = []

        def free(a: int, b: int) -> bool:
            return all(b <= s or a >= e for s, e in taken)

        for key, regex, good, badv in self.commands:
            if key in self.requires and self.requires[key] not in facts.get("packages", {}):
                continue  # not installed on this instance: as if the table did not know it
            if key in self.bad_only and not bad(key):
                continue  # the good answer is the instance state's (instance_commands)
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
                piece = self._systemctl(m.start(), m.group("args"), facts, bad)
                if piece is not None:  # enable, start, ...: instance_commands changes the state
                    taken.append((m.start(), m.end()))
                    pieces.append(piece)
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

    def _systemctl(self, start: int, args: str, facts: dict[str, Any], bad: "Badness") -> Piece | None:
        """The queries (show, is-active, is-enabled, cat, list-jobs, is-system-running),
        answered from the unit's state and the table's per-unit properties."""
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
                units.append(unit_name(t))
            i += 1
        state = State(facts, self.base)
        if verb == "show":
            blocks = []
            for unit in units:
                names = props or list({**self.units.get("*", {}), **self.units.get(unit, {}), **dict.fromkeys(STATE_PROPERTIES)})
                lines = []
                for name in names:
                    value = self._property(state, unit, name, bad)
                    lines.append(value if value_only else f"{name}={value}")
                blocks.append("\n".join(lines))
            return Piece(start, "\n\n".join(b for b in blocks if b), "", 0)
        if verb in ("is-active", "is-enabled"):
            name, ok = ("ActiveState", "active") if verb == "is-active" else ("UnitFileState", "enabled")
            states = [self._property(state, u, name, bad) for u in units]
            missing = [u for u, s in zip(units, states, strict=True) if not s]
            err = "".join(f"Failed to get unit file state for {u}: No such file or directory\n" for u in missing)
            code = 0 if states and all(s in (ok, "static") for s in states) else (3 if verb == "is-active" else 1)
            shown = [s for s in states if s]
            return Piece(start, "" if quiet else "\n".join(shown), "" if verb == "is-active" else err, code)
        if verb == "cat":
            missing = [u for u in units if not state.unit_exists(u)]
            if missing:
                return Piece(start, "", f"No files found for {missing[0]}.", 1)
            return Piece(start, "\n".join(f"# /usr/lib/systemd/system/{u}" for u in units), "", 0)
        if verb == "list-jobs":
            return Piece(start, "" if "--no-legend" in tokens else "No jobs running.", "", 0)
        if verb == "is-system-running":
            return Piece(start, "running", "", 0)
        return None

    def _property(self, state: State, unit: str, name: str, bad: "Badness") -> str:
        """A unit's property: the table's bad variant when the knob picks it; else what
        the state says (existence, enablement, drop-ins, ordering), then the table's."""
        table = self.units.get(unit, {}).get(name) or self.units.get("*", {}).get(name)
        variables = self.variables(state.facts, unit)
        if table is not None and bad(f"systemd:{unit}", f"systemd:{unit}:{name}"):
            return string.Template(table[1]).safe_substitute(variables)
        exists, active = state.unit_exists(unit), state.active(unit)
        derived = {
            "LoadState": "loaded" if exists else "not-found",
            "UnitFileState": state.unit_file_state(unit),
            "ActiveState": "active" if active else "inactive",
            "DropInPaths": variables["dropin_paths"],
        }
        if name in derived:
            return derived[name]
        if name == "SubState" and not active:
            return "dead"
        if name.endswith("TimestampMonotonic") and not active:
            return "0"
        if table is None:
            return ""
        good, badv = table
        after = self.units.get(unit, {}).get("After", ("", ""))[0]
        if (name == "After" or name.endswith("TimestampMonotonic")) and "cloud-final.service" in after:
            # ordered after cloud-final only when a drop-in (or its unit file) says so
            if not state.ordered_after(unit, "cloud-final.service"):
                return string.Template(badv).safe_substitute(variables)
        return string.Template(good).safe_substitute(variables)


STATE_PROPERTIES = ("LoadState", "ActiveState", "UnitFileState", "DropInPaths")


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
