/**
 * trace mount on real containerd containers with the kubelet's CRI labels: a privileged
 * container mounts a tmpfs and unmounts it (by its absolute path, then a lazy unmount by a
 * path relative to the shell's cwd that fails with EINVAL); an unprivileged one is refused
 * (EPERM). Each selection reports exactly its pods' calls (a pod started after the gadget
 * included), with source, target, type, flags, result and the rendered call.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import { runGadget, startGadget, type GadgetEvent } from "../../../test/helpers/gadget.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip = kernelSkip ?? (avail.ok ? null : avail.reason);
if (skip) console.log(`# SKIP trace mount kernel tests: ${skip}`);

type GP = Awaited<ReturnType<typeof startGadget>>;

/** Events of the children of `ppid` (busybox runs mount and umount as children of the shell). */
const childrenOf = (events: GadgetEvent[], ppid: number): GadgetEvent[] =>
  events.filter((e) => e["proc.ppid"] === ppid);
const call = (e: GadgetEvent): unknown[] => [
  e["evt.type"],
  e["mount.src"],
  e["mount.dst"],
  e["mount.fs"],
  e["mount.flags"],
  e["evt.res"],
  e["evt.rawres"],
];

// busybox mount passes MS_SILENT; the data ("size=1m") is in user memory the capture does
// not read: the call shows its address
const MS_SILENT = "MS_SILENT";

