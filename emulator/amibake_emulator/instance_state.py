"""What a canned instance holds: packages, files, systemd units and the CodeDeploy agent,
as its own successful steps left them.

Without `real_os` nothing runs, so a check cannot look at a disk: it is answered from
this small model instead. The model lives in the instance's facts (a JSON-able dict the
World keeps per instance and image), starts from what the base image has (the table's
`base_image` and `repository` sections, emulator/outputs.yaml) and changes only through
the commands `instance_commands` recognises in a step that succeeded
(ssm_commands.run_from_table commits a step's working copy only when it exits 0).
CreateImage carries the facts to the image, CopyImage to the copy, RunInstances to the
new instance: a boot test sees what the bake did, and nothing else.

The facts' keys:
  packages   {name: version}           what dnf/yum/apt-get/rpm/dpkg installed, minus removals
  files      {path: content}           written by redirections, heredocs, tee, cp, mv, ...
  dirs       [path]                    made by mkdir/install -d (parents of files exist too)
  units      {unit: enabled|disabled|masked}  systemctl enable/disable/mask (else the default)
  codedeploy_agent_version  str        the version the installed agent reports

A unit exists when the base image has it, an installed package brings it, or a step wrote
its unit file; it is active when it exists and is enabled (static for the base image's):
an emulated instance has always just booted. Format and examples: emulator/README.md,
"Command outputs".
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
UNIT_SUFFIXES = (".service", ".socket", ".timer", ".target", ".mount", ".path")
AGENT_UNIT = "codedeploy-agent.service"
AGENT_VERSION_FILE = "/opt/codedeploy-agent/.version"
# releases/codedeploy-agent-2.1.0-26.x86_64.rpm, codedeploy-agent_1.7.1-110_all.deb, ...
AGENT_PACKAGE = re.compile(
    r"codedeploy-agent[-_](?P<version>\d[\w.+~]*?)(?:-(?P<build>\d+))?[._]"
    r"(?:noarch|x86_64|aarch64|amd64|arm64|all)\.(?:rpm|deb)\b"
)
RPM_FILE = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+-[^-]+)\.(?P<arch>[^.]+)\.rpm$")
DEB_FILE = re.compile(r"^(?P<name>[^_]+)_(?P<version>[^_]+)_(?P<arch>[^_]+)\.deb$")
DOWNLOADED = "amibake-emulator: downloaded from "
UNKNOWN_PACKAGE_VERSION = "1.0-1.emulated"


@dataclass
class Package:
    """What the repository knows of a package: its version and what it brings."""

    version: str
    units: list[str] = field(default_factory=list)
    binaries: dict[str, str] = field(default_factory=dict)  # name -> path
    java: str = ""  # the Java runtime's version, for `java -version`


@dataclass
class Base:
    """What every base image has before a step runs (outputs.yaml `base_image`), and what
    the package repositories offer (`repository`)."""

    units: dict[str, str] = field(default_factory=dict)  # unit -> enabled|static|disabled
    dirs: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)
    binaries: dict[str, str] = field(default_factory=dict)
    repository: dict[str, Package] = field(default_factory=dict)

    @staticmethod
    def parse(raw: dict[str, Any] | None, repository: dict[str, Any] | None) -> "Base":
        raw = raw or {}
        packages = {}
        for name, p in (repository or {}).items():
            packages[name] = Package(
                version=str(p["version"]),
                units=list(p.get("units", [])),
                binaries=dict(p.get("binaries", {})),
                java=str(p.get("java", "")),
            )
        return Base(
            units={u: str(s) for u, s in (raw.get("units") or {}).items()},
            dirs=set(raw.get("dirs") or []),
            files={p: str(c) for p, c in (raw.get("files") or {}).items()},
            binaries=dict(raw.get("binaries") or {}),
            repository=packages,
        )


def unit_name(name: str) -> str:
    return name if name.endswith(UNIT_SUFFIXES) or "@" in name else name + ".service"


class State:
    """A view of one instance's facts (changes go straight into the dict)."""

    def __init__(self, facts: dict[str, Any], base: Base):
        self.facts = facts
        self.base = base
        packages = facts.get("packages")
        if isinstance(packages, list):  # facts of an older emulator: names only
            facts["packages"] = {p: UNKNOWN_PACKAGE_VERSION for p in packages}

    # -- the parts ------------------------------------------------------------------------
    @property
    def packages(self) -> dict[str, str]:
        return self.facts.setdefault("packages", {})

    @property
    def files(self) -> dict[str, str]:
        return self.facts.setdefault("files", {})

    @property
    def dirs(self) -> list[str]:
        return self.facts.setdefault("dirs", [])

    @property
    def units(self) -> dict[str, str]:
        return self.facts.setdefault("units", {})

    def package(self, name: str) -> Package | None:
        """What an installed package brings (None: not installed)."""
        if name not in self.packages:
            return None
        return self.base.repository.get(name) or Package(self.packages[name])

    # -- packages -------------------------------------------------------------------------
    def package_name(self, spec: str) -> str | None:
        """The package a `dnf install`/`apt-get install` argument names (`tomcat9`, or
        `tomcat9-9.0.96` with a version), or None when no repository has it: a typo in a
        step's package list fails the step, as it would on a real instance."""
        if spec in self.base.repository or spec in self.packages:
            return spec
        return next((n for n in self.base.repository if spec.startswith(n + "-")), None)

    def install(self, name: str, version: str | None = None) -> None:
        known = self.base.repository.get(name)
        self.packages[name] = version or (known.version if known else UNKNOWN_PACKAGE_VERSION)
        for unit in known.units if known else []:
            self.units.setdefault(unit, "disabled")  # presets: enabled by a step, not by dnf
        if name == "codedeploy-agent":
            self.units.setdefault(AGENT_UNIT, "disabled")

    def remove(self, name: str) -> bool:
        if self.packages.pop(name, None) is None:
            return False
        known = self.base.repository.get(name)
        for unit in known.units if known else []:
            self.units.pop(unit, None)
        if name == "codedeploy-agent":
            self.units.pop(AGENT_UNIT, None)
            self.facts.pop("codedeploy_agent_version", None)
        return True

    def install_agent(self, version: str, build: str | None) -> None:
        """The CodeDeploy agent's package (from its installer, a package manager or a
        file): 1.x reports its package's version, 2.x its own without the build."""
        self.install("codedeploy-agent", f"{version}-{build}" if build else version)
        reported = f"{version}-{build}" if build and version.startswith("1.") else version
        self.facts["codedeploy_agent_version"] = reported
        self.units[AGENT_UNIT] = "enabled"  # its installer enables and starts it
        self.dirs.append("/opt/codedeploy-agent/bin")

    def install_file(self, path_or_url: str) -> bool:
        """`dnf install ./x.rpm`, `dpkg -i x.deb`, a URL: the package its name (or, for a
        file a step downloaded, its URL's name) says. False when it names none."""
        origin = self.read(path_or_url) if self.exists(path_or_url) else None
        if origin is not None and origin.startswith(DOWNLOADED):
            path_or_url = origin[len(DOWNLOADED) :].strip()
        agent = AGENT_PACKAGE.search(path_or_url)
        if agent:
            self.install_agent(agent.group("version"), agent.group("build"))
            return True
        base = posixpath.basename(path_or_url)
        m = RPM_FILE.match(base) or DEB_FILE.match(base)
        if not m:
            return False
        self.install(m.group("name"), m.group("version"))
        return True

    def agent_version(self) -> str | None:
        if "codedeploy-agent" not in self.packages:
            return None
        return self.facts.get("codedeploy_agent_version")

    def java(self) -> str | None:
        for name in self.packages:
            known = self.base.repository.get(name)
            if known and known.java:
                return known.java
        return None

    def binary(self, name: str) -> str | None:
        """Where `command -v NAME` finds it (None: not on this instance)."""
        if "/" in name:
            return name if self.exists(name) else None
        for pkg in self.packages:
            known = self.base.repository.get(pkg)
            if known and name in known.binaries:
                return known.binaries[name]
        if name == "codedeploy-agent" and self.agent_version():
            return "/opt/codedeploy-agent/bin/codedeploy-agent"
        return self.base.binaries.get(name)

    # -- files ----------------------------------------------------------------------------
    def read(self, path: str) -> str | None:
        path = posixpath.normpath(path)
        if path in self.files:
            return self.files[path]
        if path in self.facts.get("removed_base_files", []):
            return None
        if path == AGENT_VERSION_FILE and self.agent_active_2x():
            return f"agent_version: {self.agent_version()}\n"  # the running 2.x agent writes it
        if path == "/opt/codedeploy-agent/bin/codedeploy-agent" and self.agent_version():
            return "\x7fELF"
        return self.base.files.get(path)

    def write(self, path: str, content: str, append: bool = False) -> None:
        path = posixpath.normpath(path)
        if path == "/dev/null":
            return
        old = self.read(path) if append else None
        self.files[path] = (old or "") + content

    def delete(self, path: str) -> None:
        path = posixpath.normpath(path)
        self.files.pop(path, None)
        if path in self.base.files:
            self.facts.setdefault("removed_base_files", []).append(path)

    def delete_matching(self, pattern: str, recursive: bool) -> None:
        """rm PATTERN (a glob as the shell would expand it) or rm -r of a directory."""
        pattern = posixpath.normpath(pattern)
        for path in [*self.files, *self.base.files]:
            if fnmatch.fnmatchcase(path, pattern) or (recursive and path.startswith(pattern + "/")):
                self.delete(path)
        self.facts["dirs"] = [d for d in self.dirs if not (d == pattern or (recursive and d.startswith(pattern + "/")))]

    def is_dir(self, path: str) -> bool:
        path = posixpath.normpath(path)
        if path in self.base.dirs or path in self.dirs:
            return True
        prefix = path.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in (*self.files, *self.base.files))

    def exists(self, path: str) -> bool:
        return self.read(path) is not None or self.is_dir(path)

    def under(self, directory: str) -> list[str]:
        prefix = posixpath.normpath(directory).rstrip("/") + "/"
        return sorted(p for p in {*self.files, *self.base.files} if p.startswith(prefix) and self.read(p) is not None)

    # -- systemd --------------------------------------------------------------------------
    def unit_exists(self, unit: str) -> bool:
        if unit in self.base.units or unit in self.units:
            return True
        return any(self.read(f"{d}/{unit}") is not None for d in UNIT_DIRS)

    def unit_file_state(self, unit: str) -> str:
        """enabled|disabled|masked|static|… ("" when the unit does not exist)."""
        if not self.unit_exists(unit):
            return ""
        return self.units.get(unit) or self.base.units.get(unit) or "disabled"

    def active(self, unit: str) -> bool:
        return self.unit_file_state(unit) in ("enabled", "static", "enabled-runtime")

    def agent_active_2x(self) -> bool:
        version = self.agent_version()
        return bool(version) and not version.startswith("1.") and self.active(AGENT_UNIT)  # type: ignore[union-attr]

    def dropins(self, unit: str) -> list[str]:
        """The unit's drop-ins systemd loads (not a step's hidden temporary files)."""
        found = []
        for d in UNIT_DIRS:
            for path in self.under(f"{d}/{unit}.d"):
                name = posixpath.basename(path)
                if name.endswith(".conf") and not name.startswith(".") and posixpath.dirname(path) == f"{d}/{unit}.d":
                    found.append(path)
        return found

    def ordered_after(self, unit: str, other: str) -> bool:
        """Whether the unit's file or a drop-in orders it After= `other`."""
        texts = [self.read(p) or "" for p in self.dropins(unit)]
        texts += [self.read(f"{d}/{unit}") or "" for d in UNIT_DIRS]
        return any(re.search(rf"^After=.*\b{re.escape(other)}\b", t, re.M) for t in texts)
