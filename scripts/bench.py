#!/usr/bin/env python3
"""amibake's benchmark (`just bench`; results in BENCHMARKS.md).

Starts a private emulator with realistic, fixed delays and EC2's request buckets turned
on, then measures the release build of amibake:

  validate  start-up of `amibake validate` on one recipe (median of many runs)
  cold      one bake with no timing history (the very first bake on a machine)
  a         one bake of bench/recipe.yaml: 3 steps, 2 copy regions, a boot test
  fresh     the same bake on a fresh CI runner: an empty state directory, the wait
            history in the account (`--history ssm`, written by the warm-up bakes)
  b         8 bakes of it at once from one amibake process
  c         a roll of a CloudFormation-managed Auto Scaling group onto the baked image
  n0        the nightly job with nothing to do: `bake --if-changed --rebuild-for security`
            after a: the inputs match, a probe instance from a's image finds no security
            update pending (the emulator's `pending_updates` knob empty), the bake ends
  n1        the nightly job with patches pending: the same, with one security update
            pending: the probe names it and the bake goes on

For each: wall time, the critical path (the longest chain of emulator delays the run must
wait through, computed from the delays below and the recipe's shape; for the roll, the
stack update's own duration, STACK_UPDATE_SECONDS), overhead = wall - critical path, API
calls by action (counted by the emulator), throttled requests, and the peak RSS of the
amibake process; for n0 and n1 also the instance-seconds (each instance's launch to its
termination, as EC2 reports them, to the second).

Usage: scripts/bench.py [--binary PATH] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "bench" / "recipe.yaml"
REGION = "us-east-1"
COPY_REGIONS = ["us-west-2", "eu-west-1"]
CONCURRENT = 8

# Emulator delays (seconds), each >= 2 s: issue 7's "realistic asynchrony", scaled so a
# scenario takes well under a minute.
DELAYS = {
    "instance_pending_seconds": 3.0,  # L: RunInstances -> running
    "agent_online_seconds": 2.0,  # O: running -> SSM agent Online
    "command_in_progress_seconds": 2.0,  # K: each SSM command
    "instance_stopping_seconds": 3.0,  # S: StopInstances -> stopped
    "image_pending_seconds": 6.0,  # I: CreateImage -> available
    "copy_pending_seconds": 8.0,  # C: CopyImage -> available
}
# U: a CloudFormation stack update takes this long (the emulator's stack_update_seconds):
# scenario c's critical path. Stack creation stays instant (c creates its stack unmeasured).
STACK_UPDATE_SECONDS = 8.0


def critical_path() -> tuple[float, str]:
    """The longest chain of delays one bake of bench/recipe.yaml waits through."""
    d = DELAYS
    L, O, K = d["instance_pending_seconds"], d["agent_online_seconds"], d["command_in_progress_seconds"]
    S, I, C = d["instance_stopping_seconds"], d["image_pending_seconds"], d["copy_pending_seconds"]
    steps, boot_checks = 3, 1
    builder = L + O + steps * K + K  # launch, agent, steps, hygiene
    image = S + I
    # Copies and the boot test start together once the image is available.
    boot = L + O + K + boot_checks * K  # launch, agent, cloud-init wait, checks
    total = builder + image + max(C, boot)
    chain = (
        f"L{L:g}+O{O:g}+{steps}K+hygiene K ({K:g}) + S{S:g}+I{I:g} + "
        f"max(C{C:g}, boot test L+O+K+{boot_checks}K = {boot:g})"
    )
    return total, chain


class Emulator:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> "Emulator":
        port_file = self.workdir / "emulator.port"
        python = ROOT / "target" / "venv" / "bin" / "python"
        config = {**DELAYS, "stack_update_seconds": STACK_UPDATE_SECONDS, "throttle_ec2": True}
        self.log = open(self.workdir / "emulator.log", "wb")
        self.proc = subprocess.Popen(
            [str(python), "-m", "amibake_emulator", "--port", "0",
             "--port-file", str(port_file), "--quiet", "--config", json.dumps(config)],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT / "emulator")},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                self.url = f"http://127.0.0.1:{port_file.read_text().strip()}"
                try:
                    self.get("/_amibake/health")
                    return self
                except OSError:
                    pass
            if self.proc.poll() is not None:
                sys.exit(f"bench: the emulator exited; see {self.workdir / 'emulator.log'}")
            time.sleep(0.1)
        sys.exit("bench: the emulator did not start within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.log.close()

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.load(r)

    def post(self, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(
            self.url + path, data=json.dumps(body or {}).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)


def run_measured(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, int, int]:
    """Runs amibake; returns (wall seconds, exit code, peak RSS in KiB).

    The peak RSS is the process's own VmHWM, sampled from /proc every 10 ms until it exits
    (a high-water mark, so the last sample holds the peak). getrusage's ru_maxrss would
    also count this Python process's memory, which the child carries until its exec."""
    with open(log, "wb") as out:
        start = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak = 0
        status_file = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                for line in status_file.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.01)
        wall = time.monotonic() - start
    return wall, proc.returncode, peak


