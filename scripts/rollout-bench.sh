#!/usr/bin/env bash
# A fleet-wide image update measured two ways in one run, on N tenants
# each (default 20), with every client's port probed every 50 ms:
#  - tenantctl: `apply` after the tag moved to a new build, i.e. one
#    rollout (canary first, max_unavailable 1, each tenant health-gated
#    with the default min_ready of 10 s, a backup before each upgrade);
#  - the seed's "update all clients" loop: `docker rm -f` + `docker run`
#    of each client in turn, no gate, no backup (a plain recreate of all).
# Prints total time and each client's longest outage for both.
#
# Usage: scripts/rollout-bench.sh [N] [TENANTCTL] [MAX_UNAVAILABLE]
#        (make rollout-bench; ROLLOUT_MAX_UNAVAILABLE=4 for batches of 4)
# Everything it creates carries its own prefix and is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/probers.sh
n="${1:-20}"
tenantctl="$(realpath "${2:-target/release/tenantctl}")"
mu="${3:-1}"
standin=tenantctl-standin:latest
run="rb$(date +%s%N | tail -c 7)"
work="$(mktemp -d)"
base_port=$((20000 + RANDOM % 20000))
tag="$run-app:live"

cleanup() {
  docker ps -aq --filter "label=bench.run=$run" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker volume ls -q --filter "label=bench.run=$run" | xargs -r docker volume rm >/dev/null 2>&1 || true
  docker network rm "$run-net" >/dev/null 2>&1 || true
  docker rmi -f "$tag" "$run-app:v2" "$run-app:v3" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

docker tag "$standin" "$tag"
printf 'FROM %s\nLABEL build=v2\n' "$standin" | docker build -q -t "$run-app:v2" - >/dev/null
printf 'FROM %s\nLABEL build=v3\n' "$standin" | docker build -q -t "$run-app:v3" - >/dev/null

# The tenantctl fleet: the mAI chart with a 1 s health interval.
mkdir -p "$work/chart" "$work/probe-t" "$work/probe-r"
sed -e 's|^interval = .*|interval = "1s"|' \
    -e 's|^start_period = .*|start_period = "1s"|' charts/mai/chart.toml > "$work/chart/chart.toml"
{
  echo "name_prefix = \"$run\""
  echo "network = \"$run-net\""
  echo "labels = { \"bench.run\" = \"$run\" }"
  echo "[backup]"
  echo "dir = \"$work/backups\""
  echo "[rollout]"
  echo "groups = [\"canary\"]"
  echo "max_unavailable = $mu"
  echo "state_dir = \"$work/state\""
  echo "[defaults]"
  echo "chart = \"$work/chart\""
  echo "image = \"$tag\""
  echo 'resources = { cpus = 0.25, memory = "64M", memory_reservation = "32M" }'
  for i in $(seq 1 "$n"); do
    echo "[tenants.t$i]"
    echo "port = $((base_port + i))"
    [ "$i" = 1 ] && echo 'rollout_group = "canary"'
  done
} > "$work/tenants.toml"
"$tenantctl" apply -f "$work/tenants.toml" --lock-file "$work/lock" > "$work/apply1.log" 2>&1

# The raw fleet: what the seed's loop manages.
raw_run() { # i image
  docker run -d --name "$run-raw$1" --label "bench.run=$run" --network "$run-net" \
    -p "127.0.0.1:$((base_port + 100 + $1)):8080" -v "$run-raw$1-data:/app/backend/data" \
    -e "WEBUI_NAME=mAI - Client $1" -e ENABLE_SIGNUP=false -e ENV=prod \
    --restart unless-stopped --cpus 0.25 --memory 64m \
    --health-cmd "curl -f http://localhost:8080/health" --health-interval 1s \
    "$2" >/dev/null
}
for i in $(seq 1 "$n"); do
  docker volume create --label "bench.run=$run" "$run-raw$i-data" >/dev/null
  raw_run "$i" "$tag"
done
for i in $(seq 1 "$n"); do
  for p in $((base_port + i)) $((base_port + 100 + i)); do
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$p/health" >/dev/null && break; sleep 0.1; done
  done
done

summary() { # dir
  for i in $(seq 1 "$n"); do longest_outage "$1/c$i"; done | sort -n | awk '
    { v[NR] = $1; s += $1 }
    END { printf "min %d ms, median %d ms, max %d ms, mean %d ms", v[1], v[int((NR + 1) / 2)], v[NR], s / NR }'
}

# tenantctl: the tag moves to v2; one apply rolls it out.
docker tag "$run-app:v2" "$tag"
start_probers "$n" "$base_port" "$work/probe-t" "$work/stop-t"
start=$(date +%s%3N)
"$tenantctl" apply -f "$work/tenants.toml" --lock-file "$work/lock" > "$work/apply2.log" 2>&1 || true
t_ms=$(( $(date +%s%3N) - start ))
sleep 1; touch "$work/stop-t"

# The seed's loop: rm + run of each client on v3.
start_probers "$n" "$((base_port + 100))" "$work/probe-r" "$work/stop-r"
start=$(date +%s%3N)
for i in $(seq 1 "$n"); do
  docker rm -f "$run-raw$i" >/dev/null
  raw_run "$i" "$run-app:v3"
done
r_ms=$(( $(date +%s%3N) - start ))
sleep 3; touch "$work/stop-r"
wait

updated=$(grep -c '^ok ' "$work/apply2.log" || true)
echo "Fleet-wide image update of $n tenants ($updated updated by tenantctl)"
echo
echo "| | total time | per-tenant outage (probed every 50 ms) |"
echo "|---|---|---|"
echo "| tenantctl rollout (canary + batches of $mu, gated, min_ready 10 s, backup first) | $((t_ms / 1000)).$(( (t_ms % 1000) / 100 )) s | $(summary "$work/probe-t") |"
echo "| seed's loop: docker rm -f + docker run each, no gate | $((r_ms / 1000)).$(( (r_ms % 1000) / 100 )) s | $(summary "$work/probe-r") |"
echo
echo "ratio of total time (tenantctl / loop): $(awk -v a="$t_ms" -v b="$r_ms" 'BEGIN { printf "%.1f", a / b }')"
grep -E '^(FAIL|rollout of|Applied)' "$work/apply2.log" || true
