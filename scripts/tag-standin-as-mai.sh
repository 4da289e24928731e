#!/usr/bin/env bash
# Tags the stand-in image as mai-production:latest for the demo, unless a
# real (non stand-in) image already holds that name: never overwrite it.
set -euo pipefail
target="mai-production:latest"
if docker image inspect "$target" >/dev/null 2>&1; then
  standin="$(docker image inspect -f '{{ index .Config.Labels "org.tenantctl.standin" }}' "$target")"
  if [ "$standin" != "true" ]; then
    echo "$target is a real image here; the demo uses it as it is"
    exit 0
  fi
fi
docker tag tenantctl-standin:latest "$target"
echo "tagged tenantctl-standin:latest as $target (stand-in: no registry on this host)"
