#!/usr/bin/env bash
# Everything the platform needs of the host, made so by one script that
# `make run` and `make test` run. Idempotent: it converges from any starting
# state and is a quick no-op when the host is already right. Each item is
# listed with its reason in docs/deployment.md ("What the host needs").
#
#   scripts/host-setup.sh           converge (root needed for any change)
#   scripts/host-setup.sh --check   say what is not right, change nothing (exit 1 if anything)
#   scripts/host-setup.sh --reset   put back what a fresh machine has for every item
#                                   this script owns (.ci/run does, so CI proves the
#                                   install every run); installed packages stay
#
# These machines have no systemd: dockerd is started by hand, in the
# background, log in /var/log/handson/dockerd.log.
set -euo pipefail

MODE=converge
case "${1:-}" in
  "") ;;
  --check) MODE=check ;;
  --reset) MODE=reset ;;
  *) echo "usage: $0 [--check|--reset]" >&2; exit 2 ;;
esac

LOG_DIR=/var/log/handson
LOG=$LOG_DIR/dockerd.log
CONTAINERD_PID=/var/run/docker/containerd/containerd.pid # the daemon's own containerd
STATE_DIR=/var/lib/handson/host-setup # what a fresh machine had, for --reset
TIMEOUT=${DOCKER_START_TIMEOUT:-60}

# The devices every sandbox is given (--device): rootlesskit opens
# /dev/net/tun for the student's network, fuse-overlayfs opens /dev/fuse for
# the inner images. Root in a sandbox is an unprivileged host uid (userns
# remapping), so it can use them only when the host's nodes are 0666, as
# udev's default rules make them. Without udev (containers, minimal VMs) the
# kernel leaves them 0600.
DEVICES=(/dev/net/tun /dev/fuse)
DEVICE_MODE=666
UDEV_RULES=/etc/udev/rules.d/60-handson.rules
TMPFILES=/etc/tmpfiles.d/handson.conf
MODULES_LOAD=/etc/modules-load.d/handson.conf

# Kernel settings, "name minimum": raised to the minimum when lower, never
# lowered. A name this kernel lacks is skipped.
#  - kernel.unprivileged_userns_clone: Debian's switch for user namespaces
#    of unprivileged users; the student's rootless dockerd makes one.
#  - user.max_user_namespaces: 0 forbids them the same way.
#  - kernel.pid_max: every sandbox may hold its pids limit (512 by default);
#    the default 32768 leaves room for about 60 full sandboxes before the
#    host itself cannot fork. 4194304 is what systemd sets on 64-bit hosts.
SYSCTLS=(
  "kernel.unprivileged_userns_clone 1"
  "user.max_user_namespaces 28633"
  "kernel.pid_max 4194304"
)
SYSCTL_CONF=/etc/sysctl.d/60-handson.conf

# Root in a sandbox container must not be root on the host (it could write
# /proc/sys/kernel/core_pattern, which sandboxes cannot mask: rootless Docker
# needs an unmasked /proc). The daemon maps container ids into this range.
# 300000 ids: the student's own rootless Docker maps 100000-165535 inside.
REMAP_USER=handson-remap
REMAP_RANGE="1000000:300000"

# Every sandbox has a network of its own; Docker's default pools hold only
# about 30 networks (measured: the 30th sandbox failed with "could not find
# an available, non-overlapping IPv4 address pool"). A /12 cut into /28s
# holds 65536. 10.64.0.0/12 stays clear of the sandboxes' inner Docker
# (10.210.0.0/24, 10.211.0.0/16); docker0 keeps 172.17.0.1.
POOLS_BASE=10.64.0.0/12
DAEMON_JSON=$(cat <<JSON
{
  "userns-remap": "$REMAP_USER",
  "bip": "172.17.0.1/16",
  "default-address-pools": [{"base": "$POOLS_BASE", "size": 28}]
}
JSON
)

# docker.io pulls in containerd, runc and tini (docker-init, needed by
# `docker run --init`) as hard dependencies; name them anyway so a partial
# install gets repaired.
PKGS=(docker.io containerd runc tini iptables)

