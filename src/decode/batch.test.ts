/**
 * Hostile batches: every way a frame or a record can lie about its lengths. A corrupt record
 * is counted and skipped, the rest of the batch is still delivered, nothing throws, nothing
 * is read outside the record, and the walk always ends. Each case is a regression test for
 * a finding of the decoder fuzzing (issue 8, section 4).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  LN_HDR,
  LN_KIND,
  LN_PROC,
  LN_SOCK_TUPLE,
  LN_SYSCALL,
  LN_TAIL_KIND,
} from "../capture/abi.generated.js";
import { decodeRecord, type DecodedEvent, type SyscallEvent } from "./event.js";
import { FRAME_HEADER, RecordView, recordValid, walkBatch } from "./record-view.js";
import { syscallNr } from "./syscall-params.js";

const T = LN_TAIL_KIND;

/** One record (no framing) as the kernel lays it out. */
function record(kind: number, tails: [number, number, Buffer][], nr = syscallNr("openat")!): Buffer {
  const fixed = kind === LN_KIND.LN_K_SYSCALL ? LN_SYSCALL.SIZEOF : LN_PROC.SIZEOF;
  const size = fixed + tails.reduce((n, [, , b]) => n + 4 + b.length, 0);
  const r = Buffer.alloc(size);
  r.writeBigUInt64LE(5_000_000_000n, LN_HDR.TS);
  r.writeUInt32LE(700, LN_HDR.TGID);
  r.writeUInt32LE(701, LN_HDR.TID);
  r.writeUInt16LE(kind, LN_HDR.KIND);
  r.writeUInt16LE(size, LN_HDR.SIZE);
  r.writeUInt8(tails.length, LN_HDR.NTAILS);
  if (kind === LN_KIND.LN_K_SYSCALL) r.writeUInt32LE(nr, LN_SYSCALL.NR);
  let o = fixed;
  for (const [k, arg, b] of tails) {
    r.writeUInt16LE(b.length, o);
    r.writeUInt8(k, o + 2);
    r.writeUInt8(arg, o + 3);
    b.copy(r, o + 4);
    o += 4 + b.length;
  }
  return r;
}

/** Frames records as the addon does; `lens` overrides a frame's length word. */
function batch(records: Buffer[], lens: (number | undefined)[] = []): Buffer {
  const parts: Buffer[] = [];
  records.forEach((r, i) => {
    const h = Buffer.alloc(FRAME_HEADER);
    h.writeUInt32LE((lens[i] ?? r.length) >>> 0, 0);
    parts.push(h, r, Buffer.alloc((8 - (r.length % 8)) % 8));
  });
  return Buffer.concat(parts);
}

function walk(b: Buffer, bytes = b.length): { events: DecodedEvent[]; corrupt: number } {
  const events: DecodedEvent[] = [];
  const v = new RecordView();
  const corrupt = walkBatch(v, b, bytes, (r) => {
    const ev = decodeRecord(r);
    assert.ok(ev, "walkBatch hands out only records decodeRecord accepts");
    events.push(ev);
  });
  assert.equal(v.corrupt, corrupt);
  return { events, corrupt };
}

const path = (s: string): [number, number, Buffer] => [T.LN_T_PATH, 1, Buffer.from(`${s}\0`)];
const good = (s: string): Buffer => record(LN_KIND.LN_K_SYSCALL, [path(s)]);
const paths = (evs: DecodedEvent[]): (string | undefined)[] =>
  evs.map((e) => (e.kind === "syscall" ? e.paths.get(1) : e.kind));

