/**
 * Falco's semantics of the syscall fields, on synthetic events through the real State and
 * the real registry (the kernel tests show the same on real workloads): both-ends fields and
 * negations, lists, raw names, exec flags, a failed exec, UDP peers, the environment, domain
 * names, and how several values are written in outputs.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { StateServices } from "../../state/services.js";
import { State } from "../../state/state.js";
import { exec, fork, PF_EXE_MEMFD, syscall, tcp4 } from "../../state/test-events.js";
import { contextFor, holds, rendered, snapshot } from "../../../test/helpers/fields.js";

const emptyProc = mkdtempSync(join(tmpdir(), "lanner-sem-"));

/** bash(100) -> sh(200) -> ssh(300) */
function family(): State {
  const s = new State({ procRoot: emptyProc });
  s.apply(exec(100, "/usr/bin/bash", ["bash"], { ppid: 1, sid: 100 }));
  s.apply(fork(100, 200, { comm: "bash" }));
  s.apply(exec(200, "/usr/bin/dash", ["sh", "-c", "ssh"], { ppid: 100 }));
  s.apply(fork(200, 300, { comm: "sh" }));
  s.apply(exec(300, "/usr/bin/ssh", ["ssh", "-p", "80", "203.0.113.10"], { ppid: 200 }));
  return s;
}

const OUTBOUND = {
  outbound: `((evt.type = connect or (evt.type in (sendto,sendmsg) and fd.l4proto != tcp and fd.connected=false and fd.name_changed=true))
    and (fd.typechar = 4 or fd.typechar = 6)
    and (fd.ip != "0.0.0.0" and fd.net != "127.0.0.0/8" and not fd.snet in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
    and (evt.rawres >= 0 or evt.res = EINPROGRESS))`,
};

describe("fields naming either end of a connection (fd.ip, fd.net, fd.port)", () => {
  const s = family();
  s.apply(syscall("socket", 300, { ret: 3, args: [2, 1, 6] }));
  // a connect from and to 203.0.113.10 (both ends in a namespace that owns the address)
  const connect = syscall("connect", 300, {
    args: [3],
    tuple: tcp4("203.0.113.10", 40000, "203.0.113.10", 80),
  });
  s.apply(connect);
  const ctx = contextFor(s);
  const h = (c: string) => holds(ctx, connect, c, OUTBOUND);

  test("!= holds when neither end is equal (was false: the outbound macro never held)", () => {
    assert.equal(h(`fd.ip != "0.0.0.0"`), true);
    assert.equal(h(`fd.net != "127.0.0.0/8"`), true);
    assert.equal(h(`fd.ip != "203.0.113.10"`), false);
    assert.equal(h(`fd.port != 80`), false);
    assert.equal(h(`fd.port != 22`), true);
    assert.equal(h("outbound"), true);
    assert.equal(
      h(
        "outbound and proc.exe endswith ssh and fd.l4proto=tcp and fd.sport in (80, 8080, 88, 443, 8443, 53, 4444)",
      ),
      true,
    );
  });

  test("= and in hold when either end matches; orderings for ports too", () => {
    assert.equal(h(`fd.ip = "203.0.113.10"`), true);
    assert.equal(h(`fd.net = "203.0.113.0/24"`), true);
    assert.equal(h("fd.port = 40000"), true);
    assert.equal(h("fd.port in (1, 80)"), true);
    assert.equal(h("fd.port > 39999"), true);
    assert.equal(h("not fd.port in (1, 80)"), false);
  });

  test("a loopback connection is not outbound", () => {
    const t = family();
    t.apply(syscall("socket", 300, { ret: 3, args: [2, 1, 6] }));
    const lo = syscall("connect", 300, { args: [3], tuple: tcp4("127.0.0.1", 40000, "127.0.0.1", 80) });
    t.apply(lo);
    assert.equal(holds(contextFor(t), lo, "outbound", OUTBOUND), false);
    assert.equal(holds(contextFor(t), lo, `fd.net != "127.0.0.0/8"`), false);
  });

  test("the both-ends fields are for conditions only", () => {
    assert.throws(() => rendered(ctx, connect, "%fd.ip"), /can only be used in conditions/);
  });
});

