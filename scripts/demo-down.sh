#!/usr/bin/env bash
# Tears the demo fleet down: containers via `apply --prune` of an empty fleet
# (so only what tenantctl owns is touched), then the demo's volumes, which
# tenantctl itself never deletes, then its network.
set -euo pipefail
cd "$(dirname "$0")/.."
empty="$(mktemp -d)/tenants.toml"
printf 'allow_empty = true\nname_prefix = "mai"\nnetwork = "mai-network"\n' > "$empty"
target/release/tenantctl apply -f "$empty" --prune
docker volume ls -q --filter label=tenantctl.tenant | grep -E '^mai-.*-(data|backups)$' | xargs -r docker volume rm
docker network ls -q --filter label=tenantctl.tenant --filter name=^mai-network$ | xargs -r docker network rm
