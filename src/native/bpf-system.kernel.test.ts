// Kernel tests of the system-wide views (program and map ids, their info, run-time
// statistics) and of iterator links, over bpf/selftest.bpf.c. Run as root.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { BpfObject, MapType } from './bpf-object.js';
import { BpfStats, mapIds, programIds, programInfo, systemMapInfo } from './bpf-system.js';
import { isNativeError } from './native-error.js';
import { kernelSkipReason, openFdCount, selftestObjectPath } from './kernel-test-env.js';

const skip = kernelSkipReason();
const PYTHON = '/usr/bin/python3';

/** A line of /proc/self/fdinfo/<fd> as a number (prog_id, map_id, memlock). */
function fdinfo(fd: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(m, `fdinfo of fd ${fd} has ${key}`);
  return Number(m[1]);
}

function openWith(programs: string[], tgid = 0): BpfObject {
  const obj = BpfObject.open(selftestObjectPath());
  try {
    for (const p of obj.programs()) p.setAutoload(programs.includes(p.name));
    obj.setGlobalU32('filter_tgid', tgid);
    obj.load();
    return obj;
  } catch (e) {
    obj.close();
    throw e;
  }
}

/** `n` sched_get_priority_max(2) calls in a child python: a syscall nothing else here makes. */
function schedCalls(n: number): void {
  const r = spawnSync(PYTHON, ['-c', `import os\nfor _ in range(${n}): os.sched_get_priority_max(0)`]);
  assert.equal(r.status, 0, String(r.stderr));
}

test('programs and maps by id: ours are listed with their type, name, maps and memory', (t) => {
  if (skip) return t.skip(skip);
  const before = openFdCount();
  const obj = openWith(['ln_st_generic']);
  try {
    const prog = obj.program('ln_st_generic');
    const id = fdinfo(prog.fd, 'prog_id');
    const counts = obj.map('st_counts');
    const mapId = fdinfo(counts.fd, 'map_id');
    assert.ok(programIds().includes(id), `program ${id} listed`);
    assert.ok(mapIds().includes(mapId), `map ${mapId} listed`);
    const ids = programIds();
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'ascending',
    );
    const p = programInfo(id);
    assert.ok(p);
    assert.equal(p.id, id);
    assert.equal(p.name, 'ln_st_generic');
    assert.equal(p.typeName, 'tracepoint');
    assert.equal(p.type, prog.type);
    assert.match(p.tag, /^[0-9a-f]{16}$/);
    // the map the program uses, and .rodata, which libbpf binds to every program
    const rodataId = fdinfo(obj.map('.rodata').fd, 'map_id');
    assert.deepEqual(
      [...p.mapIds].sort((a, b) => a - b),
      [mapId, rodataId].sort((a, b) => a - b),
    );
    assert.equal(p.memlock, fdinfo(prog.fd, 'memlock'));
    assert.equal(p.createdByUid, 0);
    assert.ok(p.xlatedBytes > 0);
    assert.equal(typeof p.runCount, 'bigint');
    const m = systemMapInfo(mapId);
    assert.ok(m);
    assert.equal(m.name, 'st_counts');
    assert.equal(m.type, MapType.PERCPU_ARRAY);
    assert.equal(m.typeName, 'percpu_array');
    assert.equal(m.keySize, 4);
    assert.equal(m.valueSize, 8);
    assert.equal(m.maxEntries, 8);
    assert.equal(m.memlock, fdinfo(counts.fd, 'memlock'));
    assert.ok(m.memlock > 0);
  } finally {
    obj.close();
  }
  // ids of unloaded objects: gone, not an error
  assert.equal(programInfo(0xfffffff0), undefined);
  assert.equal(systemMapInfo(0xfffffff0), undefined);
  assert.equal(openFdCount(), before, 'no fd leaked');
});

test('run-time statistics: while held, a program counts exactly its runs and their time', (t) => {
  if (skip) return t.skip(skip);
  if (!existsSync(PYTHON)) return t.skip(`${PYTHON} missing (it makes the traced syscalls)`);
  const before = openFdCount();
  const obj = openWith(['ln_st_generic']);
  const stats = BpfStats.enableRunTime();
  try {
    const prog = obj.program('ln_st_generic');
    const id = fdinfo(prog.fd, 'prog_id');
    prog.attachTracepoint('syscalls', 'sys_enter_sched_get_priority_max');
    const p0 = programInfo(id);
    assert.ok(p0);
    schedCalls(250);
    const p1 = programInfo(id);
    assert.ok(p1);
    assert.equal(p1.runCount - p0.runCount, 250n, 'one run per call');
    assert.ok(p1.runTimeNs > p0.runTimeNs, 'run time grows');
    assert.equal(stats.closed, false);
  } finally {
    stats.close();
    stats.close(); // idempotent
    obj.close();
  }
  assert.equal(stats.closed, true);
  assert.equal(openFdCount(), before, 'the statistics fd is closed');
});

test('iterator links: a task iterator reads every thread of one process, whole or capped', (t) => {
  if (skip) return t.skip(skip);
  const before = openFdCount();
  const obj = openWith(['ln_st_iter_task'], process.pid);
  try {
    const threads = readdirSync('/proc/self/task')
      .map(Number)
      .sort((a, b) => a - b);
    const decode = (b: Buffer): number[][] => {
      const out: number[][] = [];
      for (let off = 0; off + 8 <= b.length; off += 8) out.push([b.readUInt32LE(off), b.readUInt32LE(off + 4)]);
      return out;
    };
    // every task of the system, filtered in the program
    const all = obj.program('ln_st_iter_task').attach({ kind: 'iter' });
    const r = all.readIter();
    assert.equal(r.truncated, false);
    assert.deepEqual(
      decode(r.data).map(([, tid]) => tid),
      threads,
      'our threads, in tid order',
    );
    for (const [tgid] of decode(r.data)) assert.equal(tgid, process.pid);
    // one process through the link (the kernel visits only its tasks), read twice
    const one = obj.program('ln_st_iter_task').attach({ kind: 'iter', pid: process.pid });
    assert.match(one.description, /iterator ln_st_iter_task of pid \d+/);
    for (let i = 0; i < 2; i++) assert.deepEqual(decode(one.readIter().data).map(([, tid]) => tid), threads);
    // capped: the first record only, and it says there was more
    const capped = one.readIter(8);
    assert.equal(capped.data.length, 8);
    assert.equal(capped.truncated, threads.length > 1);
    // a bad link spec names itself
    assert.throws(
      () => obj.program('ln_st_iter_task').attach({ kind: 'iter', pid: 1, tid: 1 }),
      /iter attach takes pid or tid/,
    );
    all.close();
    assert.throws(() => all.readIter(), (e: unknown) => isNativeError(e) && e.code === 'EBADF');
  } finally {
    obj.close();
  }
  assert.equal(openFdCount(), before, 'no fd leaked');
});
