"""One real-OS instance: a systemd-nspawn container that boots a real systemd and
cloud-init, runs SSM commands inside it, reboots, powers off — and what it needs from the
host (its own cgroups, a copy of a root, a NoCloud seed). `realos.py` keeps the backend
that maps EC2's instances and images onto these containers.
"""

from __future__ import annotations

import base64
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

STDOUT_LIMIT = 24_000  # GetCommandInvocation StandardOutputContent
STDERR_LIMIT = 8_000  # GetCommandInvocation StandardErrorContent
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
AGENT_ONLINE = "run/amazon-ssm-agent.online"
NSPAWN_REBOOT = 133
POWEROFF_GRACE = 60.0

STATE_CODES = {"pending": 0, "running": 16, "stopping": 64, "stopped": 80}


def log(msg: str) -> None:
    print(f"amibake-emulator: real-os: {msg}", file=sys.stderr, flush=True)


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM the child (nspawn: a clean poweroff) when its parent thread dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# The cgroup hierarchies systemd uses (v1's named one, and the unified one of a hybrid or
# v2 host). With --keep-unit, nspawn puts its container's payload under the cgroup it was
# started in: every container of this emulator (and of any other on the host) would share
# one `payload` group, and one container's systemd removing `system.slice/x.service`
# there breaks the same unit starting in another (219/CGROUP). Each instance gets a cgroup
# of its own instead.
CGROUP_HIERARCHIES = (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


def own_cgroups(instance_id: str) -> list[Path]:
    """Creates `amibake-realos/<instance>` in every writable systemd-relevant hierarchy;
    returns the `cgroup.procs` files to join (none where the host does not allow it)."""
    procs = []
    seen = set()
    for root in CGROUP_HIERARCHIES:
        marker = root / "cgroup.procs"
        if not marker.exists() or root.resolve() in seen:
            continue
        # /sys/fs/cgroup is itself a hierarchy only on a pure v2 host.
        if root == Path("/sys/fs/cgroup") and not (root / "cgroup.controllers").exists():
            continue
        seen.add(root.resolve())
        group = root / "amibake-realos" / instance_id
        try:
            group.mkdir(parents=True, exist_ok=True)
            procs.append(group / "cgroup.procs")
        except OSError:
            continue
    return procs


def join_cgroups(procs: list[Path]):
    """preexec_fn: move the child into its own cgroups, then die with the parent."""

    def preexec() -> None:
        for f in procs:
            try:
                f.write_text(str(os.getpid()))
            except OSError:
                pass
        _die_with_parent()

    return preexec


def remove_cgroups(instance_id: str) -> None:
    """Removes an instance's cgroups once its container is gone (deepest first; a group
    something still runs in stays)."""
    for root in CGROUP_HIERARCHIES:
        group = root / "amibake-realos" / instance_id
        if not group.is_dir():
            continue
        for sub in sorted((p for p in group.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            try:
                sub.rmdir()
            except OSError:
                pass
        try:
            group.rmdir()
        except OSError:
            pass


def copy_tree(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(src), str(dst)], check=True)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Live:
    """A command running inside a container; read by the SSM patches as it goes."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int = -1
    done: bool = False
    status: str = "InProgress"
    details: str = "InProgress"
    ended_at: float | None = None
    proc: subprocess.Popen[bytes] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self) -> None:
        with self.lock:
            if self.done or self.proc is None:
                return
            self.status = self.details = "Cancelled"
        kill_group(self.proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Box:
    """One instance: its root, its nspawn process and the state EC2 shows."""

    def __init__(self, instance: Any, root: Path, flavour: str, console: Path) -> None:
        self.instance = instance  # moto's Instance: its _state is what EC2 shows
        self.id = instance.id
        self.dir = root.parent
        self.root = root
        self.flavour = flavour
        self.console = console
        console.parent.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader: int | None = None
        self.want_down = False
        self.rebooting = False
        self.ever_online = False
        self.last_ping = 0.0
        self.boots = 0
        self.thread: threading.Thread | None = None

    # -- EC2 state ----------------------------------------------------------------------
    def set_state(self, name: str) -> None:
        if self.instance._state.name == "terminated":
            return
        self.instance._state.name = name
        self.instance._state.code = STATE_CODES[name]

    # -- boot and supervision -------------------------------------------------------------
    def boot(self) -> None:
        """Starts the container and keeps it up across reboots, in a thread of its own."""
        self.want_down = False
        self.set_state("pending")
        self.thread = threading.Thread(target=self._supervise, name=f"realos-{self.id}", daemon=True)
        self.thread.start()

    def _supervise(self) -> None:
        try:
            while True:
                self.boots += 1
                with open(self.console, "ab") as console:
                    console.write(f"\n--- amibake emulator: boot {self.boots} of {self.id}\n".encode())
                    console.flush()
                    self.proc = subprocess.Popen(
                        [
                            "systemd-nspawn",
                            "--quiet",
                            "--boot",
                            "--register=no",
                            "--keep-unit",
                            "--console=read-only",
                            f"--machine={self.id}",
                            f"--directory={self.root}",
                        ],
                        stdin=subprocess.DEVNULL,
                        stdout=console,
                        stderr=subprocess.STDOUT,
                        preexec_fn=join_cgroups(own_cgroups(self.id)),
                    )
                self.leader = self._find_leader(self.proc)
                if self.leader is not None and not self.want_down:
                    self.rebooting = False
                    self.set_state("running")
                code = self.proc.wait()
                self.leader = None
                if code == NSPAWN_REBOOT and not self.want_down:
                    continue
                if code not in (0, NSPAWN_REBOOT):
                    log(f"{self.id}: systemd-nspawn exited with {code} (console: {self.console})")
                break
        finally:
            remove_cgroups(self.id)
            self.leader = None
            self.rebooting = False
            if self.instance._state.name in ("pending", "running", "stopping"):
                self.set_state("stopped")

    @staticmethod
    def _find_leader(proc: subprocess.Popen[bytes]) -> int | None:
        """The container's init: nspawn's child whose PID in its own namespace is 1."""
        deadline = time.time() + 30
        while time.time() < deadline and proc.poll() is None:
            for task in Path(f"/proc/{proc.pid}/task").glob("*"):
                try:
                    children = (task / "children").read_text().split()
                except OSError:
                    continue
                for child in children:
                    try:
                        status = Path(f"/proc/{child}/status").read_text()
                    except OSError:
                        continue
                    nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
                    if len(nspid) >= 2 and nspid[-1] == "1":
                        return int(child)
            time.sleep(0.05)
        return None

    def power_off(self, then: Callable[[], None] | None = None) -> None:
        """A clean poweroff (nspawn turns SIGTERM into one), SIGKILL after a grace period.
        Whichever nspawn runs is signalled, also one a reboot started meanwhile."""
        self.want_down = True

        def wait() -> None:
            deadline = time.time() + POWEROFF_GRACE
            signalled: set[int] = set()
            while self.thread is not None and self.thread.is_alive():
                proc = self.proc
                if proc is not None and proc.poll() is None:
                    if time.time() > deadline:
                        log(f"{self.id}: no poweroff after {POWEROFF_GRACE:.0f}s; killing it")
                        proc.kill()
                    elif proc.pid not in signalled:
                        proc.terminate()
                        signalled.add(proc.pid)
                self.thread.join(0.2)
            if then is not None:
                then()

        threading.Thread(target=wait, name=f"realos-off-{self.id}", daemon=True).start()

    def reboot(self) -> None:
        if self.leader is None:
            return
        self.rebooting = True
        leader = self.leader
        threading.Thread(
            target=lambda: subprocess.run(self.enter(leader, ["systemctl", "reboot"]), capture_output=True),
            daemon=True,
        ).start()

    # -- the SSM agent ----------------------------------------------------------------------
    def agent(self, now: float) -> tuple[str, float] | None:
        leader = self.leader
        online = (
            leader is not None
            and not self.rebooting
            and self.instance._state.name == "running"
            and Path(f"/proc/{leader}/root/{AGENT_ONLINE}").exists()
        )
        if online:
            self.ever_online = True
            self.last_ping = now
            return "Online", now
        if self.ever_online and self.instance._state.name == "running":
            return "ConnectionLost", self.last_ping
        return None

    @staticmethod
    def enter(leader: int, argv: list[str]) -> list[str]:
        """argv run as root inside the container, with a systemd service's environment."""
        return ["nsenter", f"--target={leader}", "--all", "--root", "--wd", "--", "/usr/bin/env", "-i", f"PATH={SERVICE_PATH}", "LANG=C.UTF-8", *argv]

    def run(self, command_id: str, script: str, timeout: float) -> Live:
        """Runs an AWS-RunShellScript command as the real agent does: the commands in
        `_script.sh` under the agent's orchestration directory, run from there with sh."""
        live = Live()
        leader = self.leader
        if leader is None:
            live.stderr, live.exit_code, live.done = "instance is not running\n", 1, True
            live.status = live.details = "Failed"
            live.ended_at = time.time()
            return live
        orchestration = f"/var/lib/amazon/ssm/{self.id}/document/orchestration/{command_id}/awsrunShellScript/0.awsrunShellScript"
        host_dir = Path(f"/proc/{leader}/root{orchestration}")
        host_dir.mkdir(parents=True, exist_ok=True)
        (host_dir / "_script.sh").write_text(script if script.endswith("\n") else script + "\n")
        (host_dir / "_script.sh").chmod(0o700)
        argv = self.enter(leader, ["/bin/sh", "-c", f"cd {orchestration} && exec sh -c ./_script.sh"])
        live.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )

        def pump(stream: Any, name: str) -> None:
            for chunk in iter(lambda: stream.read1(65536), b""):
                with live.lock:
                    setattr(live, name, getattr(live, name) + chunk.decode("utf-8", "replace"))

        pumps = [
            threading.Thread(target=pump, args=(live.proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=pump, args=(live.proc.stderr, "stderr"), daemon=True),
        ]
        for p in pumps:
            p.start()

        def finish() -> None:
            assert live.proc is not None
            timed_out = False
            try:
                code = live.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                kill_group(live.proc)
                code = live.proc.wait()
            for p in pumps:
                p.join(5)
            with live.lock:
                live.exit_code = code if code >= 0 else 128 - code
                if live.status == "Cancelled":
                    pass
                elif timed_out:
                    live.status, live.details = "TimedOut", "ExecutionTimedOut"
                    live.stderr += f"\nfailed to run commands: exit status {live.exit_code}; the command timed out after {timeout:.0f}s\n"
                else:
                    live.status = live.details = "Success" if code == 0 else "Failed"
                live.ended_at = time.time()
                live.done = True

        threading.Thread(target=finish, name=f"realos-cmd-{command_id}", daemon=True).start()
        return live



def write_seed(root: Path, instance_id: str, private_ip: str | None, user_data: Any) -> None:
    """The NoCloud seed cloud-init reads at boot: a new instance id makes it run again."""
    seed = root / "var/lib/cloud/seed/nocloud"
    seed.mkdir(parents=True, exist_ok=True)
    hostname = "ip-" + (private_ip or "10.0.0.1").replace(".", "-")
    (seed / "meta-data").write_text(f"instance-id: {instance_id}\nlocal-hostname: {hostname}\n")
    data = b""
    if user_data:
        raw = user_data[0] if isinstance(user_data, list) else user_data
        if hasattr(raw, "as_bytes"):  # moto's Base64EncodedString
            raw = raw.as_bytes()
        raw = raw.encode() if isinstance(raw, str) else bytes(raw)
        try:
            data = base64.b64decode(raw, validate=True)
        except ValueError:
            data = raw
    (seed / "user-data").write_bytes(data or b"#cloud-config\n{}\n")
    (seed / "network-config").write_text("network:\n  config: disabled\n")
