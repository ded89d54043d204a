// `lanner doctor` reports only what Lanner uses: every program/map probe stands for a type
// the capture object is actually built from, and tests that same type.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { BpfObject, MapType } from "../native/index.js";
import { PROGRAM_PROBES } from "./features.js";
import { bpfObjectPath, packageRoot } from "./paths.js";

const built =
  existsSync(bpfObjectPath("capture")) &&
  existsSync(bpfObjectPath("probe")) &&
  existsSync(join(packageRoot(), "build/Release/lanner.node"));
const skip = built ? false : "BPF objects or the native addon not built (make build)";

/** libbpf's section kind: `tp_btf/sys_enter` -> `tp_btf`. */
const kindOf = (section: string): string => section.split("/")[0] ?? section;

function kinds(path: string): { progs: Map<string, string>; progKinds: Set<string>; ringbuf: Set<string> } {
  const obj = BpfObject.open(path);
  try {
    const progs = new Map(obj.programs().map((p) => [p.name, kindOf(p.section)]));
    const ringbuf = new Set(
      obj
        .maps()
        .filter((m) => m.type === MapType.RINGBUF)
        .map((m) => m.name),
    );
    return { progs, progKinds: new Set(progs.values()), ringbuf };
  } finally {
    obj.close();
  }
}

test("every probe doctor reports is of a type the capture programs are built from", { skip }, () => {
  const capture = kinds(bpfObjectPath("capture"));
  const probe = kinds(bpfObjectPath("probe"));
  assert.ok(PROGRAM_PROBES.length > 0);
  for (const p of PROGRAM_PROBES) {
    assert.ok(probe.progs.has(p.prog), `${p.prog} is in probe.bpf.o`);
    if (p.kind === "map:ringbuf") {
      assert.ok(capture.ringbuf.size > 0, "the capture object has a ring buffer");
      assert.ok(probe.ringbuf.size > 0, `${p.prog}'s object has a ring buffer`);
      continue;
    }
    assert.equal(probe.progs.get(p.prog), p.kind, `${p.prog} probes ${p.kind}`);
    assert.ok(capture.progKinds.has(p.kind), `${p.id}: capture.bpf.o has ${p.kind} programs`);
  }
  // and the other way round: every kind of capture program is probed
  const probed = new Set(PROGRAM_PROBES.map((p) => p.kind));
  for (const k of capture.progKinds) assert.ok(probed.has(k), `capture's ${k} programs are probed`);
});
