#!/usr/bin/env bash
# Runs amibake's local AWS emulator (moto + the package emulator/amibake_emulator/, as
# `python -m amibake_emulator` with emulator/ on PYTHONPATH) in the background.
#
#   scripts/emulator.sh start     ensure target/venv, start on a free 127.0.0.1 port (or
#                                 $AMIBAKE_EMULATOR_PORT), wait until it answers, print the
#                                 endpoint; if it already runs, just print the endpoint
#   scripts/emulator.sh stop      stop the emulator named by target/emulator/pid, wait for exit
#   scripts/emulator.sh status    exit 0 (and print the endpoint) if it runs, else exit 1
#   scripts/emulator.sh endpoint  print the endpoint (exit 1 if not running)
#
# Files: target/emulator/pid, target/emulator/endpoint (http://127.0.0.1:PORT),
# target/emulator/port, target/emulator/log. AMIBAKE_EMULATOR_ARGS adds whitespace-separated
# arguments (e.g. "--quiet"); change knobs at run time with POST /_amibake/config instead.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/target/emulator"
pid_file="$dir/pid"
endpoint_file="$dir/endpoint"
port_file="$dir/port"
log_file="$dir/log"
package_dir="$root/emulator" # holds the package amibake_emulator/
start_timeout=${AMIBAKE_EMULATOR_START_TIMEOUT:-30}

die() { echo "emulator: $*" >&2; exit 1; }

# The PID in the pid file, if that process is alive and is our emulator (guards against a
# stale file whose PID was reused by something else).
emulator_pid() {
  local pid
  [[ -f "$pid_file" ]] || return 1
  pid=$(<"$pid_file")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "amibake_emulator" || return 1
  echo "$pid"
}

# True while PID runs; a zombie (exited, not yet reaped by init) counts as gone.
alive() { # PID
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ "$state" != "Z" ]]
}

answers() { # URL
  "$root/target/venv/bin/python" - "$1/_amibake/health" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read()
PY
}

cmd_start() {
  mkdir -p "$dir"
  # One start at a time (tests may call start concurrently).
  exec 9>"$dir/lock"
  flock 9
  local pid
  if pid=$(emulator_pid) && [[ -s "$endpoint_file" ]] && answers "$(<"$endpoint_file")"; then
    cat "$endpoint_file"
    return 0
  fi
  if pid=$(emulator_pid); then
    die "process $pid from $pid_file runs but does not answer; run '$0 stop' first (log: $log_file)"
  fi

  local bin
  bin=$(bash "$root/scripts/venv.sh")
  rm -f "$pid_file" "$endpoint_file" "$port_file"
  echo "--- $(date -u +%Y-%m-%dT%H:%M:%SZ) start" >>"$log_file"
  local -a extra=()
  if [[ -n "${AMIBAKE_EMULATOR_ARGS:-}" ]]; then
    read -r -a extra <<<"$AMIBAKE_EMULATOR_ARGS"
  fi
  # setsid: the emulator outlives the shell (and its process group) that started it.
  # 9>&-: the child must not inherit the start lock.
  PYTHONPATH="$package_dir${PYTHONPATH:+:$PYTHONPATH}" \
    setsid "$bin/python" -m amibake_emulator --host 127.0.0.1 --port "${AMIBAKE_EMULATOR_PORT:-0}" \
    --port-file "$port_file" --realos-rootfs "$(bash "$root/scripts/realos-rootfs.sh" --path)" \
    --realos-work "$dir/realos" "${extra[@]}" </dev/null >>"$log_file" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$pid_file"

  local deadline=$((SECONDS + start_timeout)) endpoint=""
  while ((SECONDS < deadline)); do
    if ! alive "$pid"; then
      rm -f "$pid_file"
      tail -n 30 "$log_file" >&2 || true
      die "exited during start-up (log: $log_file)"
    fi
    if [[ -z "$endpoint" && -s "$port_file" ]]; then
      endpoint="http://127.0.0.1:$(tr -d '[:space:]' <"$port_file")"
    fi
    if [[ -n "$endpoint" ]] && answers "$endpoint"; then
      echo "$endpoint" >"$endpoint_file"
      echo "$endpoint"
      return 0
    fi
    sleep 0.2
  done
  kill -TERM "$pid" 2>/dev/null || true
  rm -f "$pid_file"
  tail -n 30 "$log_file" >&2 || true
  die "did not answer within ${start_timeout}s (log: $log_file)"
}

cmd_stop() {
  local pid
  if ! pid=$(emulator_pid); then
    rm -f "$pid_file" "$endpoint_file" "$port_file"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local i
  # Up to 60 s: real-OS instances are powered off cleanly before it exits.
  for ((i = 0; i < 600; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    echo "emulator: $pid ignored SIGTERM for 60s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file" "$endpoint_file" "$port_file"
}

cmd_status() {
  local pid
  pid=$(emulator_pid) || { echo "emulator: not running" >&2; return 1; }
  [[ -s "$endpoint_file" ]] || { echo "emulator: $pid starting" >&2; return 1; }
  echo "emulator: running (pid $pid) at $(<"$endpoint_file")" >&2
  cat "$endpoint_file"
}

cmd_endpoint() {
  emulator_pid >/dev/null && [[ -s "$endpoint_file" ]] || die "not running"
  cat "$endpoint_file"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  endpoint) cmd_endpoint ;;
  *) echo "usage: $0 start|stop|status|endpoint" >&2; exit 2 ;;
esac
