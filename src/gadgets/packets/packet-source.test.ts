/**
 * Records of program.bpf.c decoded with the generated layout: addresses, ports, the owner's
 * header or only the cgroup, and malformed lengths refused.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LNG_PKT, LNG_PKT_DIR, LNG_PKT_FLAG } from "./layout.generated.js";
import { decodePacket, packetEvent } from "./packet-source.js";

function record(o: { flags: number; family: 4 | 6; dir: number; payload: Buffer; plen?: number }): Buffer {
  const b = Buffer.alloc(LNG_PKT.SIZEOF + o.payload.length);
  b.writeBigUInt64LE(123_456_789n, LNG_PKT.HDR_TS);
  b.writeBigUInt64LE(77n, LNG_PKT.HDR_CGROUP_ID);
  b.writeUInt32LE(4242, LNG_PKT.HDR_PID);
  b.writeUInt32LE(4243, LNG_PKT.HDR_TID);
  b.writeUInt32LE(1, LNG_PKT.HDR_PPID);
  b.writeUInt32LE(1000, LNG_PKT.HDR_UID);
  b.writeUInt32LE(1001, LNG_PKT.HDR_GID);
  b.write("resolver", LNG_PKT.HDR_COMM);
  b.writeBigUInt64LE(0xc00c1en, LNG_PKT.COOKIE);
  b.writeUInt32LE(0xfffffff0, LNG_PKT.SEQ);
  b.writeUInt32LE(o.plen ?? o.payload.length, LNG_PKT.PAYLOAD_LEN);
  b.writeUInt16LE(o.payload.length, LNG_PKT.CAP_LEN);
  b.writeUInt16LE(40000, LNG_PKT.SPORT);
  b.writeUInt16LE(53, LNG_PKT.DPORT);
  b[LNG_PKT.FAMILY] = o.family;
  b[LNG_PKT.PROTO] = 17;
  b[LNG_PKT.DIR] = o.dir;
  b[LNG_PKT.FLAGS] = o.flags;
  if (o.family === 4) {
    b.set([10, 0, 0, 7], LNG_PKT.SADDR);
    b.set([10, 96, 0, 10], LNG_PKT.DADDR);
  } else {
    b[LNG_PKT.SADDR + 15] = 1;
    b.set([0xfd, 0], LNG_PKT.DADDR);
    b[LNG_PKT.DADDR + 15] = 0x35;
  }
  o.payload.copy(b, LNG_PKT.SIZEOF);
  return b;
}

test("an owned IPv4 egress record", () => {
  const b = record({
    flags: LNG_PKT_FLAG.LNG_PKT_OWNED,
    family: 4,
    dir: LNG_PKT_DIR.LNG_DIR_EGRESS,
    payload: Buffer.from("abc"),
  });
  const p = decodePacket(b, 0, b.length);
  assert.ok(p);
  assert.equal(p.owned, true);
  assert.equal(p.egress, true);
  assert.equal(p.proto, "udp");
  assert.equal(p.src, "10.0.0.7");
  assert.equal(p.dst, "10.96.0.10");
  assert.equal(p.sport, 40000);
  assert.equal(p.dport, 53);
  assert.equal(p.seq, 0xfffffff0);
  assert.equal(p.cookie, 0xc00c1en);
  assert.equal(p.data.toString(), "abc");
  assert.equal(p.header.pid, 4242);
  assert.equal(p.header.comm, "resolver");
  const ev = packetEvent(p, 5, { "dns.id": 1 });
  assert.equal(ev.pid, 4242);
  assert.equal(ev.tid, 4243);
  assert.equal(ev.cgroupId, 77n);
  assert.equal(ev.ts, 5);
  assert.equal(ev.fields["proc.name"], "resolver");
  assert.equal(ev.fields["user.uid"], 1000);
  assert.equal(ev.fields["dns.id"], 1);
});

test("an IPv6 ingress record of a socket no process was seen with: its cgroup only", () => {
  const b = record({
    flags: LNG_PKT_FLAG.LNG_PKT_CONT,
    family: 6,
    dir: LNG_PKT_DIR.LNG_DIR_INGRESS,
    payload: Buffer.from("xy"),
    plen: 9000,
  });
  const p = decodePacket(b, 0, b.length);
  assert.ok(p);
  assert.equal(p.owned, false);
  assert.equal(p.egress, false);
  assert.equal(p.cont, true);
  assert.equal(p.src, "::1");
  assert.equal(p.dst, "fd00::35");
  assert.equal(p.payloadLen, 9000);
  assert.equal(p.data.length, 2);
  const ev = packetEvent(p, 9, {});
  assert.deepEqual(ev, { pid: 0, cgroupId: 77n, ts: 9, fields: {} });
});

test("a record shorter than its header or its copied bytes is refused", () => {
  const b = record({ flags: 0, family: 4, dir: 0, payload: Buffer.from("abcdef") });
  assert.equal(decodePacket(b, 0, LNG_PKT.SIZEOF - 1), null);
  assert.equal(decodePacket(b, 0, b.length - 1), null);
  assert.ok(decodePacket(b, 0, b.length));
});
