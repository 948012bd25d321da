# Developer entry points for missive. The local stack (a private PostgreSQL
# cluster and an Apache Kafka broker in KRaft mode, data in .data/) is managed by the
# scripts in infra/; see docs/infra.md. Nothing here needs Docker.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# One shell per recipe, so `source infra/env.sh` applies to the lines after it.
.ONESHELL:
.DEFAULT_GOAL := help

# Environment of the local stack (MISSIVE_DATABASE_URL, MISSIVE_KAFKA_BROKERS);
# values already set in the environment win.
ENV := source infra/env.sh
TEST_LOG := .data/logs/cargo-test.log

.PHONY: help up down reset deps dev test lint bench chaos fuzz

help:
	@cat <<'TXT'
	make up     start PostgreSQL (127.0.0.1:54329) and Apache Kafka (127.0.0.1:19092)
	make down   stop them (data in .data/ is kept)
	make reset  stop them and delete .data/
	make dev    up, migrate, then run `missive dev` (all services) in the foreground
	make test   up, then cargo test --workspace --all-targets
	make lint   cargo fmt --check and cargo clippy -D warnings
	make bench  up, then missive-bench suite: raw limits, rebuild, ramp, burst, steady (bench/results/)
	make chaos  the fault loop: ROUNDS (default 10) rounds of kill -9 / restarts under load
	make fuzz   the proptest fuzz targets: FUZZ_CASES (200000) cases each, FUZZ_PIPELINE_CASES (20000) through the stack
	TXT

up:
	@bash infra/up.sh

down:
	@bash infra/down.sh

reset:
	@bash infra/reset.sh

# Debian packages the Rust build needs (C toolchain, pkg-config, zlib, ...).
deps:
	@bash infra/up.sh --deps-only

dev: up
	@$(ENV)
	cargo run --release --bin missive -- migrate
	exec cargo run --release --bin missive -- dev

test: up
	@$(ENV)
	mkdir -p "$(dir $(TEST_LOG))"
	echo "==> cargo test --workspace --all-targets --no-fail-fast (output also in $(TEST_LOG))"
	status=0
	# --no-fail-fast: one failing test binary must not hide the others' results.
	cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee "$(TEST_LOG)" || status=$$?
	# One summary over all test binaries.
	echo
	echo "==> test summary"
	if grep -q '^test result:' "$(TEST_LOG)"; then
		grep '^test result:' "$(TEST_LOG)" | tr -d ';' | awk '
			{ for (i = 2; i <= NF; i++) {
				if ($$i == "passed")  p += $$(i-1)
				if ($$i == "failed")  f += $$(i-1)
				if ($$i == "ignored") g += $$(i-1) } }
			END { printf "%d test binaries: %d passed, %d failed, %d ignored\n", NR, p, f, g }'
		grep -E '^test .+ \.\.\. FAILED$$' "$(TEST_LOG)" | sed 's/^/    /' || true
	else
		echo "no test results (did the build fail? see $(TEST_LOG))"
	fi
	if [[ $$status -ne 0 ]]; then echo "==> FAILED (cargo test exit status $$status)"; fi
	exit $$status

lint: deps
	@echo "==> cargo fmt --all --check"
	cargo fmt --all --check
	echo "==> cargo clippy --workspace --all-targets -- -D warnings"
	cargo clippy --workspace --all-targets -- -D warnings

# Figures, not tests: see docs/benchmarks.md. Raw limits of the box (broker
# produce/consume, PostgreSQL COPY), rebuild, ramp, burst, steady at 1,000/s
# (issue #17's reference rate) and at 5,000/s, and flat
# (empty vs 1,000,000 stored messages), in about 20 minutes; JSON, SVG plots
# and summary.md land in bench/results/ (git-ignored). BENCH_ARGS adds
# options, e.g. BENCH_ARGS=--quick.
# BENCH_SERVICES: where missive's services run during the load runs: child
# (a `missive dev` child process, apart from the load generator), in-process
# (inside missive-bench, as before) or external (see docs/benchmarks.md).
BENCH_SERVICES ?= child
bench:
	@bash infra/up.sh
	$(ENV)
	cargo build --release -p missive-bench -p missive
	target/release/missive-bench suite --out bench/results --services $(BENCH_SERVICES) $(BENCH_ARGS)

# The fault loop (docs/faults.md): a private PostgreSQL and broker, the
# release `missive` under load, every fault once per round, then the
# exactly-once checks. `up` installs PostgreSQL and fetches the Kafka jars if missing.
ROUNDS ?= 10
CHAOS_RATE ?= 100
chaos:
	@bash infra/up.sh
	cargo build --release -p missive -p missive-chaos
	mkdir -p bench/results
	target/release/missive-chaos --rounds $(ROUNDS) --rate $(CHAOS_RATE) | tee bench/results/chaos.txt

# Property-based fuzzing (docs/limits.md): each target's properties run
# FUZZ_CASES cases instead of the few hundred `cargo test` runs. The parser
# targets need no stack; the whole-pipeline target (tests/api/fuzz_pipeline.rs:
# REST and WebSocket sends through the log into PostgreSQL) runs on the local
# stack, FUZZ_PIPELINE_CASES cases of a round trip each.
FUZZ_CASES ?= 200000
FUZZ_PIPELINE_CASES ?= 20000
fuzz: up
	@$(ENV)
	start=$$(date +%s)
	for target in "missive-schemas fuzz_avro $(FUZZ_CASES)" "missive-core fuzz_usersig $(FUZZ_CASES)" \
			"missive-ingest fuzz_rest $(FUZZ_CASES)" "missive-delivery fuzz_frames $(FUZZ_CASES)" \
			"missive api $(FUZZ_PIPELINE_CASES) fuzz_pipeline::"; do
		set -- $$target
		echo "==> $$1 --test $$2 $${4:-} with PROPTEST_CASES=$$3"
		t0=$$(date +%s)
		PROPTEST_CASES=$$3 cargo test -p $$1 --test $$2 -- --nocapture $${4:-}
		echo "==> $$2: $$(( $$(date +%s) - t0 )) s"
	done
	echo "==> fuzz: $(FUZZ_CASES) cases per parser property, $(FUZZ_PIPELINE_CASES) through the pipeline, $$(( $$(date +%s) - start )) s in all, no failure"
