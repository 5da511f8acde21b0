#!/usr/bin/env bash
# Seed the classroom registry offline: push the course images built by
# scripts/build-images.sh (handson/library/<name>:<tag>) into the Docker volume
# `handson-registry` as library/<name>:<tag>, so that a sandbox's
# `docker pull nginx` is served by the platform's registry (its mirror).
#
# How: a temporary, auth-less handson/registry container on 127.0.0.1:<free
# port> with that volume and its own config, plain `docker push` (the daemon
# trusts 127.0.0.0/8 as insecure), then the container is removed.
#
# Idempotent and fast when already seeded: the volume keeps a stamp file
# (.handson-seed: "<name>:<tag> <local image ID>" per line); a tag is pushed
# only when its local image ID differs from the stamp or the registry lacks
# the tag. With nothing to push, no registry is started.
#
#   scripts/seed-registry.sh            seed what changed
#   scripts/seed-registry.sh --force    push every tag again
# Env: HANDSON_REGISTRY_VOLUME (default handson-registry).
set -euo pipefail

VOLUME=${HANDSON_REGISTRY_VOLUME:-handson-registry}
REGISTRY_IMAGE=handson/registry:latest
LABEL=handson.managed=true
DATA=/var/lib/docker-registry           # the registry's storage root (the volume)
STAMP=.handson-seed
# Every course image must exist; their extra tags (nginx:1.22, ...) are found
# among the local handson/library/* tags.
REQUIRED=(hello-world debian busybox nginx httpd mariadb wordpress tinyweb)

force=
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
T0=$(now)

docker info >/dev/null 2>&1 || { echo "seed-registry.sh: docker is not answering; run scripts/host-setup.sh first" >&2; exit 1; }
docker image inspect "$REGISTRY_IMAGE" >/dev/null 2>&1 \
  || { echo "seed-registry.sh: $REGISTRY_IMAGE is missing; run scripts/build-images.sh first" >&2; exit 1; }

# One seeding at a time per volume (make run and make test may overlap).
exec 9>"/tmp/handson-seed-$VOLUME.lock"
flock 9

# --- what should be in the registry ------------------------------------------
tags=()
if ! docker image inspect "${REQUIRED[@]/#/handson/library/}" >/dev/null 2>&1; then
  for name in "${REQUIRED[@]}"; do
    docker image inspect "handson/library/$name:latest" >/dev/null 2>&1 \
      || echo "seed-registry.sh: handson/library/$name:latest is missing; run scripts/build-images.sh first" >&2
  done
  exit 1
fi
while read -r ref; do
  tags+=("${ref#handson/library/}")
done < <(docker image ls --format '{{.Repository}}:{{.Tag}}' 'handson/library/*' | grep -v '<none>' | sort)

declare -A local_id size
i=0
while read -r id bytes; do
  local_id[${tags[$i]}]=$id
  size[${tags[$i]}]=$bytes
  i=$((i + 1))
done < <(docker image inspect -f '{{.Id}} {{.Size}}' "${tags[@]/#/handson/library/}")

# --- what the volume already holds --------------------------------------------
if ! docker volume inspect "$VOLUME" >/dev/null 2>&1; then
  docker volume create --label "$LABEL" "$VOLUME" >/dev/null
  echo "created volume $VOLUME"
fi
# Runs as root in the registry image: give the storage root to the registry's
# user (uid 100) on a new volume, then print the stamp lines whose tag the
# storage really holds, and the volume's size.
inspect_volume() {
  docker run --rm -i --user 0 --entrypoint sh -v "$VOLUME:$DATA" "$REGISTRY_IMAGE" -s "$DATA" "$STAMP" <<'EOF'
data=$1 stamp=$2
chown docker-registry:docker-registry "$data"
if [ -f "$data/$stamp" ]; then
  while read -r ref id; do
    name=${ref%%:*} tag=${ref#*:}
    [ -f "$data/docker/registry/v2/repositories/library/$name/_manifests/tags/$tag/current/link" ] && echo "stamp $ref $id"
  done <"$data/$stamp"
fi
echo "du $(du -sh "$data" | cut -f1)"
EOF
}

declare -A seeded
disk='?'
while read -r kind a b; do
  case $kind in
    stamp) seeded[$a]=$b ;;
    du) disk=$a ;;
  esac
done < <(inspect_volume)

todo=()
for t in "${tags[@]}"; do
  if [ -n "$force" ] || [ "${seeded[$t]:-}" != "${local_id[$t]}" ]; then
    todo+=("$t")
  fi
done

human() { awk -v b="$1" 'BEGIN{ if (b>=1e9) printf "%.2f GB", b/1e9; else if (b>=1e6) printf "%.1f MB", b/1e6; else printf "%.1f kB", b/1e3 }'; }

declare -A took
# --- push what is missing -----------------------------------------------------
if [ ${#todo[@]} -gt 0 ]; then
  work=$(mktemp -d /tmp/handson-seed.XXXXXX)
  name=handson-registry-seed-$$
  pushed_refs=()
  cleanup() {
    docker rm -f "$name" >/dev/null 2>&1 || true
    for r in "${pushed_refs[@]}"; do docker rmi "$r" >/dev/null 2>&1 || true; done
    rm -rf "$work"
  }
  trap cleanup EXIT
  # Auth-less on loopback only; the platform runs its own (token auth) config.
  cat >"$work/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DATA
  delete:
    enabled: false
http:
  addr: :5000
  secret: $(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
EOF
  # Read by the registry's uid 100 (through user namespaces, if any).
  chmod 755 "$work"; chmod 644 "$work/config.yml"
  docker run -d --name "$name" --label "$LABEL" -p 127.0.0.1::5000 \
    -v "$VOLUME:$DATA" -v "$work/config.yml:/etc/docker/registry/config.yml:ro" \
    "$REGISTRY_IMAGE" >/dev/null
  addr=$(docker port "$name" 5000/tcp | grep -m1 '^127\.0\.0\.1:')
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://$addr/v2/" 2>/dev/null && break
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://$addr/v2/" \
    || { docker logs "$name" >&2; echo "seed-registry.sh: the temporary registry did not answer on $addr" >&2; exit 1; }

  for t in "${todo[@]}"; do
    t1=$(now)
    ref=$addr/library/$t
    docker tag "handson/library/$t" "$ref"
    pushed_refs+=("$ref")
    if ! out=$(docker push "$ref" 2>&1); then
      echo "$out" >&2
      echo "seed-registry.sh: pushing $t failed" >&2
      exit 1
    fi
    docker rmi "$ref" >/dev/null
    seeded[$t]=${local_id[$t]}
    took[$t]=$(since "$t1")
  done

  # Stamp: every tag the storage now holds, keyed by local image ID.
  for t in "${!seeded[@]}"; do echo "$t ${seeded[$t]}"; done | sort \
    | docker exec -i "$name" sh -c "cat >$DATA/$STAMP.tmp && mv $DATA/$STAMP.tmp $DATA/$STAMP"
  disk=$(docker exec "$name" du -sh "$DATA" | cut -f1)
  cleanup
  trap - EXIT
fi

# --- report -------------------------------------------------------------------
printf '%-28s %10s  %s\n' image size push
for t in "${tags[@]}"; do
  if [ -n "${took[$t]:-}" ]; then result="${took[$t]} s"; else result="up to date"; fi
  printf '%-28s %10s  %s\n' "library/$t" "$(human "${size[$t]}")" "$result"
done
echo "pushed ${#todo[@]} of ${#tags[@]} tags in $(since "$T0") s; volume $VOLUME: $disk"
