#!/usr/bin/env bash
# End-to-end proof of the sandbox image without the Go platform: start one
# sandbox exactly as the platform does, wait for handson-ready, run an inner
# container as the student, and always clean up.
set -euo pipefail

IMAGE=${IMAGE:-handson/sandbox:latest}
NET=handson-smoke
NAME=handson-smoke-sb
READY_TIMEOUT=${READY_TIMEOUT:-90}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

cleanup() {
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
}
fail() {
  echo "SMOKE FAILED: $*" >&2
  if docker inspect "$NAME" >/dev/null 2>&1; then
    echo "--- container state: $(docker inspect -f '{{.State.Status}} exit={{.State.ExitCode}}' "$NAME")" >&2
    echo "--- docker logs:" >&2; docker logs --tail 20 "$NAME" >&2 2>&1 || true
    echo "--- /var/log/handson/init.log:" >&2
    docker exec "$NAME" tail -n 20 /var/log/handson/init.log >&2 2>&1 || true
    echo "--- /var/log/handson/dockerd.log:" >&2
    docker exec "$NAME" tail -n 40 /var/log/handson/dockerd.log >&2 2>&1 || true
  fi
  exit 1
}
trap cleanup EXIT

docker image inspect "$IMAGE" >/dev/null 2>&1 || fail "$IMAGE missing; run scripts/build-images.sh"
cleanup # leftovers of an interrupted run

docker network create \
  -o com.docker.network.bridge.name=hs-smoke \
  -o com.docker.network.bridge.enable_icc=false \
  "$NET" >/dev/null

# The platform's flags, no command override.
t_run=$(now)
docker run -d --name "$NAME" --init \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --security-opt systempaths=unconfined \
  --device /dev/fuse --device /dev/net/tun \
  --pids-limit 512 --memory 1g --cpus 1 \
  --network "$NET" "$IMAGE" >/dev/null || fail "docker run failed"
echo "docker run -d:             $(since "$t_run")s"

# Readiness, polled the way the platform does.
ready=""
deadline=$(( $(date +%s) + READY_TIMEOUT ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  if reason=$(docker exec "$NAME" handson-ready 2>&1); then ready=1; break; fi
  [ "$(docker inspect -f '{{.State.Running}}' "$NAME")" = true ] || fail "sandbox exited: $reason"
  sleep 0.25
done
[ -n "$ready" ] || fail "not ready after ${READY_TIMEOUT}s: $reason"
echo "ready (handson-ready = 0): $(since "$t_run")s after docker run"

# First and second inner `docker run`, as the student.
for n in 1 2; do
  t=$(now)
  out=$(docker exec -u student "$NAME" docker run --rm busybox echo hello-from-inner 2>&1) \
    || fail "inner docker run #$n failed: $out"
  [ "$out" = hello-from-inner ] || fail "inner docker run #$n printed: $out"
  echo "inner docker run #$n:       $(since "$t")s -> $out"
done

# The student's login shell and environment.
prompt_env=$(docker exec -u student "$NAME" bash -lc 'echo "$HOME $DOCKER_HOST $LANG $TERM $(pwd)"')
echo "student login env:         $prompt_env"
[ "$prompt_env" = "/home/student unix:///run/user/1000/docker.sock C.UTF-8 xterm-256color /home/student" ] \
  || fail "unexpected student environment: $prompt_env"

t=$(now)
docker stop "$NAME" >/dev/null || fail "docker stop failed"
echo "docker stop:               $(since "$t")s"
echo "SMOKE OK"
