/**
 * The DNS parser on exact messages (compression, A/AAAA, escapes, cuts) and on hostile
 * ones: pointer loops, overlong names, bad label types, random bytes and random mutations
 * of real messages never throw, always end, and stay within the message's own counts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { dnsRcodeName, dnsTypeName, parseDnsMessage, readName } from "./dns-message.js";

function name(n: string): number[] {
  const out: number[] = [];
  for (const l of n.replace(/\.$/, "").split(".")) {
    if (l === "") continue;
    out.push(l.length, ...Buffer.from(l, "latin1"));
  }
  out.push(0);
  return out;
}
const be16 = (v: number): number[] => [v >> 8, v & 255];
const be32 = (v: number): number[] => [...be16(Math.floor(v / 65536)), ...be16(v & 0xffff)];

function header(id: number, flags: number, qd: number, an: number, ns = 0, ar = 0): number[] {
  return [...be16(id), ...be16(flags), ...be16(qd), ...be16(an), ...be16(ns), ...be16(ar)];
}
function rr(owner: number[], type: number, ttl: number, rdata: number[]): number[] {
  return [...owner, ...be16(type), ...be16(1), ...be32(ttl), ...be16(rdata.length), ...rdata];
}

/** A response to `www.example.com. A`: a CNAME to web.example.com. (compressed), then two
 * A records and one AAAA for it. */
function sampleResponse(): Buffer {
  const q = name("www.example.com");
  const web = [3, ...Buffer.from("web"), 0xc0, 12 + 4]; // web + pointer to "example.com" at 16
  const aaaa = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  return Buffer.from([
    ...header(0xbeef, 0x8180, 1, 4),
    ...q,
    ...be16(1),
    ...be16(1),
    ...rr([0xc0, 12], 5, 300, web),
    ...rr([0xc0, 12 + q.length + 4 + 12], 1, 60, [192, 0, 2, 1]), // -> the CNAME's target
    ...rr([0xc0, 12 + q.length + 4 + 12], 1, 60, [192, 0, 2, 2]),
    ...rr([0xc0, 12 + q.length + 4 + 12], 28, 60, aaaa),
  ]);
}

test("a response: header, question, CNAME chain, A and AAAA answers through compression", () => {
  const m = parseDnsMessage(sampleResponse());
  assert.ok(m);
  assert.equal(m.id, 0xbeef);
  assert.equal(m.response, true);
  assert.equal(m.recursionDesired, true);
  assert.equal(m.recursionAvailable, true);
  assert.equal(m.rcode, 0);
  assert.equal(m.ancount, 4);
  assert.deepEqual(m.questions, [{ name: "www.example.com.", type: 1, cls: 1 }]);
  assert.deepEqual(
    m.answers.map((a) => [a.name, a.type, a.ttl, a.address]),
    [
      ["www.example.com.", 5, 300, null],
      ["web.example.com.", 1, 60, "192.0.2.1"],
      ["web.example.com.", 1, 60, "192.0.2.2"],
      ["web.example.com.", 28, 60, "2001:db8::1"],
    ],
  );
  assert.equal(m.complete, true);
});

test("a query; NXDOMAIN; type and rcode names", () => {
  const q = parseDnsMessage(
    Buffer.from([...header(7, 0x0100, 1, 0), ...name("a.b"), ...be16(28), ...be16(1)]),
  );
  assert.ok(q);
  assert.equal(q.response, false);
  assert.deepEqual(q.questions, [{ name: "a.b.", type: 28, cls: 1 }]);
  assert.deepEqual(q.answers, []);
  const nx = parseDnsMessage(
    Buffer.from([...header(7, 0x8183, 1, 0), ...name("nx.b"), ...be16(1), ...be16(1)]),
  );
  assert.equal(nx?.rcode, 3);
  assert.equal(dnsRcodeName(3), "NXDomain");
  assert.equal(dnsRcodeName(0), "NoError");
  assert.equal(dnsRcodeName(2), "ServFail");
  assert.equal(dnsRcodeName(15), "RCODE15");
  assert.equal(dnsTypeName(1), "A");
  assert.equal(dnsTypeName(28), "AAAA");
  assert.equal(dnsTypeName(65), "HTTPS");
  assert.equal(dnsTypeName(65280), "TYPE65280");
});

