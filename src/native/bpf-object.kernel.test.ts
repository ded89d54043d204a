// Kernel tests of BpfObject over bpf/selftest.bpf.c: open/configure/load/attach, maps,
// errors, close. Run as root: node --test dist/src/native/
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { BPF_NOEXIST, BpfObject, MapType, numPossibleCpus } from './bpf-object.js';
import { isNativeError } from './native-error.js';
import { getppidTimes, kernelSkipReason, openFdCount, selftestObjectPath } from './kernel-test-env.js';

const skip = kernelSkipReason();

const ST_C_GETPPID = 0;
const ST_C_GENERIC = 1;
const ST_C_RAW = 2;
const ST_C_XDP = 4;
const ST_C_CGROUP = 5;
const ST_C_UPROBE = 6;
const ST_C_TC = 7;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
}

function openLoaded(configure?: (o: BpfObject) => void): BpfObject {
  const obj = BpfObject.open(selftestObjectPath());
  try {
    obj.setGlobalU32('filter_tgid', process.pid);
    configure?.(obj);
    obj.load();
    return obj;
  } catch (e) {
    obj.close();
    throw e;
  }
}

function counter(obj: BpfObject, idx: number): number {
  const m = obj.map('st_counts');
  const v = m.get(u32(idx));
  assert.ok(v, `st_counts[${idx}] present`);
  let sum = 0;
  for (const c of m.perCpuValues(v)) sum += Number(c.readBigUInt64LE(0));
  return sum;
}

