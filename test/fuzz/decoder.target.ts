/**
 * Fuzz target `decoder`: ring batches as a corrupt kernel side (or corrupted memory) would
 * hand them to the agent, through decode's batch walker, decodeRecord and the state's raw
 * record reader (ViewSource: what `lanner run` applies without decoding).
 *
 * Inputs are batches of real records captured from the kernel (test/fixtures/
 * decoder-seeds.bin, one record of each shape; test/fixtures/decoder-seeds.capture.ts
 * captures them again), mutated where the decoder trusts the bytes: record and tail lengths
 * set to boundary values, tail counts, record and tail kinds, random bytes, records cut
 * short or extended, tails spliced from another record, frame lengths up to 2^32, a byte
 * count that disagrees with the buffer, and now and then random bytes.
 *
 * Outcomes: `accepted` (every record sound and decoded), `diagnosed` (corrupt records were
 * counted and skipped, the rest decoded). Failures: an exception out of the decoder, an
 * input over 100 ms (a walk that does not end), and a read outside a record: every record
 * is decoded again alone, in a buffer whose bytes around it (its frame's padding and what
 * follows) are 0x00, then 0xff, then a pattern; if what it decodes to changes, or differs
 * from what it decoded to inside the batch, the decoder read bytes that are not the
 * record's. That is thrown as an `OutsideRead` error (an unexpected exception in the
 * harness's counts, named as such in the report).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LN_HDR, LN_KIND, LN_PROC, LN_SYSCALL } from "../../src/capture/abi.generated.js";
import { packageRoot } from "../../src/capture/paths.js";
import { decodeRecord } from "../../src/decode/event.js";
import { FRAME_HEADER, RecordView, walkBatch } from "../../src/decode/record-view.js";
import { ViewSource } from "../../src/state/syscall-source.js";
import { defineTarget, type Outcome, type Rng } from "./harness.js";

export interface DecoderInput {
  readonly batch: Buffer;
  /** the byte count handed to walkBatch with the batch */
  readonly bytes: number;
  /** the mutations that made it, for the report */
  readonly how: string;
}

/** A read of bytes outside the record being decoded. */
export class OutsideRead extends Error {
  override name = "OutsideRead";
}

const SEEDS_FILE = join(packageRoot(), "test/fixtures/decoder-seeds.bin");
let seeds: Buffer[] | undefined;

/** The seed records (without framing), split by a plain reading of the fixture's framing. */
export function decoderSeeds(): Buffer[] {
  if (seeds !== undefined) return seeds;
  const b = readFileSync(SEEDS_FILE);
  const out: Buffer[] = [];
  for (let off = 0; off + FRAME_HEADER <= b.length;) {
    const len = b.readUInt32LE(off);
    out.push(Buffer.from(b.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len)));
    off += FRAME_HEADER + len + ((8 - (len % 8)) % 8);
  }
  if (out.length === 0) throw new Error(`no decoder seeds in ${SEEDS_FILE}`);
  return (seeds = out);
}

/** Offsets of the tail headers of a record, as far as they lie inside it (it may be mutated). */
function tailOffsets(r: Buffer): number[] {
  if (r.length < LN_HDR.SIZEOF) return [];
  const kind = r.readUInt16LE(LN_HDR.KIND);
  let o = kind === LN_KIND.LN_K_SYSCALL ? LN_SYSCALL.SIZEOF : LN_PROC.SIZEOF;
  const offs: number[] = [];
  for (let i = 0; i < r.readUInt8(LN_HDR.NTAILS) && o + 4 <= r.length; i++) {
    offs.push(o);
    o += 4 + r.readUInt16LE(o);
  }
  return offs;
}

function put8(r: Buffer, at: number, v: number): void {
  if (at < r.length) r[at] = v & 0xff;
}

function put16(r: Buffer, at: number, v: number): void {
  if (at + 2 <= r.length) r.writeUInt16LE(v & 0xffff, at);
}

const LEN16 = [0, 1, 2, 3, 4, 7, 8, 16, 23, 24, 47, 48, 49, 103, 104, 105, 191, 192, 0x7fff, 0x8000, 0xffff];
const FRAME_LENS = [0, 1, 7, 8, 23, 24, 0x7fffffff, 0x80000000, 0xfffffff1, 0xfffffff8, 0xffffffff];

