"""The tiny shell's lexer and parser: a script becomes lists of and-or chains of
pipelines of simple commands or `if`s.

Part of the canned backend (no `real_os`): amibake's checks hold logic (compare two
`systemctl show` timestamps, `grep -q`, `if ... then echo ordered else exit 1`), so a
script is evaluated rather than matched, and the logic runs on the table's answers.
Supported syntax: assignments, $var ${var} ${var:-x} $? $(...), '...' "..." \\x,
; && || ! |, if/elif/else/fi, redirections (>, >>, 2>, &>, 2>&1, >&2, <, heredocs).
Anything else (loops, case, functions, subshells, $((...)), backticks, [[ ]], background
jobs) raises `Unsupported`, and the script is matched flat instead (`outputs.run_flat`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class Unsupported(Exception):
    pass


OPERATORS = ("&&", "||", ";;", ";", "|", "&", "(", ")", "\n")
REDIRECT = re.compile(r"(\d*)(>>|>&|>\||>|<<-|<<<|<<|<&|<>|<)|(&>>|&>)")
RESERVED = {"if", "then", "elif", "else", "fi", "for", "while", "until", "do", "done", "case", "esac", "function", "select", "{", "}", "[[", "]]", "time", "coproc"}


@dataclass
class Tok:
    kind: str  # "word", "op", "redir"
    text: str
    start: int
    end: int
    fd: str = ""  # redir: the explicit fd ("2" in 2>), "&" for &>
    body: str | None = None  # a heredoc's text (its delimiter word's token)
    quoted: bool = False  # a heredoc whose delimiter is quoted: no expansion


def lex(src: str) -> list[Tok]:
    toks: list[Tok] = []
    heredocs: list[tuple[str, bool, Tok]] = []
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
            for delim, strip, tok in heredocs:  # heredoc bodies: kept on their delimiter's token
                lines = []
                while i < n:
                    j = src.find("\n", i)
                    line = src[i : j if j >= 0 else n]
                    i = j + 1 if j >= 0 else n
                    if (line.lstrip("\t") if strip else line) == delim:
                        break
                    lines.append((line.lstrip("\t") if strip else line) + "\n")
                tok.body = "".join(lines)
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
                word = Tok("word", src[start:i], start, i, quoted=bool(re.search(r"[\"'\\]", src[start:i])))
                heredocs.append((re.sub(r"[\"'\\]", "", src[start:i]), op == "<<-", word))
                toks.append(word)
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
            if c == "(" and i > start and not (src.startswith("()", i) and re.fullmatch(r"[A-Za-z_][\w-]*", src[start:i])):
                raise Unsupported("array or function definition")
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
    heredoc: tuple[str, bool] | None = None  # (text, quoted delimiter: no expansion)


@dataclass
class Function:
    """`name() { body; }`: defined when run, called like a command."""

    name: str
    body: list[Any]


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
        if t.kind == "word" and self.at_function():
            return self.parse_function()
        if t.kind == "word" and t.text in RESERVED:
            raise Unsupported(f"{t.text!r}")
        words: list[str] = []
        redirs: list[tuple[str, str, str]] = []
        heredoc = None
        start = t.start
        end = t.end
        while (t := self.peek()) is not None and t.kind != "op":
            if t.kind == "redir":
                self.i += 1
                target = self.peek()
                if target is None or target.kind != "word":
                    raise Unsupported("redirection without target")
                redirs.append((t.fd, t.text, target.text))
                if t.text in ("<<", "<<-"):
                    heredoc = (target.body or "", target.quoted)
                end = target.end
            else:
                words.append(t.text)
                end = t.end
            self.i += 1
        if not words and not redirs:
            raise Unsupported("empty command")
        return Simple(words, redirs, start, end, heredoc)

    def at_function(self) -> bool:
        toks = self.toks[self.i : self.i + 3]
        return len(toks) == 3 and [t.text for t in toks[1:]] == ["(", ")"] and all(t.kind == "op" for t in toks[1:])

    def parse_function(self) -> Function:
        name = self.toks[self.i].text
        self.i += 3
        while (t := self.peek()) is not None and t.kind == "op" and t.text == "\n":
            self.i += 1
        self.expect_word("{")
        body = self.parse_list(("}",))
        self.expect_word("}")
        return Function(name, body)

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
