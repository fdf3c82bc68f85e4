#!/usr/bin/env bash
# Builds a stand-in codedeploy-agent .deb for the real-OS tests and `just demo-real`:
# the upstream package's shape, none of its code. Two shapes, by the version's major:
#
# 1.x (the Ruby agent): the unit has the upstream unit's [Unit]/[Service]/[Install] shape
# (Type=forking with a PID file, WantedBy=multi-user.target), its postinst runs
# `systemctl enable` as the real installer does on every install and upgrade, and
# `codedeploy-agent --version` reports the version it was built with.
#
# 2.x (the native agent): no dependencies, one executable (a python3 script here: the
# root has python3 for cloud-init), upstream's systemd/codedeploy-agent.service
# (Type=simple, Restart=on-abnormal, WantedBy=multi-user.target) in /lib/systemd/system,
# a conffile config, and upstream's maintainer scripts: enable + start on a fresh install,
# enable + try-restart on an upgrade, stop on remove, state, logs and config gone on
# purge. The agent runs in the foreground, writes /opt/codedeploy-agent/.version itself
# at every start, serves the opt-in loopback command port, and `codedeploy-agent update`
# reinstalls its own package from the copy under /opt/codedeploy-agent/lib/package (unit
# file, daemon-reload, enable, try-restart) as the real `update` reinstalls the latest.
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
deb="$outdir/codedeploy-agent_${version}_all.deb"
build() {
  dpkg-deb --root-owner-group -Zgzip -b "$pkg" "$deb" >/dev/null
  echo "$deb"
}

# The 2.x package: upstream's unit and maintainer scripts, the agent as one executable.
v2_package() {
  local lib="$pkg/opt/codedeploy-agent/lib/package" conf="$pkg/etc/codedeploy-agent/conf"
  mkdir -p "$lib" "$conf"
  echo /etc/codedeploy-agent/conf/codedeployagent.yml >"$pkg/DEBIAN/conffiles"
  cat >"$pkg/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  systemctl daemon-reload || true
  systemctl enable codedeploy-agent.service
  if [ -z "$2" ]; then
    systemctl start codedeploy-agent.service
  else
    systemctl try-restart codedeploy-agent.service
  fi
fi
POSTINST
  cat >"$pkg/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ]; then
  systemctl stop codedeploy-agent.service || true
  systemctl disable codedeploy-agent.service || true
fi
PRERM
  cat >"$pkg/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf /opt/codedeploy-agent /var/log/aws/codedeploy-agent /etc/codedeploy-agent
fi
if [ "$1" = remove ] || [ "$1" = purge ]; then
  systemctl daemon-reload || true
fi
POSTRM
  chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"

  cat >"$pkg/lib/systemd/system/codedeploy-agent.service" <<'UNIT'
[Unit]
Description=AWS CodeDeploy Host Agent
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=/opt/codedeploy-agent/bin/codedeploy-agent start
ExecStop=/opt/codedeploy-agent/bin/codedeploy-agent stop
Restart=on-abnormal
RestartSec=10
TimeoutStopSec=7200
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
UNIT
  # What `codedeploy-agent update` reinstalls from.
  cp "$pkg/lib/systemd/system/codedeploy-agent.service" "$pkg/DEBIAN/postinst" "$lib/"

  cat >"$conf/codedeployagent.yml" <<'CONF'
---
:log_aws_wire: false
:log_dir: '/var/log/aws/codedeploy-agent/'
:pid_dir: '/opt/codedeploy-agent/state/.pid/'
:program_name: codedeploy-agent
:root_dir: '/opt/codedeploy-agent/deployment-root'
:verbose: false
:wait_between_runs: 1
:proxy_uri:
:max_revisions: 5
CONF

  local agent="$pkg/opt/codedeploy-agent/bin/codedeploy-agent"
  printf '#!/usr/bin/python3\nVERSION = "%s"\n' "$version" >"$agent"
  cat >>"$agent" <<'AGENT'
"""Stand-in CodeDeploy agent 2.x: the native agent's files, process and command port,
none of its deployments. `start` runs in the foreground (the unit is Type=simple)."""
import hmac
import json
import os
import secrets
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
import time

HOME = "/opt/codedeploy-agent"
CONFIG = "/etc/codedeploy-agent/conf/codedeployagent.yml"
LOG = "/var/log/aws/codedeploy-agent/codedeploy-agent.log"
PID_DIR = HOME + "/state/.pid"
PID_FILE = PID_DIR + "/codedeploy-agent.pid"
PORT_FILE = PID_DIR + "/.command-port"
UNIT = "/lib/systemd/system/codedeploy-agent.service"
PACKAGE = HOME + "/lib/package"


def log(line):
    with open(LOG, "a") as f:
        f.write(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + " " + line + "\n")


def config():
    """`key: value` lines; a legacy leading colon (`:log_aws_wire: false`) is stripped."""
    out = {}
    try:
        with open(CONFIG) as f:
            for raw in f:
                line = raw.split("#", 1)[0].strip()
                if line.startswith(":"):
                    line = line[1:]
                key, sep, value = line.partition(":")
                if sep and key.strip():
                    out[key.strip()] = value.strip().strip("'\"")
    except FileNotFoundError:
        pass
    return out


def write_new(path, text, mode):
    """Replaces `path` with a new file of this mode (a 0444 file is replaced, not edited)."""
    tmp = path + ".new"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class Port(socketserver.StreamRequestHandler):
    """One JSON line per request, one JSON line per reply; every request carries the token."""

    def handle(self):
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            try:
                request = json.loads(line)
            except ValueError:
                request = None
            self.wfile.write((json.dumps(self.server.answer(request), separators=(",", ":")) + "\n").encode())
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, token, started):
        super().__init__(("127.0.0.1", 0), Port)
        self.token = token
        self.started = started

    def answer(self, request):
        token = request.get("token") if isinstance(request, dict) else None
        if not isinstance(token, str) or not hmac.compare_digest(token, self.token):
            return {"ok": False, "error": "unauthorized"}
        command = request.get("command")
        if command == "ping":
            return {"ok": True}
        if command == "status":
            data = {"status": "running", "version": VERSION, "pid": os.getpid(), "started_at": self.started}
            return {"ok": True, "data": data}
        return {"ok": False, "error": "unknown command"}


