#!/usr/bin/env bash
# The README's test command: installs what the tests need (shellcheck, cfn-lint, zizmor
# and the moto emulator, pinned, into target/venv; checkov into target/checkov-venv; debootstrap and systemd-nspawn from Debian's
# packages when missing), builds the real-OS root once (target/realos), lints the
# CloudFormation templates (cfn-lint, checkov) and the CI examples (zizmor), lints and tests
# the emulator (ruff, pytest), and runs every test; the one build and the real-OS root start
# first, in the background, while the tools install and the linters run. Needs Rust,
# Python 3 and root on a Debian-based machine.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Each phase's elapsed time, so a slow run shows where its minutes went.
phase() { echo "test.sh: +${SECONDS}s $*"; }

# Started first, in the background: the one build of the tests (compiling the AWS SDK is
# most of a fresh run) and the root filesystem the real-OS tests boot (debootstrap, cached
# under target/realos). The tools install and the linters run meanwhile; both are waited
# for before the tests, and stopped if the script ends first.
mkdir -p target/realos
echo "test.sh: building the tests in the background (target/build.log)"
cargo test --locked --tests --no-run >target/build.log 2>&1 &
build=$!
bash scripts/realos-rootfs.sh >/dev/null 2>target/realos/build.log &
rootfs=$!
trap 'kill "$build" "$rootfs" 2>/dev/null || true' EXIT

bin=$(bash scripts/venv.sh)
phase "tools ready (target/venv)"
export AMIBAKE_SHELLCHECK="$bin/shellcheck"

shopt -s nullglob
templates=(cfn-templates/*.yaml)
if ((${#templates[@]})); then
  echo "cfn-lint: ${templates[*]}"
  "$bin/cfn-lint" "${templates[@]}"
  # checkov: IaC security checks (IAM least privilege …), offline; any finding fails.
  # Suppressions are inline (checkov:skip=ID: why) next to what they excuse.
  "$root/target/checkov-venv/bin/checkov" -d cfn-templates --framework cloudformation \
    --compact --quiet --skip-download >target/checkov.log 2>&1 || {
    cat target/checkov.log >&2
    echo "checkov: findings in cfn-templates/ (above)" >&2
    exit 1
  }
  echo "checkov: cfn-templates/ clean ($(grep -o 'Passed checks: [0-9]*' target/checkov.log))"
fi
"$bin/shellcheck" scripts/*.sh .ci/run
# zizmor: the GitHub Actions security linter over the release workflow and the CI examples
# users copy; offline
# (its online audits need the GitHub API); any finding fails.
"$bin/zizmor" --offline --no-progress .github/workflows/*.yml examples/ci/*.yml >target/zizmor.log 2>&1 || {
  cat target/zizmor.log >&2
  echo "zizmor: findings in .github/workflows/ or examples/ci/ (above)" >&2
  exit 1
}
echo "zizmor: .github/workflows/ and examples/ci/ clean"
# The CI examples must at least be valid YAML.
"$bin/python" -c 'import sys, yaml; [yaml.safe_load(open(f)) for f in sys.argv[1:]]' .github/workflows/*.yml examples/ci/*.yml

# The emulator's own lint (ruff, emulator/ruff.toml) and tests (pytest, emulator/tests/,
# each run starting its own emulator on a free port); quick, so before the cargo build.
{
  "$bin/ruff" check --cache-dir target/ruff-cache --quiet emulator &&
    "$bin/python" -m pytest -q emulator
} >target/emulator-tests.log 2>&1 || {
  cat target/emulator-tests.log >&2
  echo "emulator: ruff or pytest failed (above)" >&2
  exit 1
}
echo "emulator: ruff clean, $(grep -Eo '[0-9]+ passed' target/emulator-tests.log | tail -1)"

phase "linters done; waiting for the build"
if ! wait "$build"; then
  cat target/build.log >&2
  echo "test.sh: the build failed (above; target/build.log)" >&2
  exit 1
fi
phase "tests built"
# On a machine that cannot run containers the real-OS root cannot be built: the test
# command stops here with one line saying why.
if ! wait "$rootfs"; then
  cat target/realos/build.log >&2
  exit 1
fi

# The emulator for the integration tests; stopped on exit, whatever happens.
bash scripts/emulator.sh start >/dev/null
trap 'bash scripts/emulator.sh stop >/dev/null 2>&1 || true' EXIT
AMIBAKE_TEST_ENDPOINT=$(bash scripts/emulator.sh endpoint)
export AMIBAKE_TEST_ENDPOINT

# The same flags as the build above, so nothing rebuilds; --include-ignored runs the
# tests plain `cargo test` leaves out (they need the emulator, the real-OS root or the
# shell linter, all provided above). Most tests wait on the emulator, not the CPU: eight
# at once (the real-OS ones boot two at a time, tests/amibake/realos/mod.rs; tests that share
# a region take turns, tests/amibake/support/claims.rs).
cargo test --locked --tests -- --include-ignored --test-threads=8
phase "every test passed"