def calls_of(stats: dict) -> tuple[dict[str, int], int]:
    by_action: dict[str, int] = {}
    for per_region in stats["calls"].values():
        for action, n in per_region.items():
            by_action[action] = by_action.get(action, 0) + n
    throttled = sum(n for per_region in stats["throttled"].values() for n in per_region.values())
    return dict(sorted(by_action.items(), key=lambda kv: (-kv[1], kv[0]))), throttled


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} × {cpu}{mem}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / "amibake")
    p.add_argument("--markdown", type=Path, help="also write the results table here")
    p.add_argument("--only", default="cold,a,fresh,b,c,n0,n1",
                   help="comma-separated scenarios (default: all)")
    args = p.parse_args()
    binary = args.binary.resolve()
    if not binary.exists():
        sys.exit(f"bench: {binary} does not exist (cargo build --release --locked)")

    work = ROOT / "target" / "bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows: list[dict] = []
    with Emulator(work) as emu:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "amibake-bench",
            "AWS_SECRET_ACCESS_KEY": "amibake-bench",
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": emu.url,
            # A fresh machine: no journals, no timing history.
            "AMIBAKE_STATE_DIR": str(work / "state"),
        }
        for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AMIBAKE_POLL_SCALE"):
            env.pop(key, None)
        path, chain = critical_path()

        def bake(name: str, recipes: int, what: str, history: str = "local",
                 state: Path | None = None) -> dict:
            emu.post("/_amibake/stats/reset")
            argv = [str(binary), "bake", *([str(RECIPE)] * recipes), "--json",
                    "--history", history, "--manifest", str(work / f"{name}-manifest.json")]
            run_env = env if state is None else {**env, "AMIBAKE_STATE_DIR": str(state)}
            wall, code, rss = run_measured(argv, run_env, work / f"{name}.log")
            if code != 0:
                sys.exit(f"bench: scenario {name} exited {code}; see {work / f'{name}.log'}")
            stats = emu.get("/_amibake/stats")
            calls, throttled = calls_of(stats)
            # Each bake's own duration (its manifest) less the critical path.
            manifests = ([work / f"{name}-manifest.json"] if recipes == 1 else
                         [work / f"{name}-manifest.{n}.json" for n in range(1, recipes + 1)])
            per_bake = sorted(json.loads(m.read_text())["duration_seconds"] - path for m in manifests)
            return {"name": name, "what": what, "wall": wall, "path": path, "bakes": recipes,
                    "calls": calls, "throttled": throttled, "throttled_by_region": stats["throttled"],
                    "rss_kib": rss, "per_bake_overhead": per_bake}

        print(f"bench: emulator {emu.url}, delays {DELAYS}", flush=True)
        print(f"bench: critical path of one bake {path:g} s = {chain}", flush=True)
        print(f"bench: critical path of the roll {STACK_UPDATE_SECONDS:g} s = the stack update U", flush=True)
        only = set(args.only.split(","))
        scenarios = [
            ("cold", lambda: bake("cold", 1, "1 bake, no timing history")),
            ("a", lambda: bake("a", 1, "1 bake")),
            # A CI runner: nothing on disk, the history in an SSM parameter.
            ("fresh", lambda: bake("fresh", 1, "1 bake, fresh runner (history in the account)",
                                   history="ssm", state=work / "fresh-runner-state")),
            ("b", lambda: bake("b", CONCURRENT, f"{CONCURRENT} bakes, one process")),
            ("c", lambda: roll(emu, env, binary, work)),
            ("n0", lambda: nightly(emu, env, binary, work, pending=False)),
            ("n1", lambda: nightly(emu, env, binary, work, pending=True)),
        ]
        for name, run in scenarios:
            if name == "a" and only & {"a", "fresh"}:
                # Nightly rebuilds bake the same recipe again and again: measure the steady
                # state, after two bakes that teach amibake when each wait ends. They keep
                # the history on disk and in the account, as a runner with `--history ssm`
                # does, so scenario fresh starts from what they saved.
                for i in (1, 2):
                    print_row(bake(f"warm-up{i}", 1, "1 bake (warm-up, not in the table)",
                                   history="ssm"))
            if name in only:
                rows.append(run())
                print_row(rows[-1])
                (work / "results.json").write_text(json.dumps(rows, indent=1))
    startup = validate_startup(binary, env)
    report = markdown(rows, startup, chain)
    print()
    print(report)
    if args.markdown:
        args.markdown.write_text(report)
    return 0