def start():
    for d in (HOME + "/deployment-root", PID_DIR, os.path.dirname(LOG)):
        os.makedirs(d, exist_ok=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    log("started codedeploy-agent %s (pid %d)" % (VERSION, os.getpid()))
    write_new(PID_FILE, "%d\n" % os.getpid(), 0o644)
    write_new(HOME + "/.version", "agent_version: " + VERSION, 0o444)
    server = None
    if config().get("enable_command_port", "false").lower() in ("true", "yes"):
        server = Server(secrets.token_hex(16), started)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        write_new(PORT_FILE, json.dumps({"port": port, "token": server.token}, separators=(",", ":")), 0o600)
        print("command port on 127.0.0.1:%d" % port, flush=True)
    print("codedeploy-agent %s running (pid %d)" % (VERSION, os.getpid()), flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    if server is not None:
        server.shutdown()
    for path in (PORT_FILE, PID_FILE):
        if os.path.exists(path):
            os.unlink(path)
    log("stopped")


def stop():
    try:
        with open(PID_FILE) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def update():
    """Reinstalls this package from its copy, as the real `update` installs the latest:
    the unit file, then the package's postinst for an upgrade (daemon-reload, enable,
    try-restart)."""
    shutil.copyfile(PACKAGE + "/codedeploy-agent.service", UNIT)
    subprocess.run([PACKAGE + "/postinst", "configure", VERSION], check=True)
    print("codedeploy-agent %s: reinstalled codedeploy-agent %s" % (VERSION, VERSION))


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command in ("--version", "-v", "version"):
        print("codedeploy-agent " + VERSION)
    elif command == "start":
        start()
    elif command == "stop":
        stop()
    elif command == "update":
        update()
    else:
        print("usage: codedeploy-agent start|stop|update|--version", file=sys.stderr)
        sys.exit(2)


main()
AGENT
  chmod 0755 "$agent"
}

if [[ "$version" =~ ^([0-9]+)\. ]] && ((BASH_REMATCH[1] >= 2)); then
  v2_package
  build
  exit 0
fi

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

build
