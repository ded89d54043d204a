/**
 * The ClientHello parser on exact hellos (server name, ALPN, several records, no
 * extensions, cut at every byte) and on hostile ones (random bytes, random mutations): it
 * never throws and what it returns stays within the input.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { clientHelloRecordLength, parseClientHello } from "./tls-client-hello.js";

const be16 = (v: number): number[] => [v >> 8, v & 255];
const be24 = (v: number): number[] => [v >> 16, (v >> 8) & 255, v & 255];

function ext(type: number, data: number[]): number[] {
  return [...be16(type), ...be16(data.length), ...data];
}
function sniExt(...names: [number, string][]): number[] {
  const list = names.flatMap(([t, n]) => [t, ...be16(n.length), ...Buffer.from(n, "latin1")]);
  return ext(0, [...be16(list.length), ...list]);
}
function alpnExt(...protos: string[]): number[] {
  const list = protos.flatMap((p) => [p.length, ...Buffer.from(p)]);
  return ext(16, [...be16(list.length), ...list]);
}

/** The handshake message: a ClientHello with these extensions (or none at all). */
function hello(exts: number[] | null): number[] {
  const body = [
    3,
    3,
    ...Array.from({ length: 32 }, (_, i) => i),
    32,
    ...Array.from({ length: 32 }, () => 0xaa), // session id
    ...be16(4),
    0x13,
    0x01,
    0x13,
    0x02, // cipher suites
    1,
    0, // compression: null
    ...(exts === null ? [] : [...be16(exts.length), ...exts]),
  ];
  return [1, ...be24(body.length), ...body];
}
function records(hs: number[], sizes: number[] = [hs.length]): Buffer {
  const out: number[] = [];
  let at = 0;
  for (const n of sizes) {
    const part = hs.slice(at, at + n);
    out.push(22, 3, 1, ...be16(part.length), ...part);
    at += n;
  }
  return Buffer.from(out);
}

const EXTS = [
  ...ext(0xff01, [0]), // renegotiation_info
  ...sniExt([0, "api.example.com"]),
  ...ext(10, [0, 2, 0, 29]), // supported_groups
  ...alpnExt("h2", "http/1.1"),
];

test("server name and ALPN of a ClientHello in one record", () => {
  const b = records(hello(EXTS));
  assert.equal(clientHelloRecordLength(b), b.length);
  assert.deepEqual(parseClientHello(b), {
    serverName: "api.example.com",
    alpn: ["h2", "http/1.1"],
    complete: true,
  });
});

test("a ClientHello over three records; one without extensions; one without SNI", () => {
  const hs = hello(EXTS);
  assert.deepEqual(parseClientHello(records(hs, [10, 60, hs.length - 70])), {
    serverName: "api.example.com",
    alpn: ["h2", "http/1.1"],
    complete: true,
  });
  assert.deepEqual(parseClientHello(records(hello(null))), { serverName: null, alpn: [], complete: true });
  assert.deepEqual(parseClientHello(records(hello(alpnExt("h3")))), {
    serverName: null,
    alpn: ["h3"],
    complete: true,
  });
});

test("the host_name entry is taken, other name types skipped; odd bytes escaped", () => {
  const b = records(hello(sniExt([7, "other"], [0, "a\\b\u0001.example"])));
  assert.equal(parseClientHello(b)?.serverName, "a\\x5cb\\x01.example");
});

test("not a ClientHello: other records and handshake types are null", () => {
  const hs = hello(EXTS);
  const b = records(hs);
  assert.equal(parseClientHello(Buffer.from([23, 3, 3, 0, 1, 0])), null, "application data");
  const server = Buffer.from(b);
  server[5] = 2; // ServerHello
  assert.equal(parseClientHello(server), null);
  assert.equal(parseClientHello(Buffer.from("GET / HTTP/1.1\r\n")), null);
  assert.equal(parseClientHello(Buffer.alloc(0)), null);
});

test("cut at every byte: what comes before the cut, complete false", () => {
  const b = records(hello(EXTS));
  const sniEnd = 5 + 4 + 2 + 32 + 33 + 6 + 2 + 2 + 5 + 4 + 5 + "api.example.com".length;
  for (let n = 0; n < b.length; n++) {
    const h = parseClientHello(b.subarray(0, n));
    if (n < 6) {
      assert.equal(h, null, `${n} bytes`);
      continue;
    }
    assert.ok(h, `${n} bytes`);
    assert.equal(h.complete, false, `${n} bytes`);
    assert.equal(h.serverName, n >= sniEnd ? "api.example.com" : null, `${n} bytes`);
  }
});

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

test("fuzz: random bytes and mutated hellos never throw and stay within the input", () => {
  const r = rng(0x7115);
  const seed = records(hello(EXTS), [20, 200]);
  const t0 = performance.now();
  for (let i = 0; i < 30000; i++) {
    let b: Buffer;
    if (i % 3 === 0) {
      b = Buffer.alloc(r() % 400);
      for (let j = 0; j < b.length; j++) b[j] = r() & 255;
      if (b.length > 6 && r() % 2 === 0) b.set([22, 3, 1, r() & 255, r() & 255, 1]);
    } else {
      b = Buffer.from(seed);
      for (let k = 1 + (r() % 6); k > 0; k--) b[r() % b.length] = r() % 3 === 0 ? 0xff : r() & 255;
      if (r() % 4 === 0) b = b.subarray(0, r() % b.length);
    }
    const h = parseClientHello(b);
    if (h === null) continue;
    assert.ok(h.serverName === null || h.serverName.length <= 4 * 255);
    assert.ok(h.alpn.length <= 16);
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 5000, `30000 hellos took ${ms.toFixed(0)} ms`);
});