test("names: the root, escapes as dig writes them, 255 bytes at most", () => {
  assert.deepEqual(readName(Buffer.from([0]), 0), { name: ".", next: 1 });
  const odd = Buffer.from([5, 0x61, 0x2e, 0x5c, 0x20, 0x07, 0]);
  assert.deepEqual(readName(odd, 0), { name: "a\\.\\\\\\032\\007.", next: 7 });
  // 4 labels of 63 = 256 bytes with the lengths, 257 with the root: too long
  const long = Buffer.from([...Array.from({ length: 4 }, () => [63, ...Buffer.alloc(63, 0x61)]).flat(), 0]);
  assert.equal(readName(long, 0), null);
  // 3 labels of 63 and one of 61: 254 + the root = 255, the longest allowed
  const max = Buffer.from([
    ...Array.from({ length: 3 }, () => [63, ...Buffer.alloc(63, 0x61)]).flat(),
    61,
    ...Buffer.alloc(61, 0x62),
    0,
  ]);
  assert.equal(readName(max, 0)?.name.length, 3 * 64 + 62);
});

test("hostile names: pointer loops, forward pointers, reserved label types, runs past the end", () => {
  const h = header(1, 0x8180, 1, 1);
  const cases: [string, number[]][] = [
    ["a pointer to itself", [0xc0, 12]],
    ["a forward pointer", [0xc0, 14, 0]],
    ["two pointers to each other", [1, 0x61, 0xc0, 12]],
    ["a 0x40 label", [0x41, 0x61, 0]],
    ["a 0x80 label", [0x81, 0x61, 0]],
    ["a label past the end", [9, 0x61]],
    ["a pointer cut in half", [0xc0]],
  ];
  for (const [what, q] of cases) {
    const m = parseDnsMessage(Buffer.from([...h, ...q]));
    assert.ok(m, what);
    assert.equal(m.complete, false, what);
    assert.deepEqual(m.questions, [], what);
  }
  // a chain of pointers each one step back: ends (every jump lowers the position)
  const chain: number[] = [...h, 0];
  for (let i = 0; i < 2000; i++) chain.push(0xc0 | ((chain.length - 2) >> 8), (chain.length - 2) & 255);
  assert.deepEqual(readName(Buffer.from(chain), chain.length - 2), { name: ".", next: chain.length });
});

test("a message cut short: what comes before the cut, complete false", () => {
  const full = sampleResponse();
  const whole = parseDnsMessage(full);
  assert.ok(whole);
  for (let n = 0; n < full.length; n++) {
    const m = parseDnsMessage(full.subarray(0, n));
    if (n < 12) {
      assert.equal(m, null, `${n} bytes`);
      continue;
    }
    assert.ok(m, `${n} bytes`);
    assert.equal(m.complete, false, `${n} bytes`);
    assert.equal(m.id, 0xbeef);
    assert.equal(m.ancount, 4, "the header's count");
    // the answers read are the first ones of the whole message
    assert.deepEqual(m.answers, whole.answers.slice(0, m.answers.length), `${n} bytes`);
  }
});

/** xorshift32: the same bytes on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

test("fuzz: random bytes and mutated messages never throw, end fast, stay within their counts", () => {
  const r = rng(0x5eed);
  const seed = sampleResponse();
  const t0 = performance.now();
  for (let i = 0; i < 30000; i++) {
    let b: Buffer;
    if (i % 3 === 0) {
      b = Buffer.alloc(r() % 600);
      for (let j = 0; j < b.length; j++) b[j] = r() & 255;
    } else {
      b = Buffer.from(seed);
      const flips = 1 + (r() % 6);
      for (let k = 0; k < flips; k++) {
        const at = r() % b.length;
        // bias towards bytes that steer the parser: pointers, lengths, counts
        const pick = r() % 4;
        b[at] = pick === 0 ? 0xc0 | (r() & 0x3f) : pick === 1 ? r() & 0x3f : pick === 2 ? 0xff : r() & 255;
      }
      if (r() % 4 === 0) b = b.subarray(0, r() % b.length);
    }
    const m = parseDnsMessage(b);
    if (b.length < 12) {
      assert.equal(m, null);
      continue;
    }
    assert.ok(m);
    assert.ok(m.questions.length <= Math.min(16, m.qdcount));
    assert.ok(m.answers.length <= m.ancount);
    for (const q of m.questions) assert.ok(q.name.length <= 4 * 255);
    for (const a of m.answers) if (a.address !== null) assert.ok(a.type === 1 || a.type === 28);
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 5000, `30000 messages took ${ms.toFixed(0)} ms`);
});
