/**
 * The runner's order of operations with a stand-in environment (no kernel, no runtime).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { HOST_CONTAINER, type ContainerInfo } from "../state/containers/container-info.js";
import { standInEnvironment } from "../../test/helpers/gadget-environment.js";
import type { GadgetEnvironment } from "./environment.js";
import type { GadgetRecord, GadgetSpec, SourceEvent } from "./gadget.js";
import { GadgetRun, prepare } from "./runner.js";

/** An environment whose containers are known only once load() finished (after `delayMs`). */
function slowEnvironment(delayMs: number, byPid: ReadonlyMap<number, ContainerInfo>): GadgetEnvironment {
  return standInEnvironment({
    loadMs: delayMs,
    container: (pid) => byPid.get(pid) ?? HOST_CONTAINER,
    containers: [...byPid.values()],
  });
}

const web: ContainerInfo = { ...HOST_CONTAINER, id: "abc", fullId: "abcdef", name: "web", initPid: null };

test("a snapshot waits for the containers before deciding its rows (they are final)", async () => {
  // Regression: the snapshot's one table was taken right after start, before the
  // environment had loaded the containers, so every row was "not known yet" and, being
  // final, dropped: `lanner snapshot process` printed an empty table.
  const spec: GadgetSpec = {
    category: "snapshot",
    name: "stub",
    summary: "rows for the runner",
    common: ["proc.pid", "container.name"],
    columns: [],
    defaults: ["proc.pid"],
    params: [],
    start: () => ({
      collect: () => [
        { pid: 4242, fields: {} },
        { pid: 4343, fields: {} },
      ],
      stop: () => undefined,
    }),
  };
  const p = prepare({
    spec,
    params: {},
    selection: {
      namespaces: [],
      allNamespaces: false,
      pods: [],
      containers: ["web"],
      labels: [],
      host: false,
    },
  });
  const tables: GadgetRecord[][] = [];
  const run = await GadgetRun.start(p, slowEnvironment(100, new Map([[4242, web]])), {
    table: (rows) => tables.push(rows),
    lost: () => undefined,
  });
  await run.done;
  await run.stop();
  assert.equal(tables.length, 1);
  assert.deepEqual(
    tables[0]?.map((r) => [r["proc.pid"], r["container.name"]]),
    [[4242, "web"]],
    "the web container's row; the host's is not selected",
  );
  assert.equal(run.stats().unselected, 1);
});

test("top: intervals that pass while the containers load are folded into one table", async () => {
  // Regression: every interval's tick waited for the environment, then all of them ran
  // back to back, printing several tables of near-empty intervals at once.
  let collects = 0;
  const spec: GadgetSpec = {
    category: "top",
    name: "stub",
    summary: "rows for the runner",
    common: ["proc.pid"],
    columns: [],
    defaults: ["proc.pid"],
    params: [],
    start: () => ({
      collect: () => {
        collects++;
        return [{ pid: 4242, fields: {} }];
      },
      stop: () => undefined,
    }),
  };
  const p = prepare({
    spec,
    params: {},
    selection: { namespaces: [], allNamespaces: false, pods: [], containers: [], labels: [], host: true },
    intervalS: 0.1,
  });
  const tables: GadgetRecord[][] = [];
  const run = await GadgetRun.start(p, slowEnvironment(450, new Map([[4242, web]])), {
    table: (rows) => tables.push(rows),
    lost: () => undefined,
  });
  await new Promise((r) => setTimeout(r, 500));
  await run.stop();
  assert.ok(
    collects >= 1 && collects <= 2,
    `one table once loaded, not one per waiting interval: ${collects}`,
  );
  assert.equal(tables.length, collects);
  assert.deepEqual(
    tables[0]?.map((r) => r["proc.pid"]),
    [4242],
  );
});

test("records carry the gadget's declared fields only (JSON prints every field)", async () => {
  // Regression: enrichment filled every common process and container column, declared or
  // not, so a snapshot's JSON had "evt.time": null and fields --help did not list.
  const spec: GadgetSpec = {
    category: "snapshot",
    name: "stub",
    summary: "rows for the runner",
    common: ["proc.pid", "proc.name", "container.name", "k8s.node.name"],
    columns: [{ name: "stub.n", type: "uint32", desc: "A number." }],
    defaults: ["proc.pid"],
    params: [],
    start: () => ({
      collect: () => [{ pid: 4242, fields: { "proc.name": "web", "stub.n": 7 } }],
      stop: () => undefined,
    }),
  };
  const p = prepare({
    spec,
    params: {},
    selection: { namespaces: [], allNamespaces: false, pods: [], containers: [], labels: [], host: true },
  });
  const tables: GadgetRecord[][] = [];
  const run = await GadgetRun.start(p, slowEnvironment(0, new Map([[4242, web]])), {
    table: (rows) => tables.push(rows),
    lost: () => undefined,
  });
  await run.done;
  await run.stop();
  assert.deepEqual(tables[0], [
    { "proc.pid": 4242, "proc.name": "web", "stub.n": 7, "container.name": "web", "k8s.node.name": "node-1" },
  ]);
});

