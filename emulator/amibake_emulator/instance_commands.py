"""The commands the canned backend recognises, each read or changing the instance's
state (instance_state.State): what the tiny shell runs for a leaf the outputs table does
not answer.

Changes: package managers (dnf/yum/apt-get/apt install|remove|purge, and their upgrade,
update, clean: no change), rpm -i/-U/-e, dpkg -i/-r/-P, the CodeDeploy agent's installer
(`…/install [auto] -v releases/codedeploy-agent…`), systemctl enable|disable|mask|unmask
(and start, stop, restart, daemon-reload, reset-failed: no change), files (mkdir, touch,
cp, mv, install, rm, ln, truncate, sed -i, find … -delete, mktemp, curl -o, base64 -d,
cat and tee into a file; redirections are the tiny shell's). Reads: rpm -q, dpkg-query,
dpkg -s, java -version, the agent's --version, command -v/which/type, cat, grep/ls/stat
of files. Harmless ones: chmod, chown, sleep, sync, uname, hostname, curl (IMDS and other
URLs), cloud-init clean, timeout/env/nohup/sudo around a command.

`run()` answers (stdout, stderr, exit code), or None: not recognised, which the tiny
shell turns into an error in a step (emulator/README.md, "Command outputs").
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from typing import Callable

from .instance_state import DOWNLOADED, State, unit_name

Result = tuple[str, str, int]
OK: Result = ("", "", 0)
HARMLESS = {"chmod", "chown", "chgrp", "sleep", "sync", "logger", "udevadm", "restorecon", "setenforce"}
PASSES = ("upgrade", "update", "dist-upgrade", "full-upgrade", "clean", "makecache", "check-update", "autoremove", "autoclean", "distro-sync")


def run(argv: list[str], state: State, stdin: str | None, region: str, counter: list[int]) -> Result | None:
    name = posixpath.basename(argv[0])
    if name in ("timeout", "env", "nohup", "sudo", "nice", "ionice"):
        inner = wrapped(name, argv[1:])
        return run(inner, state, stdin, region, counter) if inner else None
    if name == "install" and "/" in argv[0]:
        return agent_installer(argv[1:], state)
    handler = HANDLERS.get(name)
    if handler is not None:
        return handler(argv[1:], state, stdin, region, counter)
    if argv[0] == "/opt/codedeploy-agent/bin/codedeploy-agent":
        version = state.agent_version()
        if version is None:
            return "", f"bash: {argv[0]}: No such file or directory\n", 127
        if argv[1:2] in (["--version"], ["-v"]):
            return f"codedeploy-agent {version}\n", "", 0
        return OK
    if name in HARMLESS:
        return OK
    return None


def wrapped(name: str, args: list[str]) -> list[str]:
    """The command `timeout 30 cmd …`, `env A=b cmd …`, `sudo cmd …` runs."""
    while args and (args[0].startswith("-") or (name == "env" and "=" in args[0])):
        args = args[1:]
    if name == "timeout" and args:
        args = args[1:]  # the duration
    return args


def operands(args: list[str], with_value: tuple[str, ...] = ()) -> tuple[set[str], list[str]]:
    """(flags, operands): `-o X` style options named in `with_value` take the next word."""
    flags, words, i = set(), [], 0
    while i < len(args):
        a = args[i]
        if a in with_value:
            flags.add(a)
            i += 2
            continue
        if a.startswith("-") and a != "-":
            flags.add(a)
        else:
            words.append(a)
        i += 1
    return flags, words


# -- packages -----------------------------------------------------------------------------
def package_manager(args: list[str], state: State, *_: object) -> Result | None:
    _, words = operands(args, ("-o", "-c", "-t", "--setopt", "-d", "-e"))
    if not words:
        return None
    verb, names = words[0], words[1:]
    if verb in PASSES or verb == "group" and names[:1] == ["install"]:
        return OK
    if verb in ("install", "reinstall", "localinstall"):
        for n in names:
            if n.endswith((".rpm", ".deb")) or "/" in n:
                if not state.install_file(n):
                    return "", f"No package found in {n}\n", 1
            else:
                name = state.package_name(n.split("=", 1)[0])
                if name is None:  # what dnf and apt say of a package no repository has
                    return "", f"No match for argument: {n}\nE: Unable to locate package {n}\n", 1
                state.install(name)
        return OK
    if verb in ("remove", "erase", "purge"):
        for n in names:
            state.remove(n)
        return OK
    return None


def rpm(args: list[str], state: State, *_: object) -> Result | None:
    flags, names = operands(args, ("--qf", "--queryformat"))
    fmt = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--qf", "--queryformat")), None)
    fmt = fmt or next((a.split("=", 1)[1] for a in args if a.startswith(("--qf=", "--queryformat="))), None)
    if any(f.startswith("-q") or f == "--query" for f in flags):
        out, code = [], 0
        for n in names:
            version = state.packages.get(n)
            if version is None:
                code = 1
                if "--quiet" not in flags:
                    out.append(f"package {n} is not installed\n")
            elif fmt is not None:
                v, _, r = version.partition("-")
                out.append(fmt.replace("%{VERSION}", v).replace("%{RELEASE}", r).replace("%{NAME}", n).replace("\\n", "\n"))
            elif "--quiet" not in flags:
                out.append(f"{n}-{version}.{'noarch' if n == 'codedeploy-agent' else 'x86_64'}\n")
        return "".join(out), "", code
    if flags & {"-i", "-U", "-ivh", "-Uvh", "--install", "--upgrade", "-F"}:
        return OK if all(state.install_file(n) for n in names) else ("", "rpm: not a package file\n", 1)
    if flags & {"-e", "--erase"}:
        missing = [n for n in names if not state.remove(n)]
        return ("", "".join(f"error: package {n} is not installed\n" for n in missing), 1) if missing else OK
    return None


def dpkg(args: list[str], state: State, *_: object) -> Result | None:
    flags, names = operands(args)
    if flags & {"-i", "--install"}:
        return OK if all(state.install_file(n) for n in names) else ("", "dpkg: not a package file\n", 1)
    if flags & {"-r", "--remove", "-P", "--purge"}:
        for n in names:
            state.remove(n)
        return OK
    if flags & {"-s", "--status"}:
        return dpkg_query(["-s", *names], state)
    return None


def dpkg_query(args: list[str], state: State, *_: object) -> Result | None:
    fmt = None
    rest = []
    for i, a in enumerate(args):
        if a.startswith(("-f=", "--showformat=")):
            fmt = a.split("=", 1)[1]
        elif i > 0 and args[i - 1] in ("-f", "--showformat"):
            fmt = a
        elif a not in ("-f", "--showformat"):
            rest.append(a)
    flags, names = operands(rest)
    out, err, code = [], [], 0
    for n in names:
        version = state.packages.get(n)
        if version is None:
            err.append(f"dpkg-query: no packages found matching {n}\n")
            code = 1
            continue
        fields = {"Package": n, "Version": version, "Status": "install ok installed"}
        if flags & {"-s", "--status"}:
            out.append(f"Package: {n}\nStatus: install ok installed\nVersion: {version}\n")
        else:
            text = fmt if fmt is not None else "${Package}\t${Version}\n"
            out.append(re.sub(r"\$\{(\w+)\}", lambda m, f=fields: f.get(m.group(1), ""), text).replace("\\n", "\n"))
    return "".join(out), "".join(err), code


def agent_installer(args: list[str], state: State) -> Result | None:
    """The regional bucket's `install` script: `install auto -v PACKAGE` (2.x),
    `install -v PACKAGE rpm|deb` (1.x)."""
    package = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "-v"), None)
    if package is None:
        return None
    if not state.install_file(package):
        return "", f"install: no codedeploy-agent package named {package!r}\n", 1
    return f"installed {package}\n", "", 0


def java(args: list[str], state: State, *_: object) -> Result | None:
    version = state.java()
    if version is None:
        return "", "bash: java: command not found\n", 127
    if args[:1] in (["-version"], ["--version"]):
        return "", (
            f'openjdk version "{version}" 2024-10-15 LTS\n'
            f"OpenJDK Runtime Environment (build {version}-LTS)\n"
            f"OpenJDK 64-Bit Server VM (build {version}-LTS, mixed mode, sharing)\n"
        ), 0
    return None


# -- systemd ------------------------------------------------------------------------------
def systemctl(args: list[str], state: State, *_: object) -> Result | None:
    """The verbs that change unit files (the queries are the table's, outputs.py)."""
    _, words = operands(args, ("-p", "--property", "-t", "--type"))
    if not words:
        return None
    verb, units = words[0], [unit_name(u) for u in words[1:]]
    if verb in ("enable", "disable", "mask", "unmask", "reenable"):
        err = []
        for unit in units:
            if verb == "mask":
                state.units[unit] = "masked"
            elif not state.unit_exists(unit):
                err.append(f"Failed to {verb} unit: Unit file {unit} does not exist.\n")
            elif state.unit_file_state(unit) == "masked" and verb in ("enable", "reenable"):
                err.append(f"Failed to enable unit: Unit file /etc/systemd/system/{unit} is masked.\n")
            elif state.base.units.get(unit) == "static" and verb != "unmask":
                continue
            else:
                state.units[unit] = {"enable": "enabled", "reenable": "enabled", "disable": "disabled", "unmask": "disabled"}[verb]
        return "", "".join(err), 1 if err else 0
    if verb in ("start", "restart", "reload", "try-restart", "reload-or-restart", "stop", "kill"):
        missing = [u for u in units if not state.unit_exists(u)]
        if missing and verb not in ("stop", "kill"):
            return "", f"Failed to {verb} {missing[0]}: Unit {missing[0]} not found.\n", 5
        return OK
    if verb in ("daemon-reload", "reset-failed", "daemon-reexec"):
        return OK
    return None


# -- files --------------------------------------------------------------------------------
def mkdir(args: list[str], state: State, *_: object) -> Result:
    _, dirs = operands(args, ("-m", "--mode"))
    for d in dirs:
        state.dirs.append(posixpath.normpath(d))
    return OK


def touch(args: list[str], state: State, *_: object) -> Result:
    for path in operands(args)[1]:
        if state.read(path) is None:
            state.write(path, "")
    return OK


def copy_or_move(move: bool) -> Callable[..., Result]:
    def go(args: list[str], state: State, *_: object) -> Result:
        flags, paths = operands(args, ("-m", "-o", "-g", "--mode", "--owner", "--group", "-t"))
        if len(paths) < 2:
            return "", "missing file operand\n", 1
        *sources, dest = paths
        for src in sources:
            content = state.read(src)
            if content is None:
                return "", f"cannot stat '{src}': No such file or directory\n", 1
            target = posixpath.join(dest, posixpath.basename(src)) if state.is_dir(dest) and "-T" not in flags else dest
            state.write(target, content)
            if move:
                state.delete(src)
        return OK

    return go


def install_files(args: list[str], state: State, *rest: object) -> Result:
    """coreutils install: -d DIRS, or SOURCE DEST with -m/-o/-g (and -D)."""
    flags, paths = operands(args, ("-m", "-o", "-g", "--mode", "--owner", "--group", "-t"))
    if "-d" in flags or "--directory" in flags:
        return mkdir(paths, state)
    return copy_or_move(False)([a for a in args if a != "-D"], state, *rest)


def rm(args: list[str], state: State, *_: object) -> Result:
    flags, paths = operands(args)
    recursive = any(("r" in f or "R" in f) and not f.startswith("--") for f in flags) or "--recursive" in flags
    for p in paths:
        state.delete_matching(p, recursive)
    return OK


def truncate(args: list[str], state: State, *_: object) -> Result:
    _, paths = operands(args, ("-s", "--size"))
    for p in paths:
        state.write(p, "")
    return OK


def sed(args: list[str], state: State, *_: object) -> Result | None:
    """sed -i SCRIPT FILE…: the `/RE/d` and `s/A/B/[g]` forms."""
    flags, words = operands(args, ("-e",))
    if "-i" not in flags or len(words) < 2:
        return None
    script, files = words[0], words[1:]
    for path in files:
        content = state.read(path)
        if content is None:
            return "", f"sed: can't read {path}: No such file or directory\n", 2
        edited = sed_apply(script, content)
        if edited is None:
            return None
        state.write(path, edited)
    return OK


def sed_apply(script: str, content: str) -> str | None:
    from .minishell_builtins import bre_to_python

    m = re.fullmatch(r"/(.*)/d", script)
    if m:
        regex = re.compile(bre_to_python(m.group(1), False))
        return "".join(line for line in content.splitlines(keepends=True) if not regex.search(line.rstrip("\n")))
    m = re.fullmatch(r"s(.)(.*?)\1(.*?)\1(g?)", script)
    if m:
        regex = re.compile(bre_to_python(m.group(2), False))
        replacement = re.sub(r"\\(\d)", r"\\\1", m.group(3)).replace("&", r"\g<0>")
        count = 0 if m.group(4) else 1
        return "".join(regex.sub(replacement, line, count=count) for line in content.splitlines(keepends=True))
    return None


def find(args: list[str], state: State, *_: object) -> Result | None:
    """find DIRS [-mindepth N] [-type f] [-path/-name PATTERN] [-delete]."""
    roots = []
    i = 0
    while i < len(args) and not args[i].startswith("-"):
        roots.append(args[i])
        i += 1
    tests, delete = [], False
    while i < len(args):
        a = args[i]
        if a in ("-path", "-name") and i + 1 < len(args):
            tests.append((a, args[i + 1]))
            i += 2
        elif a in ("-mindepth", "-maxdepth", "-type") and i + 1 < len(args):
            i += 2
        elif a == "-delete":
            delete = True
            i += 1
        else:
            return None
    hits = []
    for root in roots:
        for path in state.under(root):
            if all(fnmatch_test(kind, pattern, path) for kind, pattern in tests):
                hits.append(path)
    if delete:
        for path in hits:
            state.delete(path)
        return OK
    return "".join(p + "\n" for p in hits), "", 0


def fnmatch_test(kind: str, pattern: str, path: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(path if kind == "-path" else posixpath.basename(path), pattern)


def mktemp(args: list[str], state: State, stdin: str | None, region: str, counter: list[int]) -> Result:
    flags, words = operands(args, ("-p", "--tmpdir"))
    counter[0] += 1
    template = words[0] if words else "/tmp/tmp.XXXXXXXXXX"
    path = re.sub(r"X{3,}$", lambda m: f"{counter[0]:0{len(m.group(0))}d}", template)
    if "-d" in flags:
        state.dirs.append(path)
    else:
        state.write(path, "")
    return path + "\n", "", 0


def cat(args: list[str], state: State, stdin: str | None, *_: object) -> Result:
    _, paths = operands(args)
    if not paths:
        return stdin or "", "", 0
    out = []
    for p in paths:
        content = state.read(p)
        if content is None:
            return "".join(out), f"cat: {p}: No such file or directory\n", 1
        out.append(content)
    return "".join(out), "", 0


def tee(args: list[str], state: State, stdin: str | None, *_: object) -> Result:
    flags, paths = operands(args)
    for p in paths:
        state.write(p, stdin or "", append="-a" in flags or "--append" in flags)
    return stdin or "", "", 0


def base64_cmd(args: list[str], state: State, stdin: str | None, *_: object) -> Result | None:
    flags, _ = operands(args)
    if not flags & {"-d", "--decode"}:
        return None
    try:
        return base64.b64decode("".join((stdin or "").split()), validate=True).decode("utf-8", "replace"), "", 0
    except (binascii.Error, ValueError):
        return "", "base64: invalid input\n", 1


def curl(args: list[str], state: State, stdin: str | None, region: str, counter: list[int]) -> Result:
    """IMDS answers the instance's region; `-o FILE URL` writes a file that names its URL
    (a later `dnf install FILE` installs what the URL's name says)."""
    out_file = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-o", "--output")), None)
    _, words = operands(args, ("-o", "--output", "-H", "--header", "-X", "--request", "--retry", "-m", "--max-time", "-d", "--data"))
    url = words[-1] if words else ""
    if url.startswith("http://169.254.169.254/"):
        if url.endswith("/api/token"):
            return "AQAEAemulatedtoken==", "", 0
        if url.endswith("/placement/region"):
            return region, "", 0
        return "", "curl: (22) The requested URL returned error: 404\n", 22
    if out_file:
        state.write(out_file, f"{DOWNLOADED}{url}\n")
    return OK


def command_v(args: list[str], state: State, *_: object) -> Result | None:
    flags, names = operands(args)
    if not flags & {"-v", "-p", "-P"} and not names:
        return None
    paths = [state.binary(n) for n in names]
    out = "".join(p + "\n" for p in paths if p)
    return out, "", 0 if paths and all(paths) else 1


def grep_files(args: list[str], state: State, stdin: str | None, *_: object) -> Result | None:
    """grep PATTERN FILE… (the pipe form is minishell_builtins.pipe_filter)."""
    from .minishell_builtins import pipe_filter

    flags, words = operands(args, ("-e",))
    if len(words) < 2 or "-r" in flags or "-R" in flags:
        return None
    paths = words[1:]
    contents = [state.read(p) for p in paths]
    if all(c is None for c in contents):
        return "", "".join(f"grep: {p}: No such file or directory\n" for p in paths), 2
    out, status = pipe_filter(["grep", *[a for a in args if a not in paths]], "".join(c or "" for c in contents))
    return out, "", status


def exists_query(args: list[str], state: State, *_: object) -> Result:
    _, paths = operands(args, ("-c", "--format"))
    missing = [p for p in paths if not state.exists(p)]
    if missing:
        return "", f"cannot access '{missing[0]}': No such file or directory\n", 2
    return "".join(p + "\n" for p in paths), "", 0


def which(args: list[str], state: State, *rest: object) -> Result | None:
    return command_v(["-v", *args], state, *rest)


def uname(args: list[str], *_: object) -> Result:
    return ("x86_64\n" if "-m" in args else "Linux\n"), "", 0


def cloud_init(args: list[str], *_: object) -> Result | None:
    return OK if args[:1] == ["clean"] else None  # `status` is the table's


HANDLERS: dict[str, Callable[..., Result | None]] = {
    "dnf": package_manager,
    "yum": package_manager,
    "apt-get": package_manager,
    "apt": package_manager,
    "rpm": rpm,
    "dpkg": dpkg,
    "dpkg-query": dpkg_query,
    "java": java,
    "systemctl": systemctl,
    "mkdir": mkdir,
    "touch": touch,
    "cp": copy_or_move(False),
    "mv": copy_or_move(True),
    "install": install_files,
    "ln": lambda args, state, *_: OK,
    "rm": rm,
    "truncate": truncate,
    "sed": sed,
    "find": find,
    "mktemp": mktemp,
    "cat": cat,
    "tee": tee,
    "base64": base64_cmd,
    "curl": curl,
    "command": command_v,
    "which": which,
    "type": which,
    "grep": grep_files,
    "egrep": grep_files,
    "ls": exists_query,
    "stat": exists_query,
    "uname": uname,
    "hostname": lambda *_: ("ip-10-0-0-1\n", "", 0),
    "cloud-init": cloud_init,
}
