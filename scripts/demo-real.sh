#!/usr/bin/env bash
# `just demo-real`: bakes recipes/ubuntu-2404-codedeploy.yaml against the local emulator
# with real instances: every instance boots a Debian 12 systemd + cloud-init container
# (the emulator's real_os knob; root from scripts/realos-rootfs.sh, cached), every script
# runs inside it for real, and the CodeDeploy agent comes from a locally built stand-in
# package served on 127.0.0.1 (the recipe's agent_package_url). Prints the manifest and
# the ordering the boot test saw. Needs root; `REAL_OS=amazon` boots Amazon Linux's
# unit layout instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/realos-rootfs.sh >/dev/null
cargo build --locked --quiet --all-targets
started_here=0
if ! bash scripts/emulator.sh status >/dev/null 2>&1; then
  bash scripts/emulator.sh start >/dev/null
  started_here=1
fi
work=$(mktemp -d)
server=""
cleanup() {
  if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; fi
  if ((started_here)); then bash scripts/emulator.sh stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
endpoint=$(bash scripts/emulator.sh endpoint)
export AWS_ACCESS_KEY_ID=amibake-demo AWS_SECRET_ACCESS_KEY=amibake-demo
export AWS_REGION=${AWS_REGION:-us-east-1}
export AMIBAKE_STATE_DIR="$root/target/demo-real-state"
export AMIBAKE_POLL_SCALE=${AMIBAKE_POLL_SCALE:-0.2}
manifest="$root/target/demo-real-manifest.json"

# The stand-in agent package, served on a free 127.0.0.1 port (the containers share the
# host's network).
deb=$(bash scripts/standin-codedeploy-agent.sh 2.1.0 "$work")
target/venv/bin/python -u -m http.server --bind 127.0.0.1 --directory "$work" 0 >"$work/http.log" 2>&1 &
server=$!
port=""
for _ in $(seq 50); do
  port=$(grep -oE 'port [0-9]+' "$work/http.log" | head -n1 | cut -d' ' -f2) && [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || { echo "demo-real: the package server did not start" >&2; exit 1; }

target/venv/bin/python - "$endpoint" "$AWS_REGION" "${REAL_OS:-debian}" <<'PY'
import json, sys, urllib.request
endpoint, region, flavour = sys.argv[1:]
body = json.dumps({"region": region, "real_os": flavour}).encode()
urllib.request.urlopen(urllib.request.Request(endpoint + "/_amibake/config", data=body, method="POST", headers={"Content-Type": "application/json"}))
PY

echo "== amibake bake on real ${REAL_OS:-debian} instances (emulator at $endpoint)"
./target/debug/amibake bake recipes/ubuntu-2404-codedeploy.yaml --endpoint-url "$endpoint" \
  --manifest "$manifest" --var "agent_package_url=http://127.0.0.1:$port/${deb##*/}" "$@"
echo "== manifest ($manifest)"
cat "$manifest"
