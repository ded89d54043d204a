/**
 * Regression: containerd keeps reporting the pid of a stopped task (a pod sandbox whose
 * process died and was not cleaned up), and the store took it for the container's: the pid
 * and the cgroup of whichever process the kernel gave that pid to next were mapped to the
 * container. A gadget then reported a host process (`trace exec`'s own test, on a machine
 * with such a leftover) as that pod's. A task's pid counts only while the task lives, and a
 * pid is tied to a container only when its process is in the container's cgroup.
 *
 * Real containerd; the process now holding the stale pid is a fake /proc entry.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
} from "../../../test/helpers/containerd.js";
import { ContainerStore } from "./container-store.js";

const avail = await containerdAvailable();
if (!avail.ok) console.log(`# SKIP stale task pid: ${avail.reason}`);
const skip = avail.ok ? false : avail.reason;

function taskLine(c: RunningContainer): string {
  const out = execFileSync("ctr", ["-n", c.namespace, "task", "ls"], { encoding: "utf8" });
  return out.split("\n").find((l) => l.startsWith(c.id)) ?? "";
}

describe("a stopped task's pid", { skip }, () => {
  let tc: TestContainers;
  let stale: RunningContainer;
  let stalePid = 0;
  const dir = mkdtempSync(join(tmpdir(), "lanner-stale-task-"));

  before(async () => {
    tc = new TestContainers();
    const pod = await tc.startPod({ name: "stale-task-1", namespace: "stale-task" });
    stale = await tc.start({ name: "stale-sleeper", pod });
    stalePid = stale.pid;
    // the task's process dies; the task is left STOPPED, still naming its pid
    execFileSync("ctr", ["-n", stale.namespace, "task", "kill", "-s", "SIGKILL", stale.id]);
    for (let i = 0; i < 100 && !/STOPPED/.test(taskLine(stale)); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.match(taskLine(stale), new RegExp(`${stalePid}\\s+STOPPED`), "containerd still reports the pid");
    // and the kernel gave the pid to a host process
    mkdirSync(join(dir, "proc", String(stalePid)), { recursive: true });
    writeFileSync(join(dir, "proc", String(stalePid), "cgroup"), "0::/user.slice/session-9.scope\n");
  });

  after(async () => {
    await tc?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is not taken for the container's: the process holding it now is the host's", async () => {
    const store = new ContainerStore({
      docker: false,
      cri: false,
      procRoot: join(dir, "proc"),
      logger: () => {},
    });
    try {
      store.start();
      assert.ok(await store.whenSynced(5000), "containerd listed");
      const rec = await store.fetch(stale.id, "containerd", true);
      assert.equal(rec?.fullId, stale.id, "the stopped container is known");
      assert.equal(rec?.initPid, null, "no init pid from a stopped task");
      assert.equal(store.byPid(stalePid)?.id, "host", "the pid's process is the host's");
    } finally {
      await store.close();
    }
  });
});
