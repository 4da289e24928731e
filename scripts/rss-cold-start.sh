#!/usr/bin/env bash
# The controller's memory over a cold start of N tenants of the bench's
# shape (BENCHMARKS.md, issue 11): starts `tenantctl run` (as the shipped
# unit does, MALLOC_ARENA_MAX=1), prints VmHWM every 10 s until all N are
# running, then after SETTLE seconds (default 30), stops it. With
# `heaptrack` as second argument it runs under heaptrack (output in the
# run's directory). The fleet is left running for a warm start; remove it
# with `scripts/rss-cold-start.sh clean`.
#
# Usage: scripts/rss-cold-start.sh N [heaptrack] | clean
# Needs: target/release/tenantctl, the tenantctl-standin image, ports
# 24000..24000+N free. Objects carry tenantctl-bench.run=<id> only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
state=/tmp/tenantctl-rss
mkdir -p "$state"

if [ "${1:-}" = clean ]; then
  id=$(cat "$state/id")
  docker ps -aq --filter "label=tenantctl-bench.run=$id" | xargs -r -n 50 docker rm -f >/dev/null
  docker volume ls -q --filter "label=tenantctl-bench.run=$id" | xargs -r docker volume rm >/dev/null
  docker network rm "$id-net" >/dev/null 2>&1 || true
  echo "removed fleet $id"
  exit 0
fi

n=${1:?usage: rss-cold-start.sh N [heaptrack] | clean}
id="rs$(date +%s%N | tail -c 7)"
echo "$id" > "$state/id"
dir="$state/$id"
mkdir -p "$dir"
interval=$(( n / 10 > 10 ? n / 10 : 10 ))
{
  printf 'name_prefix = "%s"\nnetwork = "%s-net"\nlabels = { "tenantctl-bench.run" = "%s" }\n\n' "$id" "$id" "$id"
  printf '[defaults]\nchart = "%s/charts/mai"\nimage = "tenantctl-standin:latest"\n' "$root"
  printf 'resources = { cpus = 0.25, memory = "64M", memory_reservation = "32M" }\n'
  printf 'health = { interval = "%ss", timeout = "2s", start_period = "1s" }\n' "$interval"
  for i in $(seq 0 $((n - 1))); do printf '\n[tenants.t%d]\nport = %d\n' "$i" $((24000 + i)); done
} > "$dir/tenants.toml"

cmd=("$root/target/release/tenantctl" run -f "$dir/tenants.toml" --listen 127.0.0.1:23999
  --prune --concurrency 4 --lock-file "$dir/lock")
if [ "${2:-}" = heaptrack ]; then cmd=(heaptrack -o "$dir/heaptrack" "${cmd[@]}"); fi
MALLOC_ARENA_MAX=1 TENANTCTL_LOG=warn "${cmd[@]}" > "$dir/log" 2>&1 &
sleep 2
# Under heaptrack the controller is a child of the wrapper.
pid=$(pgrep -f "^$root/target/release/tenantctl run -f $dir/tenants.toml" | tail -1)
[ -n "$pid" ] || { echo "the controller did not start:" >&2; cat "$dir/log" >&2; exit 1; }
start=$(date +%s)
while :; do
  up=$(docker ps -q --filter "label=tenantctl-bench.run=$id" --filter status=running | wc -l)
  echo "$(( $(date +%s) - start ))s running=$up $(grep VmHWM "/proc/$pid/status")"
  [ "$up" -ge "$n" ] && break
  sleep 10
done
sleep "${SETTLE:-30}"
grep -E 'VmHWM|RssAnon|RssFile' "/proc/$pid/status"
kill -TERM "$pid"
wait || true
echo "fleet $id left running; files in $dir"
