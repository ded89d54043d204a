import assert from "node:assert/strict";
import { test } from "node:test";
import { ipText, ipv6Text } from "./ip-text.js";

const v6 = (...words: number[]): Buffer => {
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(w, 2 * i));
  return b;
};

test("IPv4 dotted; IPv6 as RFC 5952 writes it; IPv4-mapped as IPv4", () => {
  assert.equal(ipText(4, Buffer.from([127, 0, 0, 1])), "127.0.0.1");
  assert.equal(ipText(4, Buffer.from([9, 9, 10, 1, 2, 3]), 2), "10.1.2.3");
  assert.equal(ipv6Text(v6(0, 0, 0, 0, 0, 0, 0, 1)), "::1");
  assert.equal(ipv6Text(v6()), "::");
  assert.equal(ipv6Text(v6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1)), "2001:db8::1:0:0:1", "the first of equal runs");
  assert.equal(ipv6Text(v6(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1)), "2001:db8:0:1:1:1:1:1", "one zero word stays");
  assert.equal(ipv6Text(v6(0xfd00, 0, 0, 0, 0, 0, 0, 0)), "fd00::");
  assert.equal(ipv6Text(v6(0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001)), "10.0.0.1");
  assert.equal(ipText(6, v6(0xfe80, 0, 0, 0, 0xabcd, 0, 0, 0x12)), "fe80::abcd:0:0:12");
});