describe("several values: ancestors, lists, negations", () => {
  const s = family();
  s.apply(syscall("openat", 300, { ret: 3, paths: [[1, "/etc/hosts"]], args: [-100, 0, 0, 0] }));
  const ev = syscall("openat", 300, { ret: 4, paths: [[1, "/etc/passwd"]], args: [-100, 0, 0, 0] });
  s.apply(ev);
  const ctx = contextFor(s);
  const h = (c: string) => holds(ctx, ev, c);

  test("proc.aname without index: any ancestor, for every operator (as libsinsp)", () => {
    assert.equal(h("proc.aname = bash"), true);
    assert.equal(h("proc.aname != bash"), true, "dash is an ancestor that is not bash");
    assert.equal(h("proc.aname in (zsh, dash)"), true);
    assert.equal(h("not proc.aname in (zsh, dash)"), false);
    assert.equal(h("proc.aname pmatch (/x)"), false);
    assert.equal(h("not proc.aname contains ash"), false);
    assert.equal(h("proc.aname[1] = dash and proc.aname[2] = bash and proc.aname[0] = ssh"), true);
  });

  test("fd.types: in means every value, intersects one; other operators are rejected", () => {
    assert.equal(h("fd.types intersects (file)"), true);
    assert.equal(h("fd.types in (file)"), true);
    assert.equal(h("fd.types in (ipv4)"), false);
    assert.equal(h("fd.types[3] in (file)"), true);
    assert.throws(() => h("fd.types = file"), /only supports the operators exists, in and intersects/);
  });

  test("outputs write several values as libsinsp does (was: null in JSON)", () => {
    const r = rendered(ctx, ev, "a=%proc.aname t=%fd.types t3=%fd.types[3]");
    assert.equal(r.json["proc.aname"], "dash bash");
    assert.deepEqual(r.json["fd.types"], ["file"], "distinct types");
    assert.deepEqual(r.json["fd.types[3]"], ["file"]);
    assert.equal(r.text, "a=dash bash t=(file) t3=(file)");
  });
});

test("fd.nameraw: the path exactly as passed; fd.name made absolute", () => {
  const s = family();
  const ev = syscall("openat", 300, {
    ret: 3,
    paths: [[1, "../../etc/passwd"]],
    dirs: [[1, "/var/www"]],
    args: [-100, 0, 0, 0],
  });
  s.apply(ev);
  const f = snapshot(contextFor(s), ev);
  assert.equal(f["fd.nameraw"], "../../etc/passwd");
  assert.equal(f["fd.name"], "/etc/passwd");
  assert.equal(holds(contextFor(s), ev, "fd.nameraw contains '../' and fd.nameraw glob '*../*../*'"), true);
  // the raw name stays with the fd for later events on it
  const close = syscall("close", 300, { args: [3] });
  s.apply(close);
  assert.equal(snapshot(contextFor(s), close)["fd.nameraw"], "../../etc/passwd");
  // a failed open: fd.num -1, the path still named (Falco's open_file_failed)
  const failed = syscall("openat", 300, { ret: -2, paths: [[1, "/etc/../etc/nope"]], args: [-100, 0, 0, 0] });
  s.apply(failed);
  assert.equal(
    holds(
      contextFor(s),
      failed,
      "fd.typechar='f' and fd.num=-1 and evt.res startswith E and fd.name=/etc/nope",
    ),
    true,
  );
});

test("exec: evt.arg.flags as Falco renders it; a failed execve changes nothing about the process", () => {
  const s = family();
  s.apply(exec(300, "/memfd:x (deleted)", ["x"], { ppid: 200, flags: PF_EXE_MEMFD }));
  const ok = syscall("execve", 300, { ret: 0, paths: [[0, "/proc/self/fd/3"]] });
  s.apply(ok);
  assert.equal(snapshot(contextFor(s), ok)["evt.arg.flags"], "EXE_FROM_MEMFD");
  const t = family();
  const failed = { ...syscall("execve", 300, { ret: -2, paths: [[0, "/nope"]] }), argv: ["nope", "--evil"] };
  t.apply(failed);
  const f = snapshot(contextFor(t), failed);
  assert.equal(f["proc.cmdline"], "ssh -p 80 203.0.113.10", "the caller's command line");
  assert.equal(f["proc.exe"], "ssh");
  assert.equal(f["evt.arg.args"], "--evil.", "the failed call's own arguments, NULs shown as dots");
  assert.equal(f["evt.res"], "ENOENT");
});

