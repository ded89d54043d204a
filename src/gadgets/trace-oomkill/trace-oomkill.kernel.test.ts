/**
 * trace oomkill on real containerd containers with a memory limit: a process holding 60 MB
 * of a 96 MiB limit is killed when another one allocates 50 MB; the event names the killed
 * process (pid, name), the one whose allocation triggered the kill, the limit in pages, and
 * the killed process's container; each selection gets exactly its pods' kills, a pod started
 * after the gadget included.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
} from "../../../test/helpers/containerd.js";
import { runGadget, startGadget, type GadgetEvent } from "../../../test/helpers/gadget.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";
import { kernelPageSize, nodePages } from "./trace-oomkill.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip = kernelSkip ?? (avail.ok ? null : avail.reason);
if (skip) console.log(`# SKIP trace oomkill kernel tests: ${skip}`);

const tag = randomBytes(3).toString("hex");
const NS_A = `oom-a-${tag}`;
const NS_B = `oom-b-${tag}`;
const LIMIT = 96 << 20;
const PAGE = kernelPageSize();

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** The container's process with this command line (waits for it). busybox dd rewrites its
 * arguments in place (`if=x` reads `if x`): `=` matches a space too. */
async function processWith(tc: TestContainers, c: RunningContainer, cmd: string): Promise<number> {
  const norm = (s: string): string => s.replace(/=/g, " ");
  for (let i = 0; i < 200; i++) {
    const hit = (await tc.pids(c)).find((p) => norm(cmdline(p)) === norm(cmd));
    if (hit !== undefined) return hit;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`container ${c.id}: no process '${cmd}'`);
}

/**
 * In `c`: a holder (dd keeping a 60 MB buffer: it blocks writing it to a FIFO nobody reads)
 * and a trigger that, on go(), allocates a 50 MB buffer: together past the 96 MiB limit.
 */
