#!/usr/bin/env bash
# Measures the take-over of a server run the seed's way: N clients started
# by docker-compose from the seed's compose file shape (stand-in image,
# bind-mounted ./data and ./backups), then `tenantctl import` and
# `tenantctl apply --adopt`. Each client's port is probed from the host
# every 50 ms during the apply, so the downtime a client actually saw is
# measured independently of what tenantctl reports.
#
# Usage: scripts/adopt-bench.sh [N] [TENANTCTL]   (make adopt-bench; N=20)
# Everything it creates carries its own prefix and is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/probers.sh
n="${1:-20}"
tenantctl="$(realpath "${2:-target/release/tenantctl}")"
image=tenantctl-standin:latest
run="ab$(date +%s%N | tail -c 7)"
work="$(mktemp -d)"
base_port=$((20000 + RANDOM % 20000))

cleanup() {
  for i in $(seq 1 "$n"); do
    docker rm -f "$run-c$i" "$run-c$i-pre-adopt" "$run-c$i--new" >/dev/null 2>&1 || true
  done
  docker network rm "$run-net" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

docker network create "$run-net" >/dev/null
mkdir -p "$work/clients" "$work/chart"
sed -e "s|^image = .*|image = \"$image\"|" \
    -e 's|^interval = .*|interval = "1s"|' \
    -e 's|^start_period = .*|start_period = "1s"|' charts/mai/chart.toml > "$work/chart/chart.toml"
for i in $(seq 1 "$n"); do
  dir="$work/clients/$run-c$i"
  mkdir -p "$dir/data" "$dir/backups"
  cat > "$dir/docker-compose.yml" <<EOF
version: '3.8'
services:
  $run-c$i:
    image: $image
    container_name: $run-c$i
    volumes:
      - ./data:/app/backend/data
      - ./backups:/app/backups
    ports:
      - "$((base_port + i)):8080"
    environment:
      - WEBUI_NAME=mAI - Client $i
      - ENABLE_SIGNUP=false
      - ENV=prod
    restart: unless-stopped
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8080/health"]
      interval: 1s
      timeout: 10s
      retries: 3
    deploy:
      resources:
        limits:
          cpus: '2'
          memory: 4G
        reservations:
          cpus: '1'
          memory: 2G
networks:
  default:
    name: $run-net
    external: true
EOF
  docker-compose -f "$dir/docker-compose.yml" up -d >/dev/null 2>&1
done
for i in $(seq 1 "$n"); do
  port=$((base_port + i))
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
  done
  curl -fs -X PUT --data "client $i" "http://127.0.0.1:$port/data/note.txt" >/dev/null
done

"$tenantctl" import --compose-root "$work/clients" --chart "$work/chart" \
  --out "$work/out" --name-prefix "$run" >/dev/null
adopts=$("$tenantctl" plan -f "$work/out/tenants.toml" --adopt | grep -c ': adopt container' || true)

# One prober per client: a line per failed probe, the time it started (ms).
# A probe takes at most 200 ms and they start ~50 ms apart, so the span
# from the first failed probe's start to the last one's is the downtime
# the client saw, give or take 250 ms.
start_probers "$n" "$base_port" "$work/probe" "$work/stop"
start=$(date +%s%3N)
"$tenantctl" apply -f "$work/out/tenants.toml" --adopt --lock-file "$work/lock" > "$work/apply.log" 2>&1 || true
end=$(date +%s%3N)
sleep 1
touch "$work/stop"
wait

lost=0
echo "Adoption of $n compose clients ($adopts planned as adoptions), apply --adopt took $(( (end - start) ))ms"
echo
echo "| client | reported downtime | probed outage, longest (±250 ms) | data after |"
echo "|---|---|---|---|"
for i in $(seq 1 "$n"); do
  reported=$(grep -o "c$i: adopt (downtime [0-9.]*s" "$work/apply.log" | grep -o '[0-9.]*s$' || echo FAIL)
  fails=0
  [ -e "$work/probe/c$i" ] && fails=$(wc -l < "$work/probe/c$i")
  span=$(longest_outage "$work/probe/c$i")
  data=$(curl -fs "http://127.0.0.1:$((base_port + i))/data/note.txt" || echo MISSING)
  [ "$data" = "client $i" ] || lost=$((lost + 1))
  echo "| c$i | $reported | ${span}ms ($fails failed probes in all) | $data |"
done
echo
echo "clients whose data did not read back: $lost"
grep -E '^(FAIL|Applied)' "$work/apply.log" || true
