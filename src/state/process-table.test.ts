/**
 * The per-process data of ABI v2 in the process table, from synthetic lifecycle records:
 * environment, exe inode and times, exe flags (writable, overlay layers), pgid and the pid
 * namespace init's start; what fork inherits and what exec replaces. (Kernel tests compare
 * the same data with stat(2) and /proc: src/capture/record-data.kernel.test.ts.)
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { LN_CONST } from "../capture/abi.generated.js";
import { ProcessTable } from "./process-table.js";
import { exec, fork } from "./test-events.js";
import { envStrings } from "../decode/event.js";

const emptyProc = mkdtempSync(join(tmpdir(), "lanner-noproc-"));
after(() => rmSync(emptyProc, { recursive: true, force: true }));

const WRITABLE = LN_CONST.LN_C_PF_EXE_WRITABLE;
const LOWER = LN_CONST.LN_C_PF_EXE_LOWER;
const UPPER = LN_CONST.LN_C_PF_EXE_UPPER;

describe("process table: exec data", () => {
  test("exec sets env, exe inode/times, flags, pgid and pidns init start; fork inherits the image's", () => {
    const t = new ProcessTable({ procRoot: emptyProc });
    t.apply(
      exec(100, "/usr/bin/app", ["app"], {
        env: ["A=1", "B=2"],
        exeIno: 4242,
        exeCtimeNs: 1_700_000_000_000_000_001n,
        exeMtimeNs: 1_600_000_000_000_000_002n,
        flags: WRITABLE | LOWER,
        pgid: 100,
        pidnsInitStartNs: 12_345n,
      }),
      1,
    );
    const p = t.get(100)!;
    assert.deepEqual(p.env, ["A=1", "B=2"]);
    assert.equal(p.exeIno, 4242);
    assert.equal(p.exeCtimeNs, 1_700_000_000_000_000_001n);
    assert.equal(p.exeMtimeNs, 1_600_000_000_000_000_002n);
    assert.equal(p.isExeWritable, true);
    assert.equal(p.isExeLowerLayer, true);
    assert.equal(p.isExeUpperLayer, false);
    assert.equal(p.pgid, 100);
    assert.equal(p.pidnsInitStartNs, 12_345n);

    // the child runs the same image until it execs: it inherits env and exe data; its own
    // pgid and pid namespace come from the fork record
    t.apply(fork(100, 101, { pgid: 100, pidnsInitStartNs: 12_345n }), 2);
    const c = t.get(101)!;
    assert.equal(c.env, p.env, "shared, not copied");
    assert.equal(c.exeIno, 4242);
    assert.equal(c.exeCtimeNs, p.exeCtimeNs);
    assert.equal(c.isExeWritable, true);
    assert.equal(c.isExeLowerLayer, true);
    assert.equal(c.pgid, 100);

    // its exec replaces all of it; an exec record without an environment leaves none
    t.apply(exec(101, "/bin/sh", ["sh"], { flags: UPPER, exeIno: 7, pgid: 101 }), 3);
    assert.deepEqual(c.env, []);
    assert.equal(c.exeIno, 7);
    assert.equal(c.exeCtimeNs, 0n);
    assert.equal(c.isExeWritable, false);
    assert.equal(c.isExeLowerLayer, false);
    assert.equal(c.isExeUpperLayer, true);
    assert.equal(c.pgid, 101);
    assert.equal(c.pidnsInitStartNs, 12_345n, "a record without it keeps the known start");
  });

  test("identical environments of many execs share one array (made once, at decode)", () => {
    // each exec record brings its own bytes; the decoder finds them seen before and reuses the strings
    const bytes = (env: string[]) => Buffer.from(env.map((e) => `${e}\0`).join(""));
    const first = envStrings(bytes(["PATH=/bin", "X=1"]), 0, bytes(["PATH=/bin", "X=1"]).length);
    const t = new ProcessTable({ procRoot: emptyProc });
    for (let pid = 200; pid < 210; pid++) {
      const b = bytes(["PATH=/bin", "X=1"]);
      t.apply(exec(pid, "/bin/true", ["true"], { env: envStrings(b, 0, b.length) }), 1);
    }
    for (let pid = 200; pid < 210; pid++) assert.equal(t.get(pid)!.env, first);
    const other = bytes(["PATH=/bin", "X=2"]);
    t.apply(exec(210, "/bin/true", ["true"], { env: envStrings(other, 0, other.length) }), 1);
    assert.notEqual(t.get(210)!.env, first);
    assert.deepEqual(t.get(210)!.env, ["PATH=/bin", "X=2"]);
  });
});
