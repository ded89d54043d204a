import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
