#!/usr/bin/env bash
# Build the platform's images with the host Docker, without any registry:
#   handson/debian:bookworm  base (pulled if a registry answers, else debootstrap)
#   handson/busybox:latest   tiny FROM-scratch busybox, preloaded into sandboxes
#   handson/sandbox:latest   the student sandbox (rootless dockerd inside)
#   handson/registry:latest  the classroom registry (Debian docker-registry)
#   handson/library/*        the course images that scripts/seed-registry.sh
#                            pushes into the classroom registry as library/*:
#                            hello-world, debian, busybox, nginx, httpd,
#                            mariadb, wordpress (from Debian packages), and
#                            tinyweb (lab image-contents: a busybox web
#                            server that hides a fake miner and a secret)
# Idempotent: the base is built once, the others use the Docker build cache.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGES=$ROOT/labs/images
LABEL=handson.managed=true
BASE=handson/debian:bookworm
SUITE=bookworm
LOG_DIR=/var/log/handson
# The host daemon is Debian's 20.10 and no buildx plugin is installed: use the
# legacy builder explicitly (the v28 CLI would otherwise print a deprecation
# notice or try BuildKit).
export DOCKER_BUILDKIT=0

summary=()
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
step_done() { summary+=("$(printf '%-32s %-10s %6ss' "$1" "$2" "$3")"); }

docker info >/dev/null 2>&1 || { echo "build-images.sh: docker is not answering; run scripts/host-setup.sh first" >&2; exit 1; }

# --- Debian mirror the host's apt uses ---------------------------------------
# Prints "URI SUITE" pairs from one-line and deb822 sources (type deb only).
host_apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # "deb [opts] URI SUITE COMPONENTS..."
    awk '$1=="deb" { i=2; if ($2 ~ /^\[/) { while (i<=NF && $i !~ /\]$/) i++; i++ } print $i, $(i+1) }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822 stanzas separated by blank lines; Enabled: no skips a stanza.
    awk 'function flush(){ if (types ~ /(^| )deb( |$)/ && enabled != "no") { n=split(uris,u," "); m=split(suites,s," "); for(i=1;i<=n;i++) for(j=1;j<=m;j++) print u[i], s[j] } types=uris=suites=""; enabled="" }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         tolower($1)=="types:"   { $1=""; types=$0 }
         tolower($1)=="uris:"    { $1=""; uris=$0 }
         tolower($1)=="suites:"  { $1=""; suites=$0 }
         tolower($1)=="enabled:" { enabled=tolower($2) }
         END { flush() }' "$f"
  done
}

MIRROR="" SECURITY="" UPDATES=""
while read -r uri suite; do
  uri=${uri%/}
  case "$suite" in
    "$SUITE") [ -z "$MIRROR" ] && MIRROR=$uri ;;
    "$SUITE-updates") UPDATES=$uri ;;
    "$SUITE-security"|"$SUITE/updates") SECURITY=$uri ;;
  esac
