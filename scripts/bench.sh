#!/usr/bin/env bash
# Runs the platform benchmarks (cmd/handson-bench) against the real Docker
# daemon: the Markdown results table on stdout, the progress log on stderr
# and in $BENCH_LOG (default /tmp/handson-bench.log). Needs what `make
# bench` builds first (deps, images, the frontend bundle). The arguments
# go to handson-bench (`bin/handson-bench -h` lists them):
#
#   scripts/bench.sh                                # every scenario: about 15 minutes on 2 cores
#   scripts/bench.sh -scenario open -runs 3         # one scenario, 3 runs: median and worst
#   scripts/bench.sh -scenario density -density 20  # smaller
#
# handson-bench removes every sandbox it made, also on Ctrl-C or kill
# (not kill -9: then its log names the instance and the docker command).
set -uo pipefail
cd "$(dirname "$0")/.." || exit

GO=${GO:-go}
bin=bin/handson-bench
# The commit goes into the binary's report (go build stamps none in a git
# worktree); "+" when the tree has local changes.
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || rev+="+"
"$GO" build -ldflags "-X main.commit=$rev" -o "$bin" ./cmd/handson-bench || exit

log=${BENCH_LOG:-${TMPDIR:-/tmp}/handson-bench.log}
"$bin" -log "$log" "$@"
rc=$?
echo
echo "Full log: $log"
exit "$rc"
