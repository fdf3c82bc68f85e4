#!/usr/bin/env bash
# The README's test command: installs what the tests need (shellcheck, cfn-lint and the
# moto emulator, pinned, into target/venv; debootstrap and systemd-nspawn from Debian's
# packages when missing), builds the real-OS root once (target/realos), lints the
# CloudFormation templates, then builds once and runs every test. Needs Rust, Python 3 and
# root on a Debian-based machine.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bin=$(bash scripts/venv.sh)
export AMIBAKE_SHELLCHECK="$bin/shellcheck"

shopt -s nullglob
templates=(cfn-templates/*.yaml)
if ((${#templates[@]})); then
  echo "cfn-lint: ${templates[*]}"
  "$bin/cfn-lint" "${templates[@]}"
fi
"$bin/shellcheck" scripts/*.sh .ci/run
# The CI examples must at least be valid YAML.
"$bin/python" -c 'import sys, yaml; [yaml.safe_load(open(f)) for f in sys.argv[1:]]' examples/ci/*.yml

# The root filesystem the real-OS tests boot (debootstrap, cached under target/realos),
# built while cargo compiles; on a machine that cannot run containers the test command
# stops before the tests with one line saying why.
mkdir -p target/realos
bash scripts/realos-rootfs.sh >/dev/null 2>target/realos/build.log &
rootfs=$!

cargo test --locked --all-targets --no-run
if ! wait "$rootfs"; then
  cat target/realos/build.log >&2
  exit 1
fi

# The emulator for the integration tests; stopped on exit, whatever happens.
bash scripts/emulator.sh start >/dev/null
trap 'bash scripts/emulator.sh stop >/dev/null 2>&1 || true' EXIT
AMIBAKE_TEST_ENDPOINT=$(bash scripts/emulator.sh endpoint)
export AMIBAKE_TEST_ENDPOINT

cargo test --locked --all-targets