done < <(host_apt_sources | sed 's/^ *//')
MIRROR=${MIRROR:-http://deb.debian.org/debian}

reachable() { curl -fsS -o /dev/null --max-time 8 "$1/dists/$2/InRelease" 2>/dev/null; }

# sources.list for the images: the host's mirror, plus updates/security when
# the host uses them and they answer from here.
image_sources_list() {
  echo "deb $MIRROR $SUITE main"
  if [ -n "$UPDATES" ] && reachable "$UPDATES" "$SUITE-updates"; then
    echo "deb $UPDATES $SUITE-updates main"
  fi
  if [ -n "$SECURITY" ] && reachable "$SECURITY" "$SUITE-security"; then
    echo "deb $SECURITY $SUITE-security main"
  fi
}

# apt settings in the style of the official Debian images: no caches, no
# recommends, no docs/man/locales (keeps every derived image small).
write_apt_tweaks() { # $1 = rootfs
  local r=$1
  mkdir -p "$r/etc/apt/apt.conf.d" "$r/etc/dpkg/dpkg.cfg.d"
  cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
  cat >"$r/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
  cat >"$r/etc/apt/apt.conf.d/docker-no-recommends" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
force-unsafe-io
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
  # Services must never start during `docker build`.
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
  chmod 755 "$r/usr/sbin/policy-rc.d"
}

build_base() {
  local t0; t0=$(now)
  if docker image inspect "$BASE" >/dev/null 2>&1; then
    step_done "$BASE" "exists" "$(since "$t0")"; return
  fi
  echo "==> $BASE: trying docker pull debian:$SUITE-slim"
  if timeout 20 docker pull "debian:$SUITE-slim"; then
    # Relabel and point apt at the host's mirror, like the debootstrap path.
    local ctx; ctx=$(mktemp -d)
    image_sources_list >"$ctx/sources.list"
    printf 'FROM debian:%s-slim\nLABEL %s\nCOPY sources.list /etc/apt/sources.list\nRUN rm -f /etc/apt/sources.list.d/debian.sources\nENV LANG=C.UTF-8\n' "$SUITE" "$LABEL" >"$ctx/Dockerfile"
    docker build -q -t "$BASE" "$ctx"
    rm -rf "$ctx"
    step_done "$BASE" "pulled" "$(since "$t0")"; return
  fi
  echo "==> $BASE: no registry; debootstrap $SUITE from $MIRROR"
  if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends debootstrap \
      || { apt-get -o DPkg::Lock::Timeout=600 update && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends debootstrap; }
  fi
  local work rootfs include=""
  work=$(mktemp -d /var/tmp/handson-rootfs.XXXXXX)
  rootfs=$work/rootfs
  # debootstrap bind-mounts /proc etc. into the rootfs: unmount anything left
  # before deleting, and never cross into another filesystem.
  cleanup_rootfs() {
    grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$work"
  }
  trap cleanup_rootfs EXIT
  case "$MIRROR" in https:*) include="--include=ca-certificates" ;; esac
  debootstrap --variant=minbase $include "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; echo "build-images.sh: debootstrap failed" >&2; exit 1; }
  image_sources_list >"$rootfs/etc/apt/sources.list"
  rm -f "$rootfs"/etc/apt/sources.list.d/*
  write_apt_tweaks "$rootfs"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/*.log \
         "$rootfs"/var/log/apt/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/tmp/* \
         "$rootfs"/usr/share/doc/*/changelog* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  mkdir -p "$rootfs/var/lib/apt/lists/partial"
  # Docker supplies these at run time; do not bake in the build host's.
  : >"$rootfs/etc/resolv.conf"; : >"$rootfs/etc/hostname"
  [ -f "$rootfs/etc/machine-id" ] && : >"$rootfs/etc/machine-id"
  tar -C "$rootfs" --numeric-owner --xattrs -c . | docker import \
    --change "LABEL $LABEL" --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$BASE" >/dev/null
  cleanup_rootfs
  trap - EXIT
  step_done "$BASE" "debootstrap" "$(since "$t0")"
}