/** One mutation of record `r` (a copy is returned when its length changes). */
function mutate(rng: Rng, r: Buffer, frameLen: number[], t: number, how: string[]): Buffer {
  const tails = tailOffsets(r);
  switch (rng.int(10)) {
    case 0: {
      const k = rng.range(1, 8);
      for (let i = 0; i < k && r.length > 0; i++) r[rng.int(r.length)] = rng.int(256);
      how.push(`#${t} ${k} random bytes`);
      return r;
    }
    case 1:
    case 2: {
      const at = tails.length > 0 && rng.chance(0.7) ? rng.pick(tails) : LN_HDR.SIZE;
      const v = rng.chance(0.8) ? rng.pick(LEN16) : rng.int(0x10000);
      put16(r, at, v);
      how.push(`#${t} u16 length at ${at} = ${v}`);
      return r;
    }
    case 3: {
      const v = rng.pick([0, 1, tails.length - 1, tails.length + 1, 255].filter((x) => x >= 0));
      put8(r, LN_HDR.NTAILS, v);
      how.push(`#${t} ntails = ${v}`);
      return r;
    }
    case 4: {
      if (tails.length > 0 && rng.chance(0.7)) {
        const at = rng.pick(tails) + 2;
        const v = rng.chance(0.8) ? rng.int(20) : rng.int(256);
        put8(r, at, v);
        how.push(`#${t} tail kind at ${at} = ${v}`);
      } else {
        const v = rng.pick([0, 1, 2, 3, 4, 5, 8, 0xffff]);
        put16(r, LN_HDR.KIND, v);
        how.push(`#${t} kind = ${v}`);
      }
      return r;
    }
    case 5: {
      const n = rng.int(r.length);
      how.push(`#${t} cut to ${n} bytes`);
      return Buffer.from(r.subarray(0, n));
    }
    case 6: {
      const extra = Buffer.alloc(rng.range(1, 64));
      for (let i = 0; i < extra.length; i++) extra[i] = rng.int(256);
      how.push(`#${t} ${extra.length} bytes appended`);
      return Buffer.concat([r, extra]);
    }
    case 7: {
      const other = rng.pick(decoderSeeds());
      const ot = tailOffsets(other);
      if (ot.length === 0 || tails.length === 0) return r;
      const from = rng.pick(ot);
      const at = rng.pick(tails);
      const spliced = Buffer.concat([r.subarray(0, at), other.subarray(from), r.subarray(at)]);
      how.push(`#${t} tails of another record spliced at ${at}`);
      return spliced;
    }
    case 8: {
      frameLen[t] = rng.chance(0.7)
        ? rng.pick(FRAME_LENS)
        : rng.range(Math.max(0, r.length - 16), r.length + 16);
      how.push(`#${t} frame length ${frameLen[t]}`);
      return r;
    }
    default: {
      // the record's header fields that the walk and the getters lean on
      const at = rng.pick([LN_HDR.SIZE, LN_HDR.NTAILS, LN_HDR.KIND, LN_HDR.FLAGS]);
      put8(r, at, rng.int(256));
      how.push(`#${t} header byte ${at}`);
      return r;
    }
  }
}

function frame(records: Buffer[], frameLen: number[]): Buffer {
  const parts: Buffer[] = [];
  records.forEach((r, i) => {
    const h = Buffer.alloc(FRAME_HEADER);
    h.writeUInt32LE((frameLen[i] ?? r.length) >>> 0, 0);
    parts.push(h, r, Buffer.alloc((8 - (r.length % 8)) % 8));
  });
  return Buffer.concat(parts);
}

export function generateDecoderInput(rng: Rng): DecoderInput {
  const how: string[] = [];
  if (rng.chance(0.03)) {
    const batch = Buffer.alloc(rng.range(0, 512));
    for (let i = 0; i < batch.length; i++) batch[i] = rng.int(256);
    if (batch.length >= 4 && rng.chance(0.5)) batch.writeUInt32LE(rng.int(batch.length), 0);
    return { batch, bytes: batch.length, how: "random bytes" };
  }
  const pool = decoderSeeds();
  let records: Buffer[] = Array.from({ length: rng.range(1, 4) }, () => Buffer.from(rng.pick(pool)));
  const frameLen: number[] = [];
  const n = rng.chance(0.15) ? 0 : rng.range(1, 3);
  for (let i = 0; i < n; i++) {
    const t = rng.int(records.length);
    records = records.map((r, j) => (j === t ? mutate(rng, r, frameLen, t, how) : r));
  }
  const batch = frame(records, frameLen);
  let bytes = batch.length;
  if (rng.chance(0.05)) {
    bytes = rng.chance(0.5) ? rng.int(batch.length + 1) : batch.length + rng.range(1, 4096);
    how.push(`byte count ${bytes} of ${batch.length}`);
  }
  return { batch, bytes, how: how.length === 0 ? "seeds as captured" : how.join("; ") };
}

