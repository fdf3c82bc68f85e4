"""A tiny shell, so that check scripts with logic are judged on the table's answers:

    final=$(systemctl show -p ExecMainExitTimestampMonotonic --value cloud-final.service)
    if [ "$agent" -gt "$final" ]; then echo ordered; else echo NOT-ordered; exit 1; fi

Part of the canned backend (no `real_os`, where nothing runs): `run_script()` is how an
AWS-RunShellScript command is answered. Supported: assignments, $var ${var} ${var:-x} $?
$(...), '...' "..." \\x, ; && || ! |, if/elif/else/fi, redirections (>, >>, 2>, &>, 2>&1,
>&2, <, heredocs), set -e/-u/-o pipefail, builtins echo printf test [ true false : exit
set export local readonly cd trap, and pipes into grep/cat/head/tail. Every other command
is a leaf answered by the table (see OutputTable.pieces); a leaf the table does not know
prints nothing and exits 0, except queries about the image (grep, command -v, which,
type, stat, file tests), which answer "no" (1), and any leaf of a check (`strict_when`),
which exits 127. Anything else (loops, case, functions, subshells, $((...)), backticks,
[[ ]]) raises Unsupported and the script is matched flat instead.

Syntax: `minishell_syntax`; stateless builtins and pipe filters: `minishell_builtins`.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from .minishell_builtins import builtin_echo, builtin_printf, builtin_test, pipe_filter
from .minishell_syntax import AndOr, If, Parser, Pipeline, Simple, Unsupported, lex, skip_double_quoted, skip_parens
from .outputs import Badness, OutputTable, RunResult, remember_from_script


class ExitScript(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


QUERIES = {"grep", "egrep", "fgrep", "which", "type", "stat", "find"}


def run_script(table: OutputTable, script: str, facts: dict[str, Any], bad: Badness) -> RunResult:
    """Evaluate the script with the mini shell; fall back to flat matching."""
    try:
        result = MiniShell(table, facts, bad).run(script)
        result.mode = "shell"
        return result
    except Unsupported as e:
        result = table.run_flat(script, facts, bad)
        result.mode = f"flat ({e})"
        return result


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
            data, status = pipe_filter(self.expand_words(f.words), data)
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
            return builtin_echo(args), "", 0
        if name == "printf":
            return builtin_printf(args), "", 0
        if name in ("test", "["):
            if name == "[":
                if not args or args[-1] != "]":
                    return "", "[: missing `]'\n", 2
                args = args[:-1]
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
