# tenantctl — the two commands that matter:
#   make demo   runs the main job: the bundled 20-tenant demo fleet on this
#               host's Docker Engine, with the offline stand-in image
#               (validate, plan, apply, status; `make demo-run` then keeps
#               it converged with the controller)
#   make test   runs every check CI runs (fmt, clippy, unit + integration)

CARGO ?= cargo
TENANTCTL := target/release/tenantctl
DEMO_FILE := desired-state/tenants.toml
# One host lock for the demo's apply, run and teardown, so they never race.
DEMO_LOCK := $(CURDIR)/target/tenantctl-demo.lock

.PHONY: swarm-bench swarm-test faults deb man prereqs-test prereqs-demo build image demo demo-run demo-status demo-down test lint bench adopt-bench backup-bench rollout-bench rollout-kill

build:
	$(CARGO) build --release --bin tenantctl

## Stand-in tenant image (static binary in FROM scratch), built offline.
image:
	scripts/build-standin-image.sh tenantctl-standin:latest

## Apply the demo fleet. There is no registry here, so the stand-in is tagged
## as mai-production:latest unless a real image of that name is present.
demo: prereqs-demo build image
	scripts/tag-standin-as-mai.sh
	$(TENANTCTL) validate -f $(DEMO_FILE)
	$(TENANTCTL) plan -f $(DEMO_FILE)
	$(TENANTCTL) apply -f $(DEMO_FILE) --lock-file $(DEMO_LOCK) --wait
	$(TENANTCTL) status -f $(DEMO_FILE)

## The controller on the demo fleet, in the foreground (Ctrl-C stops it;
## the tenants keep running). Metrics on http://127.0.0.1:9477/metrics.
demo-run: build image
	scripts/tag-standin-as-mai.sh
	$(TENANTCTL) run -f $(DEMO_FILE) --listen 127.0.0.1:9477 --lock-file $(DEMO_LOCK)

demo-status: build
	$(TENANTCTL) status -f $(DEMO_FILE)

## Remove the demo's containers and network, then (explicitly) the volumes
## of the tenants the demo file names, each one by name.
demo-down: build
	scripts/demo-down.sh $(DEMO_FILE) $(TENANTCTL) $(DEMO_LOCK)

## What the tests (or the demo) need: checked first; missing Debian
## packages are installed when run as root, else the command is printed.
prereqs-test prereqs-demo: prereqs-%:
	scripts/prereqs.sh $*

## The Debian package (binary, systemd unit, /etc/tenantctl, the tenantctl
## user, completions, man page): target/debian/tenantctl_<version>_<arch>.deb
deb: build
	scripts/build-deb.sh $(TENANTCTL) target/debian

## The man page, from the CLI's own definition.
man: build
	mkdir -p target/man
	$(TENANTCTL) manpage > target/man/tenantctl.1
	@echo "wrote target/man/tenantctl.1 (man -l target/man/tenantctl.1)"

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets --all-features -- -D warnings

test: prereqs-test lint
	$(CARGO) test --workspace --lib --bins --tests -- --test-threads=4

## Benchmarks: tenantctl vs the compose loop vs the raw engine (needs
## docker-compose: apt-get install docker-compose). BENCH_ARGS e.g.
## "--n 20,100 --runs 3 --out bench-result.md".
BENCH_ARGS ?= --n 20,100,1000 --runs 3 --big-runs 1
bench: build image
	$(CARGO) run --release --features fixtures --example bench -- $(BENCH_ARGS)

## The take-over measured: N (default 20) clients started by docker-compose
## the seed's way, imported and adopted; each client's downtime as tenantctl
## reports it and as a 50 ms prober saw it (figures in BENCHMARKS.md).
ADOPT_N ?= 20
adopt-bench: build image
	scripts/adopt-bench.sh $(ADOPT_N) $(TENANTCTL)

## Backup and restore throughput against `docker cp | zstd -3` in one run:
## one tenant with 1 GiB, and 20 tenants with 50 MiB (BENCHMARKS.md).
## Needs root and the zstd CLI (apt-get install zstd).
backup-bench: build image
	scripts/backup-bench.sh $(TENANTCTL)

## A 20-tenant rollout of a new image against the seed's "update all
## clients" loop (docker rm + docker run of each) in one run: total time
## and each client's outage, probed every 50 ms (BENCHMARKS.md).
ROLLOUT_N ?= 20
ROLLOUT_MAX_UNAVAILABLE ?= 1
rollout-bench: build image
	scripts/rollout-bench.sh $(ROLLOUT_N) $(TENANTCTL) $(ROLLOUT_MAX_UNAVAILABLE)

## Issue 16's benchmark at its full count: 60 tenants over a three-node
## Swarm of the test's own (dockerd in network namespaces), cold start with
## `tenantctl apply` beside `docker stack deploy` of the same fleet, and the
## calls of a no-op pass at N and N/2 (CI runs 12; BENCHMARKS.md).
SWARM_BENCH_TENANTS ?= 60
swarm-bench: image
	SWARM_BENCH_TENANTS=$(SWARM_BENCH_TENANTS) $(CARGO) test --release --test swarm_bench -- --nocapture

## The multi-node Swarm test alone (also part of `make test`).
swarm-test: image
	$(CARGO) test --test swarm -- --nocapture

## The SIGKILL test of rollouts at its full count (CI runs 20):
## KILL_RUNS rollouts, apply and the controller killed in turn at seeded
## random points, each followed by a restart that must converge.
KILL_RUNS ?= 40
rollout-kill: image
	KILL_RUNS=$(KILL_RUNS) $(CARGO) test --test rollout a_rollout_killed -- --nocapture

## The fault suite at full count (figures in RELIABILITY.md): a private
## dockerd killed FAULT_RUNS times under apply and under run, tenantctl
## killed FAULT_KILLS times (cold start, edit, prune, proxy sync), the
## lying daemon and tenants-file faults, and FUZZ_CASES property cases.
## CI runs the same tests with 1 daemon kill each, 8 kills, 2,000 cases.
FAULT_RUNS ?= 5
FAULT_KILLS ?= 100
FUZZ_CASES ?= 20000
faults: prereqs-test image
	FAULT_RUNS=$(FAULT_RUNS) KILL_RUNS=$(FAULT_KILLS) $(CARGO) test --test faults -- --nocapture --test-threads=1
	FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --test fuzz -- --nocapture
