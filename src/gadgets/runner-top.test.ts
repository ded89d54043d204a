/**
 * The runner's top mode with a stand-in source and environment: one table per interval,
 * sorted and cut; the first table waits for the containers' metadata; collects never
 * overlap; records carry exactly the gadget's fields.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { HOST_CONTAINER, type ContainerInfo } from "../state/containers/container-info.js";
import { standInEnvironment } from "../../test/helpers/gadget-environment.js";
import { PLACE_COMMON } from "./common-columns.js";
import type { GadgetEnvironment } from "./environment.js";
import type { GadgetRecord, GadgetSpec, SourceEvent } from "./gadget.js";
import { gadgetFields, GadgetRun, prepare } from "./runner.js";
import type { SelectionOptions } from "./selection.js";

const WEB: ContainerInfo = { ...HOST_CONTAINER, id: "0123456789ab", fullId: "0123456789abcdef", name: "web" };
const CG = 4242n;

/** An environment whose containers are known only `loadMs` after load() is called. */
function environment(loadMs: number): GadgetEnvironment {
  return standInEnvironment({
    loadMs,
    container: (_pid, cg) => (cg === CG ? WEB : undefined),
    containers: [WEB],
  });
}

function topSpec(collect: () => Promise<SourceEvent[]> | SourceEvent[]): GadgetSpec {
  return {
    category: "top",
    name: "fake",
    summary: "a stand-in",
    common: ["evt.time", "proc.pid", "proc.name", ...PLACE_COMMON],
    columns: [{ name: "fake.n", type: "uint64", desc: "a number" }],
    defaults: ["proc.pid", "fake.n"],
    params: [],
    defaultSort: ["-fake.n"],
    start: () => ({ collect, stop: () => undefined }),
  };
}

const selection = (o: Partial<SelectionOptions>): SelectionOptions => ({
  namespaces: [],
  allNamespaces: false,
  pods: [],
  containers: [],
  labels: [],
  host: false,
  ...o,
});

const rowsOf = (n: number): SourceEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    pid: 0,
    cgroupId: CG,
    ts: 1e9,
    fields: { "proc.name": `p${i}`, "fake.n": (i * 7) % n },
  }));

async function tables(
  spec: GadgetSpec,
  env: GadgetEnvironment,
  opts: object,
  ms: number,
): Promise<GadgetRecord[][]> {
  const out: GadgetRecord[][] = [];
  const p = prepare({
    spec,
    params: {},
    selection: selection({ containers: ["web"] }),
    intervalS: 0.1,
    ...opts,
  });
  const run = await GadgetRun.start(p, env, { table: (rows) => out.push(rows), lost: () => undefined });
  await new Promise((r) => setTimeout(r, ms));
  await run.stop();
  return out;
}

test("top: one sorted, cut table per interval; records hold exactly the gadget's fields", async () => {
  const spec = topSpec(() => rowsOf(10));
  const out = await tables(spec, environment(0), { maxRows: 3 }, 450);
  assert.ok(out.length >= 3, `tables: ${out.length}`);
  const names = gadgetFields(spec)
    .map((f) => f.name)
    .sort();
  for (const t of out) {
    assert.deepEqual(
      t.map((r) => r["fake.n"]),
      [9, 8, 7],
    );
    // (the process table's proc.pname, user.uid... are not the gadget's: not in its records)
    for (const r of t) assert.deepEqual(Object.keys(r).sort(), names);
    assert.equal(t[0]?.["container.name"], "web");
  }
  const asc = await tables(spec, environment(0), { maxRows: 2, sort: ["fake.n"] }, 250);
  assert.deepEqual(
    asc[0]?.map((r) => r["fake.n"]),
    [0, 1],
  );
});

test("top: the first table waits for the containers' metadata", async () => {
  // metadata comes after the first interval: before the fix, that table came out empty (the
  // rows' container was unknown, so not selected)
  const out = await tables(
    topSpec(() => rowsOf(2)),
    environment(350),
    {},
    600,
  );
  assert.ok(out.length >= 1);
  assert.equal(out[0]?.length, 2, "the first table has the selected container's rows");
});

test("top: a collect slower than the interval is never run twice at once", async () => {
  let running = 0;
  let most = 0;
  let calls = 0;
  const spec = topSpec(async () => {
    running++;
    calls++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 250));
    running--;
    return rowsOf(1);
  });
  await tables(spec, environment(0), {}, 900);
  assert.ok(calls >= 2, `collects: ${calls}`);
  assert.equal(most, 1);
});