function expectNativeError(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isNativeError(e), `a NativeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

test('open lists programs (name, section, type) and maps (type, sizes, max entries)', (t) => {
  if (skip) return t.skip(skip);
  const obj = BpfObject.open(selftestObjectPath());
  try {
    assert.equal(obj.name, 'selftest');
    const progs = Object.fromEntries(obj.programs().map((p) => [p.name, p]));
    assert.equal(progs['ln_st_getppid']?.section, 'tracepoint/syscalls/sys_enter_getppid');
    assert.equal(progs['ln_st_getppid']?.typeName, 'tracepoint');
    assert.equal(progs['ln_st_getppid']?.autoload, true);
    assert.equal(progs['ln_st_raw']?.typeName, 'raw_tracepoint');
    assert.equal(progs['ln_st_generic']?.section, 'tracepoint');
    assert.equal(progs['ln_st_bad']?.autoload, false, '"?" section prefix: autoload off');
    const rb = obj.map('st_rb');
    assert.equal(rb.type, MapType.RINGBUF);
    assert.equal(rb.typeName, 'ringbuf');
    assert.equal(rb.maxEntries, 1 << 20);
    const counts = obj.map('st_counts');
    assert.equal(counts.typeName, 'percpu_array');
    assert.deepEqual([counts.keySize, counts.valueSize, counts.maxEntries], [4, 8, 8]);
    assert.equal(counts.perCpu, true);
    assert.equal(counts.valueBufferSize, 8 * numPossibleCpus());
    const kv = obj.map('st_kv');
    assert.deepEqual([kv.typeName, kv.keySize, kv.valueSize, kv.maxEntries], ['hash', 4, 8, 64]);
    const ro = obj.map('.rodata');
    assert.equal(ro.internal, true);
    assert.equal(ro.name, 'selftest.rodata');
    assert.equal(obj.map('st_rb').fd < 0, true, 'no fd before load');
  } finally {
    obj.close();
  }
});

test('opening a missing file fails with ENOENT and names the path', (t) => {
  if (skip) return t.skip(skip);
  expectNativeError(
    () => BpfObject.open('/nonexistent/x.bpf.o'),
    'ENOENT',
    /^opening BPF object \/nonexistent\/x\.bpf\.o: ENOENT: /,
  );
});

test('setGlobal checks the name and the size, and only before load', (t) => {
  if (skip) return t.skip(skip);
  const obj = BpfObject.open(selftestObjectPath());
  try {
    expectNativeError(() => obj.setGlobalU32('no_such_var', 1), 'ENOENT', /^setting global no_such_var: ENOENT: no such variable/);
    expectNativeError(() => obj.setGlobalU64('filter_tgid', 1n), 'EINVAL', /^setting global filter_tgid: EINVAL: size is 4 bytes, got 8/);
    obj.setGlobalU32('filter_tgid', process.pid);
    obj.load();
    expectNativeError(() => obj.setGlobalU32('filter_tgid', 1), 'EBUSY', /already loaded/);
    // The value landed in the frozen .rodata map: read it back.
    const ro = obj.map('.rodata');
    const v = ro.get(u32(0));
    assert.ok(v);
    assert.equal(v.readUInt32LE(0), process.pid);
  } finally {
    obj.close();
  }
});

test('setMaxEntries resizes a map before load', (t) => {
  if (skip) return t.skip(skip);
  const obj = openLoaded((o) => o.setMaxEntries('st_rb', 1 << 16));
  try {
    assert.equal(obj.map('st_rb').maxEntries, 1 << 16);
  } finally {
    obj.close();
  }
});

test('attach, count our getppid calls in a per-CPU map, detach', (t) => {
  if (skip) return t.skip(skip);
  const obj = openLoaded();
  try {
    const link = obj.program('ln_st_getppid').attach({ kind: 'auto' });
    assert.equal(obj.linkCount, 1);
    getppidTimes(1000);
    assert.equal(counter(obj, ST_C_GETPPID), 1000);
    const m = obj.map('st_counts');
    const v = m.get(u32(ST_C_GETPPID));
    assert.ok(v);
    assert.equal(m.perCpuValues(v).length, numPossibleCpus());
    link.close();
    link.close(); // idempotent
    assert.equal(obj.linkCount, 0);
    getppidTimes(100);
    assert.equal(counter(obj, ST_C_GETPPID), 1000, 'no counting after detach');
  } finally {
    obj.close();
  }
});

test('one program attached to many tracepoints gets one link each; raw tracepoints', (t) => {
  if (skip) return t.skip(skip);
  const obj = openLoaded();
  try {
    // A bare SEC("tracepoint") has no section-derived target.
    expectNativeError(() => obj.attach('ln_st_generic'), 'EOPNOTSUPP', /^auto-attaching program ln_st_generic \(tracepoint\): EOPNOTSUPP/);
    const prog = obj.program('ln_st_generic');
    const a = prog.attachTracepoint('syscalls', 'sys_enter_getppid');
    const b = prog.attachTracepoint('syscalls', 'sys_exit_getppid');
    assert.notEqual(a.id, b.id);
    assert.equal(obj.linkCount, 2);
    getppidTimes(500);
    // Unfiltered program: other processes' getppid calls may add to it.
    assert.ok(counter(obj, ST_C_GENERIC) >= 1000, `generic count ${counter(obj, ST_C_GENERIC)} >= 1000`);
    a.close();
    const before = counter(obj, ST_C_GENERIC);
    getppidTimes(500);
    const after = counter(obj, ST_C_GENERIC);
    assert.ok(after - before >= 500 && after - before < 1000, `one link left: +${after - before}`);
    const raw = obj.attachRawTracepoint('ln_st_raw', 'sys_enter');
    getppidTimes(10);
    assert.ok(counter(obj, ST_C_RAW) >= 10);
    raw.close();
    assert.equal(obj.linkCount, 1);
  } finally {
    obj.close();
  }
});

test('attaching to a missing tracepoint fails with ENOENT naming the attach point', (t) => {
  if (skip) return t.skip(skip);
  const obj = openLoaded();
  try {
    expectNativeError(
      () => obj.attachTracepoint('ln_st_generic', 'syscalls', 'sys_enter_nope'),
      'ENOENT',
      /^attaching program ln_st_generic to tracepoint syscalls\/sys_enter_nope: ENOENT: /,
    );
    expectNativeError(
      () => obj.attachRawTracepoint('ln_st_raw', 'no_such_raw_tp'),
      'ENOENT',
      /^attaching program ln_st_raw to raw tracepoint no_such_raw_tp: ENOENT/,
    );
    assert.equal(obj.linkCount, 0);
  } finally {
    obj.close();
  }
});

test('a load error carries errno, code, the program and the verifier log', (t) => {
  if (skip) return t.skip(skip);
  const obj = BpfObject.open(selftestObjectPath());
  try {
    obj.setAutoload('ln_st_bad', true);
    assert.throws(
      () => obj.load(),
      (e: unknown) => {
        assert.ok(isNativeError(e));
        assert.equal(e.errno, 13);
        assert.equal(e.code, 'EACCES');
        assert.equal(e.program, 'ln_st_bad');
        assert.match(e.message, /^loading program ln_st_bad: EACCES: /);
        assert.match(e.message, /invalid mem access 'map_value_or_null'/);
        assert.ok(e.log !== undefined && e.log.length <= 8192);
        assert.match(e.log ?? '', /BEGIN PROG LOAD LOG[\s\S]*invalid mem access/);
        return true;
      },
    );
    assert.equal(obj.loaded, false);
  } finally {
    obj.close();
  }
});

test('hash map CRUD and iteration', (t) => {
  if (skip) return t.skip(skip);
  const obj = openLoaded();
  try {
    const kv = obj.map('st_kv');
    const out = Buffer.alloc(8);
    assert.equal(kv.lookup(u32(1), out), false);
    for (let k = 1; k <= 10; k++) kv.update(u32(k), u64(BigInt(k * 100)));
    assert.equal(kv.lookup(u32(7), out), true);
    assert.equal(out.readBigUInt64LE(0), 700n);
    expectNativeError(() => kv.update(u32(7), u64(1n), BPF_NOEXIST), 'EEXIST', /^updating map st_kv/);
    kv.update(u32(7), u64(777n));
    assert.equal(kv.get(u32(7))?.readBigUInt64LE(0), 777n);
    assert.equal(kv.delete(u32(3)), true);
    assert.equal(kv.delete(u32(3)), false);
    const keys = [...kv.keys()].map((b) => b.readUInt32LE(0)).sort((a, b) => a - b);
    assert.deepEqual(keys, [1, 2, 4, 5, 6, 7, 8, 9, 10]);
    // name-based shorthands
    assert.equal(obj.mapLookup('st_kv', u32(10), out), true);
    assert.equal(out.readBigUInt64LE(0), 1000n);
    // wrong sizes are refused, not truncated
    expectNativeError(() => kv.lookup(u32(1), Buffer.alloc(4)), 'EINVAL', /^looking up in map st_kv \(key 4 B, value 4 B\)/);
    // per-CPU value buffers must cover every possible CPU
    expectNativeError(() => obj.map('st_counts').lookup(u32(0), Buffer.alloc(8 * numPossibleCpus() - 8)), 'EINVAL', /st_counts/);
  } finally {
    obj.close();
  }
});

test('close is idempotent, releases every fd, and later use says the object is closed', (t) => {
  if (skip) return t.skip(skip);
  const fds0 = openFdCount();
  const obj = openLoaded();
  obj.attach('ln_st_getppid');
  obj.attachTracepoint('ln_st_generic', 'syscalls', 'sys_enter_getppid');
  obj.attachTracepoint('ln_st_generic', 'syscalls', 'sys_exit_getppid');
  const ring = obj.ringBuffer('st_rb', { onBatch: () => {}, batchBytes: 4096 });
  getppidTimes(10);
  assert.ok(openFdCount() > fds0);
  obj.close();
  obj.close();
  ring.close();
  assert.equal(obj.closed, true);
  assert.equal(ring.closed, true);
  assert.equal(obj.linkCount, 0);
  assert.equal(openFdCount(), fds0, 'no leaked fds');
  expectNativeError(() => obj.load(), 'EBADF', /^loading BPF object selftest: EBADF: object is closed$/);
  expectNativeError(() => obj.map('st_kv').get(u32(1)), 'EBADF', /object is closed/);
  expectNativeError(() => ring.drain(), 'EBADF', /^draining ring st_rb: EBADF: consumer is closed$/);
});

test('a finalizer closes objects (links, readers, fds) that JS dropped without close()', (t) => {
  if (skip) return t.skip(skip);
  const mod = (f: string): string => JSON.stringify(new URL(f, import.meta.url).href);
  const code = `
    import { BpfObject } from ${mod('./bpf-object.js')};
    import { openFdCount, selftestObjectPath } from ${mod('./kernel-test-env.js')};
    const fds0 = openFdCount();
    (() => {
      for (let i = 0; i < 3; i++) {
        const o = BpfObject.open(selftestObjectPath());
        o.setGlobalU32('filter_tgid', process.pid);
        o.load();
        o.attach('ln_st_getppid');
        o.ringBuffer('st_rb', { onBatch: () => {}, start: false });
      }
    })();
    const mid = openFdCount();
    for (let i = 0; i < 20 && openFdCount() > fds0; i++) {
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(JSON.stringify({ fds0, mid, end: openFdCount() }));
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const { fds0, mid, end } = JSON.parse(r.stdout.trim()) as { fds0: number; mid: number; end: number };
  assert.ok(mid > fds0, 'objects held fds');
  assert.equal(end, fds0, 'all fds released by finalizers');
});

