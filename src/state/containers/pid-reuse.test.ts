/**
 * Regression: the pid cache outlived the container process it was learnt from, so once pids
 * wrapped a host process with a reused pid was reported as the container's (a host SNI event
 * came out with a container id). With a cgroup id, a lookup never trusts the pid cache: pids
 * are reused, cgroup ids are not. (A fake /proc; no runtime.)
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ContainerStore } from "./container-store.js";

const dir = mkdtempSync(join(tmpdir(), "lanner-pid-reuse-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ID = "a".repeat(64);
const PID = 4242;
const procRoot = join(dir, "proc");
mkdirSync(join(procRoot, String(PID)), { recursive: true });

test("a reused pid with a cgroup id is looked up afresh, not in the cache", () => {
  const store = new ContainerStore({
    containerd: false,
    docker: false,
    cri: false,
    procRoot,
    cgroup: { root: null },
    logger: () => {},
  });
  // the container's process: learnt into the pid cache
  writeFileSync(join(procRoot, String(PID), "cgroup"), `0::/k8s.io/${ID}\n`);
  assert.equal(store.byPid(PID)?.fullId, ID);
  // it exits; a host process gets the same pid (its cgroup id is one the store does not know)
  writeFileSync(join(procRoot, String(PID), "cgroup"), "0::/user.slice/session-1.scope\n");
  assert.equal(store.lookup(PID, 987654321n)?.id, "host", "a cgroup id: /proc is read again");
  // and the fresh read replaced what the cache held for the pid
  assert.equal(store.lookup(PID)?.id, "host");
});
