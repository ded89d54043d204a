/**
 * The gadget commands' argument handling that needs no kernel: everything is checked before
 * anything is attached, and bad input is exit 2 naming it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { GadgetSpec } from "../../gadgets/gadget.js";
import { GADGETS } from "../../gadgets/index.js";
import { gadgetCommand, joinSortValue } from "./gadget.js";

async function run(
  category: "trace" | "top" | "snapshot",
  argv: string[],
): Promise<{ code: number; err: string }> {
  let err = "";
  const code = await gadgetCommand(category, argv, { stdout: () => undefined, stderr: (s) => (err += s) });
  return { code, err };
}

test("--sort -field: the separate form is the field, descending (parseArgs refused it as ambiguous)", async () => {
  assert.deepEqual(joinSortValue(["--sort", "-file.reads,proc.pid", "-m", "3"]), [
    "--sort=-file.reads,proc.pid",
    "-m",
    "3",
  ]);
  assert.deepEqual(joinSortValue(["--sort", "proc.pid"]), ["--sort", "proc.pid"]);
  assert.deepEqual(joinSortValue(["--sort", "--help"]), ["--sort", "--help"]);
  const r = await run("top", ["file", "--sort", "-nope"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--sort: 'nope' is not a field of top file/);
});

test("a top gadget whose collect fails says why on stderr (it was silent: nothing counted as lost)", async () => {
  const failing: GadgetSpec = {
    category: "top",
    name: "lanner-test-failing",
    summary: "fails",
    common: ["proc.pid"],
    columns: [{ name: "lanner-test-failing.n", type: "uint64", desc: "a number" }],
    defaults: ["proc.pid"],
    params: [],
    start: () => ({
      collect: () => {
        throw new Error("the source broke");
      },
      stop: () => undefined,
    }),
  };
  const registry = GADGETS as GadgetSpec[];
  registry.push(failing);
  try {
    const r = await run("top", ["lanner-test-failing", "--host", "--interval", "0.2", "--timeout", "1"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /lanner: collecting rows: the source broke/);
  } finally {
    registry.splice(registry.indexOf(failing), 1);
  }
});
