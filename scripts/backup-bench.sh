#!/usr/bin/env bash
# Backup and restore throughput of tenantctl, side by side in one run with
# the baseline an operator would script: `docker cp` of the same folder
# piped into the same compressor (zstd -3, one thread).
#
#   1. one tenant with 1 GiB of data: one 512 MiB file and 4,096 files of
#      128 KiB (half of each incompressible, half zeros: SQLite pages and
#      uploads compress somewhere in between);
#   2. 20 tenants with 50 MiB each (`backup --all`, 2 at a time, against a
#      sequential docker cp loop).
#
# Usage: scripts/backup-bench.sh [TENANTCTL]    (make backup-bench)
# Needs root (it fills the volumes from the host) and the zstd CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
tenantctl="$(realpath "${1:-target/release/tenantctl}")"
run="bb$(date +%s%N | tail -c 7)"
work="$(mktemp -d)"
label="tenantctl-bench.run=$run"

cleanup() {
  docker ps -aq --filter "label=$label" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker volume ls -q --filter "label=$label" | xargs -r docker volume rm >/dev/null 2>&1 || true
  docker network rm "$run-net" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

ms() { date +%s%3N; }
mbps() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.0f", b / 1048576 / (t / 1000) }'; }

# half random, half zeros
fill() { # dir size_kib
  local dir=$1 kib=$2
  head -c $((kib * 512)) /dev/urandom > "$dir/.r"
  { cat "$dir/.r"; head -c $((kib * 512)) /dev/zero; } > "$dir/.f"
  rm -f "$dir/.r"
}

write_file() { # tenants...
  {
    echo "name_prefix = \"$run\""
    echo "network = \"$run-net\""
    echo "labels = { \"tenantctl-bench.run\" = \"$run\" }"
    echo "[backup]"
    echo "dir = \"$work/backups\""
    echo "concurrency = 2"
    echo "[defaults]"
    echo "chart = \"$PWD/charts/mai\""
    echo "image = \"tenantctl-standin:latest\""
    echo "resources = { cpus = 0.5, memory = \"256M\", memory_reservation = \"64M\" }"
    local port=$((30000 + RANDOM % 10000))
    for t in "$@"; do
      port=$((port + 1))
      echo "[tenants.$t]"
      echo "port = $port"
    done
  } > "$work/tenants.toml"
}

mountpoint() { docker volume inspect -f '{{.Mountpoint}}' "$run-$1-data"; }

baseline_backup() { # tenant out
  docker pause "$run-$1" >/dev/null
  docker cp "$run-$1:/app/backend/data" - | zstd -3 -q -T1 -o "$2" -f
  docker unpause "$run-$1" >/dev/null
}

echo "== one tenant, 1 GiB"
write_file big
"$tenantctl" apply -f "$work/tenants.toml" --lock-file "$work/lock" >/dev/null
data="$(mountpoint big)"
fill "$data" $((512 * 1024)) && mv "$data/.f" "$data/large.bin"
mkdir -p "$data/uploads"
fill "$data" 128
for i in $(seq 1 4096); do cp "$data/.f" "$data/uploads/f$i"; done
rm -f "$data/.f"
bytes=$(du -sb "$data" | cut -f1)

t0=$(ms); baseline_backup big "$work/baseline.tar.zst"; t1=$(ms)
base_ms=$((t1 - t0))
t0=$(ms); "$tenantctl" backup -f "$work/tenants.toml" big > "$work/backup.log"; t1=$(ms)
ours_ms=$((t1 - t0))
pause=$(grep -o 'paused [0-9.]*s' "$work/backup.log" | grep -o '[0-9.]*')
t0=$(ms); zstd -dc "$work/baseline.tar.zst" | docker cp - "$run-big:/app/backend/" ; t1=$(ms)
base_restore_ms=$((t1 - t0))
t0=$(ms); "$tenantctl" restore -f "$work/tenants.toml" big --latest > "$work/restore.log"; t1=$(ms)
ours_restore_ms=$((t1 - t0))

echo "| 1 GiB, 1 tenant | docker cp \\| zstd -3 | tenantctl | ratio |"
echo "|---|---|---|---|"
echo "| backup | $base_ms ms ($(mbps "$bytes" "$base_ms") MiB/s) | $ours_ms ms ($(mbps "$bytes" "$ours_ms") MiB/s) | $(awk -v a="$base_ms" -v b="$ours_ms" 'BEGIN { printf "%.0f %%", 100 * a / b }') of the baseline's throughput |"
echo "| restore (tenantctl: incl. stop, start, health) | $base_restore_ms ms ($(mbps "$bytes" "$base_restore_ms") MiB/s) | $ours_restore_ms ms ($(mbps "$bytes" "$ours_restore_ms") MiB/s) | $(awk -v a="$base_restore_ms" -v b="$ours_restore_ms" 'BEGIN { printf "%.0f %%", 100 * a / b }') |"
echo "| pause | the whole docker cp | ${pause}s for $((bytes / 1048576)) MiB ($(awk -v p="$pause" -v b="$bytes" 'BEGIN { printf "%.2f", p / (b / 104857600) }') s per 100 MiB) | |"
"$tenantctl" apply -f "$work/tenants.toml" --prune --lock-file "$work/lock" >/dev/null 2>&1 || true
docker rm -f "$run-big" >/dev/null

echo
echo "== 20 tenants, 50 MiB each"
tenants=$(seq -f "t%g" 1 20 | tr '\n' ' ')
# shellcheck disable=SC2086
write_file $tenants
"$tenantctl" apply -f "$work/tenants.toml" --lock-file "$work/lock" >/dev/null
for t in $tenants; do
  d="$(mountpoint "$t")"
  fill "$d" $((40 * 1024)) && mv "$d/.f" "$d/webui.db"
  mkdir -p "$d/uploads"
  fill "$d" 100
  for i in $(seq 1 100); do cp "$d/.f" "$d/uploads/u$i"; done
  rm -f "$d/.f"
done
bytes=$(for t in $tenants; do du -sb "$(mountpoint "$t")" | cut -f1; done | awk '{ s += $1 } END { print s }')
t0=$(ms)
for t in $tenants; do baseline_backup "$t" "$work/b-$t.tar.zst"; done
t1=$(ms); base_ms=$((t1 - t0))
t0=$(ms); "$tenantctl" backup -f "$work/tenants.toml" --all > "$work/all.log"; t1=$(ms)
ours_ms=$((t1 - t0))
pauses=$(grep -o 'paused [0-9.]*s' "$work/all.log" | grep -o '[0-9.]*' | sort -n)
echo "| 20 × 50 MiB | docker cp \\| zstd -3 loop | tenantctl backup --all (2 at a time) | ratio |"
echo "|---|---|---|---|"
echo "| backup | $base_ms ms ($(mbps "$bytes" "$base_ms") MiB/s) | $ours_ms ms ($(mbps "$bytes" "$ours_ms") MiB/s) | $(awk -v a="$base_ms" -v b="$ours_ms" 'BEGIN { printf "%.0f %%", 100 * a / b }') of the baseline's throughput |"
echo "| pause per tenant (min / median / max) | the whole docker cp | $(echo "$pauses" | head -1)s / $(echo "$pauses" | sed -n 10p)s / $(echo "$pauses" | tail -1)s | |"