def roll(emu: Emulator, env: dict[str, str], binary: Path, work: Path) -> dict:
    """Creates the demo stack on the source AMI (not measured; creation is instant), then
    rolls it onto the image scenario (a) baked. The emulator runs the update for
    STACK_UPDATE_SECONDS (events released over that time, UPDATE_IN_PROGRESS until then):
    that is the roll's critical path, and wall - path what amibake adds (creating and
    describing the change set, executing it, and how late its watch notices that the
    stack settled)."""
    if not (work / "a-manifest.json").exists():
        sys.exit("bench: scenario c rolls onto scenario a's image: run it with a (--only a,c)")
    manifest = json.loads((work / "a-manifest.json").read_text())
    import boto3  # the venv's; only the roll's set-up needs it

    ec2 = boto3.client("ec2", endpoint_url=emu.url, region_name=REGION,
                       aws_access_key_id="amibake-bench", aws_secret_access_key="amibake-bench")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]][:2]
    common = ["--stack", "amibake-bench", "--yes", "--json"]
    create = [str(binary), "roll", *common, "--ami", manifest["source_ami"]["id"],
              "--parameter", f"VpcId={vpc}", "--parameter", f"Subnets={','.join(subnets)}",
              "--parameter", "InstanceProfile=amibake-builder", "--parameter", "MinSize=1",
              "--parameter", "DesiredCapacity=1", "--parameter", "MaxSize=2"]
    _, code, _ = run_measured(create, env, work / "c-create.log")
    if code != 0:
        sys.exit(f"bench: creating the roll's stack exited {code}; see {work / 'c-create.log'}")
    emu.post("/_amibake/stats/reset")
    wall, code, rss = run_measured([str(binary), "roll", *common, "--manifest", str(work / "a-manifest.json")],
                                   env, work / "c.log")
    if code != 0:
        sys.exit(f"bench: scenario c exited {code}; see {work / 'c.log'}")
    calls, throttled = calls_of(emu.get("/_amibake/stats"))
    return {"name": "c", "what": "roll (change set)", "wall": wall, "path": STACK_UPDATE_SECONDS, "bakes": 1,
            "calls": calls, "throttled": throttled, "rss_kib": rss}


# The update the probe finds in n1 (the emulator's `pending_updates` knob).
PENDING = [{"package": "openssl", "installed": "3.0.8-1", "candidate": "3.0.8-2", "security": True}]


def nightly(emu: Emulator, env: dict[str, str], binary: Path, work: Path, pending: bool) -> dict:
    """The nightly job after scenario a: `bake --if-changed --rebuild-for security`. The inputs
    match a's image, so a probe instance from it asks for pending updates: none (n0: the
    bake ends, current) or one security update (n1: the bake goes on). Critical path: the
    probe's launch, agent and command (L + O + K), plus for n1 a whole bake."""
    if not (work / "a-manifest.json").exists():
        sys.exit("bench: the nightly scenarios probe scenario a's image: run them with a (--only a,n0,n1)")
    name = "n1" if pending else "n0"
    emu.post("/_amibake/config", {"region": REGION, "pending_updates": PENDING if pending else []})
    emu.post("/_amibake/stats/reset")
    started = time.time()
    argv = [str(binary), "bake", str(RECIPE), "--json", "--if-changed", "--rebuild-for", "security",
            "--manifest", str(work / f"{name}-manifest.json")]
    wall, code, rss = run_measured(argv, env, work / f"{name}.log")
    emu.post("/_amibake/config", {"region": REGION, "pending_updates": []})
    if code != 0:
        sys.exit(f"bench: scenario {name} exited {code}; see {work / f'{name}.log'}")
    decision = next((json.loads(line) for line in (work / f"{name}.log").read_text().splitlines()
                     if line.startswith("{") and json.loads(line).get("event") == "rebuild_decision"), None)
    expected = "updates-pending" if pending else "current"
    if decision is None or decision.get("reason") != expected:
        sys.exit(f"bench: scenario {name} decided {decision and decision.get('reason')}, not {expected}")
    calls, throttled = calls_of(emu.get("/_amibake/stats"))
    d = DELAYS
    probe = d["instance_pending_seconds"] + d["agent_online_seconds"] + d["command_in_progress_seconds"]
    path = probe + (critical_path()[0] if pending else 0.0)
    what = "nightly, patches pending (probe, bake)" if pending else "nightly, nothing to do (probe)"
    instances, seconds = instance_seconds(emu, started)
    return {"name": name, "what": what, "wall": wall, "path": path, "bakes": 1, "calls": calls,
            "throttled": throttled, "rss_kib": rss, "instances": instances, "instance_seconds": seconds}


