#!/usr/bin/env bash
# The README's test command: installs what the tests need (shellcheck, cfn-lint and the
# moto emulator, pinned, into target/venv), lints the CloudFormation templates, then builds
# once and runs every test. Needs only Rust and Python 3.
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

# The emulator for the integration tests; stopped on exit, whatever happens.
bash scripts/emulator.sh start >/dev/null
trap 'bash scripts/emulator.sh stop >/dev/null 2>&1 || true' EXIT
AMIBAKE_TEST_ENDPOINT=$(bash scripts/emulator.sh endpoint)
export AMIBAKE_TEST_ENDPOINT

cargo test --locked --all-targets
