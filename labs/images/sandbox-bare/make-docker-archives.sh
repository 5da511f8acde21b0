#!/bin/sh
# Build time (root): pack Debian's Docker into the two archives that
# Docker's rootless install (https://get.docker.com/rootless) downloads and
# unpacks into ~/bin, then remove Docker from the system:
#   /opt/docker/docker-VERSION.tgz                 docker/: client, dockerd, containerd, runc, ...
#   /opt/docker/docker-rootless-extras-VERSION.tgz docker-rootless-extras/: dockerd-rootless.sh, rootlesskit, ...
# A root-only copy of the client stays for the lab's checks, which run as
# root and must never execute files the student can write.
set -eu

ver=$(dpkg-query -W -f '${Version}' docker.io)
ver=${ver%%+*}          # 20.10.24+dfsg1-1+deb12u1+b6 -> 20.10.24
stage=$(mktemp -d)
mkdir -p "$stage/docker" "$stage/docker-rootless-extras" /opt/docker

for f in /usr/bin/docker /usr/sbin/dockerd /usr/sbin/docker-proxy \
         /usr/bin/containerd /usr/bin/containerd-shim /usr/bin/containerd-shim-runc-v2 \
         /usr/bin/ctr /usr/sbin/runc; do
  cp "$f" "$stage/docker/"
done
cp /usr/bin/tini-static "$stage/docker/docker-init"
for f in /usr/share/docker.io/contrib/dockerd-rootless.sh \
         /usr/share/docker.io/contrib/dockerd-rootless-setuptool.sh \
         /usr/bin/rootlesskit /usr/bin/rootlesskit-docker-proxy; do
  cp "$f" "$stage/docker-rootless-extras/"
done
chmod 755 "$stage"/docker/* "$stage"/docker-rootless-extras/*

tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "/opt/docker/docker-$ver.tgz" docker
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "/opt/docker/docker-rootless-extras-$ver.tgz" docker-rootless-extras
chmod 644 /opt/docker/*.tgz
rm -rf "$stage"

install -d -m 700 /usr/local/libexec/handson
install -m 700 /usr/bin/docker /usr/local/libexec/handson/docker

# Docker, containerd, runc and RootlessKit (and Compose, which needs them)
# leave the system; tini, uidmap, slirp4netns, fuse-overlayfs and iptables stay.
set -- docker.io containerd runc rootlesskit
if dpkg -s docker-compose >/dev/null 2>&1; then set -- docker-compose "$@"; fi
dpkg --purge "$@"
# handson/sandbox's wrappers that start its Docker on first use: here the
# student starts their own.
rm -f /usr/local/bin/docker /usr/local/bin/docker-compose
for b in docker dockerd containerd runc rootlesskit dockerd-rootless.sh docker-compose; do
  if command -v "$b" >/dev/null 2>&1; then echo "still on PATH: $b" >&2; exit 1; fi
done
ls -l /opt/docker
