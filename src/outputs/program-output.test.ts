import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ProgramOutput } from "./program-output.js";
import { makeAlert, tempDir, waitFor } from "./test-helpers.js";

function readLines(path: string): string[] {
  return existsSync(path)
    ? readFileSync(path, "utf8")
        .split("\n")
        .filter((l) => l !== "")
    : [];
}

describe("program output", () => {
  it("feeds a long-lived child on stdin and survives its death (respawned with backoff)", async () => {
    const tmp = tempDir();
    const sink = join(tmp.path, "sink");
    const logs: string[] = [];
    // Each child takes two alerts and exits: every exit forces a respawn.
    const out = new ProgramOutput(
      { command: `head -n 2 >> ${sink}`, backoffMinMs: 20, logger: (_l, m) => logs.push(m) },
      "prog",
    );
    for (let i = 0; i < 6; i++) {
      out.enqueue(makeAlert({ fields: { seq: i } }));
      await out.flush(2000);
      // Give the child time to exit after its second line, so the next alert meets a dead child.
      if (i % 2 === 1) await waitFor(() => out.children.deaths >= (i + 1) / 2, 2000, "child exit");
    }
    await waitFor(() => readLines(sink).length === 6, 3000, "six lines in the sink");
    const seqs = readLines(sink).map(
      (l) => (JSON.parse(l) as { output_fields: { seq: number } }).output_fields.seq,
    );
    assert.deepEqual(seqs, [0, 1, 2, 3, 4, 5]);
    assert.ok(out.children.spawns >= 3, `spawns ${out.children.spawns}`);
    assert.ok(logs.some((l) => /exited .* respawning in \d+ ms/.test(l)));
    assert.equal(out.stats().delivered, 6);
    await out.close();
    tmp.cleanup();
  });

  it("reopen() restarts the child; close() ends it", async () => {
    const tmp = tempDir();
    const sink = join(tmp.path, "sink");
    const out = new ProgramOutput({ command: `cat >> ${sink}`, format: "text", logger: () => {} });
    out.enqueue(makeAlert({ message: "one" }));
    await out.flush(2000);
    const pid1 = out.children.pid;
    await out.reopen();
    out.enqueue(makeAlert({ message: "two" }));
    await out.flush(2000);
    assert.notEqual(out.children.pid, pid1);
    await out.close();
    const text = readFileSync(sink, "utf8");
    assert.match(text, /one\n.*two\n$/s);
    tmp.cleanup();
  });
});
