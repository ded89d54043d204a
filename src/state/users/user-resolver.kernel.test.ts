/**
 * Users of a real container come from the container's own /etc/passwd; a host uid removed
 * and re-created under another name by the real useradd/userdel resolves to the new name,
 * directly and in a running agent's alerts.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AgentProcess } from "../../../test/helpers/agent.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";
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

const USERADD = "/usr/sbin/useradd";
const USERDEL = "/usr/sbin/userdel";
const accountsSkip =
  process.getuid?.() !== 0
    ? "useradd/userdel need root"
    : !existsSync(USERADD) || !existsSync(USERDEL)
      ? `${USERADD} or ${USERDEL} missing (Debian package passwd)`
      : null;
if (accountsSkip !== null) console.log(`# skipping account swap tests: ${accountsSkip}`);

/** A uid no account has, in the range 61000-61999. */
function freeUid(): number {
  const used = new Set(
    readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .map((l) => Number(l.split(":")[2])),
  );
  for (let i = 0; i < 1000; i++) {
    const uid = 61000 + ((process.pid + i) % 1000);
    if (!used.has(uid)) return uid;
  }
  throw new Error("no free uid in 61000-61999");
}

describe("a uid removed and re-created (useradd/userdel)", { skip: accountsSkip ?? false }, () => {
  const tag = (process.pid % 100000).toString(36);
  const created: string[] = [];
  const add = (name: string, uid: number): void => {
    // a system account: no home, no user group, no subordinate ids
    execFileSync(
      USERADD,
      ["-r", "-M", "-N", "-u", String(uid), "-d", "/nonexistent", "-s", "/usr/sbin/nologin", name],
      { stdio: "pipe" }, // it warns that the uid is above SYS_UID_MAX
    );
    created.push(name);
  };
  const del = (name: string): void => {
    execFileSync(USERDEL, [name], { stdio: "pipe" });
    created.splice(created.indexOf(name), 1);
  };
  after(() => {
    for (const n of created) {
      try {
        execFileSync(USERDEL, ["-f", n], { stdio: "ignore" });
      } catch {
        console.log(`# could not remove test account ${n}`);
      }
    }
  });
  /** A process running as `uid`, once it runs; `stop` kills it and waits for its end. */
  const runAs = async (
    uid: number,
    file: string,
    args: string[],
  ): Promise<{ pid: number; stop(): Promise<void> }> => {
    const child = spawn(file, args, { uid, gid: 65534, stdio: "ignore" });
    const exited = new Promise<void>((res) => child.once("exit", () => res()));
    await new Promise<void>((res, rej) => {
      child.once("spawn", res);
      child.once("error", rej);
    });
    return {
      pid: child.pid ?? -1,
      stop: async () => {
        child.kill();
        await exited;
      },
    };
  };

  it("the real resolver: a process of the new account right after the swap has the new name", async () => {
    const uid = freeUid();
    const [oldName, newName] = [`lnold${tag}`, `lnnew${tag}`];
    const r = new UserResolver();
    add(oldName, uid);
    const p1 = await runAs(uid, "/bin/sleep", ["30"]);
    assert.equal(r.user(uid, p1.pid, "host").name, oldName);
    await p1.stop(); // userdel refuses an account that has processes
    del(oldName);
    add(newName, uid);
    const p2 = await runAs(uid, "/bin/sleep", ["30"]);
    assert.match(readFileSync(`/proc/${p2.pid}/status`, "utf8"), new RegExp(`^Uid:\\s+${uid}\\s`, "m"));
    assert.equal(r.user(uid, p2.pid, "host").name, newName);
    await p2.stop();
    del(newName);
    await new Promise((res) => setImmediate(res));
    assert.equal(r.user(uid).name, null, "no account: no name");
  });

  const kskip = kernelSkipReason();
  it(
    "lanner run: user.name of an exec right after the swap is the new account's",
    { skip: kskip ?? false },
    async () => {
      const uid = freeUid();
      const [oldName, newName] = [`lnold${tag}x`, `lnnew${tag}x`];
      const dir = mkdtempSync(join(tmpdir(), "lanner-users-"));
      const rules = join(dir, "rules.yaml");
      writeFileSync(
        rules,
        `- rule: Exec as the swapped uid
  desc: test
  condition: evt.type = execve and user.uid = ${uid}
  output: "exec by %user.name (uid=%user.uid pid=%proc.pid)"
  priority: WARNING
`,
      );
      add(oldName, uid);
      const agent = new AgentProcess(["--json", "-r", rules]);
      try {
        await agent.ready();
        const nameOf = async (pid: number): Promise<unknown> => {
          await agent.waitFor(
            () => agent.alerts.some((a) => a.output_fields["proc.pid"] === pid),
            `the alert of ${pid}`,
          );
          return agent.alerts.find((a) => a.output_fields["proc.pid"] === pid)?.output_fields["user.name"];
        };
        const first = await runAs(uid, "/bin/true", []);
        assert.equal(await nameOf(first.pid), oldName);
        await first.stop();
        // the agent has the host's files parsed; swap the account and exec at once
        del(oldName);
        add(newName, uid);
        assert.equal(await nameOf((await runAs(uid, "/bin/true", [])).pid), newName);
      } finally {
        assert.equal(await agent.stop(), 0, agent.stderr);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
