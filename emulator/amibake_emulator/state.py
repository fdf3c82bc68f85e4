"""The emulator's own state, shared by every service module: one `World` per process.

moto keeps the AWS resources; the World keeps what amibake's extensions add on top of
them and what moto has no place for:

  * the knobs (`config.Knobs`, per region) and the outputs table (`outputs.OutputTable`);
  * the facts remembered per instance and image (the instance state of
    instance_state.py: packages, files, units, the agent's version), what
    CreateImage -> CopyImage -> RunInstances carry along;
  * the timeline of scheduled transitions (pending -> running, ...): delays are applied
    lazily, `tick()` runs what is due before each request;
  * SSM invocations by command id, and idempotency tokens (ClientToken);
  * CloudFormation stack updates that take time (`stack_update.StackUpdate`, by stack id)
    and the instance refreshes they drive (`instance_refresh.Refresh`), which moto has
    no model for;
  * Inspector's on-demand scans (`inspector.Scan`, by account, region and scan id) and
    the results the last successful one left on each image (`inspector.ImageScan`);
  * image usage reports (`image_usage.UsageReport`, by account, region and report id);
  * the interceptors: service modules that answer some requests before moto does
    (inspector.py: inspector2's on-demand scans);
  * the real-OS backend (`realos.RealOS`), so that the EC2 and SSM patches ask the
    World, not a module-level global, whether an instance is a real container;
  * the request accounting (`traffic.Traffic`).

Every AWS request runs under `World.lock`, after `tick()` applied what is due. The World
is built once in `__main__` and handed to each module's `install(world)`, whose patches
close over it. POST /moto-api/reset calls `reset()`: facts, invocations, transitions,
tokens, stack updates, instance refreshes, scans and usage reports go, the knobs, the table and the real-OS
containers stay.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from .config import Knobs
from .traffic import Traffic

if TYPE_CHECKING:
    from .image_usage import UsageReport
    from .inspector import ImageScan, Scan
    from .instance_refresh import Refresh
    from .outputs import OutputTable
    from .realos import RealOS
    from .ssm_commands import Invocation
    from .stack_update import StackUpdate


class World:
    def __init__(self, table: OutputTable, realos: RealOS) -> None:
        self.lock = threading.RLock()
        self.table = table
        self.realos = realos
        self.knobs = Knobs(check_real_os=realos.check)
        self.traffic = Traffic(self.knobs)
        # (request, environ, start_response) -> the answer, or None: moto answers
        self.interceptors: list[Callable[[tuple[Any, ...], dict[str, Any], Any], list[bytes] | None]] = []
        self.reset()

    def reset(self) -> None:
        # ("instance"|"image", account, region, id) -> facts
        self.facts: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.timeline: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0
        self.invocations: dict[str, list[Invocation]] = {}  # command id -> invocations
        self.tokens: dict[tuple[str, str, str, str], Any] = {}  # idempotency
        self.stack_updates: dict[str, StackUpdate] = {}  # stack id -> its update in progress
        self.refreshes: list[Refresh] = []  # every instance refresh, oldest first
        self.scans: dict[tuple[str, str, str], Scan] = {}  # (account, region, scan id), oldest first
        self.image_scans: dict[tuple[str, str, str], ImageScan] = {}  # (account, region, image id)
        self.usage_reports: dict[tuple[str, str, str], UsageReport] = {}  # (account, region, report id)

    def at(self, when: float, fn: Callable[[], None]) -> None:
        self.seq += 1
        self.timeline.append((when, self.seq, fn))
        self.timeline.sort(key=lambda t: (t[0], t[1]))

    def tick(self) -> None:
        now = time.time()
        while self.timeline and self.timeline[0][0] <= now:
            _, _, fn = self.timeline.pop(0)
            fn()

    def instance_facts(self, account: str, region: str, instance_id: str) -> dict[str, Any]:
        return self.facts.setdefault(("instance", account, region, instance_id), {})

    def image_facts(self, account: str, region: str, image_id: str) -> dict[str, Any]:
        return self.facts.setdefault(("image", account, region, image_id), {})

    def facts_report(self) -> dict[str, Any]:
        """GET /_amibake/facts: the remembered facts per `account/region/id`."""
        out: dict[str, Any] = {"instances": {}, "images": {}}
        for (kind, account, region, rid), f in self.facts.items():
            out["instances" if kind == "instance" else "images"][f"{account}/{region}/{rid}"] = f
        return out
