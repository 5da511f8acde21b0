#!/usr/bin/env bash
# Runs the platform benchmarks (tests/bench_test.go) against the real
# Docker daemon and prints the results as a Markdown table on stdout; the
# go test output goes to stderr. Needs what `make bench` builds first
# (deps, images, build). Takes about 10-15 minutes on 2 cores.
#
#   scripts/bench.sh                     # everything
#   BENCH='^BenchmarkOpenLab$' scripts/bench.sh   # a subset (a -bench regexp)
#   HANDSON_BENCH_DENSITY=20 scripts/bench.sh
#
# Knobs (see bench_test.go): HANDSON_BENCH_N, HANDSON_BENCH_CONCURRENT,
# HANDSON_BENCH_IDLE_N, HANDSON_BENCH_IDLE, HANDSON_BENCH_DENSITY,
# HANDSON_BENCH_BATCH, HANDSON_BENCH_SETTLE, HANDSON_BENCH_POOL. The full
# go test log is kept in $BENCH_LOG (default /tmp/handson-bench.log).
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
BENCH=${BENCH:-'^Benchmark(OpenLab|OpenLabConcurrent|WarmPool|IdleMemory|Density)$'}
TIMEOUT=${BENCH_TIMEOUT:-30m}

work=$(mktemp -d)
export HANDSON_BENCH=1
export HANDSON_BENCH_OUT=$work/rows.tsv
export HANDSON_BENCH_INSTANCES=$work/instances

# Each platform the benchmarks start has its own instance id; its sandboxes
# carry it as a label. The benchmarks remove them themselves; this catches
# a run killed before its cleanup (timeout, Ctrl-C).
cleanup() {
  if [ -s "$work/instances" ]; then
    while read -r id; do
      [ -n "$id" ] || continue
      ids=$(docker ps -aq --filter "label=handson.instance=$id" 2>/dev/null)
      if [ -n "$ids" ]; then
        echo "bench.sh: removing leftover sandboxes of instance $id" >&2
        docker rm -f $ids >/dev/null 2>&1
      fi
      nets=$(docker network ls -q --filter "label=handson.instance=$id" 2>/dev/null)
      [ -n "$nets" ] && docker network rm $nets >/dev/null 2>&1
    done <"$work/instances"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cmd=("$GO" test ./tests -run '^$' -bench "$BENCH" -benchtime 1x -count=1 -timeout "$TIMEOUT")
# The command line as it can be pasted into a shell.
quote() { case $1 in *[!A-Za-z0-9_./=:,-]*) printf "'%s'" "$1" ;; *) printf '%s' "$1" ;; esac; }
cmdline="HANDSON_BENCH=1"
for a in "${cmd[@]}"; do cmdline+=" $(quote "$a")"; done
for v in HANDSON_BENCH_N HANDSON_BENCH_CONCURRENT HANDSON_BENCH_IDLE_N HANDSON_BENCH_IDLE HANDSON_BENCH_DENSITY HANDSON_BENCH_BATCH HANDSON_BENCH_SETTLE HANDSON_BENCH_POOL; do
  [ -n "${!v:-}" ] && cmdline="$v=${!v} $cmdline"
done
echo "+ $cmdline" >&2
started=$(date -u '+%Y-%m-%d %H:%M UTC')
log=${BENCH_LOG:-${TMPDIR:-/tmp}/handson-bench.log}
"${cmd[@]}" 2>&1 | tee "$log" >&2
rc=${PIPESTATUS[0]}

mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
dockerv=$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')
echo
echo "Run $started on $(nproc) cores, $mem RAM, kernel $(uname -r), Docker $dockerv; commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' + local changes')."
echo
echo "| measurement | result | target | met? |"
echo "|---|---|---|---|"
if [ -s "$HANDSON_BENCH_OUT" ]; then
  awk -F'\t' '$1 == "row" { printf "| %s | %s | %s | %s |\n", $2, $3, $4, $5 }' "$HANDSON_BENCH_OUT"
fi
echo
echo "Command: \`$cmdline\`"
if [ -s "$HANDSON_BENCH_OUT" ] && grep -q '^env' "$HANDSON_BENCH_OUT"; then
  echo
  echo "The machine while the benchmarks ran (other work on it skews the numbers):"
  echo
  awk -F'\t' '$1 == "env" { print "- " $2 }' "$HANDSON_BENCH_OUT"
fi
if [ -s "$HANDSON_BENCH_OUT" ] && grep -q '^note' "$HANDSON_BENCH_OUT"; then
  echo
  awk -F'\t' '$1 == "note" { print $2 }' "$HANDSON_BENCH_OUT"
fi
echo
echo "Full log: $log"
if [ "$rc" != 0 ]; then
  echo
  echo "**go test failed (exit $rc): the table may be incomplete; see its output above.**"
fi
exit "$rc"
