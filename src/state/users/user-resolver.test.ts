import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseGroup, parsePasswd } from "./passwd.js";
import { UserResolver } from "./user-resolver.js";

describe("passwd/group parsing", () => {
  it("parses, keeps the first entry per id, skips malformed lines", () => {
    const p = parsePasswd(
      "root:x:0:0:root:/root:/bin/bash\n#c\nbad\nx:x:notnum:0::/:/bin/sh\ntoor:x:0:0::/:/bin/sh\nweb:x:33:33:www:/var/www:/usr/sbin/nologin\n",
    );
    assert.equal(p.size, 2);
    assert.deepEqual(p.get(0), {
      name: "root",
      uid: 0,
      gid: 0,
      gecos: "root",
      homedir: "/root",
      shell: "/bin/bash",
    });
    assert.equal(p.get(33)?.shell, "/usr/sbin/nologin");
    const g = parseGroup("root:x:0:\nadm:x:4:syslog,alice\n::5:\n");
    assert.deepEqual(g.get(4), { name: "adm", gid: 4, members: ["syslog", "alice"] });
    assert.equal(g.size, 2);
  });
});

describe("UserResolver (files)", () => {
  const dir = mkdtempSync(join(tmpdir(), "lanner-users-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const host = join(dir, "host");
  const proc = join(dir, "proc");
  mkdirSync(join(host, "etc"), { recursive: true });
  writeFileSync(
    join(host, "etc", "passwd"),
    "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/zsh\n",
  );
  writeFileSync(join(host, "etc", "group"), "root:x:0:\nalice:x:1000:\n");
  // pid 42: a container process with its own passwd; pid 43: a hostile container.
  mkdirSync(join(proc, "42", "root", "etc"), { recursive: true });
  writeFileSync(
    join(proc, "42", "root", "etc", "passwd"),
    "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin\n",
  );
  writeFileSync(join(proc, "42", "root", "etc", "group"), "nginx:x:101:\n");
  writeFileSync(join(proc, "42", "loginuid"), "4294967295");
  mkdirSync(join(proc, "7"), { recursive: true });
  writeFileSync(join(proc, "7", "loginuid"), "1000\n");
  mkdirSync(join(proc, "43", "root", "etc"), { recursive: true });
  execFileSync("mkfifo", [join(proc, "43", "root", "etc", "passwd")]);
  const logs: string[] = [];
  const r = new UserResolver({ hostRoot: host, procRoot: proc, logger: (m) => logs.push(m) });

  it("host users and groups", () => {
    assert.deepEqual(r.user(1000), { uid: 1000, name: "alice", homedir: "/home/alice", shell: "/bin/zsh" });
    assert.deepEqual(r.user(0, 1, "host"), { uid: 0, name: "root", homedir: "/root", shell: "/bin/bash" });
    assert.deepEqual(r.group(1000), { gid: 1000, name: "alice" });
    assert.deepEqual(r.user(4242), { uid: 4242, name: null, homedir: null, shell: null });
  });
  it("a container's own users", () => {
    assert.deepEqual(r.user(101, 42, "c0ffee"), {
      uid: 101,
      name: "nginx",
      homedir: "/var/cache/nginx",
      shell: "/sbin/nologin",
    });
    assert.equal(r.user(0, 42, "c0ffee").shell, "/bin/sh");
    assert.equal(r.user(1000, 42, "c0ffee").name, null, "host users are not container users");
    assert.equal(r.group(101, 42, "c0ffee").name, "nginx");
  });
  it("cached: a container file set is read once", () => {
    const before = r.reads;
    for (let i = 0; i < 100; i++) r.user(101, 42, "c0ffee");
    assert.equal(r.reads, before);
  });
  it("loginuid and loginname", () => {
    assert.equal(r.loginUid(42), -1);
    assert.equal(r.loginUid(7), 1000);
    assert.equal(r.loginName(1000), "alice");
    assert.equal(r.loginName(-1), null);
    assert.equal(r.loginUid(999999), null);
  });
  it("a FIFO planted as /etc/passwd does not block; logged once", () => {
    const t0 = Date.now();
    assert.equal(r.user(0, 43, "bad").name, null);
    r.forgetContainer("bad");
    assert.equal(r.user(0, 43, "bad").name, null);
    assert.ok(Date.now() - t0 < 500);
    assert.equal(logs.filter((l) => l.includes("not a regular file")).length, 1);
  });
  it("a process that vanished: no entry, no error", () => {
    assert.equal(r.user(0, 99999, "gone").name, null);
  });
});

describe("UserResolver follows the account files", () => {
  const dir = mkdtempSync(join(tmpdir(), "lanner-users-swap-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const etc = join(dir, "host", "etc");
  const cetc = join(dir, "proc", "50", "root", "etc");
  mkdirSync(etc, { recursive: true });
  mkdirSync(cetc, { recursive: true });
  /** As useradd/userdel do: write a new file beside it, rename it over the old one. */
  const replace = (path: string, text: string): void => {
    writeFileSync(`${path}+`, text);
    renameSync(`${path}+`, path);
  };
  const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));
  const ROOT = "root:x:0:0:root:/root:/bin/bash\n";
  replace(join(etc, "passwd"), `${ROOT}olduser:x:1001:1001::/home/olduser:/bin/bash\n`);
  replace(join(etc, "group"), "root:x:0:\nolduser:x:1001:\n");
  replace(join(cetc, "passwd"), "app:x:100:100::/app:/bin/sh\n");
  replace(join(cetc, "group"), "app:x:100:\n");
  const r = new UserResolver({ hostRoot: join(dir, "host"), procRoot: join(dir, "proc") });

  it("a uid removed and re-created under another name resolves to the new name", async () => {
    assert.equal(r.user(1001).name, "olduser");
    assert.equal(r.group(1001).name, "olduser");
    replace(join(etc, "passwd"), `${ROOT}sshd:x:1001:65534::/run/sshd:/usr/sbin/nologin\n`);
    replace(join(etc, "group"), "root:x:0:\nsshgrp:x:1001:\n");
    await nextTurn();
    assert.deepEqual(r.user(1001), {
      uid: 1001,
      name: "sshd",
      homedir: "/run/sshd",
      shell: "/usr/sbin/nologin",
    });
    assert.equal(r.group(1001).name, "sshgrp");
    assert.equal(r.loginName(1001), "sshd");
    replace(join(etc, "passwd"), ROOT);
    await nextTurn();
    assert.equal(r.user(1001).name, null, "userdel: the uid has no name any more");
  });

  it("a file rewritten in place (same inode, same size) is read again", async () => {
    writeFileSync(join(etc, "passwd"), `${ROOT}alice:x:1002:1002::/home/alice:/bin/sh\n`);
    await nextTurn();
    assert.equal(r.user(1002).name, "alice");
    await new Promise((res) => setTimeout(res, 5));
    writeFileSync(join(etc, "passwd"), `${ROOT}alicf:x:1002:1002::/home/alicf:/bin/sh\n`);
    await nextTurn();
    assert.equal(r.user(1002).name, "alicf");
  });

  it("a container's files (through /proc/PID/root) are checked the same way", async () => {
    assert.equal(r.user(100, 50, "ctr").name, "app");
    replace(join(cetc, "passwd"), "web:x:100:100::/srv:/bin/sh\n");
    await nextTurn();
    assert.equal(r.user(100, 50, "ctr").name, "web");
    // the process exited: what was read is kept, no error
    await nextTurn();
    assert.equal(r.user(100, 51, "ctr").name, "web");
  });

  it("lookups within one turn share one check; unchanged files are not read again", async () => {
    await nextTurn();
    r.user(0);
    r.user(100, 50, "ctr");
    const checks = r.checks;
    const reads = r.reads;
    for (let i = 0; i < 10_000; i++) {
      r.user(0);
      r.group(0);
      r.user(100, 50, "ctr");
    }
    assert.equal(r.checks, checks, "no stat per lookup");
    for (let t = 0; t < 5; t++) {
      await nextTurn();
      r.user(0);
      r.user(100, 50, "ctr");
    }
    assert.equal(r.checks, checks + 10, "one check per file set per turn");
    assert.equal(r.reads, reads, "unchanged files are not read again");
  });
});
