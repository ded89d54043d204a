/**
 * DNS over TCP put back together: a length prefix alone, a message over several segments,
 * several messages in one, retransmissions, holes (a segment cut or lost) reported as
 * missing, a hole over a length prefix resynchronised at the next segment, sequence number
 * wrap, and the bounds (streams, bytes kept per message, idle streams).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DnsTcpStreams, type StreamMessage } from "./dns-tcp-streams.js";

/** A fake message of `n` bytes whose content tells its number. */
function msg(tag: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (tag * 31 + i) & 255;
  return b;
}
function framed(...ms: Buffer[]): Buffer {
  return Buffer.concat(ms.flatMap((m) => [Buffer.from([m.length >> 8, m.length & 255]), m]));
}
const view = (out: StreamMessage[]): [string, boolean][] =>
  out.map((m) => [m.bytes.toString("hex"), m.missing]);

test("a prefix alone, a message over three segments, two messages in one segment", () => {
  const s = new DnsTcpStreams();
  const a = msg(1, 40);
  const b = msg(2, 5);
  const c = msg(3, 7);
  const stream = framed(a, b, c);
  const seq0 = 1000;
  assert.deepEqual(s.push("k", seq0, stream.subarray(0, 2), 2, 1, 0), []);
  assert.deepEqual(s.push("k", seq0 + 2, stream.subarray(2, 20), 18, 2, 0), []);
  const one = s.push("k", seq0 + 20, stream.subarray(20, 42), 22, 3, 0);
  assert.deepEqual(view(one), [[a.toString("hex"), false]]);
  assert.equal(one[0]?.ts, 3, "the time of the segment that ended it");
  const two = s.push("k", seq0 + 42, stream.subarray(42), stream.length - 42, 4, 0);
  assert.deepEqual(view(two), [
    [b.toString("hex"), false],
    [c.toString("hex"), false],
  ]);
});

test("any segmentation of a stream gives back its messages exactly", () => {
  const ms = Array.from({ length: 20 }, (_, i) => msg(i, 1 + ((i * 37) % 300)));
  const stream = framed(...ms);
  for (let seed = 1; seed < 50; seed++) {
    const s = new DnsTcpStreams();
    const got: Buffer[] = [];
    let at = 0;
    let x = seed;
    while (at < stream.length) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const n = Math.min(stream.length - at, 1 + (x % 97));
      for (const m of s.push("k", (0xffffff00 + at) >>> 0, stream.subarray(at, at + n), n, 0, 0)) {
        assert.equal(m.missing, false);
        got.push(m.bytes);
      }
      at += n;
    }
    assert.deepEqual(
      got.map((b) => b.toString("hex")),
      ms.map((b) => b.toString("hex")),
      `seed ${seed} (with seq wrap)`,
    );
  }
});

test("a retransmitted or overlapping segment adds nothing twice", () => {
  const s = new DnsTcpStreams();
  const a = msg(1, 30);
  const stream = framed(a, msg(2, 4));
  assert.deepEqual(s.push("k", 0, stream.subarray(0, 20), 20, 0, 0), []);
  assert.deepEqual(s.push("k", 0, stream.subarray(0, 20), 20, 0, 0), [], "the same segment again");
  const out = s.push("k", 10, stream.subarray(10, 32), 22, 0, 0); // overlaps 10 bytes
  assert.deepEqual(view(out), [[a.toString("hex"), false]]);
  assert.deepEqual(view(s.push("k", 32, stream.subarray(32), stream.length - 32, 0, 0)), [
    [msg(2, 4).toString("hex"), false],
  ]);
});

test("a segment longer than its copy: the message is missing its end, the next one is found", () => {
  const s = new DnsTcpStreams();
  const big = msg(1, 100);
  const next = msg(2, 6);
  const stream = framed(big, next);
  // the kernel copied 50 of the first segment's 102 bytes
  const out = s.push("k", 0, stream.subarray(0, 50), 102, 0, 0);
  assert.deepEqual(view(out), [[big.subarray(0, 48).toString("hex"), true]]);
  assert.deepEqual(view(s.push("k", 102, stream.subarray(102), 8, 0, 0)), [[next.toString("hex"), false]]);
});

test("a lost segment inside a message: missing; over a length prefix: starts again at the next segment", () => {
  const s = new DnsTcpStreams();
  const a = msg(1, 40);
  const b = msg(2, 10);
  const c = msg(3, 10);
  const stream = framed(a, b, c); // a: 0-41, b: 42-53, c: 54-65
  s.push("k", 0, stream.subarray(0, 10), 10, 0, 0);
  // 10-19 lost; 20-41 arrive: a is reported with its first 8 bytes, missing the rest
  const out = s.push("k", 20, stream.subarray(20, 42), 22, 0, 0);
  assert.deepEqual(view(out), [[a.subarray(0, 8).toString("hex"), true]]);
  // b's segment (42-53) lost, c's arrives: a hole over b's prefix; c starts the next segment
  assert.deepEqual(view(s.push("k", 54, stream.subarray(54), 12, 0, 0)), [[c.toString("hex"), false]]);
});

test("bounds: the least recently used stream goes first (counted); bytes kept per message; idle streams", () => {
  const s = new DnsTcpStreams({ maxStreams: 2, maxKeep: 16, idleMs: 1000 });
  const long = msg(1, 40);
  s.push("a", 0, framed(long).subarray(0, 5), 5, 0, 0);
  s.push("b", 0, Buffer.from([0]), 1, 0, 10);
  s.push("a", 5, Buffer.alloc(0), 0, 0, 20); // a used again: b is now the oldest
  s.push("c", 0, Buffer.from([0]), 1, 0, 30);
  assert.equal(s.evicted, 1);
  assert.equal(s.size, 2);
  const out = s.push("a", 5, framed(long).subarray(5), 37, 0, 40);
  assert.deepEqual(
    view(out),
    [[long.subarray(0, 16).toString("hex"), true]],
    "16 bytes kept, the rest missing",
  );
  s.expire(1035);
  assert.equal(s.size, 1, "c (last used at 30) expired, a (40) kept");
  s.expire(2000);
  assert.equal(s.size, 0);
});
