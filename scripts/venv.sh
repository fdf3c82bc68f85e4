#!/usr/bin/env bash
# Creates (or refreshes) the project's Python venv under target/venv with the pinned tools
# from requirements-dev.txt: the moto emulator, cfn-lint and shellcheck. Idempotent: a stamp
# holding the requirements' hash skips pip when nothing changed. Prints the venv's bin dir.
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
echo "$venv/bin"
