#!/usr/bin/env bash
# Compares the platform benchmarks of an older revision with the working
# tree: builds the old revision's handson-bench in a temporary git
# worktree, runs the old and the new build in turns (old, new, old, new…:
# the machine's load drifts over both alike), each on freshly started
# platforms, and prints every figure side by side (median / worst of
# each, and how far the median moved). The revision must have
# cmd/handson-bench.
#
#   scripts/bench-compare.sh OLD_REV [-runs N] [handson-bench flags]
#   scripts/bench-compare.sh main -runs 3 -scenario open -students 5
#
# -runs (default 3) is the number of turns of each build. The -json files
# and logs stay in $BENCH_COMPARE_DIR (default a new /tmp/handson-bench-compare.*).
set -uo pipefail
cd "$(dirname "$0")/.." || exit

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
old_rev=$1
shift
runs=3
args=()
while [ $# -gt 0 ]; do
  case $1 in
    -runs | --runs) runs=$2; shift 2 ;;
    -runs=* | --runs=*) runs=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

GO=${GO:-go}
old_commit=$(git rev-parse --short "$old_rev^{commit}") || exit
if [ ! -f frontend/dist/app.js ]; then
  echo "bench-compare.sh: frontend/dist/app.js is missing: run make build first" >&2
  exit 1
fi
out=${BENCH_COMPARE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/handson-bench-compare.XXXXXX")}
mkdir -p "$out"
tree=$(mktemp -d "${TMPDIR:-/tmp}/handson-bench-old.XXXXXX")
cleanup() {
  git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"
  git worktree prune
}
trap cleanup EXIT

new_commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD || new_commit+="+"
echo "+ building handson-bench of $old_commit ($old_rev) and of the working tree ($new_commit)" >&2
git worktree add --detach --quiet "$tree" "$old_commit" || exit
# The bundle is embedded but not in git; the benchmarks load no page, so
# the working tree's serves the old build as well.
cp -r frontend/dist/. "$tree/frontend/dist/"
(cd "$tree" && "$GO" build -ldflags "-X main.commit=$old_commit" -o "$out/handson-bench.old" ./cmd/handson-bench) || exit
"$GO" build -ldflags "-X main.commit=$new_commit" -o "$out/handson-bench.new" ./cmd/handson-bench || exit

# Each build runs on its own revision's sandbox image (the init and the
# readiness probe are half of a start): when labs/images/sandbox differs,
# the old one is built as handson/sandbox:bench-old, and handson/sandbox:latest
# points at each build's image in its turn (sandboxes keep the image they
# were made from; no turn overlaps another).
sandbox_image=handson/sandbox:latest
images=""
if ! git diff --quiet "$old_commit" -- labs/images/sandbox; then
  echo "+ labs/images/sandbox differs: building $old_commit's sandbox image" >&2
  ctx=$(mktemp -d /var/tmp/handson-sandbox-ctx.XXXXXX)
  cp -a "$tree/labs/images/sandbox/." "$ctx/"
  mkdir -p "$ctx/preload"
  docker save -o "$ctx/preload/busybox.tar" handson/busybox:latest || exit
  echo "handson/busybox:latest busybox:latest" >"$ctx/preload/tags"
  docker build -q -t handson/sandbox:bench-old "$ctx" >/dev/null || exit
  rm -rf "$ctx"
  docker tag "$sandbox_image" handson/sandbox:bench-new || exit
  images=yes
  restore() {
    docker tag handson/sandbox:bench-new "$sandbox_image"
    docker rmi handson/sandbox:bench-new handson/sandbox:bench-old >/dev/null
    cleanup
  }
  trap restore EXIT
fi

for i in $(seq "$runs"); do
  for which in old new; do
    echo "+ turn $i of $runs: $which" >&2
    if [ -n "$images" ]; then docker tag "handson/sandbox:bench-$which" "$sandbox_image" || exit; fi
    "$out/handson-bench.$which" -json "$out/$which.json" -log "$out/$which-$i.log" "${args[@]}" >"$out/$which-$i.md"
    rc=$?
    # 1: a run had errors (its figures are kept, its report says which).
    if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
      echo "bench-compare.sh: handson-bench ($which) exited $rc; stopping. Files: $out" >&2
      exit "$rc"
    fi
  done
done

"$out/handson-bench.new" compare -names "$old_commit ($old_rev),$new_commit" "$out/old.json" "$out/new.json"
echo
echo "Each build's reports, logs and -json files: $out"
