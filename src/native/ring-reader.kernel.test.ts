// Kernel tests of RingReader: framing, contents, batches smaller than the pending data,
// timer delivery with a per-turn cap, close inside the callback, fd hygiene.
// bpf/selftest.bpf.c emits, per getppid(2) of this process, a record
//   u64 pid_tgid; u64 seq; u8 tail[seq % 16] (tail[i] = (seq + i) & 0xff)
// with BPF_RB_NO_WAKEUP; seq counts from seq_base + 1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as immediate } from 'node:timers/promises';
import { BpfObject } from './bpf-object.js';
import { RECORD_ALIGN, RECORD_HEADER_SIZE, type RingReader, nextRecordOffset } from './ring-reader.js';
import { isNativeError } from './native-error.js';
import { addon } from './addon.js';
import { getppidTimes, kernelSkipReason, openFdCount, selftestObjectPath } from './kernel-test-env.js';

const skip = kernelSkipReason();

interface Rec {
  len: number;
  pid: number;
  seq: number;
}

/** Parses one batch, asserting the framing; appends records to `out`. */
function parseBatch(batch: Buffer, bytes: number, records: number, out: Rec[]): void {
  let off = 0;
  let n = 0;
  while (off < bytes) {
    assert.equal(off % RECORD_ALIGN, 0, 'record aligned');
    const len = batch.readUInt32LE(off);
    assert.equal(batch.readUInt32LE(off + 4), 0, 'reserved word is 0');
    const p = off + RECORD_HEADER_SIZE;
    assert.ok(len >= 16 && len <= 31, `len ${len}`);
    const seq = Number(batch.readBigUInt64LE(p + 8));
    assert.equal(len, 16 + (seq % 16), 'length follows seq');
    for (let i = 0; i < len - 16; i++) assert.equal(batch[p + 16 + i], (seq + i) & 0xff, 'tail byte');
    const end = nextRecordOffset(off, len);
    for (let i = p + len; i < end; i++) assert.equal(batch[i], 0, 'padding zeroed');
    out.push({ len, pid: Number(batch.readBigUInt64LE(p) >> 32n), seq });
    off = end;
    n++;
  }
  assert.equal(off, bytes, 'bytes used is exactly the framed records');
  assert.equal(n, records, 'record count');
}

function assertSeqs(recs: Rec[], first: number, n: number): void {
  assert.equal(recs.length, n, 'no loss, no duplicates');
  for (let i = 0; i < n; i++) {
    const r = recs[i];
    assert.ok(r);
    if (r.seq !== first + i) assert.fail(`record ${i}: seq ${r.seq}, want ${first + i}`);
    assert.equal(r.pid, process.pid);
  }
}

