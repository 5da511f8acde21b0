#!/bin/bash
# reconcile.sh APP REPLICAS: one pass of a (toy) orchestrator's control loop.
# Desired state: REPLICAS running nginx containers labelled app=APP.
# It looks at what runs now, compares, and closes the gap. A real
# orchestrator does this again and again, for every app, on many hosts.
set -e
app=${1:?usage: ./reconcile.sh APP REPLICAS}
want=${2:?usage: ./reconcile.sh APP REPLICAS}
image=nginx

# 1. Observe: how many replicas run now?
have=$(docker ps -q --filter "label=app=$app" | wc -l)
echo "desired: $want   running: $have"

# Replicas that stopped do not count: remove them.
for id in $(docker ps -aq --filter "label=app=$app" --filter status=exited --filter status=created); do
  echo "remove (stopped) $(docker inspect -f '{{.Name}}' "$id" | tr -d /)"
  docker rm "$id" >/dev/null
done

# 2. Act: start the missing replicas, each with a new name...
while [ "$have" -lt "$want" ]; do
  name=$app-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  docker run -d --name "$name" --label "app=$app" "$image" >/dev/null
  echo "start  $name"
  have=$((have + 1))
done

# ...or remove the extra ones: any of them, picked at random.
while [ "$have" -gt "$want" ]; do
  id=$(docker ps -q --filter "label=app=$app" | shuf -n 1)
  echo "remove $(docker inspect -f '{{.Name}}' "$id" | tr -d /)"
  docker rm -f "$id" >/dev/null
  have=$((have - 1))
done

docker ps --filter "label=app=$app" --format 'table {{.Names}}\t{{.Status}}'
