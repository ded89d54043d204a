# Lanner build. `make run` and `make test` do all set-up first (idempotent).
SHELL := /bin/bash
NODE_GYP := $(shell npm prefix -g 2>/dev/null)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
ADDON := build/Release/lanner.node

.PHONY: all setup build bpf addon ts tools gen run test check lint format-check deps-check bench fuzz clean

all: build

setup:
	@bash scripts/setup.sh

build: setup bpf addon ts tools

bpf:
	@$(MAKE) -s -C bpf

$(ADDON): $(wildcard native/*.c native/*.h) binding.gyp
	@node $(NODE_GYP) rebuild --nodedir=/usr --silent >/dev/null
addon: $(ADDON)

# Benchmark and test load generators.
tools: bench/.output/loadgen bench/.output/workload bench/.output/gadget-workload
# static: it runs inside the benchmark's busybox container
bench/.output/gadget-workload: bench/gadget-workload.c
	@mkdir -p bench/.output && $(CC) -O2 -Wall -static -o $@ $<
bench/.output/%: bench/%.c
	@mkdir -p bench/.output && $(CC) -O2 -Wall -o $@ $<

ts:
	@npx tsc -p tsconfig.json

# Regenerate code derived from the ABI header (CI checks for drift with git diff).
gen: bpf ts
	@node dist/scripts/gen-abi.js
	@npx tsc -p tsconfig.json

run: build
	@bin/lanner run

check: lint format-check deps-check

lint:
	@npx eslint . --max-warnings=0

format-check:
	@npx prettier --check . >/dev/null || { npx prettier --list-different .; exit 1; }

deps-check:
	@npx depcruise src --config .dependency-cruiser.cjs

test: build
	@bash scripts/test.sh

bench: build
	@bash scripts/bench.sh

# Fuzz targets at length (test/fuzz): FUZZ_ARGS="--target conditions --seconds 600 --seed 7".
FUZZ_ARGS ?= --seconds 60
fuzz: setup ts
	@node dist/test/fuzz/run.js $(FUZZ_ARGS)

clean:
	rm -rf dist build bpf/.output bpf/include/vmlinux.h
