"""Fixtures: one emulator per session (`python -m amibake_emulator` on a free port, stopped
by its PID; `running_emulator` starts another for a test that resets it), clients,
per-test knob resets, a source AMI and a running builder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from support import AL2023, COPY_REGION, REGION, Emulator, launch

EMULATOR_DIR = Path(__file__).resolve().parent.parent  # holds the package amibake_emulator/


@contextmanager
def running_emulator(tmp: Path) -> Iterator[Emulator]:
    """An emulator of its own (`python -m amibake_emulator` on a free port), stopped by its PID."""
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    port_file, log = tmp / "port", tmp / "log"
    pythonpath = os.pathsep.join(p for p in (str(EMULATOR_DIR), os.environ.get("PYTHONPATH", "")) if p)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "amibake_emulator", "--port", "0", "--port-file", str(port_file), "--quiet",
             "--realos-work", str(tmp / "realos")],
            env={**os.environ, "PYTHONPATH": pythonpath},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.time() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"the emulator did not start (exit {proc.poll()}): {log.read_text()[-2000:]}", pytrace=False)
            time.sleep(0.05)
        yield Emulator(f"http://127.0.0.1:{port_file.read_text().strip()}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_emulator(tmp_path_factory.mktemp("emulator")) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def knobs(emu: Emulator) -> Iterator[None]:
    """Every test starts and ends with the default knobs in its regions."""
    for region in (REGION, COPY_REGION):
        emu.config(region=region, reset=True)
    yield
    for region in (REGION, COPY_REGION):
        emu.config(region=region, reset=True)


@pytest.fixture
def ec2(emu: Emulator) -> Any:
    return emu.client("ec2")


@pytest.fixture
def ssm(emu: Emulator) -> Any:
    return emu.client("ssm")


@pytest.fixture
def source(ssm: Any) -> str:
    """The Amazon Linux 2023 AMI amibake bakes from, by its public parameter."""
    return ssm.get_parameter(Name=AL2023)["Parameter"]["Value"]


@pytest.fixture
def builder(ec2: Any, ssm: Any, source: str) -> Iterator[str]:
    """A running builder with an Online agent, terminated after the test."""
    iid = launch(ec2, ssm, source)
    yield iid
    ec2.terminate_instances(InstanceIds=[iid])
