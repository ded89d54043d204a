#!/usr/bin/env bash
# Runs every benchmark in bench/ (compiled to dist/bench). BENCH_QUICK=1 for a short smoke run.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
for b in $(find dist/bench -name '*.js' ! -name '*.test.js' ! -name '*.helper.js' | sort); do
  echo "-- ${b#dist/}"
  node "$b" || { echo "FAILED: $b"; fail=1; }
done
exit $fail
