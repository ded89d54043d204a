/** How records are written: JSON lines keep every field, types and big integers exact. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { jsonLine } from "./output.js";

test("a JSON line: every field, null for unknown, bigints as integers, lists and bytes", () => {
  const line = jsonLine({
    "evt.time": 1796606752864392835n,
    "proc.pid": 42,
    "proc.name": 'a"b\n',
    "evt.failed": false,
    "k8s.pod.name": null,
    "container.id": undefined,
    "dns.addresses": ["10.0.0.1", "fd00::1"],
    "sni.raw": new Uint8Array([104, 105]),
    "x.nan": Number.NaN,
  });
  assert.equal(
    line,
    '{"evt.time":1796606752864392835,"proc.pid":42,"proc.name":"a\\"b\\n","evt.failed":false,' +
      '"k8s.pod.name":null,"container.id":null,"dns.addresses":["10.0.0.1","fd00::1"],"sni.raw":"hi","x.nan":null}\n',
  );
  // the big integer survives a parser that keeps it as text
  assert.match(line, /"evt.time":1796606752864392835,/);
});
