#!/usr/bin/env bash
# Builds a stand-in codedeploy-agent .deb for the real-OS tests and `just demo-real`:
# the upstream package's shape, none of its code. Its unit has the upstream unit's
# [Unit]/[Service]/[Install] shape (Type=forking with a PID file, WantedBy=multi-user.target),
# its postinst runs `systemctl enable` as the real installer does on every install and
# upgrade, and `codedeploy-agent --version` reports the version it was built with.
#
#   standin-codedeploy-agent.sh VERSION OUTDIR   prints OUTDIR/codedeploy-agent_VERSION_all.deb
set -euo pipefail
version=${1:?usage: standin-codedeploy-agent.sh VERSION OUTDIR}
outdir=${2:?usage: standin-codedeploy-agent.sh VERSION OUTDIR}
command -v dpkg-deb >/dev/null || { echo "standin-codedeploy-agent: dpkg-deb is missing (Debian's dpkg)" >&2; exit 1; }
pkg=$(mktemp -d)
trap 'rm -rf "$pkg"' EXIT
mkdir -p "$pkg/DEBIAN" "$pkg/opt/codedeploy-agent/bin" "$pkg/lib/systemd/system" "$outdir"

cat >"$pkg/DEBIAN/control" <<CONTROL
Package: codedeploy-agent
Version: $version
Architecture: all
Maintainer: amibake tests <amibake@localhost>
Description: stand-in AWS CodeDeploy agent for amibake's real-OS tests
CONTROL
cat >"$pkg/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
systemctl daemon-reload || true
systemctl enable codedeploy-agent
POSTINST
cat >"$pkg/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ]; then systemctl stop codedeploy-agent || true; fi
PRERM
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm"

cat >"$pkg/lib/systemd/system/codedeploy-agent.service" <<'UNIT'
[Unit]
Description=AWS CodeDeploy Host Agent

[Service]
Type=forking
ExecStart=/bin/bash -a -c '[ -f /etc/profile ] && source /etc/profile; /opt/codedeploy-agent/bin/codedeploy-agent start'
ExecStop=/opt/codedeploy-agent/bin/codedeploy-agent stop
RemainAfterExit=no
PIDFile=/opt/codedeploy-agent/state/.pid/codedeploy-agent.pid

[Install]
WantedBy=multi-user.target
UNIT

cat >"$pkg/opt/codedeploy-agent/bin/codedeploy-agent" <<AGENT
#!/bin/bash
# Stand-in agent: a long-running process with the real agent's PID file and state dirs.
set -eu
pidfile=/opt/codedeploy-agent/state/.pid/codedeploy-agent.pid
case "\${1:-}" in
  start)
    mkdir -p /opt/codedeploy-agent/state/.pid /opt/codedeploy-agent/deployment-root /var/log/aws/codedeploy-agent
    echo "\$(date -u +%FT%TZ) started" >>/var/log/aws/codedeploy-agent/codedeploy-agent.log
    date -u +%FT%TZ >/opt/codedeploy-agent/deployment-root/started-at
    (exec sleep infinity) </dev/null >/dev/null 2>&1 &
    echo \$! >"\$pidfile"
    ;;
  stop)
    if [ -f "\$pidfile" ]; then kill "\$(cat "\$pidfile")" 2>/dev/null || true; fi
    rm -f "\$pidfile"
    ;;
  --version | version) echo "agent_version: $version" ;;
  *) echo "usage: codedeploy-agent start|stop|--version" >&2; exit 2 ;;
esac
AGENT
chmod 0755 "$pkg/opt/codedeploy-agent/bin/codedeploy-agent"

deb="$outdir/codedeploy-agent_${version}_all.deb"
dpkg-deb --root-owner-group -Zgzip -b "$pkg" "$deb" >/dev/null
echo "$deb"
