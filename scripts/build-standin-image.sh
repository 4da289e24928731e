#!/usr/bin/env bash
# Builds the tenant stand-in image offline: a static binary in FROM scratch.
# Usage: scripts/build-standin-image.sh [TAG]   (default tenantctl-standin:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-tenantctl-standin:latest}"
host="$(rustc -vV | sed -n 's/^host: //p')"
# --target keeps RUSTFLAGS away from build scripts; its own target dir keeps
# the static flags from invalidating the main build cache.
RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --release \
  -p tenant-standin --target "$host" --target-dir target/standin
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "target/standin/$host/release/mai-standin" "$ctx/"
cp standin/Dockerfile "$ctx/"
docker build --quiet -t "$tag" "$ctx" >/dev/null
echo "built $tag"
