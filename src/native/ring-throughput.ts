/**
 * Manual throughput check of the native ring path (not a unit test; run as root):
 *   node dist/src/native/ring-throughput.js [seconds=3] [runs=3] [drain]
 * With `drain`: the reader is stopped while the loop fills a 64 MiB ring (use ~0.5 s),
 * then one synchronous drain() is timed: the consumer's ceiling without a producer.
 * A C getppid(2) loop pinned to CPU 0 is traced by bpf/selftest.bpf.c (one 16..31-byte
 * record per call, BPF_RB_NO_WAKEUP, 8 MiB ring); this process (pin it with
 * `taskset -c 1`) consumes with the timer path and walks every record (length + seq check).
 * Prints the loop rate untraced and traced, records/s delivered, drops and Node CPU.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BpfObject } from './bpf-object.js';
import { RECORD_HEADER_SIZE, type RingReader } from './ring-reader.js';
import { repoRoot, selftestObjectPath } from './kernel-test-env.js';

const secs = Number(process.argv[2] ?? 3);
const runs = Number(process.argv[3] ?? 3);

function loopBinary(): string {
  const src = join(repoRoot(), 'native', 'bench', 'getppid_loop.c');
  const bin = '/tmp/lanner-getppid-loop';
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('cc', ['-O2', '-o', bin, src]);
  }
  return bin;
}

interface LoopResult {
  calls: number;
  ns: number;
}

function runLoop(bin: string, onPid: (pid: number) => void): Promise<LoopResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', '0', bin, String(secs)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', () => {
      const [calls, ns] = out.trim().split(' ').map(Number);
      if (calls === undefined || ns === undefined) reject(new Error(`loop output: ${out}`));
      else resolve({ calls, ns });
    });
    // taskset execs the loop in place, so child.pid is the loop's tgid.
    if (child.pid === undefined) return reject(new Error('spawn failed'));
    onPid(child.pid);
    child.stdin.write('g');
  });
}

async function traced(bin: string): Promise<void> {
  let obj: BpfObject | undefined;
  let reader: RingReader | undefined;
  let records = 0;
  let badSeq = 0;
  let lastSeq = 0;
  const cpu0 = process.cpuUsage();
  const res = await runLoop(bin, (pid) => {
    obj = BpfObject.open(selftestObjectPath());
    obj.setGlobalU32('filter_tgid', pid);
    obj.setMaxEntries('st_rb', 8 << 20);
    obj.load();
    obj.attach('ln_st_getppid');
    reader = obj.ringBuffer('st_rb', {
      batchBytes: 256 * 1024,
      onBatch: (bytes, n, batch) => {
        let off = 0;
        for (let i = 0; i < n; i++) {
          const len = batch.readUInt32LE(off);
          const seq = batch.readUInt32LE(off + RECORD_HEADER_SIZE + 8); // low half is enough here
          if (seq !== lastSeq + 1) badSeq++;
          lastSeq = seq;
          off += RECORD_HEADER_SIZE + ((len + 7) & ~7);
        }
        records += n;
        if (off !== bytes) badSeq++;
      },
    });
  });
  if (obj === undefined || reader === undefined) throw new Error('not started');
  const o = obj;
  reader.drain(); // the last <= pollMs of records
  const cpu = process.cpuUsage(cpu0);
  const st = reader.stats();
  const key = Buffer.alloc(4);
  key.writeUInt32LE(3);
  const drops = o.map('st_counts').get(key);
  let dropSum = 0n;
  if (drops) for (const v of o.map('st_counts').perCpuValues(drops)) dropSum += v.readBigUInt64LE(0);
  o.close();
  const loopSecs = res.ns / 1e9;
  console.log(
    `traced:   loop ${(res.calls / loopSecs / 1e6).toFixed(2)} M getppid/s, delivered ${(records / loopSecs / 1e6).toFixed(2)} M rec/s ` +
      `(${records}/${res.calls}), drops ${dropSum}, seq errors ${badSeq}, node CPU ${(((cpu.user + cpu.system) / 1e6 / loopSecs) * 100).toFixed(0)} % ` +
      `(user ${(cpu.user / 1e6).toFixed(2)} s, sys ${(cpu.system / 1e6).toFixed(2)} s), ` +
      `${st.batches} batches, ${st.turns} turns, ${st.capHits} capped, ${st.wakeups} wakeups`,
  );
}

/** Consumer ceiling: fill a 64 MiB ring with the reader stopped, then time one drain(). */
async function drainOnly(bin: string): Promise<void> {
  let obj: BpfObject | undefined;
  let reader: RingReader | undefined;
  let records = 0;
  let sum = 0;
  await runLoop(bin, (pid) => {
    obj = BpfObject.open(selftestObjectPath());
    obj.setGlobalU32('filter_tgid', pid);
    obj.setMaxEntries('st_rb', 64 << 20);
    obj.load();
    obj.attach('ln_st_getppid');
    reader = obj.ringBuffer('st_rb', {
      batchBytes: 256 * 1024,
      start: false,
      onBatch: (bytes, n, batch) => {
        let off = 0;
        for (let i = 0; i < n; i++) {
          const len = batch.readUInt32LE(off);
          sum += batch.readUInt32LE(off + RECORD_HEADER_SIZE + 8);
          off += RECORD_HEADER_SIZE + ((len + 7) & ~7);
        }
        records += n;
      },
    });
  });
  if (obj === undefined || reader === undefined) throw new Error('not started');
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  reader.drain();
  const ns = Number(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  obj.close();
  console.log(
    `drain():  ${records} records in ${(ns / 1e6).toFixed(1)} ms = ${(records / (ns / 1e9) / 1e6).toFixed(1)} M rec/s, ` +
      `${(ns / records).toFixed(1)} ns/record (copy + N-API call per batch + JS walk), CPU ${((c.user + c.system) / 1e3).toFixed(0)} ms (checksum ${sum % 7})`,
  );
}

async function main(): Promise<void> {
  const bin = loopBinary();
  if (process.argv[4] === 'drain') {
    for (let i = 0; i < runs; i++) await drainOnly(bin);
    return;
  }
  for (let i = 0; i < runs; i++) {
    const base = await runLoop(bin, () => {});
    console.log(`untraced: loop ${(base.calls / (base.ns / 1e9) / 1e6).toFixed(2)} M getppid/s`);
    await traced(bin);
  }
}

await main();
