#!/bin/bash
# audit.sh CONTAINER: checks one container the way the CIS Docker Benchmark
# (v1.2.0, section 4 and 5) does, with docker inspect. Numbers are CIS items.
c=${1:?usage: ./audit.sh CONTAINER}

# One docker inspect -f reads the settings that fit on one line, one per
# line, in this order; the mounts and the environment get one call each.
fields=$(docker container inspect -f '{{.Name}}
{{.Id}}
{{.Config.Image}}
{{.Config.User}}
{{range .HostConfig.CapDrop}}{{.}} {{end}}
{{range .HostConfig.CapAdd}}{{.}} {{end}}
{{.HostConfig.Privileged}}
{{.HostConfig.Memory}}
{{.HostConfig.NanoCpus}}
{{.HostConfig.CpuQuota}}
{{.HostConfig.CpuShares}}
{{.HostConfig.ReadonlyRootfs}}
{{range .HostConfig.SecurityOpt}}{{.}} {{end}}
{{.HostConfig.PidsLimit}}' "$c") || exit 1
{
  read -r name; read -r id; read -r image; read -r user
  read -r drop; read -r add; read -r privileged
  read -r mem; read -r cpus; read -r quota; read -r shares
  read -r readonly; read -r secopt; read -r pids
} <<<"$fields"
mounts=$(docker container inspect -f '{{range .Mounts}}{{.Type}}|{{.Source}}|{{.Destination}}|{{.RW}}{{println}}{{end}}' "$c" | sort)
env=$(docker container inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$c")

warn=0
res() { # res PASS|WARN ITEM TEXT
  printf '[%s] %-5s %s\n' "$1" "$2" "$3"
  [ "$1" = WARN ] && warn=$((warn + 1))
  return 0
}

echo "Audit of container ${name#/} (${id:0:12}), image $image"

case "$user" in
  "" | 0 | 0:* | root | root:*) res WARN 4.1 "runs as root (User=\"$user\")" ;;
  *) res PASS 4.1 "runs as user \"$user\"" ;;
esac

if printf '%s' "$drop" | grep -qiw all && [ -z "$add" ]; then
  res PASS 5.3 "all capabilities dropped"
elif printf '%s' "$drop" | grep -qiw all; then
  res WARN 5.3 "capabilities given back (CapAdd=[$add])"
else
  res WARN 5.3 "keeps Docker's default capabilities (CapDrop=[$drop] CapAdd=[$add])"
fi

if [ "$privileged" = true ]; then
  res WARN 5.4 "privileged container"
else
  res PASS 5.4 "not privileged"
fi

sock=0 system=0 rw=0
while IFS='|' read -r type src dst writable; do
  [ -n "$type" ] || continue
  case "$src$dst" in
    *docker.sock*) res WARN 5.31 "Docker socket mounted: $src -> $dst"; sock=1; continue ;;
  esac
  [ "$type" = bind ] || continue
  # CIS 5.5: the host's system directories, read-write or not.
  case "$src" in
    / | /boot | /boot/* | /dev | /dev/* | /etc | /etc/* | /lib | /lib/* | /proc | /proc/* | /sys | /sys/* | /usr | /usr/*)
      res WARN 5.5 "sensitive host directory mounted: $src -> $dst"; system=1; continue ;;
  esac
  # Not a CIS item: any host directory or file the container can write to.
  [ "$writable" = true ] && { res WARN mount "host directory mounted read-write: $src -> $dst"; rw=1; }
done <<<"$mounts"
[ "$sock" = 0 ] && res PASS 5.31 "Docker socket not mounted"
[ "$system" = 0 ] && res PASS 5.5 "no sensitive host directory mounted"
[ "$rw" = 0 ] && res PASS mount "no host directory mounted read-write"

if [ "${mem:-0}" -gt 0 ] 2>/dev/null; then
  res PASS 5.10 "memory limit $((mem / 1048576)) MiB"
else
  res WARN 5.10 "no memory limit"
fi

# CIS 5.11 asks for a CPU priority (--cpu-shares); a limit (--cpus) serves too.
if [ "${cpus:-0}" -gt 0 ] 2>/dev/null; then
  res PASS 5.11 "CPU limit $(awk -v n="$cpus" 'BEGIN { print n / 1e9 }') CPU(s)"
elif [ "${quota:-0}" -gt 0 ] 2>/dev/null; then
  res PASS 5.11 "CPU quota $quota"
elif [ "${shares:-0}" -gt 0 ] 2>/dev/null; then
  res PASS 5.11 "CPU shares $shares"
else
  res WARN 5.11 "no CPU limit or priority"
fi

if [ "$readonly" = true ]; then
  res PASS 5.12 "root filesystem read-only"
else
  res WARN 5.12 "root filesystem writable"
fi

if printf '%s\n' $secopt | grep -Eq '^no-new-privileges([:=]true)?$'; then
  res PASS 5.25 "no-new-privileges set"
else
  res WARN 5.25 "no-new-privileges not set"
fi

if [ "${pids:-0}" -gt 0 ] 2>/dev/null; then
  res PASS 5.28 "pids limit $pids"
else
  res WARN 5.28 "no pids limit"
fi

# Not a CIS item: a variable named like a secret, holding a value
# (NAME_FILE=path, the name of a file, is how a secret should come).
secrets=$(printf '%s\n' "$env" | grep -iE '^[^=]*(PASSWORD|PASSWD|SECRET|TOKEN|KEY)[^=]*=.' | grep -viE '^[^=]*_FILE=' | cut -d= -f1)
if [ -n "$secrets" ]; then
  for v in $secrets; do res WARN env "secret in an environment variable: $v (value hidden here, but docker inspect shows it)"; done
else
  res PASS env "no secrets in environment variables"
fi

# A digest names one content for ever; a version tag (mariadb:10.11) stays on
# that version but moves with its fixes; latest (or no tag) can become anything.
tag=
case "${image##*/}" in *:*) tag=${image##*:} ;; esac
case "$image" in
  *@sha256:*) res PASS image "image pinned by digest" ;;
  *) case "$tag" in
       [0-9]*) res PASS image "image named by a version tag ($tag): it still moves to that version's updates" ;;
       "") res WARN image "image named without a tag (so latest), which can become any version: pin it by digest (name@sha256:...) or a version tag (name:10.11)" ;;
       *) res WARN image "image named by the tag $tag, which can become any version: pin it by digest (name@sha256:...) or a version tag (name:10.11)" ;;
     esac ;;
esac

# The daemon's own version lacks the distribution's patch level (+deb12u1):
# the package's version says which security updates are in.
pkg() { v=$(dpkg-query -W -f '${Version}' "$1" 2>/dev/null) && echo " (package $1 $v)"; }
read -r docker runc <<<"$(docker version -f '{{.Server.Version}} {{range .Server.Components}}{{if eq .Name "runc"}}{{.Version}}{{end}}{{end}}' 2>/dev/null)"
echo "Runtime: Docker $docker$(pkg docker.io), runc $runc$(pkg runc)"
echo "$warn warning(s)"
