#!/usr/bin/env bash
# Builds, once, the root filesystems that the emulator's real-OS backend boots as EC2
# instances (systemd-nspawn -b): Debian 12 "bookworm" (systemd 252, as on Amazon Linux 2023)
# with systemd, cloud-init and curl, made to look like a fresh cloud image (no SSH host
# keys, empty machine-id, cloud-init never ran, a NoCloud datasource). Two flavours:
#   debian/  cloud-init's units as Debian and Ubuntu ship them (cloud-final.service
#            ordered After=multi-user.target);
#   amazon/  the same root with Amazon Linux's unit layout (cloud-final.service without
#            After=multi-user.target, as cloud-init renders it for the amazon variant).
# The result is cached under target/realos/rootfs-<key>, keyed by this file (it holds every
# input: suite, packages, configuration), and reused until this file changes.
#
#   realos-rootfs.sh          build if missing, print the directory
#   realos-rootfs.sh --path   print the directory without building
#
# Needs root, debootstrap and systemd-nspawn; installs the last two from Debian's packages
# when missing. The Debian mirror is the one this machine's apt uses
# (AMIBAKE_DEBIAN_MIRROR overrides it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
suite=bookworm
packages=(systemd systemd-sysv dbus cloud-init python3-cffi-backend curl openssh-server ca-certificates)
key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
out="$root/target/realos/rootfs-$key"

if [[ "${1:-}" == --path ]]; then
  echo "$out"
  exit 0
fi
fail() { echo "realos-rootfs: $*" >&2; exit 1; }

# Can this machine run a container at all? A command (not a boot) in the cached root.
# nspawn keeps state under /run/systemd/nspawn and removes it only from a tmpfs.
can_run_containers() {
  mkdir -p /run/systemd/nspawn
  mountpoint -q /run/systemd/nspawn || mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn \
    || fail "cannot mount a tmpfs on /run/systemd/nspawn for systemd-nspawn"
  local err
  err=$(systemd-nspawn --quiet --register=no --keep-unit -D "$out/debian" /bin/true 2>&1) \
    || fail "this machine cannot run containers (systemd-nspawn: ${err//$'\n'/ })"
}

if [[ -d "$out/debian" && -d "$out/amazon" ]]; then
  can_run_containers
  echo "$out"
  exit 0
fi

[[ $(id -u) == 0 ]] || fail "the real-OS instances need root (debootstrap, systemd-nspawn); run as root"
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v nsenter >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
  echo "realos-rootfs: installing ${missing[*]} from Debian's packages" >&2
  command -v apt-get >/dev/null || fail "missing ${missing[*]} and no apt-get to install them"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >&2 \
    || fail "could not install ${missing[*]} with apt-get"
fi

mirror=${AMIBAKE_DEBIAN_MIRROR:-}
if [[ -z "$mirror" ]]; then
  # The first Debian archive this machine's apt is configured with (deb822 or one-line).
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -oE '(https?|file):/+[^ ]*/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ') || true
fi
[[ -n "$mirror" ]] || fail "no Debian mirror in /etc/apt; set AMIBAKE_DEBIAN_MIRROR"

# Removes a root (a finished one, or a temporary one a killed run left): debootstrap mounts
# /proc (and more) inside while it runs, and a run killed then (a cancelled CI job) leaves
# them mounted, which `rm -rf` cannot remove. Unmounts what is under it first, deepest first.
remove_root() {
  local dir=$1 mount
  while read -r mount; do
    umount -l "$mount" 2>/dev/null || true
  done < <(awk -v d="$dir/" 'index($2 "/", d) == 1 { print $2 }' /proc/mounts | sort -r)
  rm -rf "$dir"
}

tmp="$out.tmp.$$"
log="$root/target/realos/debootstrap.log"
mkdir -p "$root/target/realos"
trap 'remove_root "$tmp"' EXIT
echo "realos-rootfs: debootstrap $suite (${packages[*]}) into $out (about a minute; log: $log)" >&2
include=$(IFS=,; echo "${packages[*]}")
if ! debootstrap --variant=minbase --include="$include" "$suite" "$tmp/debian" "$mirror" >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  fail "debootstrap failed (full log: $log)"
fi

r="$tmp/debian"
# cloud-init reads its seed from /var/lib/cloud/seed/nocloud, written by the emulator
# before each boot; networking belongs to the host (the container shares its network).
cat >"$r/etc/cloud/cloud.cfg.d/90-amibake-realos.cfg" <<'CFG'
datasource_list: [NoCloud, None]
network: {config: disabled}
locale: C.UTF-8
CFG
# A stand-in for amazon-ssm-agent: the unit AWS ships (After=network-online.target,
# WantedBy=multi-user.target) whose process only says "online"; the emulator runs the
# commands it is sent.
cat >"$r/lib/systemd/system/amazon-ssm-agent.service" <<'UNIT'
[Unit]
Description=amazon-ssm-agent (amibake emulator stand-in: commands run through the emulator)
After=network-online.target

[Service]
Type=simple
ExecStartPre=/bin/rm -f /run/amazon-ssm-agent.online
ExecStart=/bin/sh -c 'touch /run/amazon-ssm-agent.online && exec sleep infinity'
ExecStopPost=/bin/rm -f /run/amazon-ssm-agent.online

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /lib/systemd/system/amazon-ssm-agent.service "$r/etc/systemd/system/multi-user.target.wants/amazon-ssm-agent.service"
# The container shares the host's network: nothing in it may listen there (sshd) or run
# apt behind a bake's back (the daily timers). Keys are still generated by cloud-init.
rm -f "$r/etc/systemd/system/sshd.service" # ssh.service's alias: masked with it
for unit in ssh.service ssh.socket apt-daily.timer apt-daily-upgrade.timer console-getty.service; do
  ln -sf /dev/null "$r/etc/systemd/system/$unit"
done
# The journal on the console too, which the emulator keeps after the container is gone:
# what systemd said at every boot (ordering cycles above all) can be read afterwards.
mkdir -p "$r/etc/systemd/journald.conf.d"
printf '[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\n' >"$r/etc/systemd/journald.conf.d/90-amibake-console.conf"
# A fresh cloud image: no host keys, no machine-id, cloud-init never ran.
rm -f "$r"/etc/ssh/ssh_host_*_key "$r"/etc/ssh/ssh_host_*_key.pub
: >"$r/etc/machine-id"
rm -f "$r/var/lib/dbus/machine-id"
rm -rf "$r/var/lib/cloud"/* "$r/var/log/cloud-init"*.log
rm -rf "$r/var/cache/apt/archives"/*.deb

cp -a "$r" "$tmp/amazon"
unit="$tmp/amazon/lib/systemd/system/cloud-final.service"
grep -qx 'After=multi-user.target' "$unit" || fail "cloud-final.service has no After=multi-user.target line to drop: $unit"
sed -i '/^After=multi-user.target$/d' "$unit"

mv "$tmp" "$out"
trap - EXIT
can_run_containers
# Roots built from an older version of this file are not used any more.
# So are the temporary roots of runs killed before they finished.
while read -r old; do
  remove_root "$old"
done < <(find "$root/target/realos" -mindepth 1 -maxdepth 1 -name 'rootfs-*' ! -name "rootfs-$key")
echo "$out"