problems=()
problem() { problems+=("$*"); }
say() { echo "host-setup: $*"; }
need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "host-setup.sh: $1, and changing that needs root (run it as root, or: sudo $0)" >&2
    exit 1
  fi
}

mode_of() { stat -c %a "$1" 2>/dev/null || echo missing; }
sysctl_path() { echo "/proc/sys/${1//.//}"; }

# --- packages ----------------------------------------------------------------
missing_packages() {
  local p
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$MODE" = check ] && { problem "packages not installed: ${missing[*]}"; return 0; }
  need_root "packages ${missing[*]} are missing"
  export DEBIAN_FRONTEND=noninteractive
  # Only refresh the package lists when apt does not know the package yet.
  if ! apt-cache show docker.io >/dev/null 2>&1 || ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt-get -o DPkg::Lock::Timeout=600 update
  fi
  # Stop the package's init script from starting its own dockerd (with its
  # own log and flags); it is started below.
  local tmp_policy="" rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    tmp_policy=1
  fi
  apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" || rc=$?
  if [ -n "$tmp_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  [ "$rc" = 0 ] || exit "$rc"
  say "installed ${missing[*]}"
}

# --- devices -----------------------------------------------------------------
devices() {
  local d m
  for d in "${DEVICES[@]}"; do
    if [ ! -c "$d" ]; then
      if [ "$MODE" = check ]; then problem "$d does not exist (kernel module $(basename "$d") not loaded?)"; continue; fi
      need_root "$d does not exist"
      modprobe "$(basename "$d")" 2>/dev/null || true
      [ -c "$d" ] || { echo "host-setup.sh: $d does not exist and modprobe $(basename "$d") did not make it; this kernel needs tun and fuse" >&2; exit 1; }
    fi
    m=$(mode_of "$d")
    if [ "$m" != "$DEVICE_MODE" ]; then
      if [ "$MODE" = check ]; then problem "$d is mode $m; sandboxes need $DEVICE_MODE (chmod $DEVICE_MODE $d)"; continue; fi
      need_root "$d is mode $m"
      chmod "$DEVICE_MODE" "$d"
      say "$d: mode $m -> $DEVICE_MODE"
    fi
  done
  [ "$MODE" = check ] && return 0
  # Kept across reboots: by udev where it runs, by systemd-tmpfiles where
  # that runs without udev; on neither, make run / make test set it again.
  if [ -d /etc/udev ]; then
    write_file "$UDEV_RULES" 'KERNEL=="tun", MODE="0666"
KERNEL=="fuse", MODE="0666"'
  fi
  if command -v systemd-tmpfiles >/dev/null; then
    write_file "$TMPFILES" 'z /dev/net/tun 0666 - - -
z /dev/fuse 0666 - - -'
  fi
  if [ -d /lib/modules/"$(uname -r)" ]; then
    write_file "$MODULES_LOAD" 'tun
fuse'
  fi
}

# write_file PATH CONTENT: writes the file when its content differs.
write_file() {
  local body="# Written by handson's scripts/host-setup.sh (docs/deployment.md says why).
$2"
  if [ "$(cat "$1" 2>/dev/null)" != "$body" ]; then
    mkdir -p "$(dirname "$1")"
    printf '%s\n' "$body" >"$1"
    say "wrote $1"
  fi
}

# --- kernel settings ---------------------------------------------------------
sysctls() {
  local line name min p cur conf=""
  for line in "${SYSCTLS[@]}"; do
    read -r name min <<<"$line"
    p=$(sysctl_path "$name")
    [ -e "$p" ] || continue
    cur=$(cat "$p")
    if [ "$cur" -lt "$min" ]; then
      if [ "$MODE" = check ]; then problem "sysctl $name is $cur; sandboxes need at least $min"; continue; fi
      need_root "sysctl $name is $cur"
      mkdir -p "$STATE_DIR"
      # The first value seen is what --reset puts back.
      [ -e "$STATE_DIR/sysctl.$name" ] || echo "$cur" >"$STATE_DIR/sysctl.$name"
      echo "$min" >"$p"
      say "sysctl $name: $cur -> $min"
    fi
    # Kept across reboots: the settings this host had below the minimum.
    [ -e "$STATE_DIR/sysctl.$name" ] && conf+="$name = $min"$'\n'
  done
  [ "$MODE" = check ] && return 0
  if [ -n "$conf" ] && [ -d /etc/sysctl.d ]; then write_file "$SYSCTL_CONF" "${conf%$'\n'}"; fi
  return 0
}

# --- iptables ----------------------------------------------------------------
# Docker and the sandbox firewall (internal/firewall) both call iptables;
# Debian's default is the nf_tables backend. A kernel without nf_tables
# needs the legacy one, or neither can install a rule.
iptables_backend() {
  command -v iptables >/dev/null || return 0 # packages come first
  iptables -S >/dev/null 2>&1 && return 0
  if [ "$MODE" = check ]; then problem "iptables does not work with its current backend ($(readlink -f "$(command -v iptables)")): $(iptables -S 2>&1 | head -1)"; return 0; fi
  need_root "iptables does not work"
  local alt
  for alt in /usr/sbin/iptables-legacy /usr/sbin/iptables-nft; do
    if ! [ -x "$alt" ] || ! "$alt" -S >/dev/null 2>&1; then continue; fi
    update-alternatives --set iptables "$alt" >/dev/null
    if [ -x "${alt/iptables/ip6tables}" ]; then update-alternatives --set ip6tables "${alt/iptables/ip6tables}" >/dev/null 2>&1 || true; fi
    say "iptables backend: $alt"
    return 0
  done
  echo "host-setup.sh: neither iptables backend works on this kernel: $(iptables -S 2>&1 | head -1)" >&2
  exit 1
}

# --- user-namespace remapping --------------------------------------------------
remap() {
  local f
  if ! id "$REMAP_USER" >/dev/null 2>&1; then
    if [ "$MODE" = check ]; then problem "user $REMAP_USER (owner of the remapped ids) does not exist"; else
      need_root "user $REMAP_USER is missing"
      useradd --system --no-create-home --shell /usr/sbin/nologin "$REMAP_USER"
      say "created user $REMAP_USER"
    fi
  fi
  for f in /etc/subuid /etc/subgid; do
    grep -q "^$REMAP_USER:" "$f" 2>/dev/null && continue
    if [ "$MODE" = check ]; then problem "$f has no line for $REMAP_USER"; continue; fi
    need_root "$f has no line for $REMAP_USER"
    echo "$REMAP_USER:$REMAP_RANGE" >>"$f"
    say "$f: $REMAP_USER:$REMAP_RANGE"
  done
  if [ "$(cat /etc/docker/daemon.json 2>/dev/null)" = "$DAEMON_JSON" ]; then return 0; fi
  if [ "$MODE" = check ]; then problem "/etc/docker/daemon.json does not hold the platform's settings (userns-remap, address pools)"; return 0; fi
  # Ours to write when absent or written by an earlier version of this script.
  if [ -s /etc/docker/daemon.json ] && ! grep -q "\"$REMAP_USER\"" /etc/docker/daemon.json; then
    echo "host-setup.sh: /etc/docker/daemon.json is not ours; merge this into it, then run this script again:" >&2
    printf '%s\n' "$DAEMON_JSON" >&2
    exit 1
  fi
  need_root "/etc/docker/daemon.json needs the platform's settings"
  mkdir -p /etc/docker
  printf '%s\n' "$DAEMON_JSON" >/etc/docker/daemon.json
  say "wrote /etc/docker/daemon.json"
}

# --- the daemon ----------------------------------------------------------------
remapped() { docker info --format '{{join .SecurityOptions " "}}' 2>/dev/null | grep -q 'name=userns'; }
pooled() { docker network inspect bridge >/dev/null 2>&1 && [ "$(docker info --format '{{json .DefaultAddressPools}}' 2>/dev/null)" != null ]; }

# The host's dockerd, judged by its pid file: `pgrep dockerd` would also
# match the rootless dockerds inside sandboxes.
host_dockerd_pid() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null) || return 1
  # Same mount namespace as us: a recycled pid may belong to a sandbox's dockerd.
  [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/dockerd ] &&
    [ "$(readlink "/proc/$pid/ns/mnt")" = "$(readlink /proc/self/ns/mnt)" ] && echo "$pid"
}