/** Sends one UDP datagram over loopback and waits for it (XDP on lo rx, cgroup egress). */
async function udpLoopback(): Promise<void> {
  const rx = createSocket('udp4');
  const tx = createSocket('udp4');
  try {
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
    const got = new Promise<void>((r) => rx.once('message', () => r()));
    tx.send('x', rx.address().port, '127.0.0.1');
    await got;
  } finally {
    rx.close();
    tx.close();
  }
}

function cgroup2Mount(): string | undefined {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'cgroup2' && f[1] !== undefined) return f[1];
  }
  return undefined;
}

test('attach kinds: xdp and tc (lo), cgroup (cgroup2 root, egress), uprobe (libc getppid)', async (t) => {
  if (skip) return t.skip(skip);
  const cg = cgroup2Mount();
  // tc attach creates a clsact qdisc on lo and leaves it: remove it if this test made it.
  const hadClsact = execFileSync('tc', ['qdisc', 'show', 'dev', 'lo'], { encoding: 'utf8' }).includes('clsact');
  t.after(() => {
    if (!hadClsact) execFileSync('tc', ['qdisc', 'del', 'dev', 'lo', 'clsact']);
  });
  const obj = openLoaded((o) => {
    for (const p of ['ln_st_xdp', 'ln_st_cgskb', 'ln_st_uprobe', 'ln_st_tc']) o.setAutoload(p, true);
  });
  try {
    const xdp = obj.program('ln_st_xdp').attach({ kind: 'xdp', ifindex: 1 });
    const tc = obj.program('ln_st_tc').attach({ kind: 'tc', ifindex: 1, direction: 'ingress' });
    const cgl = cg === undefined ? undefined : obj.program('ln_st_cgskb').attach({ kind: 'cgroup', path: cg });
    await udpLoopback();
    assert.ok(counter(obj, ST_C_XDP) >= 1, 'XDP saw the loopback packet');
    assert.ok(counter(obj, ST_C_TC) >= 1, 'tc ingress saw it');
    tc.close();
    const tcBefore = counter(obj, ST_C_TC);
    await udpLoopback();
    assert.equal(counter(obj, ST_C_TC), tcBefore, 'tc filter removed on close');
    if (cgl !== undefined) assert.ok(counter(obj, ST_C_CGROUP) >= 1, 'cgroup egress saw it');
    xdp.close();
    cgl?.close();
    const libc = '/lib/x86_64-linux-gnu/libc.so.6';
    const up = obj.program('ln_st_uprobe').attach({ kind: 'uprobe', binaryPath: libc, funcName: 'getppid', pid: -1 });
    getppidTimes(100);
    assert.equal(counter(obj, ST_C_UPROBE), 100);
    up.close();
    expectNativeError(
      () => obj.program('ln_st_uprobe').attach({ kind: 'uprobe', binaryPath: libc, funcName: 'no_such_fn_xyz' }),
      'ENOENT',
      /^attaching program ln_st_uprobe to uprobe \/lib\/x86_64-linux-gnu\/libc\.so\.6:no_such_fn_xyz\+0: ENOENT/,
    );
    expectNativeError(
      () => obj.program('ln_st_cgskb').attach({ kind: 'cgroup', path: '/nonexistent-cgroup' }),
      'ENOENT',
      /^attaching program ln_st_cgskb to cgroup \/nonexistent-cgroup: ENOENT/,
    );
    assert.equal(obj.linkCount, 0);
    if (cg === undefined) t.diagnostic('no cgroup2 mount: cgroup attach not exercised');
  } finally {
    obj.close();
  }
});
