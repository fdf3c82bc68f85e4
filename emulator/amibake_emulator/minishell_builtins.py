"""The tiny shell's builtins that need no shell state: echo, printf, test/[ and the
filters a pipe may run into (grep, cat, head, tail), with a basic-regex translation.

Part of the canned backend (no `real_os`): a check such as
`systemctl show ... | grep -q cloud-final` or `[ "$agent" -gt "$final" ]` must behave as
it would on the instance. A form these cannot answer raises `Unsupported` (the script is
then matched flat); file tests answer "no", since the image's files are unknown.
"""

from __future__ import annotations

import re

from .minishell_syntax import Unsupported

FILE_TESTS = ("-e", "-f", "-d", "-x", "-r", "-w", "-s", "-L", "-h", "-S", "-p", "-b", "-c")


def builtin_echo(args: list[str]) -> str:
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        newline &= "n" not in args[0]
        escapes = "e" in args[0] or (escapes and "E" not in args[0])
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text = text.encode().decode("unicode_escape")
    return text + ("\n" if newline else "")


def builtin_printf(args: list[str]) -> str:
    if not args:
        return ""
    fmt, values = args[0], args[1:]
    fmt = fmt.replace("\\n", "\n").replace("\\t", "\t")
    conversions = len(re.findall(r"%[sdq]", fmt))
    out = []
    while True:
        chunk, used = [], 0

        def conv(m: re.Match[str], values: list[str] = values) -> str:
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


def builtin_test(args: list[str]) -> tuple[str, str, int]:
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
        if op in FILE_TESTS:
            return result(False)  # no instance state here: the tiny shell answers files itself
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


def pipe_filter(argv: list[str], data: str) -> tuple[str, int]:
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
            elif a.startswith("-") and len(a) > 1 and re.fullmatch(r"-[qsEFivxwco]+", a):
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
        if "o" in flags:
            return "".join(m.group(0) + "\n" for ln in hits for r in regexes for m in r.finditer(ln.rstrip("\n"))), status
        if "c" in flags:
            return f"{len(hits)}\n", status
        return "".join(hits), status
    if name == "sed":
        return pipe_sed(args, data)
    if name == "tr" and len(args) == 2:
        src, dst = (unescape(a) for a in args)
        return data.translate(str.maketrans(src, dst[: len(src)].ljust(len(src), dst[-1:] or " "))), 0
    raise Unsupported(f"pipe into {name}")


def unescape(text: str) -> str:
    return text.replace("\\n", "\n").replace("\\t", "\t")


def pipe_sed(args: list[str], data: str) -> tuple[str, int]:
    """sed [-n] 's/RE/REPLACEMENT/[g][p]' (basic regex) over the piped text."""
    quiet = "-n" in args
    scripts = [a for a in args if a != "-n"]
    if len(scripts) != 1:
        raise Unsupported(f"sed {' '.join(args)}")
    m = re.fullmatch(r"s(.)(.*?)\1(.*?)\1([gp]*)", scripts[0], re.S)
    if not m:
        raise Unsupported(f"sed {scripts[0]}")
    regex = re.compile(bre_to_python(m.group(2), False))
    replacement = m.group(3).replace("&", r"\g<0>")
    out = []
    for line in data.splitlines():
        new, count = regex.subn(replacement, line, count=0 if "g" in m.group(4) else 1)
        if not quiet or (count and "p" in m.group(4)):
            out.append(new + "\n")
    return "".join(out), 0


POSIX_CLASSES = {"[:space:]": r"\s", "[:digit:]": "0-9", "[:alpha:]": "A-Za-z", "[:alnum:]": "A-Za-z0-9", "[:upper:]": "A-Z", "[:lower:]": "a-z"}


def bre_to_python(pattern: str, extended: bool) -> str:
    for posix, python in POSIX_CLASSES.items():
        pattern = pattern.replace(posix, python)
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