def instance_seconds(emu: Emulator, since: float) -> tuple[int, float]:
    """The instances launched since `since` in every region, and the seconds each ran from
    its launch to its termination (EC2's LaunchTime and the time in its terminated state's
    reason), summed. An instance still running counts until now."""
    import boto3  # the venv's
    from datetime import datetime, timezone

    count, total = 0, 0.0
    for region in [REGION, *COPY_REGIONS]:
        ec2 = boto3.client("ec2", endpoint_url=emu.url, region_name=region,
                           aws_access_key_id="amibake-bench", aws_secret_access_key="amibake-bench")
        for r in ec2.describe_instances()["Reservations"]:
            for i in r["Instances"]:
                launched = i["LaunchTime"].timestamp()
                if launched < since - 1:
                    continue
                count += 1
                end = time.time()
                reason = i.get("StateTransitionReason") or ""
                if i["State"]["Name"] == "terminated" and "(" in reason:
                    stamp = reason[reason.index("(") + 1:reason.rindex(")")].replace(" UTC", "").replace(" GMT", "")
                    end = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
                total += max(0.0, end - launched)
    return count, total


def validate_startup(binary: Path, env: dict[str, str], runs: int = 50) -> dict:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(binary), "validate", str(RECIPE)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"runs": runs, "median_ms": statistics.median(times), "p90_ms": times[int(runs * 0.9) - 1]}


def print_row(r: dict) -> None:
    total = sum(r["calls"].values())
    over = r["wall"] - r["path"]
    print(f"bench: {r['name']:7} {r['what']:26} wall {r['wall']:6.2f}s  path {r['path']:5.1f}s  "
          f"overhead {over:5.2f}s  calls {total} ({total / r['bakes']:.1f}/bake)  "
          f"throttled {r['throttled']}  rss {r['rss_kib'] / 1024:.1f} MiB", flush=True)
    if r["throttled"]:
        print(f"bench:         throttled: {r.get('throttled_by_region')}", flush=True)


def markdown(rows: list[dict], startup: dict, chain: str) -> str:
    lines = [
        "| scenario | wall (s) | critical path (s) | overhead (s) | overhead (% of path) | each bake's own overhead (s): median / max | API calls | per bake | throttled | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        total = sum(r["calls"].values())
        over = r["wall"] - r["path"]
        pct = f"{100 * over / r['path']:.1f}" if r["path"] else "—"
        own = r.get("per_bake_overhead")
        own_text = f"{statistics.median(own):.2f} / {max(own):.2f}" if own else "—"
        lines.append(
            f"| {r['name']}: {r['what']} | {r['wall']:.2f} | {r['path']:.1f} | {over:.2f} | {pct} | {own_text} | "
            f"{total} | {total / r['bakes']:.1f} | {r['throttled']} | {r['rss_kib'] / 1024:.1f} |"
        )
    lines.append("")
    lines.append(f"`amibake validate bench/recipe.yaml` start-up: median {startup['median_ms']:.1f} ms, "
                 f"p90 {startup['p90_ms']:.1f} ms over {startup['runs']} runs.")
    lines.append("")
    lines.append(f"Critical path of one bake: {chain}.")
    nightly_rows = [r for r in rows if "instance_seconds" in r]
    if nightly_rows:
        lines.append("")
        lines.append("Nightly paths (after scenario a; critical path: the probe's launch, agent and command, "
                     "L + O + K, plus a whole bake for n1):")
        lines.append("")
        lines.append("| scenario | wall (s) | API calls | instances launched | instance-seconds |")
        lines.append("|---|---:|---:|---:|---:|")
        for r in nightly_rows:
            lines.append(f"| {r['name']}: {r['what']} | {r['wall']:.2f} | {sum(r['calls'].values())} | "
                         f"{r['instances']} | {r['instance_seconds']:.0f} |")
    if any(r["name"] == "c" for r in rows):
        lines.append(f"Critical path of the roll: the stack update, U = {STACK_UPDATE_SECONDS:g} s (`stack_update_seconds`).")
    lines.append("")
    lines.append("API calls by action (all regions):")
    lines.append("")
    actions = sorted({a for r in rows for a in r["calls"]})
    lines.append("| action | " + " | ".join(r["name"] for r in rows) + " |")
    lines.append("|---|" + "---:|" * len(rows))
    for a in sorted(actions, key=lambda a: -sum(r["calls"].get(a, 0) for r in rows)):
        lines.append(f"| {a} | " + " | ".join(str(r["calls"].get(a, 0)) for r in rows) + " |")
    lines.append("")
    lines.append(f"Machine: {machine()}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