# Build quietly into a log; show its tail if the build fails.
dbuild() { # $1 = tag, $2 = context
  local log=$LOG_DIR/build-${1//[\/:]/_}.log
  mkdir -p "$LOG_DIR"
  if ! docker build --label "$LABEL" -t "$1" "$2" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "build-images.sh: building $1 failed (full log: $log)" >&2
    exit 1
  fi
}

build_busybox() {
  local t0; t0=$(now)
  echo "==> handson/busybox:latest"
  dbuild handson/busybox:latest "$IMAGES/busybox"
  step_done "handson/busybox:latest" "built" "$(since "$t0")"
}

build_sandbox() {
  local t0 ctx; t0=$(now)
  echo "==> handson/sandbox:latest"
  # Temporary build context: the Dockerfile dir plus the images to preload
  # (tarballs never live in the repo).
  ctx=$(mktemp -d /var/tmp/handson-sandbox-ctx.XXXXXX)
  trap 'rm -rf "$ctx"' EXIT
  cp -a "$IMAGES/sandbox/." "$ctx/"
  mkdir -p "$ctx/preload"
  docker save -o "$ctx/preload/busybox.tar" handson/busybox:latest
  # "<image in tar> <tag inside the sandbox>" per line.
  echo "handson/busybox:latest busybox:latest" >"$ctx/preload/tags"
  dbuild handson/sandbox:latest "$ctx"
  rm -rf "$ctx"; trap - EXIT
  step_done "handson/sandbox:latest" "built" "$(since "$t0")"
}

# Lab 1's sandbox: handson/sandbox without Docker installed (the student
# installs it from archives in /opt/docker). Built FROM handson/sandbox.
build_sandbox_bare() {
  local t0; t0=$(now)
  echo "==> handson/sandbox-bare:latest"
  dbuild handson/sandbox-bare:latest "$IMAGES/sandbox-bare"
  step_done "handson/sandbox-bare:latest" "built" "$(since "$t0")"
}

build_registry() {
  local t0; t0=$(now)
  echo "==> handson/registry:latest"
  dbuild handson/registry:latest "$IMAGES/registry"
  step_done "handson/registry:latest" "built" "$(since "$t0")"
}

# major.minor of a Debian package's upstream version inside an image
# (1:10.11.19-0+deb12u1 -> 10.11), for the version tags of course images.
pkg_minor_version() { # $1 = image, $2 = package
  docker run --rm --entrypoint dpkg-query "$1" -W -f '${Version}' "$2" \
    | sed -E 's/^[0-9]+://; s/^([0-9]+\.[0-9]+).*/\1/'
}

# Course images: handson/library/<name>:latest, plus a version tag taken from
# the Debian package the image is made of (nginx:1.22, httpd:2.4, ...).
COURSE_TAGS=()
build_course() { # $1 = name, $2 = package for the version tag (or "")
  local name=$1 pkg=$2 img=handson/library/$1 t0 ver
  t0=$(now)
  echo "==> $img:latest"
  dbuild "$img:latest" "$IMAGES/$name"
  COURSE_TAGS+=("$img:latest")
  if [ -n "$pkg" ]; then
    # A version tag already on this very image saves starting a container.
    ver=$(docker image ls "$img" --format '{{.Tag}} {{.ID}}' \
      | awk -v id="$(docker image ls -q "$img:latest")" '$2 == id && $1 ~ /^[0-9]+\.[0-9]+$/ { print $1; exit }')
    [ -n "$ver" ] || ver=$(pkg_minor_version "$img:latest" "$pkg")
    [ -n "$ver" ] || { echo "build-images.sh: no version of $pkg in $img" >&2; exit 1; }
    docker tag "$img:latest" "$img:$ver"
    COURSE_TAGS+=("$img:$ver")
  fi
  step_done "$img" "built" "$(since "$t0")"
}

# debian and busybox are the platform's own images under their library names.
retag_course() { # $1 = source image, $2 = name, $3... = tags
  local src=$1 name=$2 tag; shift 2
  for tag in "$@"; do
    docker tag "$src" "handson/library/$name:$tag"
    COURSE_TAGS+=("handson/library/$name:$tag")
  done
  step_done "handson/library/$name" "tagged" "0.0"
}

T0=$(now)
build_base
build_busybox
build_sandbox
build_registry
retag_course "$BASE" debian bookworm 12 latest
retag_course handson/busybox:latest busybox latest
build_course hello-world ""
build_course nginx nginx
build_course httpd apache2-bin
build_course mariadb mariadb-server-core
build_course wordpress wordpress
build_course tinyweb ""
build_sandbox_bare
# No `docker image prune` here: the busybox build stage is an untagged image
# (labelled via the base) and pruning it throws away its build cache.

echo
echo "Built (mirror $MIRROR):"
for l in "${summary[@]}"; do echo "  $l"; done
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' --filter "label=$LABEL" | grep -v '<none>' | sed 's/^/  /' || true
echo "  course images (seeded by scripts/seed-registry.sh): ${COURSE_TAGS[*]#handson/library/}"
echo "  total $(since "$T0")s"