function openAttached(seqBase = 0n, ringBytes?: number): BpfObject {
  const obj = BpfObject.open(selftestObjectPath());
  try {
    obj.setGlobalU32('filter_tgid', process.pid);
    obj.setGlobalU64('seq_base', seqBase);
    if (ringBytes !== undefined) obj.setMaxEntries('st_rb', ringBytes);
    obj.load();
    obj.attach('ln_st_getppid');
    return obj;
  } catch (e) {
    obj.close();
    throw e;
  }
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

test('framing constants match the addon', (t) => {
  if (skip) return t.skip(skip);
  assert.equal(addon().RECORD_HEADER_SIZE, RECORD_HEADER_SIZE);
  assert.equal(addon().RECORD_ALIGN, RECORD_ALIGN);
});

test('records arrive with correct framing and contents (drain)', (t) => {
  if (skip) return t.skip(skip);
  const obj = openAttached(1000n);
  try {
    const recs: Rec[] = [];
    let calls = 0;
    const ring = obj.ringBuffer('st_rb', {
      batchBytes: 64 * 1024,
      start: false,
      onBatch: (bytes, records, batch) => {
        calls++;
        parseBatch(batch, bytes, records, recs);
      },
    });
    getppidTimes(300);
    assert.equal(ring.drain(), 300);
    assert.equal(calls, 1);
    assertSeqs(recs, 1001, 300);
    assert.equal(ring.drain(), 0, 'empty now');
    const s = ring.stats();
    assert.equal(s.records, 300);
    assert.equal(s.oversized, 0);
  } finally {
    obj.close();
  }
});

test('a batch smaller than the pending data delivers everything across many callbacks', (t) => {
  if (skip) return t.skip(skip);
  const obj = openAttached();
  try {
    const recs: Rec[] = [];
    let calls = 0;
    const ring = obj.ringBuffer('st_rb', {
      batchBytes: 256,
      start: false,
      onBatch: (bytes, records, batch) => {
        calls++;
        assert.ok(bytes <= 256);
        parseBatch(batch, bytes, records, recs);
      },
    });
    getppidTimes(5000);
    assert.equal(ring.drain(), 5000);
    assertSeqs(recs, 1, 5000);
    assert.ok(calls > 5000 / 10, `${calls} callbacks`);
    assert.ok(ring.stats().deferred > 0, 'a record that did not fit stayed in the ring for the next batch');
    // A bounded drain stops after maxBatches and resumes where it stopped.
    getppidTimes(100);
    const got = ring.drain(2);
    assert.ok(got > 0 && got < 100, `bounded drain got ${got}`);
    ring.drain();
    assertSeqs(recs, 1, 5100);
  } finally {
    obj.close();
  }
});

test('timer delivery (no wakeups) with a per-turn cap keeps the event loop turning', async (t) => {
  if (skip) return t.skip(skip);
  const obj = openAttached();
  try {
    const recs: Rec[] = [];
    const ring = obj.ringBuffer('st_rb', {
      batchBytes: 512,
      pollMs: 5,
      maxBatchesPerTurn: 4,
      onBatch: (bytes, records, batch) => parseBatch(batch, bytes, records, recs),
    });
    getppidTimes(4000);
    let ticks = 0;
    let done = false;
    const spin = (async () => {
      while (!done) {
        await immediate();
        ticks++;
      }
    })();
    try {
      await until(() => recs.length >= 4000, 10_000);
    } finally {
      done = true;
      await spin;
    }
    assertSeqs(recs, 1, 4000);
    const s = ring.stats();
    assert.ok(s.capHits > 0, 'hit the per-turn cap');
    assert.ok(s.turns > 1);
    // Capped turns resume from a uv_idle handle, one per loop iteration (regression: a 0 ms
    // timer re-armed inside its own callback ran again in the same timers phase, so the
    // loop did not turn at all until the ring was empty).
    assert.ok(ticks >= s.capHits / 2, `event loop turned ${ticks} times for ${s.capHits} capped turns`);
  } finally {
    obj.close();
  }
});

test('closing the reader or the whole object inside the callback is safe', async (t) => {
  if (skip) return t.skip(skip);
  const fds0 = openFdCount();
  for (const what of ['reader', 'object'] as const) {
    const obj = openAttached();
    let calls = 0;
    const reader: RingReader = obj.ringBuffer('st_rb', {
      batchBytes: 256,
      pollMs: 2,
      onBatch: () => {
        calls++;
        if (what === 'reader') reader.close();
        else obj.close();
      },
    });
    getppidTimes(1000);
    await until(() => calls > 0, 5000);
    getppidTimes(100);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(calls, 1, `${what}: no callback after close`);
    assert.equal(reader.closed, true);
    obj.close();
    reader.close();
  }
  await new Promise((r) => setTimeout(r, 10)); // uv_close callbacks
  assert.equal(openFdCount(), fds0, 'no leaked fds');
});

test('drain inside the callback is refused; an exception in the callback propagates from drain', (t) => {
  if (skip) return t.skip(skip);
  const obj = openAttached();
  try {
    let mode: 'reenter' | 'throw' = 'reenter';
    let reentry: unknown;
    const ring: RingReader = obj.ringBuffer('st_rb', {
      batchBytes: 4096,
      start: false,
      onBatch: () => {
        if (mode === 'reenter') {
          try {
            ring.drain();
          } catch (e) {
            reentry = e;
          }
        } else {
          throw new Error('boom');
        }
      },
    });
    getppidTimes(10);
    ring.drain();
    assert.ok(isNativeError(reentry) && reentry.code === 'EBUSY', String(reentry));
    mode = 'throw';
    getppidTimes(10);
    assert.throws(() => ring.drain(), /^Error: boom$/);
    assert.equal(ring.drain(), 0, 'the batch that threw was consumed');
  } finally {
    obj.close();
  }
});

test('reader open/close leaks no fds and the async path needs no wakeups', async (t) => {
  if (skip) return t.skip(skip);
  const fds0 = openFdCount();
  const obj = openAttached();
  const recs: Rec[] = [];
  const ring = obj.ringBuffer('st_rb', {
    pollMs: 10,
    onBatch: (bytes, records, batch) => parseBatch(batch, bytes, records, recs),
  });
  getppidTimes(50);
  await until(() => recs.length === 50, 5000);
  assert.equal(ring.stats().wakeups, 0, 'BPF_RB_NO_WAKEUP: delivered by the timer');
  ring.close();
  ring.close();
  obj.close();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(openFdCount(), fds0);
});
