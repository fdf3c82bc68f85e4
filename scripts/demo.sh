#!/usr/bin/env bash
# The README's demo command: bakes recipes/al2023-tomcat-codedeploy.yaml end to end against
# the local AWS emulator (moto in server mode on 127.0.0.1, installed into target/venv),
# then prints the manifest, rolls a stack onto it, runs the nightly --if-changed check (a
# probe instance) and promotes to dev and staging (scan-gated). Needs only Rust and
# Python 3. The emulator is stopped on exit unless it was already running.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# --all-targets: the same feature set as `cargo test`, so the test command reuses this build.
cargo build --locked --quiet --all-targets
started_here=0
if ! bash scripts/emulator.sh status >/dev/null 2>&1; then
  bash scripts/emulator.sh start >/dev/null
  started_here=1
fi
stop_emulator() { if ((started_here)); then bash scripts/emulator.sh stop >/dev/null 2>&1 || true; fi; }
trap stop_emulator EXIT
endpoint=$(bash scripts/emulator.sh endpoint)

# The emulator accepts any credentials; these keep the SDK from looking for real ones.
export AWS_ACCESS_KEY_ID=amibake-demo AWS_SECRET_ACCESS_KEY=amibake-demo
export AWS_REGION=${AWS_REGION:-us-east-1}
export AMIBAKE_STATE_DIR="$root/target/demo-state"
# The emulator answers at once: poll every few hundred milliseconds instead of seconds.
export AMIBAKE_POLL_SCALE=${AMIBAKE_POLL_SCALE:-0.2}
manifest="$root/target/demo-manifest.json"

echo "== amibake bake against the emulator at $endpoint"
./target/debug/amibake bake recipes/al2023-tomcat-codedeploy.yaml \
  --endpoint-url "$endpoint" --manifest "$manifest" "$@"
echo "== manifest ($manifest)"
cat "$manifest"

# The roll: an Auto Scaling group from cfn-templates/asg-rolling.yaml on the base image,
# then moved onto the new one through a change set (old → new is printed).
read -r vpc subnets source_ami < <(target/venv/bin/python - "$endpoint" "$manifest" <<'PY'
import json, os, sys, boto3
endpoint, manifest = sys.argv[1], sys.argv[2]
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=os.environ["AWS_REGION"])
vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]][:2]
print(vpc, ",".join(subnets), json.load(open(manifest))["source_ami"]["id"])
PY
)
stack="amibake-demo-$(date +%s)"
echo "== amibake roll: create $stack on the base image $source_ami"
./target/debug/amibake roll --stack "$stack" --ami "$source_ami" --yes \
  --endpoint-url "$endpoint" --no-progress \
  --parameter "VpcId=$vpc" --parameter "Subnets=$subnets" \
  --parameter InstanceProfile=amibake-builder --parameter MinSize=1 \
  --parameter DesiredCapacity=1 --parameter MaxSize=2
# The update takes a few seconds, as CloudFormation's would: the roll shows its events
# as they come (the emulator's stack_update_seconds knob, set back afterwards).
knob() { # SECONDS
  target/venv/bin/python - "$endpoint" "$AWS_REGION" "$1" <<'PY'
import json, sys, urllib.request
endpoint, region, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
body = json.dumps({"region": region, "stack_update_seconds": seconds}).encode()
urllib.request.urlopen(urllib.request.Request(endpoint + "/_amibake/config", data=body, method="POST", headers={"Content-Type": "application/json"})).read()
PY
}
knob 6
echo "== amibake roll: $stack onto the baked image (the update takes 6 s)"
./target/debug/amibake roll --stack "$stack" --manifest "$manifest" --yes \
  --endpoint-url "$endpoint" --no-progress
knob 0

# The nightly job: the same recipe again with --if-changed. The inputs match the image just
# baked, so (the recipe's `rebuild: {updates: security}`) a small probe instance from it
# asks dnf for pending security updates; none are pending, so nothing else is launched.
echo "== the nightly job: amibake bake --if-changed (a probe asks for security updates)"
./target/debug/amibake bake recipes/al2023-tomcat-codedeploy.yaml --if-changed \
  --endpoint-url "$endpoint" --manifest "$root/target/demo-nightly-manifest.json" --no-progress
# Promotion: dev, then staging, which the recipe gates on the bake's Inspector scan.
echo "== amibake promote to dev, then staging (staging needs a passing scan)"
./target/debug/amibake promote --manifest "$manifest" --to dev --endpoint-url "$endpoint" --no-progress
./target/debug/amibake promote --manifest "$manifest" --to staging --endpoint-url "$endpoint" --no-progress
