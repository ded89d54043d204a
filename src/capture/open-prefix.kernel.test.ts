/**
 * The kernel's open prefix filter (CaptureOptions.openPrefixes, capture.bpf.c "open prefix
 * filter"): a real process opens known paths with each of open, openat (absolute, relative
 * to the cwd and to a dirfd), openat2 and creat; exactly the records of paths under a prefix
 * arrive, plus those whose text the kernel cannot trust to be their normal form ("..", "//"),
 * which user space checks. Without prefixes every open arrives, as before.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import type { SyscallEvent } from "../decode/event.js";
import { kernelSkipReason, PYTHON, recordDuring } from "../../test/helpers/kernel.js";
import { CaptureSession, OPEN_PREFIX_BYTES, openPrefixGlobals } from "./capture-session.js";

const skip = kernelSkipReason();
if (skip) console.log(`# SKIP open prefix kernel tests: ${skip}`);

const OPENS = ["open", "openat", "openat2", "creat"];

/**
 * Runs in a child python in `cwd`: each line of the plan is `how path [dirfd-dir]`; how is
 * one of open, openat, openat2, creat (raw syscalls through libc, so the syscall is exactly
 * the one named).
 */
const CHILD = String.raw`
import ctypes, os, sys, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {"open": 2, "creat": 85, "openat": 257, "openat2": 437}
AT_FDCWD = -100
for line in sys.argv[1:]:
    how, path, *rest = line.split(" ")
    p = path.encode()
    dirfd = os.open(rest[0], os.O_RDONLY | os.O_DIRECTORY) if rest else AT_FDCWD
    if how == "open":
        fd = libc.syscall(NR[how], p, os.O_RDONLY, 0)
    elif how == "creat":
        fd = libc.syscall(NR[how], p, 0o640)
    elif how == "openat":
        fd = libc.syscall(NR[how], ctypes.c_long(dirfd), p, os.O_RDONLY, 0)
    else:
        how_ = ctypes.create_string_buffer(struct.pack("QQQ", os.O_RDONLY, 0, 0), 24)
        fd = libc.syscall(NR[how], ctypes.c_long(dirfd), p, how_, ctypes.c_size_t(24))
    if fd >= 0:
        os.close(fd)
    if dirfd != AT_FDCWD:
        os.close(dirfd)
`;

async function runPlan(cwd: string, plan: string[]): Promise<void> {
  await promisify(execFile)(PYTHON, ["-c", CHILD, ...plan], { cwd });
}

