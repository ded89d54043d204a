import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePriority, priorityLevel } from "../engine/alert.js";
import { AlertRenderer, alertJson, alertTextLine, formatRfc3339Nano } from "./format.js";
import { makeAlert } from "./test-helpers.js";

describe("alert rendering", () => {
  it("formats RFC 3339 UTC time with nanoseconds", () => {
    assert.equal(formatRfc3339Nano(1_767_268_800_123_456_789n), "2026-01-01T12:00:00.123456789Z");
    assert.equal(formatRfc3339Nano(1_000_000_007n), "1970-01-01T00:00:01.000000007Z");
    assert.equal(formatRfc3339Nano(0n), "1970-01-01T00:00:00.000000000Z");
  });

  it("renders the JSON shape of PRODUCT.md, typed fields, null for unknown", () => {
    const a = makeAlert({
      timeNs: 1_767_268_800_123_456_789n,
      rule: 'Terminal "shell"',
      priority: "Warning",
      hostname: "node-1",
      message: "A shell user=root",
      fields: {
        "evt.time": 1_767_268_800_123_456_789n,
        "proc.name": "sh",
        "proc.pid": 42,
        "fd.num": -1.5,
        "proc.tty": null,
        ok: true,
        inf: Infinity,
      },
      tags: ["shell", "T1059"],
    });
    const line = alertJson(a, { timeFormatIso8601: true });
    assert.equal(
      line,
      '{"time":"2026-01-01T12:00:00.123456789Z","rule":"Terminal \\"shell\\"","priority":"Warning","source":"syscall","hostname":"node-1",' +
        '"output":"2026-01-01T12:00:00.123456789Z: Warning A shell user=root",' +
        '"output_fields":{"evt.time":1767268800123456789,"proc.name":"sh","proc.pid":42,"fd.num":-1.5,"proc.tty":null,"ok":true,"inf":null},' +
        '"tags":["shell","T1059"]}',
    );
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal((parsed["output_fields"] as Record<string, unknown>)["proc.pid"], 42);
  });

  it("renders the text line like Falco, and honours the include options", () => {
    const a = makeAlert({ priority: "Informational", message: "hello" });
    assert.match(alertTextLine(a), /^\d\d:\d\d:\d\d\.\d{9}: Informational hello$/);
    const j = JSON.parse(
      alertJson(a, { jsonIncludeOutput: false, jsonIncludeTags: false, jsonIncludeOutputFields: false }),
    ) as object;
    assert.deepEqual(Object.keys(j), ["time", "rule", "priority", "source", "hostname"]);
  });

  it("caches renderings per alert", () => {
    const r = new AlertRenderer({ timeFormatIso8601: true }, true);
    const a = makeAlert();
    const first = r.json(a);
    assert.ok(first.includes(JSON.stringify(r.text(a))));
    // a second rendering of the same alert object is the cached one, not a new rendering
    (a as { message: string }).message = "changed after the first rendering";
    assert.equal(r.json(a), first);
    assert.notEqual(new AlertRenderer({ timeFormatIso8601: true }, false).json(a), first);
  });

  it("parses priorities case-insensitively", () => {
    assert.equal(parsePriority("WARNING"), "Warning");
    assert.equal(parsePriority("info"), "Informational");
    assert.equal(parsePriority("nope"), undefined);
    assert.equal(priorityLevel("Emergency"), 0);
    assert.equal(priorityLevel("Debug"), 7);
  });
});
