#!/bin/bash
# audit.sh CONTAINER: checks one container the way the CIS Docker Benchmark
# (v1.2.0, section 4 and 5) does, with docker inspect. Numbers are CIS items.
c=${1:?usage: ./audit.sh CONTAINER}
docker container inspect "$c" >/dev/null || exit 1
get() { docker container inspect -f "$1" "$c"; }
warn=0
res() { # res PASS|WARN ITEM TEXT
  printf '[%s] %-5s %s\n' "$1" "$2" "$3"
  [ "$1" = WARN ] && warn=$((warn + 1))
  return 0
}

echo "Audit of container $(get '{{.Name}}' | tr -d /) ($(get '{{.Id}}' | cut -c1-12)), image $(get '{{.Config.Image}}')"

user=$(get '{{.Config.User}}')
case "$user" in
  "" | 0 | 0:* | root | root:*) res WARN 4.1 "runs as root (User=\"$user\")" ;;
  *) res PASS 4.1 "runs as user \"$user\"" ;;
esac

drop=$(get '{{range .HostConfig.CapDrop}}{{.}} {{end}}')
add=$(get '{{range .HostConfig.CapAdd}}{{.}} {{end}}')
if printf '%s' "$drop" | grep -qiw all && [ -z "$add" ]; then
  res PASS 5.3 "all capabilities dropped"
else
  res WARN 5.3 "keeps Docker's default capabilities (CapDrop=[${drop% }] CapAdd=[${add% }])"
fi

if [ "$(get '{{.HostConfig.Privileged}}')" = true ]; then
  res WARN 5.4 "privileged container"
else
  res PASS 5.4 "not privileged"
fi

mounts=$(get '{{range .Mounts}}{{.Type}}|{{.Source}}|{{.Destination}}|{{.RW}}{{println}}{{end}}' | sort)
sock=0 system=0 rw=0
while IFS='|' read -r type src dst rw; do
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
  # Not a CIS item: any host folder the container can write to.
  [ "$rw" = true ] && { res WARN mount "host folder mounted read-write: $src -> $dst"; rw=1; }
done <<<"$mounts"
[ "$sock" = 0 ] && res PASS 5.31 "Docker socket not mounted"
[ "$system" = 0 ] && res PASS 5.5 "no sensitive host directory mounted"
[ "$rw" = 0 ] && res PASS mount "no host folder mounted read-write"

mem=$(get '{{.HostConfig.Memory}}')
if [ "${mem:-0}" -gt 0 ] 2>/dev/null; then
  res PASS 5.10 "memory limit $((mem / 1048576)) MiB"
else
  res WARN 5.10 "no memory limit"
fi

if [ "$(get '{{.HostConfig.ReadonlyRootfs}}')" = true ]; then
  res PASS 5.12 "root filesystem read-only"
else
  res WARN 5.12 "root filesystem writable"
fi

if get '{{range .HostConfig.SecurityOpt}}{{println .}}{{end}}' | grep -Eq '^no-new-privileges(([:=])true)?$'; then
  res PASS 5.25 "no-new-privileges set"
else
  res WARN 5.25 "no-new-privileges not set"
fi

pids=$(get '{{.HostConfig.PidsLimit}}')
if [ "${pids:-0}" -gt 0 ] 2>/dev/null; then
  res PASS 5.28 "pids limit $pids"
else
  res WARN 5.28 "no pids limit"
fi

secrets=$(get '{{range .Config.Env}}{{println .}}{{end}}' | grep -iE '^[^=]*(PASSWORD|PASSWD|SECRET|TOKEN)[^=]*=.' | grep -viE '^[^=]*_FILE=' | cut -d= -f1)
if [ -n "$secrets" ]; then
  for v in $secrets; do res WARN env "secret in an environment variable: $v (value hidden here, but docker inspect shows it)"; done
else
  res PASS env "no secrets in environment variables"
fi

case "$(get '{{.Config.Image}}')" in
  *@sha256:*) res PASS image "image pinned by digest" ;;
  *) res WARN image "image named by a tag, which can change: pin it by digest (name@sha256:...)" ;;
esac

# The daemon's own version lacks the distribution's patch level (+deb12u1):
# the package's version says which security updates are in.
pkg() { v=$(dpkg-query -W -f '${Version}' "$1" 2>/dev/null) && echo " (package $1 $v)"; }
echo "Runtime: Docker $(docker version -f '{{.Server.Version}}' 2>/dev/null)$(pkg docker.io), runc $(docker version -f '{{range .Server.Components}}{{if eq .Name "runc"}}{{.Version}}{{end}}{{end}}' 2>/dev/null)$(pkg runc)"
echo "$warn warning(s)"