test("fd.name_changed: a UDP datagram to a new peer renames an unconnected socket", () => {
  const s = family();
  s.apply(syscall("socket", 300, { ret: 5, args: [2, 2, 17] }));
  const udp = (peer: string, port: number) =>
    syscall("sendto", 300, {
      ret: 10,
      args: [5, 0, 10, 0, 1, 16],
      sockaddrs: [[4, { family: 2, addr: peer, port }]],
      // bound to an address: an unbound socket's source is 0.0.0.0, and `fd.ip != "0.0.0.0"`
      // (both ends) then keeps the outbound macro false, in Falco as here
      tuple: {
        family: 2,
        type: 2,
        protocol: 17,
        local: { family: 2, addr: "203.0.113.5", port: 5353 },
        remote: { family: 2, addr: "", port: 0 },
      },
    });
  const first = udp("203.0.113.10", 53);
  s.apply(first);
  const ctx = contextFor(s);
  assert.equal(
    holds(ctx, first, "fd.name_changed = true and fd.connected = false and fd.l4proto = udp", OUTBOUND),
    true,
  );
  assert.equal(holds(ctx, first, "outbound", OUTBOUND), true);
  const again = udp("203.0.113.10", 53);
  s.apply(again);
  assert.equal(holds(ctx, again, "fd.name_changed = true"), false, "same peer: no change");
  const other = udp("203.0.113.11", 53);
  s.apply(other);
  assert.equal(holds(ctx, other, "fd.name_changed = true"), true);
});

test("proc.env and proc.env[NAME]", () => {
  const s = new State({ procRoot: emptyProc });
  s.apply(
    exec(400, "/usr/bin/curl", ["curl", "x"], { env: ["HOME=/root", "HTTP_PROXY=http://p:3128", "A=b=c"] }),
  );
  const ev = syscall("connect", 400, { ret: 0 });
  const ctx = contextFor(s);
  assert.equal(holds(ctx, ev, "proc.env icontains http_proxy"), true);
  assert.equal(holds(ctx, ev, "proc.env[HTTP_PROXY] = 'http://p:3128'"), true);
  assert.equal(holds(ctx, ev, "proc.env[A] = 'b=c'"), true);
  assert.equal(holds(ctx, ev, "proc.env[NOPE] exists"), false);
  assert.equal(rendered(ctx, ev, "%proc.env").json["proc.env"], "HOME=/root HTTP_PROXY=http://p:3128 A=b=c");
});

describe("domain names (fd.sip.name): = and in match the name's addresses, != a known IP that is not one", () => {
  const names: Record<string, string[]> = { "10.0.0.1": ["a.example", "b.example"] };
  const services = {
    container: () => undefined,
    pod: () => null,
    user: () => null,
    group: () => null,
    loginName: () => null,
    domainNames: (ip: string) => names[ip] ?? [],
    watchDomains: () => undefined,
  } satisfies StateServices;
  const s = family();
  s.apply(syscall("socket", 300, { ret: 3, args: [2, 1, 6] }));
  const to = (ip: string) => syscall("connect", 300, { args: [3], tuple: tcp4("10.9.9.9", 40000, ip, 443) });
  const ctx = contextFor(s, services);
  test("comparisons", () => {
    assert.equal(holds(ctx, to("10.0.0.1"), "fd.sip.name = a.example"), true);
    assert.equal(holds(ctx, to("10.0.0.1"), "fd.sip.name in (x.example, b.example)"), true);
    assert.equal(holds(ctx, to("10.0.0.1"), "fd.sip.name != a.example"), false);
    assert.equal(holds(ctx, to("10.0.0.2"), "fd.sip.name != a.example"), true);
    assert.equal(holds(ctx, to("10.0.0.2"), "fd.sip.name = a.example"), false);
    // not a socket event: unknown, every comparison false
    assert.equal(holds(ctx, syscall("setuid", 300), "fd.sip.name != a.example"), false);
  });
  test("in outputs, the first name (libsinsp's name_of); was null when several", () => {
    assert.equal(rendered(ctx, to("10.0.0.1"), "%fd.sip.name").json["fd.sip.name"], "a.example");
  });
});
