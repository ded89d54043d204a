/** Users of a real container come from the container's own /etc/passwd. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  containerdAvailable,
  ROOTFS_USERS,
  TestContainers,
  type RunningContainer,
} from "../../../test/helpers/containerd.js";
import { UserResolver } from "./user-resolver.js";

const avail = await containerdAvailable();
if (!avail.ok) console.log(`# skipping user kernel tests: ${avail.reason}`);

describe("UserResolver with a real container", { skip: avail.ok ? false : avail.reason }, () => {
  let tc: TestContainers;
  let c: RunningContainer;
  before(async () => {
    tc = new TestContainers();
    c = await tc.start({ name: "users" });
  });
  after(async () => tc?.cleanup());

  it("resolves a uid from the container's passwd, not the host's", async () => {
    const r = new UserResolver();
    const u = ROOTFS_USERS.app;
    const pid = await tc.execDetached(c, ["/bin/sleep", "30"], { user: String(u.uid) });
    assert.deepEqual(r.user(u.uid, pid, c.id), { uid: u.uid, name: u.name, homedir: u.home, shell: u.shell });
    assert.deepEqual(r.group(u.gid, pid, c.id), { gid: u.gid, name: u.name });
    assert.equal(r.user(u.uid).name, null, "the host has no such user");
    assert.equal(r.user(0, pid, c.id).shell, "/bin/sh", "container root's shell");
    assert.equal(r.user(0).name, "root");
  });
});
