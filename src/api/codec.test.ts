/**
 * The node API's codec: what the CLI parsed survives the wire (through the real protobuf
 * encoding of node.proto), and a peer's malformed message is refused naming the field.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { MethodDefinition } from "@grpc/grpc-js";
import { loadServices } from "../outputs/grpc/proto.js";
import {
  bpftraceCallFromProto,
  bpftraceCallToProto,
  CodecError,
  gadgetCallFromProto,
  gadgetCallToProto,
  recordFromProto,
  recordToProto,
  statsFromProto,
  statsToProto,
  statusFromProto,
  statusToProto,
} from "./codec.js";
import type { GadgetCall, NodeStatus } from "./node-types.js";

const node = loadServices().node as unknown as Record<string, MethodDefinition<unknown, unknown>>;
const runGadget = node["RunGadget"] as MethodDefinition<unknown, unknown>;
const bpftrace = node["Bpftrace"] as MethodDefinition<unknown, unknown>;
const status = node["Status"] as MethodDefinition<unknown, unknown>;

/** request: client-side encoding, server-side decoding (as on the wire) */
const wireRequest = (m: MethodDefinition<unknown, unknown>, v: unknown): unknown =>
  m.requestDeserialize(m.requestSerialize(v));
/** response: server-side encoding, client-side decoding */
const wireResponse = (m: MethodDefinition<unknown, unknown>, v: unknown): unknown =>
  m.responseDeserialize(m.responseSerialize(v));

test("a gadget call survives the wire: parameters of every type, selection, sort, limits", () => {
  const call: GadgetCall = {
    category: "trace",
    name: "open",
    params: { failed: true, prefixes: ["/etc", "/var"], pid: 42, mode: "r", absent: undefined },
    selection: {
      namespaces: ["shop", "!kube-system"],
      allNamespaces: false,
      pods: ["web-1"],
      containers: ["main"],
      labels: [
        { key: "app", value: "web", negate: false },
        { key: "canary", value: undefined, negate: true },
      ],
      host: true,
    },
    filter: 'proc.name = "sh"',
    sort: ["-proc.pid", "proc.name"],
    maxRows: 7,
    intervalS: 0.5,
    timeoutS: 12.5,
  };
  const back = gadgetCallFromProto(wireRequest(runGadget, gadgetCallToProto(call)));
  assert.deepEqual(back, {
    ...call,
    params: { failed: true, prefixes: ["/etc", "/var"], pid: 42, mode: "r" },
  });
});

test("a gadget call with nothing optional: absent stays absent", () => {
  const call: GadgetCall = {
    category: "snapshot",
    name: "process",
    params: {},
    selection: { namespaces: [], allNamespaces: true, pods: [], containers: [], labels: [], host: false },
  };
  const back = gadgetCallFromProto(wireRequest(runGadget, gadgetCallToProto(call)));
  assert.deepEqual(back, {
    ...call,
    filter: undefined,
    sort: undefined,
    maxRows: undefined,
    intervalS: undefined,
    timeoutS: undefined,
  });
});

test("malformed requests are refused naming the field", () => {
  assert.throws(
    () => gadgetCallFromProto({ category: "watch", name: "exec" }),
    (e: unknown) =>
      e instanceof CodecError && e.message === "category: expected trace, top or snapshot, got 'watch'",
  );
  assert.throws(
    () => gadgetCallFromProto({ category: "trace", name: "exec", selection: { pods: "web" } }),
    /^CodecError: selection\.pods: expected a list of strings$/,
  );
  assert.throws(
    () => gadgetCallFromProto({ category: "trace", name: "exec", selection: { labels: [{ key: "" }] } }),
    /selection\.labels\[0\]: empty key/,
  );
  assert.throws(
    () => gadgetCallFromProto({ category: "trace", name: "exec", params: { pid: { int_value: "1e30" } } }),
    /--pid: integer out of range/,
  );
  assert.throws(
    () => gadgetCallFromProto({ category: "top", name: "process", interval_seconds: -1 }),
    /--interval: expected a positive number of seconds/,
  );
  assert.throws(() => bpftraceCallFromProto({ program: "  " }), /program: empty/);
  assert.throws(
    () => bpftraceCallFromProto({ program: "BEGIN{}", format: "yaml" }),
    /format: expected text or json, got 'yaml'/,
  );
});

test("records keep every value type the CLI prints (bytes as their text, big integers exact)", () => {
  const rec = {
    "proc.pid": 4242,
    "proc.name": "sh",
    "proc.args": ["-c", "echo hi"],
    "fd.name": null,
    "evt.rawres": -2,
    "cpu.pct": 12.25,
    "container.privileged": false,
    "cgroup.id": 2n ** 62n,
    huge: 2n ** 70n,
    "evt.buffer": new Uint8Array([0x68, 0x69, 0xff]),
    absent: undefined,
  };
  const msg = wireResponse(runGadget, { event: recordToProto(rec) }) as Record<string, unknown>;
  assert.equal(msg["kind"], "event");
  assert.deepEqual(recordFromProto(msg["event"]), {
    "proc.pid": 4242,
    "proc.name": "sh",
    "proc.args": ["-c", "echo hi"],
    "fd.name": null,
    "evt.rawres": -2,
    "cpu.pct": 12.25,
    "container.privileged": false,
    "cgroup.id": 2n ** 62n,
    huge: (2n ** 70n).toString(),
    "evt.buffer": "hi\u00ff",
    absent: null,
  });
});

test("stats and status survive the wire", () => {
  const st = { produced: 10, delivered: 7, unselected: 2, filtered: 1, lost: 3 };
  const m = wireResponse(runGadget, { stats: statsToProto(st) }) as Record<string, unknown>;
  assert.equal(m["kind"], "stats");
  assert.deepEqual(statsFromProto(m["stats"]), st);
  const s: NodeStatus = {
    node: "n1",
    version: "0.1.0",
    kernel: "6.18.0",
    features: [
      { name: "btf:vmlinux", available: true, detail: "CO-RE" },
      { name: "prog:lsm", available: false, detail: "EPERM" },
    ],
    captureMode: "selected",
    capturePrograms: 31,
    rules: 25,
    events: 123456789012,
    alerts: 4,
    drops: 0,
    gadgetsRunning: 2,
    uptimeSeconds: 12.5,
  };
  assert.deepEqual(statusFromProto(wireResponse(status, statusToProto(s))), s);
});

test("a bpftrace call survives the wire; an empty scope is the node", () => {
  const c = {
    program: "tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }",
    programName: "-e",
    pod: "web-1",
    namespace: "shop",
    container: "main",
    format: "json" as const,
    timeoutS: 3,
  };
  assert.deepEqual(bpftraceCallFromProto(wireRequest(bpftrace, bpftraceCallToProto(c))), c);
  const bare = { program: "BEGIN { exit(); }", programName: "x.bt", format: "text" as const };
  assert.deepEqual(bpftraceCallFromProto(wireRequest(bpftrace, bpftraceCallToProto(bare))), {
    ...bare,
    pod: undefined,
    namespace: undefined,
    container: undefined,
    timeoutS: undefined,
  });
});
