"""Real-OS instances for amibake's emulator: EC2 instances that really boot.

With the `real_os` knob set ("debian" or "amazon"), RunInstances from a plain emulator AMI
boots a real systemd + cloud-init container (`systemd-nspawn -b --register=no`) from the
cached root filesystem built by scripts/realos-rootfs.sh:

  * "debian": cloud-init's units as Debian and Ubuntu ship them (cloud-final.service
    ordered After=multi-user.target);
  * "amazon": the same root with Amazon Linux's layout (cloud-final.service without
    After=multi-user.target).

What happens for real:
  * RunInstances copies the AMI's root into the instance's own directory, writes a NoCloud
    seed (instance-id, hostname, the instance's UserData) and boots it; the instance is
    `pending` until its init runs. cloud-init runs for real, again for every new instance id.
  * The SSM agent is a stand-in unit in the root (amazon-ssm-agent.service,
    After=network-online.target, WantedBy=multi-user.target): the instance is Online in
    DescribeInstanceInformation while that unit runs, ConnectionLost once it stops.
  * SendCommand (AWS-RunShellScript) writes the commands to the orchestration directory
    the real agent uses and runs them as root inside the container (nsenter into every
    namespace of its init, the environment of a systemd service): real stdout, stderr and
    exit code, output as it arrives while InProgress, the document's executionTimeout
    (Status TimedOut, StatusDetails ExecutionTimedOut), CancelCommand kills it, and
    GetCommandInvocation truncates output as SSM does (24,000 / 8,000 characters).
  * RebootInstances is `systemctl reboot` inside; nspawn exits 133 and is started again on
    the same root. StopInstances powers the container off (`stopping` until it has);
    StartInstances boots it again. TerminateInstances powers it off and removes its root.
  * CreateImage copies the instance's root (the image is `pending` meanwhile); CopyImage
    shares it; DeregisterImage forgets it. Instances launched from such an image boot it,
    whatever the knob says.

Every container shares the host's network (the root masks sshd and apt's timers, and
cloud-init's network configuration is off) and nothing else: its own mount, PID, IPC and
UTS namespaces. nspawn gets SIGTERM if the emulator dies (PR_SET_PDEATHSIG), and the
emulator powers every container off and removes the roots when it stops (consoles stay for
a post-mortem until the next start).
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

FLAVOURS = ("debian", "amazon")
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
                        preexec_fn=_die_with_parent,
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
                    nspid = next((l.split()[1:] for l in status.splitlines() if l.startswith("NSpid:")), [])
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


@dataclass
class Image:
    root: Path
    flavour: str
    ready: threading.Event = field(default_factory=threading.Event)


class RealOS:
    def __init__(self, rootfs: Path | None, work: Path) -> None:
        self.rootfs = rootfs
        self.work = work
        for leftover in ("instances", "images", "consoles"):  # what an earlier emulator left
            remove_tree(work / leftover)
        self.boxes: dict[tuple[str, str, str], Box] = {}
        self.ever: dict[str, Box] = {}  # every instance booted, terminated ones too
        self.images: dict[tuple[str, str, str], Image] = {}

    # -- the knob ------------------------------------------------------------------------------
    def check(self, flavour: Any) -> Any:
        """Validates the `real_os` knob: false, or a flavour this machine can boot."""
        if flavour in (False, None):
            return False
        if flavour not in FLAVOURS:
            raise ValueError(f"real_os must be false or one of {list(FLAVOURS)}")
        problems = []
        if os.geteuid() != 0:
            problems.append("the emulator must run as root")
        for tool in ("systemd-nspawn", "nsenter", "cp"):
            if shutil.which(tool) is None:
                problems.append(f"{tool} is missing")
        if self.rootfs is None or not (self.rootfs / flavour).is_dir():
            problems.append(f"no root filesystem at {self.rootfs}/{flavour}: run scripts/realos-rootfs.sh first")
        if problems:
            raise ValueError("real_os cannot be enabled: " + "; ".join(problems))
        self._nspawn_runtime_dir()
        return flavour

    @staticmethod
    def _nspawn_runtime_dir() -> None:
        """nspawn keeps per-container state under /run/systemd/nspawn and refuses to remove
        it from anything but a tmpfs; on a host whose /run is not one, give it one."""
        path = Path("/run/systemd/nspawn")
        path.mkdir(parents=True, exist_ok=True)
        if not os.path.ismount(path):
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(path)], check=True)

    # -- instances -------------------------------------------------------------------------------
    def box(self, account: str, region: str, instance_id: str) -> Box | None:
        return self.boxes.get((account, region, instance_id))

    def is_real_image(self, account: str, region: str, image_id: str) -> bool:
        return (account, region, image_id) in self.images

    def launch(self, account: str, region: str, instance: Any, image_id: str, flavour: str) -> None:
        """Boots a new instance from a real-OS image, or from the base root of `flavour`."""
        image = self.images.get((account, region, image_id))
        root = self.work / "instances" / f"{instance.id}" / "root"
        if image is not None:
            flavour = image.flavour
        box = Box(instance, root, flavour, self.work / "consoles" / f"{instance.id}.log")
        self.boxes[(account, region, instance.id)] = box
        self.ever[instance.id] = box
        box.set_state("pending")
        user_data = instance.user_data

        def prepare() -> None:
            try:
                if image is not None:
                    image.ready.wait()
                    source = image.root
                else:
                    assert self.rootfs is not None
                    source = self.rootfs / flavour
                copy_tree(source, root)
                write_seed(root, instance.id, instance.private_ip, user_data)
            except Exception as e:  # noqa: BLE001 - shown in the log, the instance stops
                log(f"{instance.id}: could not prepare its root: {e}")
                box.set_state("stopped")
                return
            if box.want_down:  # stopped or terminated while its root was being copied
                if (account, region, instance.id) not in self.boxes:
                    remove_tree(box.dir)
                return
            box.boot()

        threading.Thread(target=prepare, name=f"realos-prep-{instance.id}", daemon=True).start()
        log(f"{instance.id}: booting the {flavour} root{' of ' + image_id if image else ''}")

    def start(self, account: str, region: str, instance_id: str) -> bool:
        box = self.box(account, region, instance_id)
        if box is None:
            return False
        if box.leader is None and (box.thread is None or not box.thread.is_alive()):
            box.boot()
        return True

    def stop(self, account: str, region: str, instance_id: str) -> bool:
        box = self.box(account, region, instance_id)
        if box is None:
            return False
        if box.instance._state.name in ("pending", "running"):
            box.set_state("stopping")
        box.power_off(then=lambda: box.set_state("stopped"))
        return True

    def terminate(self, account: str, region: str, instance_id: str) -> bool:
        box = self.boxes.pop((account, region, instance_id), None)
        if box is None:
            return False
        box.power_off(then=lambda: remove_tree(box.dir))
        return True

    def reboot(self, account: str, region: str, instance_id: str) -> bool:
        box = self.box(account, region, instance_id)
        if box is None:
            return False
        box.reboot()
        return True

    # -- images ---------------------------------------------------------------------------------
    def create_image(self, account: str, region: str, instance_id: str, image_id: str, on_done: Callable[[bool], None]) -> bool:
        """Snapshots the instance's root; `on_done(ok)` once the copy is complete or failed."""
        box = self.box(account, region, instance_id)
        if box is None:
            return False
        image = Image(root=self.work / "images" / image_id / "root", flavour=box.flavour)
        self.images[(account, region, image_id)] = image

        def snapshot() -> None:
            ok = True
            try:
                copy_tree(box.root, image.root)
            except Exception as e:  # noqa: BLE001 - shown in the log, the image fails
                log(f"{image_id}: could not snapshot {instance_id}: {e}")
                ok = False
            image.ready.set()  # whoever waits for it must not wait for ever
            on_done(ok)

        threading.Thread(target=snapshot, name=f"realos-image-{image_id}", daemon=True).start()
        return True

    def copy_image(self, account: str, source_region: str, source_id: str, region: str, image_id: str) -> bool:
        image = self.images.get((account, source_region, source_id))
        if image is None:
            return False
        self.images[(account, region, image_id)] = image  # images never change: share the root
        return True

    def deregister(self, account: str, region: str, image_id: str) -> None:
        image = self.images.pop((account, region, image_id), None)
        if image is not None and all(other is not image for other in self.images.values()):
            image.ready.wait()
            remove_tree(image.root.parent)

    # -- what tests look at -------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """Every container this emulator booted (terminated ones too), with the lines of its
        console (where journald forwards the journal) that report an ordering cycle."""
        rows = {}
        for console in sorted((self.work / "consoles").glob("*.log")):
            text = console.read_text(errors="replace")
            box = self.ever.get(console.stem)
            rows[console.stem] = {
                "console": str(console),
                "container_running": box is not None and box.proc is not None and box.proc.poll() is None,
                "boots": text.count("--- amibake emulator: boot "),
                "ordering_cycles": [l for l in text.splitlines() if "ordering cycle" in l.lower()],
            }
        return {"rootfs": str(self.rootfs), "work": str(self.work), "instances": rows}

    # -- shutdown ---------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Powers every container off and removes instances and images; the consoles stay
        for a post-mortem until the next emulator starts."""
        boxes = list(self.boxes.values())
        done = threading.Semaphore(0)
        for box in boxes:
            box.power_off(then=done.release)
        for _ in boxes:
            done.acquire(timeout=POWEROFF_GRACE + 5)
        remove_tree(self.work / "instances")
        remove_tree(self.work / "images")


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
