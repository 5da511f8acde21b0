#!/usr/bin/env bash
# Make sure a host Docker daemon is answering. Idempotent: a no-op when
# `docker info` already works. Installs Debian's docker.io (20.10) if needed
# and starts dockerd by hand (these machines have no systemd).
set -euo pipefail

LOG_DIR=/var/log/handson
LOG=$LOG_DIR/dockerd.log
TIMEOUT=${DOCKER_START_TIMEOUT:-60}

# Root in a sandbox container must not be root on the host (it could write
# /proc/sys/kernel/core_pattern, which sandboxes cannot mask: rootless Docker
# needs an unmasked /proc). The daemon maps container ids into this range.
# 300000 ids: the student's own rootless Docker maps 100000-165535 inside.
REMAP_USER=handson-remap
REMAP_RANGE="1000000:300000"

remapped() { docker info --format '{{join .SecurityOptions " "}}' 2>/dev/null | grep -o 'name=userns' >/dev/null; }

# Every sandbox has a network of its own; Docker's default pools hold only
# about 30 networks (measured: the 30th sandbox failed with "could not find
# an available, non-overlapping IPv4 address pool"). A /12 cut into /28s
# holds 65536. 10.64.0.0/12 stays clear of the sandboxes' inner Docker
# (10.210.0.0/24, 10.211.0.0/16); docker0 keeps 172.17.0.1.
POOLS_BASE=10.64.0.0/12
pooled() { docker network inspect bridge >/dev/null 2>&1 && [ "$(docker info --format '{{json .DefaultAddressPools}}' 2>/dev/null)" != null ]; }
DAEMON_JSON=$(cat <<JSON
{
  "userns-remap": "$REMAP_USER",
  "bip": "172.17.0.1/16",
  "default-address-pools": [{"base": "$POOLS_BASE", "size": 28}]
}
JSON
)

if docker info >/dev/null 2>&1 && remapped && pooled; then
  echo "docker: daemon already answering, user namespaces remapped, address pools set (log, if started by us: $LOG)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-docker.sh: the daemon is not answering (or not remapped) and setting it up needs root" >&2
  exit 1
fi

# docker.io pulls in containerd, runc and tini (docker-init, needed by
# `docker run --init`) as hard dependencies; name them anyway so a partial
# install gets repaired.
PKGS=(docker.io containerd runc tini iptables)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Only refresh the package lists when apt does not know the package yet.
  if ! apt-cache show docker.io >/dev/null 2>&1 || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial -e auxfiles)" ]; then
    apt-get -o DPkg::Lock::Timeout=600 update
  fi
  # Stop the package's init script from starting its own dockerd (with its own
  # log and flags); we start it below.
  tmp_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    tmp_policy=1
  fi
  rc=0
  apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" || rc=$?
  if [ -n "$tmp_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  [ "$rc" = 0 ] || exit "$rc"
fi

mkdir -p "$LOG_DIR"

# User-namespace remapping: a user owning the id range, and the daemon told
# to use it.
id "$REMAP_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$REMAP_USER"
for f in /etc/subuid /etc/subgid; do
  grep "^$REMAP_USER:" "$f" >/dev/null 2>&1 || echo "$REMAP_USER:$REMAP_RANGE" >>"$f"
done
mkdir -p /etc/docker
# Ours to write when absent or written by an earlier version of this script.
if [ ! -s /etc/docker/daemon.json ] || grep -q "\"$REMAP_USER\"" /etc/docker/daemon.json; then
  printf '%s\n' "$DAEMON_JSON" >/etc/docker/daemon.json
else
  echo "ensure-docker.sh: /etc/docker/daemon.json is not ours; it needs:" >&2
  printf '%s\n' "$DAEMON_JSON" >&2
  exit 1
fi

# Start dockerd unless the host's one is already running (maybe still starting
# up). Judge by its pid file: `pgrep dockerd` would also match the rootless
# dockerds inside sandboxes.
host_dockerd_alive() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null) || return 1
  # Same mount namespace as us: a recycled pid may belong to a sandbox's dockerd.
  [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/dockerd ] &&
    [ "$(readlink "/proc/$pid/ns/mnt")" = "$(readlink /proc/self/ns/mnt)" ]
}
if host_dockerd_alive && ! { remapped && pooled; }; then
  # A daemon started before this configuration: restart it. Its containers
  # stop; images must be built again if remapping was new (remapped storage
  # is separate): make run and make test do that next.
  echo "docker: restarting dockerd for user-namespace remapping and address pools"
  pid=$(cat /var/run/docker.pid)
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
fi
if ! host_dockerd_alive; then
  # A pid file left by a dead daemon makes dockerd refuse to start.
  rm -f /var/run/docker.pid
  # Plain defaults (default bridge docker0 kept: never --bridge=none, which
  # deletes docker0 and cuts running containers off).
  # setsid: its own session, so Ctrl-C on `make run` does not stop the daemon.
  setsid nohup /usr/sbin/dockerd >>"$LOG" 2>&1 </dev/null &
  disown || true
fi

for _ in $(seq 1 "$TIMEOUT"); do
  if docker info >/dev/null 2>&1; then
    if ! remapped || ! pooled; then
      echo "ensure-docker.sh: dockerd answers without the configuration in /etc/docker/daemon.json; see $LOG" >&2
      exit 1
    fi
    echo "docker: daemon answering, user namespaces remapped, address pools set; log: $LOG"
    exit 0
  fi
  sleep 1
done

echo "ensure-docker.sh: dockerd did not answer within ${TIMEOUT}s; last lines of $LOG:" >&2
tail -n 40 "$LOG" >&2 || true
exit 1
