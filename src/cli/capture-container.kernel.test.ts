/**
 * Containers behind events: real containerd containers with the CRI labels the kubelet
 * sets. An exec inside a container carries its container and pod fields from the
 * container's very first process on; host processes carry container.id = host.
 */
import assert from "node:assert/strict";
import { execFileSync, execSync, spawn, spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { busyboxRootfs, containerdAvailable, TestContainers } from "../../test/helpers/containerd.js";
import { kernelSkipReason } from "../../test/helpers/kernel.js";
import { startCapture } from "../../test/helpers/capture.js";

type Ev = Record<string, unknown>;

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip = kernelSkip ?? (avail.ok ? null : avail.reason);
if (skip) console.log(`# SKIP container capture tests: ${skip}`);

describe("capture in containers", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  before(() => {
    tc = new TestContainers();
  });
  after(async () => {
    await tc.cleanup();
  });

  test("the first process of a container and an exec in it carry container and pod fields; host is host", async () => {
    const cap = await startCapture(["-o", "json", "-t", "execve"]);
    const events = cap.events;
    try {
      const pod = await tc.startPod({
        name: "web-7d4b9",
        namespace: "shop",
        labels: { app: "web", tier: "front" },
      });
      const c = await tc.start({
        name: "nginx",
        pod,
        image: "docker.io/library/nginx:1.27",
        command: ["/bin/sh", "-c", "exec sleep 60"],
      });
      await tc.exec(c, ["/bin/ls", "/"]);
      const host = spawn("/bin/true", ["host-marker"]);
      const deadline = Date.now() + 10000;
      const find = (pred: (e: Ev) => boolean): Ev | undefined => events.find(pred);
      while (Date.now() < deadline) {
        if (
          find((e) => e["proc.name"] === "ls" && e["container.id"] !== "host") &&
          find((e) => e["proc.pid"] === host.pid)
        )
          break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const first = find((e) => e["proc.pid"] === c.pid && e["evt.type"] === "execve");
      assert.ok(first, `the container's first process (pid ${c.pid}) exec is captured`);
      const ls = find((e) => e["proc.name"] === "ls" && e["container.id"] !== "host");
      assert.ok(ls, "the exec inside the container is captured");
      for (const e of [first, ls]) {
        assert.equal(e["container.id"], c.id.slice(0, 12));
        assert.equal(e["container.full_id"], c.id);
        assert.equal(e["container.name"], "nginx");
        assert.equal(e["container.image"], "docker.io/library/nginx:1.27");
        assert.equal(e["container.image.repository"], "docker.io/library/nginx");
        assert.equal(e["container.image.tag"], "1.27");
        assert.equal(e["k8s.pod.name"], "web-7d4b9");
        assert.equal(e["k8s.ns.name"], "shop");
        assert.equal(e["k8s.pod.uid"], pod.spec.uid);
        assert.equal(e["user.uid"], 0);
        assert.match(String(e["k8s.pod.labels"]), /app:web/);
      }
      const h = find((e) => e["proc.pid"] === host.pid);
      assert.ok(h, "the host exec is captured");
      assert.equal(h["container.id"], "host");
    } finally {
      await cap.stop();
    }
  });

  test("Docker containers: the first process and an exec carry Docker's metadata", async (t) => {
    const docker = "/usr/bin/docker";
    const dockerOk = spawnSync(docker, ["version"], { encoding: "utf8", timeout: 10000 }).status === 0;
    if (!dockerOk) {
      t.skip("no Docker engine answers on /var/run/docker.sock (scripts/docker.sh starts one)");
      return;
    }
    // an image from the busybox rootfs the containerd tests use (no registry here)
    const rootfs = busyboxRootfs();
    execSync(`tar -C ${rootfs} -c . | ${docker} import - lanner/busybox:test`, { stdio: "ignore" });
    const cap = await startCapture(["-o", "json", "-t", "execve"]);
    const events = cap.events;
    const name = `lanner-cap-${process.pid}`;
    try {
      const id = execFileSync(
        docker,
        [
          "run",
          "-d",
          "--network",
          "none",
          "--name",
          name,
          "--label",
          "app=web",
          "lanner/busybox:test",
          "/bin/sleep",
          "30",
        ],
        { encoding: "utf8" },
      ).trim();
      const pid = Number(
        execFileSync(docker, ["inspect", "-f", "{{.State.Pid}}", id], { encoding: "utf8" }).trim(),
      );
      // The first process and an exec in the running container. Regression: a container
      // found by the cgroup walk used to be completed from containerd's bare moby record
      // (no name, type containerd) before Docker's inspect; it is now always asked of Docker.
      execFileSync(docker, ["exec", id, "/bin/ls", "/"]);
      const deadline = Date.now() + 10000;
      const find = (pred: (e: Ev) => boolean): Ev | undefined => events.find(pred);
      while (Date.now() < deadline) {
        if (find((e) => e["proc.name"] === "ls" && e["container.id"] === id.slice(0, 12))) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const first = find((e) => e["proc.pid"] === pid && e["evt.type"] === "execve");
      assert.ok(first, `the container's first process (pid ${pid}) exec is captured`);
      assert.equal(first["container.id"], id.slice(0, 12));
      assert.equal(first["container.full_id"], id);
      assert.equal(first["container.type"], "docker");
      assert.equal(first["container.name"], name);
      const ls = find((e) => e["proc.name"] === "ls" && e["container.id"] === id.slice(0, 12));
      assert.ok(ls, "an exec in the container is captured");
      assert.equal(ls["container.full_id"], id);
      assert.equal(ls["container.name"], name);
      assert.equal(ls["container.type"], "docker");
      assert.equal(ls["container.image"], "lanner/busybox:test");
      assert.equal(ls["container.image.repository"], "lanner/busybox");
      assert.equal(ls["container.image.tag"], "test");
    } finally {
      spawnSync(docker, ["rm", "-f", name], { stdio: "ignore" });
      await cap.stop();
    }
  });
});