stop_dockerd() {
  local pid
  pid=$(host_dockerd_pid) || return 0
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
  echo "host-setup.sh: dockerd (pid $pid) did not stop within 30 s" >&2
  exit 1
}

daemon() {
  if docker info >/dev/null 2>&1 && remapped && pooled; then return 0; fi
  if [ "$MODE" = check ]; then
    if docker info >/dev/null 2>&1; then problem "dockerd answers without the settings of /etc/docker/daemon.json (restart it)"
    else problem "no Docker daemon answers"; fi
    return 0
  fi
  need_root "the Docker daemon is not answering with the platform's settings"
  mkdir -p "$LOG_DIR"
  if host_dockerd_pid >/dev/null; then
    # A daemon started before this configuration: restart it. Its containers
    # stop; images are built again if remapping was new (remapped storage is
    # separate): make run and make test do that next.
    say "restarting dockerd for user-namespace remapping and address pools"
    stop_dockerd
  fi
  # A pid file left by a dead daemon makes dockerd refuse to start.
  rm -f /var/run/docker.pid
  # dockerd trusts its containerd's pid file: after a reboot or a kill the pid
  # may belong to another process, and dockerd then waits for a containerd
  # that never answers ("timeout waiting for containerd to start").
  local cpid
  cpid=$(cat "$CONTAINERD_PID" 2>/dev/null) || true
  if [ -n "$cpid" ] && [ "$(cat "/proc/$cpid/comm" 2>/dev/null)" != containerd ]; then
    rm -f "$CONTAINERD_PID"
  fi
  # Plain defaults (default bridge docker0 kept: never --bridge=none, which
  # deletes docker0 and cuts running containers off).
  # setsid: its own session, so Ctrl-C on `make run` does not stop the daemon.
  setsid nohup /usr/sbin/dockerd >>"$LOG" 2>&1 </dev/null &
  disown || true
  for _ in $(seq 1 "$TIMEOUT"); do
    if docker info >/dev/null 2>&1; then
      if ! remapped || ! pooled; then
        echo "host-setup.sh: dockerd answers without the configuration in /etc/docker/daemon.json; see $LOG" >&2
        exit 1
      fi
      say "dockerd started; log: $LOG"
      return 0
    fi
    sleep 1
  done
  echo "host-setup.sh: dockerd did not answer within ${TIMEOUT}s; last lines of $LOG:" >&2
  tail -n 40 "$LOG" >&2 || true
  exit 1
}

