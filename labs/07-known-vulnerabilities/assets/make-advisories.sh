#!/bin/bash
# make-advisories.sh: how advisories.tsv was made, from Debian's own data.
#
#   ./make-advisories.sh IMAGE... > advisories.tsv
#
# For every binary package installed in the images, it downloads the newest
# .deb from the Debian mirror (apt-get download, in a debian:bookworm
# container) and reads the package's changelog (changelog.Debian.gz). Every
# changelog entry for Debian 12 (its distribution names bookworm, e.g.
# bookworm-security) that names a CVE id gives one line per id: the package,
# the version of that entry (the fixed version), the id, the source package
# and the date of the entry. A line of the changelog that names no CVE but a
# GitHub advisory (GHSA-...) gives that id instead. When several entries name
# the same id (a first fix was incomplete), the newest one counts.
#
# It downloads every package of the images (tens of MB): about ten minutes.
# BASE=IMAGE runs apt-get in another image than debian:bookworm.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 IMAGE... > advisories.tsv" >&2; exit 2; }
pkgs=$(for img in "$@"; do
  docker run --rm --entrypoint dpkg-query "$img" -W -f '${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }'
done | sort -u)
echo "# advisories.tsv: known vulnerabilities fixed in Debian 12 (bookworm) updates"
echo "# made $(date -u +%Y-%m-%d) by make-advisories.sh from the changelogs of the packages of: $*"
echo "# columns (tab-separated): package  fixed-version  id  source  date"
docker run --rm -i --entrypoint bash "${BASE:-debian:bookworm}" -s $pkgs <<'IN'
set -eu
export LC_ALL=C.UTF-8
apt-get update -qq >/dev/null
mkdir -p /tmp/deb /tmp/cl && cd /tmp/deb
for p in "$@"; do apt-get download -qq "$p" >/dev/null 2>&1 || echo "make-advisories.sh: no .deb for $p" >&2; done
: >/tmp/bin2src
for d in *.deb; do
  p=$(dpkg-deb -f "$d" Package)
  s=$(dpkg-deb -f "$d" Source | cut -d' ' -f1); s=${s:-$p}
  printf '%s\t%s\n' "$p" "$s" >>/tmp/bin2src
  [ -s "/tmp/cl/$s" ] && continue
  rm -rf /tmp/x && mkdir /tmp/x && dpkg-deb -x "$d" /tmp/x
  for f in "/tmp/x/usr/share/doc/$p/changelog.Debian.gz" /tmp/x/usr/share/doc/*/changelog.Debian.gz "/tmp/x/usr/share/doc/$p/changelog.gz"; do
    [ -f "$f" ] || continue
    zcat "$f" | head -1 | grep -q "^$s (" || continue
    zcat "$f" >"/tmp/cl/$s"; break
  done
done
# source  version  id  date, for every id an entry for bookworm names
for s in $(cut -f2 /tmp/bin2src | sort -u); do
  [ -s "/tmp/cl/$s" ] || { echo "make-advisories.sh: no changelog for $s" >&2; continue; }
  awk -v src="$s" '
    BEGIN { split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", m, " "); for (i in m) mon[m[i]] = sprintf("%02d", i) }
    /^[a-z0-9][a-z0-9+.-]* \(/ {
      ver = $2; gsub(/[()]/, "", ver); dist = $3; sub(/;.*/, "", dist)
      keep = (dist ~ /bookworm/); n = 0; next
    }
    /^ -- / {
      if (keep && n) {
        d = $0; sub(/.*>  /, "", d); split(d, f, " ")
        date = f[4] "-" mon[f[3]] "-" sprintf("%02d", f[2])
        for (i = 1; i <= n; i++) print src "\t" ver "\t" ids[i] "\t" date
      }
      keep = 0; next
    }
    keep {
      line = $0; found = 0
      while (match(line, /CVE-[0-9][0-9][0-9][0-9]-[0-9]+/)) { ids[++n] = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH); found = 1 }
      line = $0
      if (!found) while (match(line, /GHSA-[a-z0-9][a-z0-9][a-z0-9][a-z0-9]-[a-z0-9][a-z0-9][a-z0-9][a-z0-9]-[a-z0-9][a-z0-9][a-z0-9][a-z0-9]/)) { ids[++n] = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH) }
    }' "/tmp/cl/$s"
done >/tmp/all
# the newest version that names each id, then one line per binary package
declare -A best day
while IFS=$'\t' read -r s v id date; do
  k="$s $id"
  if [ -z "${best[$k]:-}" ] || dpkg --compare-versions "$v" gt "${best[$k]}"; then
    best[$k]=$v day[$k]=$date
  fi
done </tmp/all
sort -u /tmp/bin2src | while IFS=$'\t' read -r p s; do
  for k in "${!best[@]}"; do
    [ "${k% *}" = "$s" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$p" "${best[$k]}" "${k#* }" "$s" "${day[$k]}"
  done
done | sort -t $'\t' -k1,1 -k3,3
IN
