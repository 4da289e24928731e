#!/usr/bin/env bash
# What `make test` (or `make demo`) needs besides a Rust toolchain and a
# running Docker Engine, checked before anything is built. Missing Debian
# packages are installed when run as root; otherwise the exact command is
# printed and nothing runs. `.ci/run` calls the same script.
#
# Usage: scripts/prereqs.sh test|demo
set -euo pipefail
what="${1:-test}"
missing=()
need() { # command package
  command -v "$1" >/dev/null 2>&1 || [[ " ${missing[*]} " == *" $2 "* ]] || missing+=("$2")
}

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is missing: install a Rust toolchain (https://rustup.rs)" >&2
  exit 1
fi
if ! command -v docker >/dev/null 2>&1; then
  echo "error: the docker CLI is missing: install Docker Engine (apt-get install docker.io)" >&2
  exit 1
fi
need curl curl
if [ "$what" = test ]; then
  need git git
  need nginx nginx
  # The take-over tests start clients from compose files, as the seed does.
  need docker-compose docker-compose
  # promtool and the Prometheus server for the monitoring tests.
  need promtool prometheus
  need prometheus prometheus
  # The status page is tested in a real (headless) browser.
  need chromium chromium
  # The fault suite: a private dockerd in its own network namespace.
  need ip iproute2
  need nsenter util-linux
  need setpriv util-linux
  need dockerd docker.io
  # HTTPS: Let's Encrypt's ACME test server and its mock DNS, Caddy as
  # the second proxy kind, openssl to read served certificates.
  need pebble pebble
  need pebble-challtestsrv pebble
  need caddy caddy
  need openssl openssl
fi

if [ "${#missing[@]}" -gt 0 ]; then
  cmd="apt-get update && apt-get install -y ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "error: make $what needs ${missing[*]}; as root, run:" >&2
    echo "  $cmd" >&2
    exit 1
  fi
  echo "== installing ${missing[*]} (make $what needs them)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "error: the Docker Engine does not answer (docker info); start it, e.g. systemctl start docker" >&2
  exit 1
fi
if [ "$what" = test ] && [ "$(id -u)" != 0 ]; then
  echo "error: the integration tests need root (they mount a tmpfs and read volume directories)" >&2
  exit 1
fi
