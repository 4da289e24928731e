#!/usr/bin/env bash
# Tears a fleet down (the demo's by default): its containers via `apply
# --prune` of an empty file of the same fleet (so only what tenantctl owns
# in that fleet is touched), then the volumes of exactly the tenants the
# file names — each one checked to carry that tenant's label and named as
# it is removed, never matched by pattern — then the fleet's network if
# it is ours and empty.
#
#   scripts/demo-down.sh [TENANTS_FILE] [TENANTCTL_BINARY] [LOCK_FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
file="${1:-desired-state/tenants.toml}"
tenantctl="${2:-target/release/tenantctl}"
lock_args=()
[ -n "${3:-}" ] && lock_args=(--lock-file "$3")

# Top-level `key = "value"` of the tenants file (before any table).
top() {
  awk -v key="$1" '/^\[/ { exit } $1 == key && $2 == "=" { gsub(/"/, "", $3); print $3; exit }' "$file"
}
prefix="$(top name_prefix)"; prefix="${prefix:-mai}"
fleet="$(top fleet)"; fleet="${fleet:-$prefix}"
network="$(top network)"; network="${network:-${prefix}-network}"
# Tenant names exactly as the file's `[tenants.NAME]` tables give them.
mapfile -t tenants < <(sed -n 's/^\[tenants\.\([a-z0-9-]*\)\][[:space:]]*$/\1/p' "$file")

empty="$(mktemp -d)/tenants.toml"
printf 'allow_empty = true\nfleet = "%s"\nname_prefix = "%s"\nnetwork = "%s"\n' \
  "$fleet" "$prefix" "$network" > "$empty"
"$tenantctl" apply -f "$empty" --prune "${lock_args[@]}"

for tenant in "${tenants[@]}"; do
  for key in data backups; do
    volume="${prefix}-${tenant}-${key}"
    owner="$(docker volume inspect -f '{{index .Labels "tenantctl.tenant"}}' "$volume" 2>/dev/null || true)"
    owner_fleet="$(docker volume inspect -f '{{index .Labels "tenantctl.fleet"}}' "$volume" 2>/dev/null || true)"
    if [ "$owner" = "$tenant" ] && { [ -z "$owner_fleet" ] || [ "$owner_fleet" = "$fleet" ]; }; then
      docker volume rm "$volume" >/dev/null
      echo "removed volume $volume (tenant $tenant)"
    elif [ -n "$owner" ] || docker volume inspect "$volume" >/dev/null 2>&1; then
      echo "kept volume $volume: it is not tenant $tenant's of fleet $fleet"
    fi
  done
done
net_owner="$(docker network inspect -f '{{index .Labels "tenantctl.tenant"}}/{{index .Labels "tenantctl.fleet"}}' "$network" 2>/dev/null || true)"
if [ "$net_owner" = "_shared/$fleet" ] || [ "$net_owner" = "_shared/" ]; then
  docker network rm "$network" >/dev/null 2>&1 && echo "removed network $network" || echo "kept network $network (in use)"
fi
