#!/usr/bin/env bash
# What one sandbox start costs, on a quiet machine: makes a sandbox as the
# platform does (its own network, the same options, through the docker CLI),
# waits until it is ready, then asks for its Docker, and prints for each
# stage the wall time, the whole machine's CPU (/proc/stat, the docker CLI's
# own share included) and the sandbox's (its cgroup's cpuacct.usage; cgroup
# v1). Then one exec, and the removal.
#
#   scripts/start-cost.sh [RUNS]     (default 3; image $IMAGE, default handson/sandbox:latest)
set -euo pipefail
runs=${1:-3}
image=${IMAGE:-handson/sandbox:latest}

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; } # jiffies (1/100 s)
ms() { date +%s%3N; }

echo "| run | stage | wall | machine CPU | sandbox CPU |"
echo "|---|---|---|---|---|"
for run in $(seq "$runs"); do
  n=handson-cost-$$-$run
  row() { printf '| %s | %s | %d ms | %d ms | %s |\n' "$run" "$1" "$2" "$3" "$4"; }
  t0=$(ms) b0=$(busy)
  docker network create -o com.docker.network.bridge.enable_icc=false "$n" >/dev/null
  docker run -d --name "$n" --network "$n" --init \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    --device /dev/fuse --device /dev/net/tun --memory 1g --cpu-shares 256 --pids-limit 512 "$image" >/dev/null
  docker exec "$n" handson-ready wait 60
  t1=$(ms) b1=$(busy)
  id=$(docker inspect -f '{{.Id}}' "$n")
  cg() { cat "/sys/fs/cgroup/cpuacct/docker/$id/cpuacct.usage"; }
  c1=$(cg)
  row "network, container, ready (Docker not asked for)" $((t1 - t0)) $(((b1 - b0) * 10)) "$((c1 / 1000000)) ms"
  docker exec "$n" handson-ready docker 60
  t2=$(ms) b2=$(busy) c2=$(cg)
  row "its Docker on first use, to the preloaded images" $((t2 - t1)) $(((b2 - b1) * 10)) "$(((c2 - c1) / 1000000)) ms"
  docker exec "$n" true
  t3=$(ms) b3=$(busy) c3=$(cg)
  row "one exec (true)" $((t3 - t2)) $(((b3 - b2) * 10)) "$(((c3 - c2) / 1000000)) ms"
  docker rm -f "$n" >/dev/null
  docker network rm "$n" >/dev/null
  t4=$(ms) b4=$(busy)
  row "remove" $((t4 - t3)) $(((b4 - b3) * 10)) "—"
done
