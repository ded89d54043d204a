/**
 * CriClient against containerd's CRI plugin (runtime.v1 on containerd's socket), with a real
 * pod: RunPodSandbox on the host network (no CNI needed) and a /bin/sleep container in the
 * busybox image test/helpers/cri.ts imports. Skipped with a printed reason when containers
 * cannot run here or the CRI plugin cannot run a sandbox.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { containerdAvailable } from "../../../test/helpers/containerd.js";
import {
  canLowerOomScore,
  CRI_TEST_IMAGE,
  importCriImages,
  sandboxImageName,
  startPrivateContainerd,
  type PrivateContainerd,
} from "../../../test/helpers/cri.js";
import { DEFAULT_CONTAINERD_SOCKET } from "./containerd-client.js";
import { ContainerStore } from "./container-store.js";
import { CriClient } from "./cri-client.js";
import { errorMessage } from "./errors.js";

const suffix = randomBytes(4).toString("hex");
const POD = { name: `lanner-cri-${suffix}`, namespace: "lanner-test", uid: `uid-${suffix}`, attempt: 0 };
const sandboxConfig = {
  metadata: POD,
  hostname: "",
  labels: {
    "io.kubernetes.pod.name": POD.name,
    "io.kubernetes.pod.namespace": POD.namespace,
    "io.kubernetes.pod.uid": POD.uid,
    app: "lanner-cri-test",
  },
  annotations: { "lanner.test/pod": "yes" },
  linux: { securityContext: { namespaceOptions: { network: 2, pid: 1, ipc: 0 } } },
};

// containerd's socket, or a private containerd's when this host withholds CAP_SYS_RESOURCE.
let address = DEFAULT_CONTAINERD_SOCKET;
let priv: PrivateContainerd | null = null;
// The driving client has long deadlines: creating a sandbox can take seconds.
let driver = new CriClient({ address, timeoutMs: 60_000, type: "containerd" });
let sandboxId: string | null = null;
let containerId: string | null = null;

async function stopPrivate(): Promise<void> {
  const p = priv as PrivateContainerd | null;
  priv = null;
  await p?.stop();
}

async function cleanup(): Promise<void> {
  if (containerId !== null) {
    await driver.call("StopContainer", { containerId, timeout: 0 }).catch(() => {});
    await driver.call("RemoveContainer", { containerId }).catch(() => {});
    containerId = null;
  }
  if (sandboxId !== null) {
    await driver.call("StopPodSandbox", { podSandboxId: sandboxId }).catch(() => {});
    await driver.call("RemovePodSandbox", { podSandboxId: sandboxId }).catch(() => {});
    sandboxId = null;
  }
}

async function setup(): Promise<string | false> {
  const avail = await containerdAvailable();
  if (!avail.ok) return avail.reason;
  if (!canLowerOomScore()) {
    // CRI gives sandboxes oom_score_adj -998, which needs CAP_SYS_RESOURCE; a private
    // containerd with restrict_oom_score_adj clamps it instead.
    try {
      priv = await startPrivateContainerd(await sandboxImageName());
    } catch (err) {
      return `no CAP_SYS_RESOURCE and the private containerd failed: ${errorMessage(err)}`;
    }
    address = priv.address;
    driver.close();
    driver = new CriClient({ address, timeoutMs: 60_000, type: "containerd" });
  }
  try {
    await driver.version();
  } catch (err) {
    return `containerd's CRI plugin does not answer on ${address}: ${errorMessage(err)}`;
  }
  try {
    await importCriImages(address);
  } catch (err) {
    return `importing the CRI test images failed: ${errorMessage(err)}`;
  }
  try {
    const r = await driver.call<{ podSandboxId: string }>("RunPodSandbox", {
      config: sandboxConfig,
      runtimeHandler: "",
    });
    sandboxId = r.podSandboxId;
  } catch (err) {
    return `RunPodSandbox failed: ${errorMessage(err)}`;
  }
  try {
    const c = await driver.call<{ containerId: string }>("CreateContainer", {
      podSandboxId: sandboxId,
      config: {
        metadata: { name: "sleeper", attempt: 0 },
        image: { image: CRI_TEST_IMAGE },
        command: ["/bin/sleep", "3600"],
        labels: {
          "io.kubernetes.pod.name": POD.name,
          "io.kubernetes.pod.namespace": POD.namespace,
          "io.kubernetes.pod.uid": POD.uid,
          "io.kubernetes.container.name": "sleeper",
          tier: "test",
        },
        annotations: { "lanner.test/container": "yes" },
        linux: { securityContext: { namespaceOptions: { network: 2, pid: 1, ipc: 0 } } },
      },
      sandboxConfig,
    });
    containerId = c.containerId;
    await driver.call("StartContainer", { containerId });
  } catch (err) {
    await cleanup();
    return `creating or starting the CRI container failed: ${errorMessage(err)}`;
  }
  return false;
}

const skip = await setup();
if (skip !== false) {
  console.log(`# SKIP CRI client kernel tests: ${skip}`);
  await stopPrivate();
}

after(async () => {
  await cleanup();
  driver.close();
  await stopPrivate();
});

describe("CriClient with containerd's CRI plugin", { skip }, () => {
  it("describes a running pod container: name, image, pod, labels, pid", async () => {
    const client = new CriClient({ address, timeoutMs: 5000 });
    try {
      const id = containerId ?? "";
      const info = await client.containerStatus(id);
      assert.ok(info !== null);
      assert.equal(info.fullId, id);
      assert.equal(info.id, id.slice(0, 12));
      assert.equal(info.name, "sleeper");
      assert.equal(info.image, CRI_TEST_IMAGE);
      assert.equal(info.imageRepository, "docker.io/lanner/busybox");
      assert.equal(info.imageTag, "cri");
      assert.equal(info.type, "cri-o");
      assert.deepEqual(info.pod, {
        name: POD.name,
        namespace: POD.namespace,
        uid: POD.uid,
        sandboxId,
      });
      assert.equal(info.labels["tier"], "test");
      assert.equal(info.labels["io.kubernetes.container.name"], "sleeper");
      assert.equal(info.privileged, false);
      assert.ok(info.initPid !== null && info.initPid > 1, `pid ${String(info.initPid)}`);
      assert.equal(info.hostNetwork, true);
      assert.equal(info.hostPid, false);
      assert.ok(info.startTs !== null && info.startTs > 0n);
      assert.equal(info.complete, true);

      const pod = await client.podSandboxStatus(sandboxId ?? "");
      assert.ok(pod !== null);
      assert.equal(pod.name, POD.name);
      assert.equal(pod.labels["app"], "lanner-cri-test");

      const list = await client.listContainers();
      const mine = list.find((c) => c.id === id);
      assert.ok(mine !== undefined);
      assert.equal(mine.name, "sleeper");
      assert.equal(mine.podSandboxId, sandboxId);
      assert.equal(mine.state, 1);
      const pods = await client.listPodSandboxes();
      assert.ok(pods.some((p) => p.id === sandboxId && p.uid === POD.uid));

      assert.equal(await client.containerStatus("0".repeat(64)), null);
    } finally {
      client.close();
    }
  });

  it("the store describes a cri-o container through the CRI client", async () => {
    const logs: string[] = [];
    const store = new ContainerStore({
      containerd: false,
      docker: false,
      cri: { address, timeoutMs: 5000 },
      logger: (m) => logs.push(m),
    });
    try {
      const info = await store.fetch(containerId ?? "", "cri-o", true);
      assert.ok(info !== undefined, logs.join("\n"));
      assert.equal(info.name, "sleeper");
      assert.equal(info.type, "cri-o");
      assert.equal(info.image, CRI_TEST_IMAGE);
      assert.equal(info.pod?.name, POD.name);
      assert.equal(store.byId(containerId ?? "")?.name, "sleeper");
      assert.ok(info.initPid !== null);
      assert.equal(store.byPid(info.initPid)?.fullId, containerId);
      assert.deepEqual(logs, []);
    } finally {
      await store.close();
    }
  });
});
