#!/usr/bin/env bash
# Creates (or refreshes) the project's Python venvs with the pinned tools: target/venv from
# requirements-dev.txt (the moto emulator, cfn-lint, shellcheck, zizmor) and
# target/checkov-venv from requirements-checkov.txt (checkov pins an older boto3 than moto
# needs, so it lives apart). Idempotent: a stamp holding each requirements file's hash
# skips pip when nothing changed. Prints target/venv's bin dir.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/target/venv"
req="$root/requirements-dev.txt"
stamp="$venv/.amibake-requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

if [[ ! -x "$venv/bin/python" ]]; then
  echo "venv: creating $venv" >&2
  python3 -m venv "$venv"
fi
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "venv: installing $(grep -cv '^#' "$req") pinned tools from requirements-dev.txt" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
  echo "$want" > "$stamp"
fi

checkov_venv="$root/target/checkov-venv"
checkov_req="$root/requirements-checkov.txt"
checkov_stamp="$checkov_venv/.amibake-requirements.sha256"
checkov_want=$(sha256sum "$checkov_req" | cut -d' ' -f1)
if [[ ! -x "$checkov_venv/bin/python" ]]; then
  echo "venv: creating $checkov_venv" >&2
  python3 -m venv "$checkov_venv"
fi
if [[ "$(cat "$checkov_stamp" 2>/dev/null)" != "$checkov_want" ]]; then
  echo "venv: installing checkov from requirements-checkov.txt" >&2
  "$checkov_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$checkov_req" >&2
  echo "$checkov_want" > "$checkov_stamp"
fi
echo "$venv/bin"
