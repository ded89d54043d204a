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
run node dist/src/engine/fields/docs.js --write >/dev/null
run node dist/src/gadgets/docs.js --write >/dev/null
if ! git diff --exit-code --stat -- src/capture/abi.generated.ts 'src/gadgets/*/layout.generated.ts' docs/fields.md docs/gadgets.md ||
  [ -n "$(git status --porcelain -- 'src/gadgets/*/layout.generated.ts')" ]; then
  echo "FAILED: generated files differ from the committed ones (run 'make gen' and commit)"
  fail=1
fi

if [ "$(id -u)" != 0 ]; then
  echo "NOTE: not root: kernel tests will skip (each prints its reason)"
else
  # tracefs/bpffs mounts (setup.sh) and containerd for the container tests
  bash scripts/setup.sh
  bash scripts/containerd.sh || echo "NOTE: containerd did not start: container tests will skip with a reason"
  bash scripts/docker.sh || echo "NOTE: dockerd did not start: Docker tests will skip with a reason"
fi

step "benchmark smoke run"
run env BENCH_QUICK=1 bash scripts/bench.sh


# A default-rules agent watches the whole suite: every alert it raises should be one a test
# provokes on purpose (the quiet-host check; its report is printed after the tests).
watch_dir=$(mktemp -d)
agent_pid=""
if [ "$(id -u)" = 0 ]; then
  bin/lanner run --json -o stdout_output.enabled=false --file-output "$watch_dir/alerts.jsonl" \
    2>"$watch_dir/agent.err" &
  agent_pid=$!
  for _ in $(seq 1 120); do
    grep -q "lanner: ready" "$watch_dir/agent.err" 2>/dev/null && break
    sleep 0.5
  done
  grep -q "lanner: ready" "$watch_dir/agent.err" || { echo "NOTE: the watching agent did not start:"; cat "$watch_dir/agent.err"; }
fi

step "unit and kernel tests"
# Kernel tests share the machine's BPF and containerd state: one test file at a time.
node --test --test-concurrency=1 --test-timeout=180000 --test-reporter=spec \
  $(find dist/src dist/test -name '*.test.js' | sort) 2>&1 | tee "$watch_dir/tests.log"
test_rc=${PIPESTATUS[0]}
[ "$test_rc" = 0 ] || { echo "FAILED: unit and kernel tests"; fail=1; }

if [ -n "$agent_pid" ]; then
  kill -TERM "$agent_pid" 2>/dev/null
  # it must flush and exit on its own; a hung agent is killed after 30 s and fails the check
  for _ in $(seq 1 60); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$agent_pid" 2>/dev/null && { echo "FAILED: the watching agent ignored SIGTERM for 30 s"; kill -KILL "$agent_pid"; fail=1; }
  wait "$agent_pid"
  agent_rc=$?
  step "quiet-host check: alerts the default rules raised while the suite ran"
  [ "$agent_rc" = 0 ] || { echo "FAILED: the watching agent exited $agent_rc"; cat "$watch_dir/agent.err"; fail=1; }
  node -e '
    const fs = require("fs");
    const f = process.argv[1];
    const lines = fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean) : [];
    const by = new Map();
    for (const l of lines) {
      const a = JSON.parse(l);
      const o = a.output_fields || {};
      const where = o["container.id"] && o["container.id"] !== "host" ? "container" : "host";
      const k = `${a.priority.padEnd(8)} ${a.rule} [${o["proc.name"] ?? "?"}, ${where}]`;
      by.set(k, (by.get(k) || 0) + 1);
    }
    console.log(`${lines.length} alerts (tests provoke them on purpose: e2e rule tests, ptrace, dup2 and memfd workloads)`);
    for (const [k, n] of [...by].sort()) console.log(`  ${String(n).padStart(4)}  ${k}`);
  ' "$watch_dir/alerts.jsonl"
fi

# The closing line: the test runner's counts, plainly.
pass=$(grep -E '^ℹ pass [0-9]+' "$watch_dir/tests.log" | tail -1 | awk '{print $3}')
failed=$(grep -E '^ℹ fail [0-9]+' "$watch_dir/tests.log" | tail -1 | awk '{print $3}')
skipped=$(grep -E '^ℹ skipped [0-9]+' "$watch_dir/tests.log" | tail -1 | awk '{print $3}')
rm -rf "$watch_dir"
echo "tests: ${pass:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit $fail
