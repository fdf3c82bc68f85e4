#!/usr/bin/env bash
# The README's demo command. Until `bake` lands (issue 3) it validates both shipped
# recipes and prints the full plan of the AL2023 one: every API call and the exact
# scripts a bake would send.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

cargo build --locked --quiet
./target/debug/amibake validate recipes/*.yaml
./target/debug/amibake plan recipes/al2023-tomcat-codedeploy.yaml
