"""Small helpers every service module uses: the emulator's log line and moto's clock.

Kept apart from `state` so that any module can import them without an import cycle.
"""

from __future__ import annotations

import datetime as dt
import sys


def log(msg: str) -> None:
    print(f"amibake-emulator: {msg}", file=sys.stderr, flush=True)


def utcnow() -> dt.datetime:
    from moto.core.utils import utcnow as moto_utcnow

    return moto_utcnow()


def epoch_to_dt(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).replace(tzinfo=None)
