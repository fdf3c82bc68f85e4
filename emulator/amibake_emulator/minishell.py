"""A tiny shell, so that scripts with logic are judged on honest answers:

    final=$(systemctl show -p ExecMainExitTimestampMonotonic --value cloud-final.service)
    if [ "$agent" -gt "$final" ]; then echo ordered; else echo NOT-ordered; exit 1; fi

Part of the canned backend (no `real_os`, where nothing runs): `run_script()` is how an
AWS-RunShellScript command is answered. Supported: assignments, $var ${var} ${var:-x} $?
"$@" $(...), '...' "..." \\x, ; && || ! |, if/elif/else/fi, functions, redirections (>,
>>, 2>, &>, 2>&1, >&2, <, heredocs, <<<; into a file: written in the instance's state),
set -e/-u/-o pipefail, builtins echo printf test [ (file tests ask the state) true false
: exit set export local readonly cd trap, and pipes into grep/cat/head/tail/sed/tr/tee.
Every other command is a leaf: the table answers what it knows (OutputTable.pieces), else
the instance's state (instance_commands.run, which also changes it); a leaf neither knows
answers "no" (1) to a query about the image (grep, command -v, which, type, stat, find),
exits 127 in a check (`strict_when`), and in a step ends the script with exit 127
(`unrecognised command`) unless the allow_unknown_commands knob is set. Anything else
(loops, case, subshells, $((...)), backticks, [[ ]]) raises Unsupported: a check is then
matched flat, a step fails (it cannot be followed).

Syntax: `minishell_syntax`; stateless builtins and pipe filters: `minishell_builtins`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from . import instance_commands
from .instance_state import State
from .minishell_builtins import FILE_TESTS, builtin_echo, builtin_printf, builtin_test, pipe_filter
from .minishell_syntax import AndOr, Function, If, Parser, Pipeline, Simple, Unsupported, lex, skip_double_quoted, skip_parens
from .outputs import Badness, OutputTable, RunResult


class ExitScript(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


QUERIES = {"grep", "egrep", "fgrep", "which", "type", "stat", "find"}
KNOB = "allow_unknown_commands"


@dataclass
class Context:
    """Where a script runs: the instance's region (IMDS answers it) and whether an
    unknown command in a step may succeed silently (the `allow_unknown_commands` knob)."""

    region: str = "us-east-1"
    allow_unknown: bool = False
    counter: list[int] = field(default_factory=lambda: [0])  # mktemp's names
    unrecognised: bool = False  # a step ran an unknown command: the whole script ends
    functions: dict[str, Function] = field(default_factory=dict)


def run_script(table: OutputTable, script: str, facts: dict[str, Any], bad: Badness, ctx: Context | None = None) -> RunResult:
    """Evaluate the script with the mini shell. What the shell cannot parse is matched
    flat when it is a check (or the knob allows it); a step the shell cannot follow fails,
    since what it would change on the instance is unknown."""
    ctx = ctx or Context()
    try:
        result = MiniShell(table, facts, bad, ctx=ctx).run(script)
        result.mode = "shell"
        return result
    except Unsupported as e:
        strict = bool(table.strict and table.strict.search(script))
        if not strict and not ctx.allow_unknown:
            return RunResult(
                "",
                f"amibake emulator: cannot follow this step ({e}), so what it changes is unknown; "
                f"teach emulator/amibake_emulator/minishell_syntax.py or set the knob {KNOB}\n",
                127,
                f"refused ({e})",
            )
        result = table.run_flat(script, facts, bad)
        result.mode = f"flat ({e})"
        return result


class MiniShell:
    def __init__(
        self,
        table: OutputTable,
        facts: dict[str, Any],
        bad: Badness,
        vars: dict[str, str] | None = None,
        options: set[str] | None = None,
        ctx: Context | None = None,
    ):
        self.table = table
        self.facts = facts
        self.state = State(facts, table.base)
        self.bad = bad
        self.ctx = ctx or Context()
        self.vars: dict[str, str] = dict(vars or {})
        self.options: set[str] = set(options or ())
        self.positional: list[str] = []
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
        if isinstance(command, Function):
            self.ctx.functions[command.name] = command
            return 0
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
            argv = self.expand_words(f.words)
            if argv and argv[0] == "tee":
                data, _, status = instance_commands.tee(argv[1:], self.state, data)
            else:
                data, status = pipe_filter(argv, data)
            statuses.append(status)
        self.emit(filters[-1], data, "")
        if "pipefail" in self.options:
            return next((s for s in reversed(statuses) if s), 0)
        return statuses[-1]

    def route(self, command: Simple, out: str, err: str, stdout: str = "out") -> dict[str, str]:
        """Apply the command's redirections: text per destination (out, err, pipe, null)."""
        dest = {"1": stdout, "2": "err"}
        for fd, op, target in command.redirs:
            if op in ("<", "<<", "<<-", "<<<", "<&", "<>"):
                continue
            if op == ">&":
                dest[fd or "1"] = dest.get(self.expand_one(target), "null")
                continue
            path = self.expand_one(target)
            sink = "null" if path == "/dev/null" else f"file{'>>' if op.endswith('>>') else '>'}{path}"
            if sink != "null" and op.startswith(">") and not op.endswith(">>"):
                self.state.write(path, "")  # `> file` empties it even when nothing is written
            for key in ("1", "2") if fd == "&" else (fd or "1",):
                dest[key] = sink
        routed = {"out": "", "err": "", "pipe": "", "null": ""}
        for key, text in (("1", out), ("2", err)):
            sink = dest[key]
            if sink.startswith("file"):
                self.state.write(sink.split(">", 1)[1].lstrip(">"), text, append=True)
            else:
                routed[sink] += text
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
            return builtin_echo(args), "", 0
        if name == "printf":
            return builtin_printf(args), "", 0
        if name in ("test", "["):
            if name == "[":
                if not args or args[-1] != "]":
                    return "", "[: missing `]'\n", 2
                args = args[:-1]
            negate = bool(args) and args[0] == "!"
            rest = args[1:] if negate else args
            if len(rest) == 2 and rest[0] in FILE_TESTS:
                return "", "", 0 if self.file_test(rest[0], rest[1]) != negate else 1
            return builtin_test(args)
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
        if name in self.ctx.functions:
            return self.call(self.ctx.functions[name], args)
        return self.leaf(command, argv)

    def call(self, function: Function, args: list[str]) -> tuple[str, str, int]:
        saved, self.positional = self.positional, args
        try:
            status = self.exec_list(function.body, cond=False)
        finally:
            self.positional = saved
        return "", "", status

    def file_test(self, op: str, path: str) -> bool:
        if op == "-d":
            return self.state.is_dir(path)
        if op in ("-L", "-h", "-S", "-p", "-b", "-c"):
            return False  # no links, sockets, pipes or devices in the model
        content = self.state.read(path)
        if op == "-s":
            return bool(content)
        if op == "-f":
            return content is not None
        return content is not None or self.state.is_dir(path)

    def stdin(self, command: Simple) -> str | None:
        if command.heredoc is not None:
            text, quoted = command.heredoc
            return text if quoted else self.expand_double(text)
        for _, op, target in command.redirs:
            if op == "<<<":
                return self.expand_one(target) + "\n"
            if op == "<":
                return self.state.read(self.expand_one(target)) or ""
        return None

    def leaf(self, command: Simple, argv: list[str]) -> tuple[str, str, int]:
        """An external command: the table answers what it knows (the base image's and the
        world's answers, and the `bad_image` defects), else the instance's state does
        (instance_commands), else it is unknown: "no" to a question about the image, 127
        in a check, and in a step an error that ends the script (unless the knob says
        otherwise)."""
        expanded = " ".join(shlex.quote(a) for a in argv)
        pieces = self.table.pieces(expanded, self.facts, self.bad, merge_2to1=False)
        if pieces:
            result = OutputTable.join(pieces)
            return result.stdout, result.stderr, result.exit_code
        answer = instance_commands.run(argv, self.state, self.stdin(command), self.ctx.region, self.ctx.counter)
        if answer is not None:
            return answer
        name = argv[0].rsplit("/", 1)[-1]
        if name in QUERIES or (name == "command" and "-v" in argv[1:]):
            return "", "", 1  # a question about the image nothing can answer: "no"
        if self.strict:
            return "", f"amibake-emulator: {expanded}: not in the outputs table\n", 127
        if self.ctx.allow_unknown:
            return "", "", 0
        self.err.append(
            f"amibake emulator: unrecognised command `{name}` in a step; teach "
            f"emulator/amibake_emulator/instance_commands.py (or outputs.yaml) or set the knob {KNOB}\n"
        )
        self.ctx.unrecognised = True
        raise ExitScript(127)

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

    # -- expansion ----------------------------------------------------------------------------
    def expand_one(self, word: str) -> str:
        return "".join(text for text, _ in self.expand_parts(word))

    def expand_words(self, words: list[str]) -> list[str]:
        argv: list[str] = []
        for word in words:
            if word == '"$@"':
                argv.extend(self.positional)
                continue
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
        child = MiniShell(self.table, self.facts, self.bad, self.vars, self.options - {"errexit"}, self.ctx)
        child.strict = self.strict
        child.positional = self.positional
        result = child.run(inner)
        self.err.append(result.stderr)
        if self.ctx.unrecognised:
            raise ExitScript(127)
        self.last_subst_status = result.exit_code
        self.status = result.exit_code
        return result.stdout.rstrip("\n")

    last_subst_status = 0