const src = new ViewSource();

/** Everything the decoder and the raw reader make of the record the view points at. */
function readAll(v: RecordView): string {
  const ev = decodeRecord(v);
  if (ev === null) throw new Error("walkBatch delivered a record decodeRecord rejects");
  const raw: unknown[] = [];
  if (ev.kind === "syscall") {
    src.set(v);
    raw.push(src.tgid, src.tid, src.nr, src.ret, src.fd0(), src.fd1(), src.cwd(), src.tuple());
    raw.push(src.dataU32(0), src.dataU32(4), src.dataU32(60), src.openHowFlags());
    for (let a = 0; a < 8; a++)
      raw.push(src.path(a), src.dir(a), src.fdPath(a), src.sockaddr(a), src.argUint(a % 6));
  }
  return JSON.stringify([ev, raw], (_k, x: unknown) =>
    typeof x === "bigint"
      ? `${x}n`
      : x instanceof Map
        ? [...x.entries()]
        : x === undefined
          ? "<undefined>"
          : x,
  );
}

/** Decodes a batch: what each delivered record decodes to, and the corrupt count. */
function decodeBatch(batch: Buffer, bytes: number): { out: string[]; corrupt: number } {
  const out: string[] = [];
  const corrupt = walkBatch(new RecordView(), batch, bytes, (v) => out.push(readAll(v)));
  return { out, corrupt };
}

/** The frames of a batch as the addon lays them out, read with plain arithmetic. */
function frames(batch: Buffer, bytes: number): { start: number; len: number }[] {
  const limit = Math.min(bytes, batch.length);
  const out: { start: number; len: number }[] = [];
  for (let off = 0; off + FRAME_HEADER <= limit;) {
    const len = batch.readUInt32LE(off);
    if (len > limit - off - FRAME_HEADER) break;
    out.push({ start: off + FRAME_HEADER, len });
    off += FRAME_HEADER + len + ((8 - (len % 8)) % 8);
  }
  return out;
}

const GUARD = 256;

/** The record alone: its frame, its bytes, then padding and a guard region filled by `fill`. */
function alone(batch: Buffer, f: { start: number; len: number }, fill: (i: number) => number): string[] {
  const pad = (8 - (f.len % 8)) % 8;
  const b = Buffer.alloc(FRAME_HEADER + f.len + pad + GUARD);
  for (let i = 0; i < b.length; i++) b[i] = fill(i);
  b.writeUInt32LE(f.len, 0);
  b.writeUInt32LE(0, 4);
  batch.copy(b, FRAME_HEADER, f.start, f.start + f.len);
  return decodeBatch(b, FRAME_HEADER + f.len + pad).out;
}

const FILLS: readonly ((i: number) => number)[] = [() => 0, () => 0xff, (i) => (i * 37 + 11) & 0xff];

export function runDecoderInput(input: DecoderInput): Outcome {
  const whole = decodeBatch(input.batch, input.bytes);
  // every record the walk delivered, decoded alone with other bytes around it
  const delivered: string[] = [];
  for (const [i, f] of frames(input.batch, input.bytes).entries()) {
    const views = FILLS.map((fill) => alone(input.batch, f, fill));
    const [first] = views;
    for (const v of views)
      if (v.length !== first!.length || v.some((s, k) => s !== first![k]))
        throw new OutsideRead(`record #${i} (${f.len} bytes) decodes differently with other bytes around it`);
    delivered.push(...first!);
  }
  if (delivered.length !== whole.out.length || delivered.some((s, k) => s !== whole.out[k]))
    throw new OutsideRead(
      "records decode differently in the batch than alone: a read of a neighbour's bytes",
    );
  return whole.corrupt > 0 ? "diagnosed" : "accepted";
}

export const decoderTarget = defineTarget<DecoderInput>({
  name: "decoder",
  description:
    "ring batches of real records, mutated, through walkBatch, decodeRecord and the state's raw reader; each record also decoded alone between guard bytes (a read outside it throws OutsideRead)",
  prepare() {
    decoderSeeds();
  },
  generate: generateDecoderInput,
  run: runDecoderInput,
  show: (i) => `${i.how} | bytes ${i.bytes} | ${i.batch.toString("hex")}`,
});