describe("open prefix filter (kernel)", { skip: skip ?? false }, () => {
  let dir = "";
  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "lanner-pfx-")));
    for (const d of ["in", "out", "in/sub"]) mkdirSync(join(dir, d));
    for (const f of ["in/a.txt", "in/.hidden", "in/sub/c.txt", "out/b.txt", "out/.hidden"])
      writeFileSync(join(dir, f), "x");
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  // every open of the plan: [plan line, kept by the kernel with prefix `${dir}/in/`]
  const plan = (d: string): [string, boolean][] => [
    [`openat ${d}/in/a.txt`, true],
    [`openat ${d}/out/b.txt`, false],
    [`openat in/a.txt`, true], // relative to the cwd
    [`openat out/b.txt`, false],
    [`openat a.txt ${d}/in`, true], // relative to a dirfd
    [`openat b.txt ${d}/out`, false],
    [`openat sub/c.txt ${d}/in`, true],
    [`openat ${d}/in/.hidden`, true], // a hidden file is a plain component
    [`openat ${d}/out/.hidden`, false],
    [`openat out/.hidden`, false],
    [`openat ${d}/in/missing`, true], // failed (ENOENT): still kept
    [`openat ${d}/out/missing`, false],
    [`open ${d}/in/a.txt`, true],
    [`open ${d}/out/b.txt`, false],
    [`open in/sub/c.txt`, true],
    [`openat2 ${d}/in/a.txt`, true],
    [`openat2 ${d}/out/b.txt`, false],
    [`openat2 a.txt ${d}/in`, true],
    [`creat ${d}/in/new.txt`, true],
    [`creat ${d}/out/new.txt`, false],
    [`creat out/new2.txt`, false],
    // texts that are not their normal form: passed for user space to check
    [`openat ${d}/out/../in/a.txt`, true],
    [`openat ${d}/in/../out/b.txt`, true],
    [`openat ${d}//out/b.txt`, true],
    [`openat ./out/b.txt`, true],
    [`openat ../out/b.txt ${d}/in`, true],
    [`openat ${d}/out/./b.txt`, true],
  ];

  /** The plan line each open record of the child stands for (by syscall, path and dir). */
  function key(ev: SyscallEvent): string {
    const arg = ev.type === "open" || ev.type === "creat" ? 0 : 1;
    const path = ev.paths.get(arg) ?? "?";
    const d = ev.dirs.get(arg);
    if (d === undefined || path.startsWith("/")) return `${ev.type} ${path}`;
    return d === dir ? `${ev.type} ${path}` : `${ev.type} ${path} ${d}`;
  }

  /**
   * Whether the record has its path. An open whose path could not be read at entry (a page
   * the loader has not touched yet: LN_S_READ_FAIL) cannot be judged, so the kernel keeps
   * it, without a path; python's start-up sometimes has one. Tests leave those out.
   */
  function hasPath(ev: SyscallEvent): boolean {
    return ev.paths.has(ev.type === "open" || ev.type === "creat" ? 0 : 1);
  }

  test("with prefixes: exactly the opens under a prefix (and the unnormal texts) are recorded", async () => {
    const p = plan(dir);
    const rec = await recordDuring({ syscalls: OPENS, openPrefixes: ["/lanner-none/", `${dir}/in/`] }, () =>
      runPlan(
        dir,
        p.map(([l]) => l),
      ),
    );
    const opens = rec.events.filter(
      (e): e is SyscallEvent => e.kind === "syscall" && OPENS.includes(e.type) && hasPath(e),
    );
    const got = opens.map(key);
    const want = p.filter(([, keep]) => keep).map(([l]) => l);
    assert.deepEqual(got, want, "the records that arrive, in order");
    const failed = rec.events.find(
      (e): e is SyscallEvent => e.kind === "syscall" && key(e) === `openat ${dir}/in/missing`,
    );
    assert.equal(failed?.ret, -2);
    const rel = rec.events.find(
      (e): e is SyscallEvent => e.kind === "syscall" && key(e) === "openat in/a.txt",
    );
    assert.equal(rel?.dirs.get(1), dir, "a relative path carries its directory");
    assert.ok((rel?.ret ?? -1) >= 0);
    // python's own start-up opens (/usr/lib/python3...) are outside every prefix: none came
    assert.equal(
      opens.filter((e) => e.type === "openat").length,
      want.filter((l) => l.startsWith("openat ")).length,
    );
  });

  test("without prefixes every open is recorded (the agent's behaviour)", async () => {
    const p = plan(dir);
    const rec = await recordDuring({ syscalls: OPENS }, () =>
      runPlan(
        dir,
        p.map(([l]) => l),
      ),
    );
    const got = new Set(
      rec.events.filter((e): e is SyscallEvent => e.kind === "syscall" && OPENS.includes(e.type)).map(key),
    );
    for (const [l] of p) assert.ok(got.has(l), `${l} recorded`);
    assert.ok(
      rec.events.some(
        (e) =>
          e.kind === "syscall" &&
          e.type === "openat" &&
          (e.paths.get(1) ?? "").startsWith("/usr/lib/python3"),
      ),
      "python's own opens too",
    );
  });

  test("a prefix of exactly OPEN_PREFIX_BYTES bytes; bad prefixes are refused", async () => {
    const deep = join(dir, "in", "x".repeat(OPEN_PREFIX_BYTES - dir.length - 5));
    mkdirSync(deep);
    writeFileSync(join(deep, "f"), "x");
    const prefix = `${deep}/`;
    assert.equal(Buffer.byteLength(prefix), OPEN_PREFIX_BYTES);
    const rec = await recordDuring({ syscalls: OPENS, openPrefixes: [prefix] }, () =>
      runPlan(dir, [`openat ${deep}/f`, `openat ${deep}`, `openat ${dir}/in/a.txt`]),
    );
    const got = rec.events.filter((e): e is SyscallEvent => e.kind === "syscall" && hasPath(e)).map(key);
    assert.deepEqual(got, [`openat ${deep}/f`], "the directory itself lacks the last '/'");

    assert.throws(
      () => openPrefixGlobals(Array.from({ length: 17 }, (_, i) => `/p${i}`)),
      /at most 16, got 17/,
    );
    assert.throws(() => openPrefixGlobals(["/" + "x".repeat(OPEN_PREFIX_BYTES)]), /expected 1 to 128 bytes/);
    assert.throws(() => openPrefixGlobals([""]), /expected 1 to 128 bytes/);
    assert.throws(
      () => CaptureSession.start({ syscalls: OPENS, openPrefixes: [""], onBatch: () => undefined }),
      /open prefix '': expected 1 to 128 bytes/,
    );
  });
});