# --- reset: a fresh machine's state ----------------------------------------------
reset() {
  need_root "--reset changes the host"
  local d f name
  stop_dockerd
  for d in "${DEVICES[@]}"; do [ -c "$d" ] && chmod 600 "$d"; done
  rm -f "$UDEV_RULES" "$TMPFILES" "$MODULES_LOAD" "$SYSCTL_CONF"
  for f in "$STATE_DIR"/sysctl.*; do
    [ -e "$f" ] || continue
    name=${f##*/sysctl.}
    cat "$f" >"$(sysctl_path "$name")"
    rm -f "$f"
  done
  if grep -q "\"$REMAP_USER\"" /etc/docker/daemon.json 2>/dev/null; then rm -f /etc/docker/daemon.json; fi
  for f in /etc/subuid /etc/subgid; do [ -e "$f" ] && sed -i "/^$REMAP_USER:/d" "$f"; done
  if id "$REMAP_USER" >/dev/null 2>&1; then userdel "$REMAP_USER"; fi
  say "reset: dockerd stopped; ${DEVICES[*]} mode 600; no daemon.json, remap user, sysctl or device rules of ours (packages stay installed)"
}

if [ "$MODE" = reset ]; then reset; exit 0; fi

install_packages
devices
sysctls
iptables_backend
remap
daemon

if [ "$MODE" = check ]; then
  if [ ${#problems[@]} -gt 0 ]; then
    printf 'host-setup: not ready: %s\n' "${problems[@]}" >&2
    echo "host-setup: run $0 as root to fix them" >&2
    exit 1
  fi
  say "the host is ready"
  exit 0
fi
say "the host is ready (devices ${DEVICE_MODE}, user namespaces remapped, address pools set; dockerd log: $LOG)"
