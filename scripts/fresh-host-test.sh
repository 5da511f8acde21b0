#!/usr/bin/env bash
# Proves on this host what a fresh machine meets (`make test` runs it before
# the Go tests, so no other sandbox starts meanwhile):
#  1. with /dev/net/tun and /dev/fuse at mode 0600 (a machine without udev),
#     `scripts/host-setup.sh --check` and `handson doctor` fail, naming the
#     devices and the fix, and the canary sandbox reports the cause it found
#     inside;
#  2. `scripts/host-setup.sh` fixes them, and `handson doctor` passes (its
#     canary sandbox's Docker runs hello-world from the classroom registry).
# The devices are left as host-setup.sh makes them, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/handson}
DEVICES=(/dev/net/tun /dev/fuse)
out=$(mktemp)
trap 'rm -f "$out"; scripts/host-setup.sh >/dev/null' EXIT

fails=0
want() { # want WHAT TEXT: the last output says TEXT
  if grep -qF -- "$2" "$out"; then echo "  ok: $1"; else echo "  FAIL: $1: no \"$2\" in:"; sed 's/^/    | /' "$out"; fails=$((fails + 1)); fi
}
status() { # status WHAT WANT GOT
  if [ "$2" = "$3" ]; then echo "  ok: $1 exits $3"; else echo "  FAIL: $1 exits $3, want $2"; sed 's/^/    | /' "$out"; fails=$((fails + 1)); fi
}

echo "fresh-host-test: devices at 0600, as on a machine without udev"
chmod 600 "${DEVICES[@]}"

rc=0; scripts/host-setup.sh --check >"$out" 2>&1 || rc=$?
status "host-setup.sh --check" 1 "$rc"
want "host-setup.sh --check names /dev/net/tun" "/dev/net/tun is mode 600; sandboxes need 666"

rc=0; "$BIN" doctor -lang en >"$out" 2>&1 || rc=$?
status "handson doctor" 1 "$rc"
want "doctor fails the devices" "FAIL  Devices"
want "doctor says the mode and why" "/dev/net/tun is mode 0600 on this host: root in a sandbox, an unprivileged user on the host, cannot open it"
want "doctor gives the fix" "Run scripts/host-setup.sh as root (it sets mode 0666 and keeps it across reboots)"
want "doctor fails the canary" "FAIL  Test sandbox"
want "the canary quotes the sandbox's own finding" "/dev/net/tun cannot be opened in the sandbox: it is mode 600 on the host"

rc=0; "$BIN" doctor -lang ja -canary=false >"$out" 2>&1 || rc=$?
status "handson doctor -lang ja" 1 "$rc"
want "doctor says it in Japanese" "このホストの /dev/net/tun はモード 0600 です"

echo "fresh-host-test: scripts/host-setup.sh"
scripts/host-setup.sh >"$out" 2>&1
want "host-setup.sh fixes /dev/net/tun" "/dev/net/tun: mode 600 -> 666"
want "host-setup.sh fixes /dev/fuse" "/dev/fuse: mode 600 -> 666"
for d in "${DEVICES[@]}"; do
  m=$(stat -c %a "$d")
  if [ "$m" = 666 ]; then echo "  ok: $d is 666"; else echo "  FAIL: $d is $m"; fails=$((fails + 1)); fi
done

rc=0; "$BIN" doctor -lang en >"$out" 2>&1 || rc=$?
status "handson doctor after host-setup.sh" 0 "$rc"
want "the canary ran hello-world" "ran hello-world from the classroom registry"
want "doctor says the host is ready" "The host is ready for sandboxes"
grep -F "sandbox running" "$out" | sed 's/^ */  canary: /'

if [ "$fails" -gt 0 ]; then
  echo "fresh-host-test: $fails FAILED"
  exit 1
fi
echo "fresh-host-test: PASS"