async function oomWorkload(
  tc: TestContainers,
  c: RunningContainer,
): Promise<{ holder: number; trigger: number; go: () => Promise<void> }> {
  const id = randomBytes(6).toString("hex");
  const fifo = `/tmp/lanner-oom-${id}`;
  const gate = `/tmp/lanner-oom-go-${id}`;
  const hold = "/bin/dd if=/dev/zero bs=60000000 count=1";
  await tc.execDetached(c, [
    "/bin/sh",
    "-c",
    `mkfifo ${fifo}; (rm ${fifo}; sleep 3600) < ${fifo} & exec ${hold} > ${fifo}`,
  ]);
  const holder = await processWith(tc, c, hold);
  // the holder has its 60 MB once its RSS says so
  for (let i = 0; i < 100; i++) {
    const rss = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${holder}/status`, "utf8"))?.[1] ?? 0);
    if (rss > 55_000) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const alloc = "/bin/dd if=/dev/zero of=/dev/null bs=50000000 count=1";
  const script = `while [ ! -e ${gate} ]; do sleep 0.05; done; rm ${gate}; exec ${alloc}`;
  await tc.execDetached(c, ["/bin/sh", "-c", script]);
  const trigger = await processWith(tc, c, `/bin/sh -c ${script}`);
  return { holder, trigger, go: async () => void (await tc.exec(c, ["/bin/touch", gate])) };
}

describe("trace oomkill", { skip: skip ?? false, timeout: 180_000 }, () => {
  let tc: TestContainers;
  before(() => {
    tc = new TestContainers();
  });
  after(async () => {
    await tc.cleanup();
  });

  test("kills in a memory-limited pod: killed and triggering process, limit, container; per selection", async () => {
    const podA = await tc.startPod({ name: `hog-${tag}`, namespace: NS_A });
    const podB = await tc.startPod({ name: `other-${tag}`, namespace: NS_B });
    const cA = await tc.start({ name: "hog", pod: podA, memoryLimit: LIMIT });
    const cB = await tc.start({ name: "other", pod: podB, memoryLimit: LIMIT });
    const byNs = await startGadget(["trace", "oomkill", "-n", NS_A, "-o", "json"]);
    const byPod = await startGadget(["trace", "oomkill", "-p", `other-${tag}`, "-o", "json"]);
    try {
      const a = await oomWorkload(tc, cA);
      const b = await oomWorkload(tc, cB);
      await a.go();
      await b.go();
      // a pod started after the gadget, whose first process runs out of memory at once
      const podL = await tc.startPod({ name: `late-${tag}`, namespace: NS_A });
      const cLate = await tc.start({
        name: "late",
        pod: podL,
        memoryLimit: 32 << 20,
        command: ["/bin/sh", "-c", "/bin/dd if=/dev/zero of=/dev/null bs=100000000 count=1; sleep 3600"],
      });
      assert.ok(
        await byNs.waitFor((e) => e["oomkill.kpid"] === a.holder, 20000),
        `A's kill: ${byNs.stderr()}`,
      );
      assert.ok(
        await byNs.waitFor((e) => e["container.name"] === "late", 20000),
        `the later pod's kill: ${byNs.stderr()}`,
      );
      assert.ok(
        await byPod.waitFor((e) => e["oomkill.kpid"] === b.holder, 20000),
        `B's kill: ${byPod.stderr()}`,
      );
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await byNs.stop(), 0, byNs.stderr());
      assert.equal(await byPod.stop(), 0, byPod.stderr());

      const kills = byNs.events.filter((e) => e["oomkill.kpid"] === a.holder);
      assert.equal(kills.length, 1, JSON.stringify(byNs.events));
      const k = kills[0] as GadgetEvent;
      assert.equal(k["oomkill.kcomm"], "dd");
      assert.equal(k["oomkill.kuid"], 0);
      assert.equal(k["proc.pid"], a.trigger, "the process whose allocation failed");
      assert.equal(k["proc.name"], "dd");
      assert.equal(k["oomkill.pages"], LIMIT / PAGE, "the container's limit in pages");
      assert.equal(k["oomkill.pages_from"], "memcg_limit");
      const rss = Number(k["oomkill.rss"]);
      assert.ok(rss * PAGE >= 55_000_000 && rss * PAGE <= LIMIT, `the holder's resident pages: ${rss}`);
      assert.equal(k["container.name"], "hog");
      assert.equal(k["container.id"], cA.id.slice(0, 12));
      assert.equal(k["k8s.pod.name"], `hog-${tag}`);
      assert.equal(k["k8s.ns.name"], NS_A);
      assert.ok(k["evt.time"] !== null);

      const late = byNs.events.filter((e) => e["container.name"] === "late");
      assert.equal(late.length, 1, JSON.stringify(late));
      const l = late[0] as GadgetEvent;
      assert.equal(l["k8s.pod.name"], `late-${tag}`);
      assert.equal(l["oomkill.kcomm"], "dd");
      assert.equal(l["proc.pid"], l["oomkill.kpid"], "dd triggered its own kill");
      assert.equal(l["proc.ppid"], cLate.pid, "the container's first process ran dd");
      assert.equal(l["proc.pname"], "sh", "its parent's name, from the kernel");
      assert.equal(l["oomkill.pages"], (32 << 20) / PAGE);

      for (const e of byNs.events) assert.equal(e["k8s.ns.name"], NS_A, `only ${NS_A}: ${JSON.stringify(e)}`);
      assert.equal(byPod.events.length, 1, JSON.stringify(byPod.events));
      assert.equal(byPod.events[0]?.["oomkill.kpid"], b.holder);
      assert.equal(byPod.events[0]?.["proc.pid"], b.trigger);
      assert.equal(byPod.events[0]?.["k8s.pod.name"], `other-${tag}`);
    } finally {
      await byNs.stop();
      await byPod.stop();
    }
  });

  test("a node-wide OOM counts RAM and swap; bad input is exit 2", async () => {
    const meminfo = "MemTotal:       24730624 kB\nMemFree:  1 kB\nSwapTotal:       1048576 kB\n";
    assert.equal(nodePages(meminfo, 4096), (24730624 + 1048576) / 4);
    assert.equal(nodePages("MemTotal: 8 kB\n", 4096), 2);
    assert.equal(nodePages("nothing\n", 4096), null);
    for (const [args, re] of [
      [["trace", "oomkill", "--pages"], /Unknown option '--pages'/],
      [["trace", "oomkill", "-o", "columns=oomkill.nope"], /unknown column 'oomkill.nope'/],
      [["trace", "oomkill", "--filter", "oomkill.pages>"], /--filter:1:/],
    ] as const) {
      const r = await runGadget(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });
});
