#!/usr/bin/env bash
# `just bench`: the benchmark of BENCHMARKS.md. Builds the release binary, then runs
# scripts/bench.py against a private emulator with realistic delays and EC2's request
# buckets on; prints the results table (also written to target/bench/results.md).
# Needs only Rust and Python 3. Arguments go to bench.py (e.g. --only a,b).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/venv.sh >/dev/null
# The first release build on a fresh clone compiles the AWS SDK with optimisations:
# about a quarter of an hour on two cores; later runs take seconds.
echo "bench: cargo build --release --locked" >&2
cargo build --release --locked --quiet
exec target/venv/bin/python scripts/bench.py --markdown target/bench/results.md "$@"
