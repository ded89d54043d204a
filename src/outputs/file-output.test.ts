import assert from "node:assert/strict";
import { readFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { FileOutput } from "./file-output.js";
import { makeAlert, tempDir } from "./test-helpers.js";

function lines(path: string): string[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "");
}

describe("file output", () => {
  it("writes JSON lines, creates the directory, and loses or duplicates nothing across rename + reopen", async () => {
    const tmp = tempDir();
    const path = join(tmp.path, "sub", "events.json");
    const out = new FileOutput({ path, queueCapacity: 100_000, logger: () => {} });
    await out.open();
    const total = 3000;
    let sent = 0;
    const send = (n: number): void => {
      for (let i = 0; i < n; i++) out.enqueue(makeAlert({ fields: { seq: sent++ } }));
    };
    // Rotate several times while alerts keep flowing, as logrotate does (rename, then signal).
    for (let r = 0; r < 3; r++) {
      send(500);
      await new Promise((res) => setImmediate(res));
      renameSync(path, `${path}.${r}`);
      send(250);
      await out.reopen();
    }
    send(total - sent);
    assert.equal(await out.flush(5000), true);
    await out.close();
    const all = [...lines(`${path}.0`), ...lines(`${path}.1`), ...lines(`${path}.2`), ...lines(path)];
    const seqs = all.map((l) => (JSON.parse(l) as { output_fields: { seq: number } }).output_fields.seq);
    assert.equal(seqs.length, total);
    assert.deepEqual(seqs, [...Array(total).keys()], "every alert exactly once, in order");
    assert.ok(lines(path).length > 0, "the reopened file receives alerts");
    assert.equal(statSync(path).mode & 0o777, 0o640);
    const st = out.stats();
    assert.equal(st.delivered, total);
    assert.equal(st.dropped, 0);
    assert.equal(st.failed, 0);
    assert.equal(out.reopens, 3);
    tmp.cleanup();
  });

  it("writes text lines in Falco format", async () => {
    const tmp = tempDir();
    const path = join(tmp.path, "events.txt");
    const out = new FileOutput({ path, format: "text" });
    out.enqueue(makeAlert({ priority: "Notice", message: "hello world" }));
    await out.close();
    assert.match(readFileSync(path, "utf8"), /^\d\d:\d\d:\d\d\.\d{9}: Notice hello world\n$/);
    tmp.cleanup();
  });

  it("counts drops when its queue is full and failures when the path cannot be written", async () => {
    const tmp = tempDir();
    const out = new FileOutput({ path: join(tmp.path, "x.json"), queueCapacity: 10, logger: () => {} });
    for (let i = 0; i < 25; i++) out.enqueue(makeAlert());
    await out.flush(2000);
    assert.equal(out.stats().delivered, 10);
    assert.equal(out.stats().dropped, 15);
    await out.close();
    const bad = new FileOutput({ path: "/proc/lanner-cannot-create/x", logger: () => {} });
    bad.enqueue(makeAlert());
    await bad.flush(2000);
    assert.equal(bad.stats().failed, 1);
    await bad.close();
    tmp.cleanup();
  });
});