describe("trace mount", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  let web: RunningPod;
  let db: RunningPod;
  let cPriv: RunningContainer;
  let cWeb: RunningContainer;
  let cDb: RunningContainer;
  before(async () => {
    tc = new TestContainers();
    web = await tc.startPod({ name: "mount-web-1", namespace: "mnt-a", labels: { app: "mount-web" } });
    db = await tc.startPod({ name: "mount-db-1", namespace: "mnt-b", labels: { app: "mount-db" } });
    cPriv = await tc.start({ name: "priv", pod: web, privileged: true });
    cWeb = await tc.start({ name: "main", pod: web });
    cDb = await tc.start({ name: "main", pod: db, privileged: true });
  });
  after(async () => {
    await tc.cleanup();
  });

  test("each selection reports exactly its pods' mounts and unmounts, with exact values", async () => {
    const gadgets = await Promise.all([
      startGadget(["trace", "mount", "-n", "mnt-a", "-o", "json"]),
      startGadget(["trace", "mount", "-l", "app=mount-db", "-o", "json"]),
      startGadget(["trace", "mount", "-n", "mnt-a", "-c", "!priv", "-o", "json"]),
    ]);
    const [a, b, notPriv] = gadgets as [GP, GP, GP];
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const priv = await tc.execDetached(cPriv, [
        "/bin/sh",
        "-c",
        "sleep 1; mkdir -p /mnt/lanner; mount -t tmpfs -o size=1m lanner-tmp /mnt/lanner; " +
          "grep lanner-tmp /proc/mounts > /tmp/lanner-mounts; umount /mnt/lanner; " +
          "cd /mnt; umount -l lanner; exec sleep 30",
      ]);
      const refused = await tc.execDetached(cWeb, [
        "/bin/sh",
        "-c",
        "sleep 1; mkdir -p /mnt/x; mount -t tmpfs lanner-refused /mnt/x; exec sleep 30",
      ]);
      const dbShell = await tc.execDetached(cDb, [
        "/bin/sh",
        "-c",
        "sleep 1; mkdir -p /mnt/db; mount -o ro,nosuid,nodev -t tmpfs lanner-db /mnt/db; exec sleep 30",
      ]);
      // a pod that starts after the gadgets: its first process tries a bind mount (EPERM)
      const late = await tc.startPod({
        name: "mount-web-2",
        namespace: "mnt-a",
        labels: { app: "mount-web" },
      });
      const cLate = await tc.start({
        name: "late",
        pod: late,
        command: ["/bin/sh", "-c", "mount --bind /tmp /mnt; exec sleep 3600"],
      });

      assert.ok(
        await a.waitFor((e) => e["proc.ppid"] === priv && e["evt.res"] === "EINVAL", 20000),
        a.stderr(),
      );
      assert.ok(await a.waitFor((e) => e["proc.ppid"] === refused), a.stderr());
      assert.ok(await a.waitFor((e) => e["proc.ppid"] === cLate.pid), `the later pod: ${a.stderr()}`);
      assert.ok(await b.waitFor((e) => e["proc.ppid"] === dbShell), b.stderr());
      assert.ok(await notPriv.waitFor((e) => e["proc.ppid"] === cLate.pid), notPriv.stderr());
      // the tmpfs was mounted, as the container saw it
      const mounts = await tc.exec(cPriv, ["cat", "/tmp/lanner-mounts"]);
      assert.match(mounts, /^lanner-tmp \/mnt\/lanner tmpfs rw,relatime,size=1024k/);
      for (const g of gadgets) assert.equal(await g.stop(), 0, g.stderr());

      // -n mnt-a: the privileged shell's mount, umount and failed lazy umount, in order
      const p = childrenOf(a.events, priv);
      assert.deepEqual(p.map(call), [
        ["mount", "lanner-tmp", "/mnt/lanner", "tmpfs", MS_SILENT, "SUCCESS", 0],
        ["umount2", null, "/mnt/lanner", null, "0", "SUCCESS", 0],
        ["umount2", null, "/mnt/lanner", null, "MNT_DETACH", "EINVAL", -22],
      ]);
      const [m, u, lazy] = p as [GadgetEvent, GadgetEvent, GadgetEvent];
      assert.match(
        String(m["mount.call"]),
        /^mount\("lanner-tmp", "\/mnt\/lanner", "tmpfs", MS_SILENT, 0x[0-9a-f]+\) = 0$/,
      );
      assert.equal(u["mount.call"], 'umount2("/mnt/lanner", 0) = 0');
      assert.equal(lazy["mount.call"], 'umount2("lanner", MNT_DETACH) = -1 EINVAL', "the path as passed");
      assert.equal(m["container.name"], "priv");
      assert.equal(m["container.id"], cPriv.id.slice(0, 12));
      assert.equal(m["k8s.pod.name"], "mount-web-1");
      assert.equal(m["k8s.ns.name"], "mnt-a");
      const status = readFileSync(`/proc/${priv}/status`, "utf8");
      assert.equal(m["user.uid"], Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]));
      const r = childrenOf(a.events, refused);
      assert.deepEqual(r.map(call), [["mount", "lanner-refused", "/mnt/x", "tmpfs", MS_SILENT, "EPERM", -1]]);
      assert.match(
        String((r[0] as GadgetEvent)["mount.call"]),
        /^mount\("lanner-refused", "\/mnt\/x", "tmpfs", MS_SILENT, NULL\) = -1 EPERM$/,
      );
      assert.equal((r[0] as GadgetEvent)["container.name"], "main");
      // (runc's own mounts setting up the later pod's containers are reported too)
      assert.ok(a.events.some((e) => e["k8s.pod.name"] === "mount-web-2" && e["mount.fs"] === "proc"));
      const l = childrenOf(a.events, cLate.pid);
      assert.deepEqual(l.map(call), [["mount", "/tmp", "/mnt", null, "MS_BIND|MS_SILENT", "EPERM", -1]]);
      assert.equal((l[0] as GadgetEvent)["k8s.pod.name"], "mount-web-2");
      assert.equal((l[0] as GadgetEvent)["container.name"], "late");
      for (const e of a.events) assert.equal(e["k8s.ns.name"], "mnt-a", JSON.stringify(e));
      assert.deepEqual(childrenOf(a.events, dbShell), []);

      // -l app=mount-db: the db pod's read-only mount
      assert.deepEqual(childrenOf(b.events, dbShell).map(call), [
        ["mount", "lanner-db", "/mnt/db", "tmpfs", "MS_RDONLY|MS_NOSUID|MS_NODEV|MS_SILENT", "SUCCESS", 0],
      ]);
      for (const e of b.events) assert.equal(e["k8s.pod.name"], "mount-db-1", JSON.stringify(e));

      // -n mnt-a -c !priv: the refused mount and the later pod's, never the privileged container
      assert.deepEqual(
        notPriv.events
          .filter((e) => e["proc.ppid"] === refused || e["proc.ppid"] === cLate.pid)
          .map((e) => e["mount.src"])
          .sort(),
        ["/tmp", "lanner-refused"],
      );
      assert.deepEqual(childrenOf(notPriv.events, priv), []);
      for (const e of notPriv.events) assert.notEqual(e["container.name"], "priv", JSON.stringify(e));
    } finally {
      for (const g of gadgets) await g.stop();
    }
  });

  test("columns output; bad input is exit 2 with the reason", async () => {
    const table = runGadget([
      "trace",
      "mount",
      "-n",
      "mnt-a",
      "--timeout",
      "4",
      "-o",
      "columns=comm,mount.fs,mount.dst,mount.flags,evt.res",
    ]);
    await new Promise((r) => setTimeout(r, 2000));
    await tc.exec(cPriv, [
      "/bin/sh",
      "-c",
      "mkdir -p /mnt/t; mount -t tmpfs -o noexec lanner-t /mnt/t; umount /mnt/t",
    ]);
    const res = await table;
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.trimEnd().split("\n");
    assert.deepEqual(lines[0]?.trim().split(/\s+/), ["COMM", "FS", "DST", "FLAGS", "ERR"], res.stdout);
    assert.ok(
      lines.some((l) => /\btmpfs\s+\/mnt\/t\s+MS_NOEXEC\|MS_SILENT\s+SUCCESS/.test(l)),
      res.stdout,
    );
    const bad: [string[], RegExp][] = [
      [["trace", "mount", "-o", "columns=mount.data"], /unknown column 'mount.data'/],
      [["trace", "mount", "--filter", "mount.nope=1"], /unknown field 'mount.nope'/],
      [["trace", "mount", "--prefixes", "/x"], /Unknown option '--prefixes'/],
    ];
    for (const [args, re] of bad) {
      const r = await runGadget(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
    }
  });
});
