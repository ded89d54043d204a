import assert from "node:assert/strict";
import { test } from "node:test";
import { ChunkedOutput } from "./io.js";

test("ChunkedOutput: one write per event-loop turn, at 64 KiB, and on flush()", async () => {
  const writes: string[] = [];
  const out = new ChunkedOutput((s) => writes.push(s));
  for (let i = 0; i < 1000; i++) out.write(`line ${i}\n`);
  assert.equal(writes.length, 0, "nothing written within the turn");
  await new Promise((r) => setImmediate(r));
  assert.equal(writes.length, 1, "the turn's lines in one write");
  assert.equal(writes[0], Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join(""));

  const big = "x".repeat(40 * 1024);
  out.write(big);
  out.write(big);
  assert.equal(writes.length, 2, "64 KiB reached: written at once");
  assert.equal(writes[1], big + big);

  out.write("last\n");
  out.flush();
  assert.equal(writes[2], "last\n");
  await new Promise((r) => setImmediate(r));
  assert.equal(writes.length, 3, "a flushed buffer is not written again");
});
