import assert from "node:assert/strict";
import { test } from "node:test";
import { HelloAssembler } from "./hello-assembler.js";

/** The first `n` bytes of a ClientHello record of `total` bytes (header included). */
function hello(total: number, from = 0, n = total - from): Buffer {
  const b = Buffer.alloc(total);
  b.set([22, 3, 1, (total - 5) >> 8, (total - 5) & 255, 1]);
  for (let i = 6; i < total; i++) b[i] = i & 255;
  return b.subarray(from, from + n);
}

test("a whole hello is returned at once; a longer one once its continuations complete it", () => {
  const a = new HelloAssembler<string>();
  assert.deepEqual(a.push("k", "p1", hello(100), false, false, 1, 0), [
    { first: "p1", bytes: hello(100), ts: 1 },
  ]);
  assert.deepEqual(a.push("k", "p2", hello(300, 0, 100), false, false, 2, 0), []);
  assert.deepEqual(a.push("k", "x", hello(300, 100, 100), true, false, 3, 0), []);
  const done = a.push(
    "k",
    "x",
    Buffer.concat([hello(300, 200, 100), Buffer.from("extra")]),
    true,
    false,
    4,
    0,
  );
  assert.equal(done.length, 1);
  assert.equal(done[0]?.first, "p2");
  assert.equal(done[0]?.ts, 4);
  assert.ok(done[0]?.bytes.equals(hello(300)), "exactly the record");
  assert.equal(a.size, 0);
  assert.deepEqual(a.push("k", "x", hello(300, 0, 10), true, false, 5, 0), [], "a continuation of nothing");
});

test("one that waits too long, or is displaced, is returned as it is; at most `max` wait", () => {
  const a = new HelloAssembler<string>(1000, 2);
  a.push("k1", "p1", hello(300, 0, 50), false, false, 1, 0);
  a.push("k2", "p2", hello(300, 0, 60), false, false, 1, 500);
  const out = a.push("k3", "p3", hello(300, 0, 70), false, false, 1, 600);
  assert.deepEqual(
    out.map((h) => [h.first, h.bytes.length]),
    [["p1", 50]],
    "the oldest makes room",
  );
  assert.deepEqual(
    a.expire(1400).map((h) => h.first),
    [],
  );
  assert.deepEqual(
    a.expire(1501).map((h) => [h.first, h.bytes.length]),
    [["p2", 60]],
  );
  const again = a.push("k3", "p4", hello(100), false, false, 2, 1600);
  assert.deepEqual(
    again.map((h) => [h.first, h.bytes.length]),
    [
      ["p3", 70],
      ["p4", 100],
    ],
    "a new hello on the socket",
  );
  assert.deepEqual(a.flush(), []);
});
