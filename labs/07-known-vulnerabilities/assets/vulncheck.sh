#!/bin/bash
# vulncheck.sh: a small scanner for known vulnerabilities in Debian packages.
#
#   ./vulncheck.sh PACKAGES [ADVISORIES]
#
# PACKAGES: the packages of an image, one "name version" per line, as
#   docker run --rm IMAGE dpkg-query -W -f '${Package} ${Version}\n'
# prints them.
# ADVISORIES: the advisory list (default: advisories.tsv beside this script),
#   tab-separated "package fixed-version id source date" (see its header).
#
# A package has a known vulnerability when the list names it and its version
# is lower than the fixed version, in Debian's order of versions (the order
# of dpkg --compare-versions, written out in awk below so that hundreds of
# comparisons take a moment). One line per vulnerability, then a summary.
# Exit status: 0 none found, 1 some found (a build pipeline can stop on it),
# 2 a file is missing.
set -u
list=${1:-}
adv=${2:-$(dirname "$0")/advisories.tsv}
[ -n "$list" ] || { echo "usage: $0 PACKAGES [ADVISORIES]" >&2; exit 2; }
[ -r "$list" ] || { echo "$0: cannot read $list" >&2; exit 2; }
[ -r "$adv" ] || { echo "$0: cannot read $adv" >&2; exit 2; }

LC_ALL=C awk -v listname="$list" '
# Debian versions are [epoch:]upstream[-revision]. Compare the epochs as
# numbers, then upstream, then revision, each with verrevcmp: runs of
# non-digits compare character by character (letters first, "~" before
# everything, even the end), runs of digits compare as numbers.
function order(c) {
  if (c == "" || c ~ /[0-9]/) return 0
  if (c ~ /[A-Za-z]/) return ord[c]
  if (c == "~") return -1
  return ord[c] + 256
}
function verrevcmp(a, b,   ac, bc, da, db) {
  while (a != "" || b != "") {
    while ((a != "" && substr(a, 1, 1) !~ /[0-9]/) || (b != "" && substr(b, 1, 1) !~ /[0-9]/)) {
      ac = order(substr(a, 1, 1)); bc = order(substr(b, 1, 1))
      if (ac != bc) return ac - bc
      a = substr(a, 2); b = substr(b, 2)
    }
    match(a, /^[0-9]*/); da = substr(a, 1, RLENGTH); a = substr(a, RLENGTH + 1)
    match(b, /^[0-9]*/); db = substr(b, 1, RLENGTH); b = substr(b, RLENGTH + 1)
    sub(/^0+/, "", da); sub(/^0+/, "", db)
    if (length(da) != length(db)) return length(da) - length(db)
    if (da != db) return da < db ? -1 : 1
  }
  return 0
}
function split3(v, p,   i) {
  p["e"] = 0
  if ((i = index(v, ":")) > 0) { p["e"] = substr(v, 1, i - 1) + 0; v = substr(v, i + 1) }
  p["r"] = ""
  if (match(v, /-[^-]*$/)) { p["r"] = substr(v, RSTART + 1); v = substr(v, 1, RSTART - 1) }
  p["u"] = v
}
function vercmp(a, b,   pa, pb, r) {
  split3(a, pa); split3(b, pb)
  if (pa["e"] != pb["e"]) return pa["e"] - pb["e"]
  if ((r = verrevcmp(pa["u"], pb["u"])) != 0) return r
  return verrevcmp(pa["r"], pb["r"])
}
BEGIN { for (i = 32; i < 127; i++) ord[sprintf("%c", i)] = i }
# the list of packages: name version (name:arch is fine)
FILENAME == ARGV[1] { if (NF >= 2) { sub(/:.*/, "", $1); ver[$1] = $2; n++ }; next }
# the advisories: package fixed id source date
/^#/ { next }
{ split($0, f, "\t"); nadv++ }
(f[1] in ver) && vercmp(ver[f[1]], f[2]) < 0 {
  if (!found++) printf "%-16s %-24s %-24s %s\n", "PACKAGE", "INSTALLED", "FIXED-IN", "ID"
  printf "%-16s %-24s %-24s %s\n", f[1], ver[f[1]], f[2], f[3]
  if (!(f[1] in hit)) { hit[f[1]] = 1; npk++ }
}
END {
  if (!n) printf "warning: %s lists no packages: nothing to check (an image without dpkg'"'"'s database?)\n", listname
  if (!found) { printf "no known vulnerabilities in %d packages (%d advisories)\n", n, nadv; exit 0 }
  printf "%d known vulnerabilities in %d of %d packages (%d advisories)\n", found, npk, n, nadv
  exit 1
}' "$list" "$adv"
