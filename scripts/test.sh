#!/usr/bin/env bash
# The whole check, as CI runs it: format, lint, dependency direction, generated-code drift,
# unit and kernel tests, benchmark smoke run. Called by `make test` after `make build`.
set -uo pipefail
cd "$(dirname "$0")/.."
export npm_config_update_notifier=false

fail=0
step() { printf '\n== %s\n' "$*"; }
run() { "$@" || { echo "FAILED: $*"; fail=1; }; }

step "format"
run npx prettier --check --log-level warn .

step "lint"
run npx eslint . --max-warnings=0

step "dependency direction"
run npx depcruise src --config .dependency-cruiser.cjs --output-type err

step "generated code drift"
run node dist/scripts/gen-abi.js >/dev/null
run node dist/src/rules/field-docs.js --write >/dev/null
if ! git diff --exit-code --stat -- src/capture/abi.generated.ts docs/fields.md; then
  echo "FAILED: generated files differ from the committed ones (run 'make gen' and commit)"
  fail=1
fi

if [ "$(id -u)" != 0 ]; then
  echo "NOTE: not root: kernel tests will skip (each prints its reason)"
else
  # tracefs/bpffs mounts (setup.sh) and containerd for the container tests
  bash scripts/setup.sh
  bash scripts/containerd.sh || echo "NOTE: containerd did not start: container tests will skip with a reason"
fi

step "benchmark smoke run"
run env BENCH_QUICK=1 bash scripts/bench.sh


# Last, so the test runner's summary closes the output.
step "unit and kernel tests"
# Kernel tests share the machine's BPF and containerd state: one test file at a time.
run node --test --test-concurrency=1 --test-timeout=180000 --test-reporter=spec \
  $(find dist/src dist/test -name '*.test.js' | sort)

exit $fail
