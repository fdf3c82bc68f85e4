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

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .container import POWEROFF_GRACE, Box, copy_tree, log, remove_tree, write_seed

FLAVOURS = ("debian", "amazon")

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
                "ordering_cycles": [line for line in text.splitlines() if "ordering cycle" in line.lower()],
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
