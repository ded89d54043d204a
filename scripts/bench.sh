#!/usr/bin/env bash
# Runs every benchmark in bench/ (compiled to dist/bench). Each prints its figures and its
# targets (MET / NOT MET); the full run exits non-zero when any benchmark fails or misses a
# target. BENCH_QUICK=1: a short smoke run (CI) that prints the targets without enforcing them.
# Benchmarks that need the Falco rules find them through LANNER_COMPAT_DIR (default
# ../shared/compat) and say so when they are absent.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
failed=()
for b in $(find dist/bench -name '*.js' ! -name '*.test.js' ! -name '*.helper.js' | sort); do
  echo "-- ${b#dist/}"
  node "$b" || { echo "FAILED: $b"; fail=1; failed+=("${b#dist/}"); }
done
((fail)) && echo "benchmarks that failed or missed a target: ${failed[*]}"
exit $fail