test("an event that came while the environment loaded (longer than 2 s) waits for it", async () => {
  // Regression: events that came before the environment (runtime clients, pods) finished
  // loading were parked for PENDING_MS (2 s) from their arrival, and when the load took
  // longer (several gadgets starting at once on a busy node took 2-3 s) the first events of
  // a selected, already running container were dropped as not selected. They now wait for
  // the load, and the 2 s count from its end.
  const spec: GadgetSpec = {
    category: "trace",
    name: "stub",
    summary: "one event as soon as it starts",
    columns: [{ name: "stub.n", type: "int64", desc: "A number." }],
    common: ["proc.pid", "container.name"],
    defaults: ["stub.n"],
    params: [],
    start(ctx) {
      ctx.emit({ pid: 4242, cgroupId: 777n, fields: { "stub.n": 1 } });
      return { stop: () => undefined };
    },
  };
  const p = prepare({
    spec,
    params: {},
    selection: {
      namespaces: [],
      allNamespaces: false,
      pods: [],
      containers: ["web"],
      labels: [],
      host: false,
    },
  });
  const got: GadgetRecord[] = [];
  const run = await GadgetRun.start(p, slowEnvironment(2600, new Map([[4242, web]])), {
    event: (r) => got.push(r),
    lost: () => undefined,
  });
  try {
    for (let i = 0; i < 80 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await run.stop();
  }
  assert.equal(got.length, 1, `delivered, not dropped as unselected: ${JSON.stringify(run.stats())}`);
  assert.equal(got[0]?.["container.name"], "web");
  assert.equal(got[0]?.["stub.n"], 1);
  assert.equal(run.stats().unselected, 0);
});

const WEB: ContainerInfo = {
  ...HOST_CONTAINER,
  id: "0123456789ab",
  fullId: "0123456789ab".repeat(5),
  name: "web",
  initPid: null,
  hostPid: false,
};

/**
 * An environment whose containers are known only once load() resolved (after `loadMs`), and
 * each cgroup only `learnMs` after it was first asked for (a cgroup walk).
 */
function walkingEnvironment(
  loadMs: number,
  cgroups: ReadonlyMap<bigint, ContainerInfo>,
  learnMs = 0,
): GadgetEnvironment {
  const asked = new Map<bigint, number>();
  return standInEnvironment({
    loadMs,
    container: (_pid, cg) => {
      if (cg === undefined) return undefined;
      const first = asked.get(cg) ?? Date.now();
      asked.set(cg, first);
      return Date.now() - first >= learnMs ? cgroups.get(cg) : undefined;
    },
  });
}

const NOTHING = { namespaces: [], allNamespaces: false, pods: [], containers: [], labels: [] };

/** A top gadget whose source yields `row` once (a kernel table is emptied when read). */
function oneRow(row: SourceEvent): GadgetSpec {
  let calls = 0;
  return {
    category: "top",
    name: "stand-in",
    summary: "stand-in",
    columns: [],
    common: ["proc.pid", "proc.name", "container.name"],
    defaults: ["proc.pid"],
    params: [],
    start: () => ({
      collect: () => (calls++ === 0 ? [row] : []),
      stop: () => undefined,
    }),
  };
}

async function tablesOf(
  spec: GadgetSpec,
  selection: Parameters<typeof prepare>[0]["selection"],
  env: GadgetEnvironment,
  ms: number,
): Promise<{ rows: GadgetRecord[]; run: GadgetRun }> {
  const p = prepare({ spec, params: {}, selection, intervalS: 0.05 });
  const tables: GadgetRecord[][] = [];
  const run = await GadgetRun.start(p, env, { table: (rows) => tables.push(rows), lost: () => undefined });
  await new Promise((r) => setTimeout(r, ms));
  await run.stop();
  return { rows: tables.flat(), run };
}

const ROW: SourceEvent = { pid: 4242, cgroupId: 77n, fields: { "proc.name": "nc" } };

// Regression: a row whose cgroup the container store did not know at once (its first lookup
// starts a cgroup walk) was dropped; a top tcp row of a process that had exited by then had
// no /proc/PID/cgroup to fall back on.
test("a row whose cgroup is found shortly after it was collected waits for it", async () => {
  const env = walkingEnvironment(0, new Map([[77n, WEB]]), 300);
  const { rows, run } = await tablesOf(
    oneRow(ROW),
    { ...NOTHING, containers: ["web"], host: false },
    env,
    800,
  );
  assert.equal(rows.length, 1, JSON.stringify(run.stats()));
  assert.equal(rows[0]?.["container.name"], "web");
});

// Regression: with a selection that keeps everything (--host, no filter), events and rows
// whose container never became known were dropped as "not selected".
test("a selection that keeps everything keeps rows whose container stays unknown", async () => {
  const env = walkingEnvironment(0, new Map());
  const { rows, run } = await tablesOf(oneRow(ROW), { ...NOTHING, host: true }, env, 1500);
  assert.equal(rows.length, 1, JSON.stringify(run.stats()));
  assert.equal(rows[0]?.["proc.pid"], 4242);
  assert.equal(rows[0]?.["container.name"], null);
  assert.equal(run.stats().unselected, 0);
  // and one that excludes something still drops them
  const { rows: none } = await tablesOf(
    oneRow(ROW),
    { ...NOTHING, pods: ["!x"], host: true },
    walkingEnvironment(0, new Map()),
    1500,
  );
  assert.deepEqual(none, []);
});