describe("batch walking and record bounds", () => {
  test("sound records all arrive, none counted", () => {
    const { events, corrupt } = walk(batch([good("/a"), record(LN_KIND.LN_K_FORK, []), good("/b")]));
    assert.equal(corrupt, 0);
    assert.deepEqual(paths(events), ["/a", "fork", "/b"]);
  });

  // Broke: a tuple tail of 8 bytes passed the `len >= 8` check and parseTuple read 48 bytes:
  // 40 of them from the next record.
  test("a socket-tuple tail shorter than a tuple is corrupt; the next record is intact", () => {
    const next = good("/next");
    const short = record(LN_KIND.LN_K_SYSCALL, [[T.LN_T_TUPLE, 0, Buffer.alloc(8, 2)]], syscallNr("connect"));
    const { events, corrupt } = walk(batch([short, next]));
    assert.equal(corrupt, 1);
    assert.deepEqual(paths(events), ["/next"]);
    const whole = record(LN_KIND.LN_K_SYSCALL, [[T.LN_T_TUPLE, 0, Buffer.alloc(LN_SOCK_TUPLE.SIZEOF)]]);
    assert.equal(walk(batch([whole])).corrupt, 0);
  });

  // Broke: a last frame of fewer bytes than a record header threw RangeError from the getters.
  test("a last frame shorter than a record header is counted, not thrown", () => {
    const tiny = Buffer.alloc(10, 1);
    const { events, corrupt } = walk(batch([good("/a"), tiny]));
    assert.equal(corrupt, 1);
    assert.deepEqual(paths(events), ["/a"]);
    // the batch buffer ends right after the short frame (no padding to read instead)
    const exact = batch([good("/a"), tiny]).subarray(0, -6);
    assert.equal(walk(Buffer.from(exact)).corrupt, 1);
  });

  // Broke: (len + 7) & ~7 wrapped for a length near 2^32, the offset went backwards and the
  // walk never ended.
  test("a frame length near 2^32 ends the walk after the records before it", () => {
    for (const len of [0xffffffff, 0xfffffff1, 0xfffffff8, 0xfffffff9, 0x80000000, 0x7ffffffc]) {
      const { events, corrupt } = walk(batch([good("/a"), good("/b"), good("/c")], [undefined, len]));
      assert.equal(corrupt, 1, `len ${len}`);
      assert.deepEqual(paths(events), ["/a"]);
    }
  });

  test("bytes beyond the buffer, trailing fragments and empty batches", () => {
    const b = batch([good("/a")]);
    assert.deepEqual(walk(b, b.length + 4096).events.length, 1);
    assert.equal(walk(Buffer.concat([b, Buffer.alloc(5)])).corrupt, 1);
    assert.deepEqual(walk(Buffer.alloc(0)), { events: [], corrupt: 0 });
  });

  // Broke: about twenty getters threw out-of-bounds errors when a length pointed past the
  // batch. Every length field of a record with several tails is now set to every boundary
  // value: nothing throws, the damaged record is either sound or counted, the record after
  // it always arrives.
  test("every length field at every boundary value: counted or sound, never thrown", () => {
    const victim = record(LN_KIND.LN_K_SYSCALL, [
      path("/etc/passwd"),
      [T.LN_T_DIR, 1, Buffer.from("/\0")],
      [T.LN_T_FILE, 6, Buffer.alloc(16)],
      [T.LN_T_ENTER_TS, 7, Buffer.alloc(8)],
      [T.LN_T_POLLFDS, 0, Buffer.alloc(16)],
    ]);
    const fields: [number, 1 | 2 | 4][] = [
      [LN_HDR.SIZE, 2],
      [LN_HDR.KIND, 2],
      [LN_HDR.NTAILS, 1],
    ];
    for (let o = LN_SYSCALL.SIZEOF, i = 0; i < 5; i++) {
      fields.push([o, 2]); // tail length
      fields.push([o + 2, 1]); // tail kind
      o += 4 + victim.readUInt16LE(o);
    }
    const values = [0, 1, 3, 4, 7, 8, 15, 16, 23, 24, 47, 48, 103, 104, 105, 0x7f, 0xff, 0x7fff, 0xffff];
    let cases = 0;
    for (const [off, width] of fields) {
      for (const val of values) {
        const r = Buffer.from(victim);
        if (width === 1) r.writeUInt8(val & 0xff, off);
        else r.writeUInt16LE(val & 0xffff, off);
        const { events, corrupt } = walk(batch([r, good("/after")]));
        const last = events[events.length - 1];
        assert.ok(last?.kind === "syscall" && last.paths.get(1) === "/after", `field ${off}=${val}`);
        assert.equal(events.length + corrupt, 2, `field ${off}=${val}`);
        cases++;
      }
    }
    // A lying frame length loses the framing of what follows (nothing marks where the next
    // record starts): the walk still ends, counts it, and throws nothing.
    for (const frameLen of [
      0,
      1,
      23,
      24,
      victim.length - 1,
      victim.length + 1,
      victim.length + 8,
      1 << 20,
      0xffffffff,
    ]) {
      const { corrupt } = walk(batch([victim, good("/after"), good("/after2")], [frameLen]));
      assert.ok(corrupt >= 1, `frame length ${frameLen}`);
      cases++;
    }
    assert.ok(cases > 250);
  });

  test("the new tails decode with their values and lengths", () => {
    const fi = Buffer.alloc(16);
    fi.writeBigUInt64LE(1234567n, 0);
    fi.writeUInt32LE((259 << 20) | 0x10203, 8); // major 259, minor 0x10203
    fi.writeUInt32LE(2, 12); // lower layer
    const ts = Buffer.alloc(8);
    ts.writeBigUInt64LE(5_000_000_000n - 4321n, 0);
    const pfd = Buffer.alloc(16);
    pfd.writeInt32LE(-1, 0);
    pfd.writeInt16LE(1, 4);
    pfd.writeInt16LE(0, 6);
    pfd.writeInt32LE(5, 8);
    pfd.writeUInt16LE(0x8001, 12);
    pfd.writeUInt16LE(0x11, 14);
    const ev = walk(
      batch([
        record(LN_KIND.LN_K_SYSCALL, [
          [T.LN_T_ENTER_TS, 7, ts],
          [T.LN_T_FILE, 6, fi],
          [T.LN_T_POLLFDS, 0, pfd],
          [T.LN_T_ENV, 7, Buffer.from("A=1\0B=two\0")],
        ]),
      ]),
    ).events[0] as SyscallEvent;
    assert.equal(ev.latencyNs, 4321);
    // user-space dev_t: minor low byte, major << 8, minor high bits << 12 (stat's st_dev)
    assert.deepEqual(ev.fileInfo, {
      dev: 0x03 | (259 << 8) | (0x102 << 20),
      ino: 1234567,
      upper: false,
      lower: true,
    });
    assert.deepEqual(ev.pollFds, [
      { fd: -1, events: 1, revents: 0 },
      { fd: 5, events: 0x8001, revents: 0x11 },
    ]);
    assert.deepEqual(ev.env, ["A=1", "B=two"]);
    // a POLLFDS tail that is not a whole number of entries is corrupt
    assert.equal(
      walk(batch([record(LN_KIND.LN_K_SYSCALL, [[T.LN_T_POLLFDS, 0, Buffer.alloc(12)]])])).corrupt,
      1,
    );
    // an entry stamp after the exit gives no latency rather than a negative one
    ts.writeBigUInt64LE(5_000_000_001n, 0);
    const late = walk(batch([record(LN_KIND.LN_K_SYSCALL, [[T.LN_T_ENTER_TS, 7, ts]])]))
      .events[0] as SyscallEvent;
    assert.equal(late.latencyNs, null);
  });

  test("a view pointed outside its buffer is not a record", () => {
    const b = batch([good("/a")]);
    const v = new RecordView(b);
    v.off = b.length - 4;
    v.len = 104;
    assert.equal(recordValid(v), false);
    assert.equal(decodeRecord(v), null);
    v.off = -8;
    assert.equal(recordValid(v), false);
  });
});
