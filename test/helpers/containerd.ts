/**
 * Real containerd containers for tests, CRI-shaped: a busybox-static rootfs (built once and
 * cached), containers created through containerd's gRPC API so they carry what a
 * CRI-created container carries (an image name on the record, the kubelet's CRI labels,
 * containerd CRI's io.kubernetes.cri.* annotations and io.cri-containerd.kind label), then
 * started, exec'd into, stopped and removed with `ctr`. Everything started is removed by
 * cleanup(), and also at process exit if a test forgot.
 *
 * Why not `ctr run --rootfs`: it cannot set the container record's image (it stays empty),
 * while CRI containers have one. `ctr run --label/--annotation` can set labels and OCI
 * annotations; both are set here through the API instead.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  copyFileSync,
  writeFileSync,
  chmodSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ContainerdClient, DEFAULT_CONTAINERD_SOCKET } from "../../src/state/containers/containerd-client.js";

const execFileP = promisify(execFile);
const REPO = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "scripts", "containerd.sh"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("test/helpers/containerd: repository root not found");
})();

export const BUSYBOX = "/bin/busybox";

/** Users in the test rootfs's /etc/passwd (the host has no such uid). */
export const ROOTFS_USERS = {
  app: { uid: 4321, gid: 4321, name: "lanner-app", home: "/home/app", shell: "/bin/ash" },
} as const;

export interface Availability {
  readonly ok: boolean;
  readonly reason: string;
}

let availability: Promise<Availability> | null = null;

/** Whether containers can run here (root, ctr, runc, busybox, containerd started). */
export function containerdAvailable(): Promise<Availability> {
  availability ??= (async (): Promise<Availability> => {
    if (process.getuid?.() !== 0) return { ok: false, reason: "containers need root" };
    for (const bin of ["/usr/bin/ctr", "/usr/sbin/runc", BUSYBOX]) {
      if (!existsSync(bin))
        return { ok: false, reason: `${bin} is missing (apt-get install containerd runc busybox-static)` };
    }
    try {
      await execFileP("bash", [join(REPO, "scripts", "containerd.sh")], { timeout: 30_000 });
    } catch (err) {
      return {
        ok: false,
        reason: `scripts/containerd.sh failed: ${(err as { stderr?: string }).stderr ?? String(err)}`,
      };
    }
    return { ok: true, reason: "" };
  })();
  return availability;
}

/** A busybox-static rootfs, built once per machine (atomic rename) and shared read-mostly. */
export function busyboxRootfs(): string {
  const base = process.getuid?.() === 0 ? "/var/cache/lanner-test" : join(tmpdir(), "lanner-test");
  const dir = join(base, "busybox-rootfs-v2");
  if (existsSync(join(dir, ".complete"))) return dir;
  mkdirSync(base, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp", "run", "root", "home/app", "var"])
    mkdirSync(join(tmp, d), { recursive: true });
  chmodSync(join(tmp, "tmp"), 0o1777);
  copyFileSync(BUSYBOX, join(tmp, "bin", "busybox"));
  chmodSync(join(tmp, "bin", "busybox"), 0o755);
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" })
    .split("\n")
    .filter((a) => /^[\w.[-]+$/.test(a) && a !== "busybox");
  for (const a of applets) symlinkSync("busybox", join(tmp, "bin", a));
  const u = ROOTFS_USERS.app;
  writeFileSync(
    join(tmp, "etc", "passwd"),
    `root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n${u.name}:x:${u.uid}:${u.gid}:Lanner App:${u.home}:${u.shell}\n`,
  );
  writeFileSync(join(tmp, "etc", "group"), `root:x:0:\nnogroup:x:65534:\n${u.name}:x:${u.gid}:\n`);
  writeFileSync(join(tmp, "etc", "hostname"), "lanner-test\n");
  writeFileSync(join(tmp, ".complete"), "");
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process won the race
  }
  return dir;
}

export interface PodSpec {
  readonly name: string;
  readonly namespace: string;
  readonly uid?: string;
  /** The pod's own labels (kubelet puts them on the sandbox). */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface ContainerSpec {
  /** CRI container name (io.kubernetes.container.name). */
  readonly name: string;
  readonly pod?: RunningPod;
  /** The record's image name; also io.kubernetes.cri.image-name. */
  readonly image?: string;
  /** Also create an image record for `image` (so its digest resolves). */
  readonly imageRecord?: boolean;
  readonly command?: readonly string[];
  readonly privileged?: boolean;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** ctr: /<ns>/<id> (ctr's default); kubepods: /kubepods/besteffort/pod<uid>/<id> (kubelet, cgroupfs). */
  readonly cgroupStyle?: "ctr" | "kubepods";
  readonly mounts?: ReadonlyArray<{ source: string; destination: string; readonly?: boolean }>;
  /** Memory limit in bytes (OCI linux.resources.memory.limit; the memory cgroup's limit). */
  readonly memoryLimit?: number;
  /** Bind-mount the host's /usr, /lib and /lib64 read-only, so that host programs such as
   * /usr/bin/python3 run inside (the busybox rootfs has neither). */
  readonly hostUsr?: boolean;
}

/** The host's /usr, /lib and /lib64 (their real directories: Debian links /lib to usr/lib). */
function hostUsrMounts(): { source: string; destination: string; readonly: boolean }[] {
  const out = [{ source: "/usr", destination: "/usr", readonly: true }];
  for (const d of ["/lib", "/lib64"])
    if (existsSync(d)) out.push({ source: realpathSync(d), destination: d, readonly: true });
  return out;
}

export interface RunningContainer {
  readonly namespace: string;
  /** 64 hex characters, as CRI ids are. */
  readonly id: string;
  /** Host pid of the init process. */
  readonly pid: number;
  readonly image: string;
  readonly cgroupPath: string;
}

export interface RunningPod {
  readonly spec: PodSpec & { readonly uid: string };
  readonly sandbox: RunningContainer;
}

function newId(): string {
  return randomBytes(32).toString("hex");
}

let specTemplate: Record<string, unknown> | null = null;
function ociSpecTemplate(): Record<string, unknown> {
  specTemplate ??= JSON.parse(execFileSync("ctr", ["oci", "spec"], { encoding: "utf8" })) as Record<
    string,
    unknown
  >;
  return structuredClone(specTemplate);
}

const ALL_CAPS = (() => {
  const out: string[] = [];
  try {
    const last = Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim());
    const names = [
      "CHOWN",
      "DAC_OVERRIDE",
      "DAC_READ_SEARCH",
      "FOWNER",
      "FSETID",
      "KILL",
      "SETGID",
      "SETUID",
      "SETPCAP",
      "LINUX_IMMUTABLE",
      "NET_BIND_SERVICE",
      "NET_BROADCAST",
      "NET_ADMIN",
      "NET_RAW",
      "IPC_LOCK",
      "IPC_OWNER",
      "SYS_MODULE",
      "SYS_RAWIO",
      "SYS_CHROOT",
      "SYS_PTRACE",
      "SYS_PACCT",
      "SYS_ADMIN",
      "SYS_BOOT",
      "SYS_NICE",
      "SYS_RESOURCE",
      "SYS_TIME",
      "SYS_TTY_CONFIG",
      "MKNOD",
      "LEASE",
      "AUDIT_WRITE",
      "AUDIT_CONTROL",
      "SETFCAP",
      "MAC_OVERRIDE",
      "MAC_ADMIN",
      "SYSLOG",
      "WAKE_ALARM",
      "BLOCK_SUSPEND",
      "AUDIT_READ",
      "PERFMON",
      "BPF",
      "CHECKPOINT_RESTORE",
    ];
    // Only what this process may grant (a restricted host lacks some, e.g. CAP_SYS_RESOURCE).
    const bnd =
      /CapBnd:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "ffffffffffffffff";
    const mask = BigInt("0x" + bnd);
    for (let i = 0; i <= last && i < names.length; i++)
      if ((mask >> BigInt(i)) & 1n) out.push(`CAP_${names[i] as string}`);
  } catch {
    // leave empty
  }
  return out;
})();

/** Starts, tracks and removes test containers. */
export class TestContainers {
  readonly namespace: string;
  readonly client: ContainerdClient;
  private readonly live = new Map<string, RunningContainer>();
  private readonly images = new Set<string>();
  private readonly exitHook = (): void => this.cleanupSync();

  constructor(namespace = "k8s.io") {
    this.namespace = namespace;
    this.client = new ContainerdClient({ address: DEFAULT_CONTAINERD_SOCKET, timeoutMs: 10_000 });
    process.once("exit", this.exitHook);
  }

  /** Creates a pod sandbox container (a sleeping busybox standing in for pause). */
  async startPod(spec: PodSpec): Promise<RunningPod> {
    const uid =
      spec.uid ??
      [randomBytes(4), randomBytes(2), randomBytes(2), randomBytes(2), randomBytes(6)]
        .map((b) => b.toString("hex"))
        .join("-");
    const full = { ...spec, uid };
    const id = newId();
    const labels: Record<string, string> = {
      ...(spec.labels ?? {}),
      "io.kubernetes.pod.name": spec.name,
      "io.kubernetes.pod.namespace": spec.namespace,
      "io.kubernetes.pod.uid": uid,
      "io.cri-containerd.kind": "sandbox",
    };
    const annotations: Record<string, string> = {
      "io.kubernetes.cri.container-type": "sandbox",
      "io.kubernetes.cri.sandbox-id": id,
      "io.kubernetes.cri.sandbox-name": spec.name,
      "io.kubernetes.cri.sandbox-namespace": spec.namespace,
      "io.kubernetes.cri.sandbox-uid": uid,
    };
    const sandbox = await this.create(id, {
      labels,
      annotations,
      image: "registry.k8s.io/pause:3.9",
      command: ["/bin/sleep", "3600"],
      cgroupPath: `/kubepods/besteffort/pod${uid}/${id}`,
    });
    return { spec: full, sandbox };
  }

  /** Creates and starts a container; resolves once its task runs. */
  async start(spec: ContainerSpec): Promise<RunningContainer> {
    const id = newId();
    const image = spec.image ?? "docker.io/library/busybox:1.36";
    const labels: Record<string, string> = {
      ...(spec.labels ?? {}),
      "io.kubernetes.container.name": spec.name,
      "io.cri-containerd.kind": "container",
    };
    const annotations: Record<string, string> = {
      ...(spec.annotations ?? {}),
      "io.kubernetes.cri.container-type": "container",
      "io.kubernetes.cri.container-name": spec.name,
      "io.kubernetes.cri.image-name": image,
    };
    if (spec.pod !== undefined) {
      const p = spec.pod.spec;
      Object.assign(labels, {
        "io.kubernetes.pod.name": p.name,
        "io.kubernetes.pod.namespace": p.namespace,
        "io.kubernetes.pod.uid": p.uid,
        "io.kubernetes.sandbox.id": spec.pod.sandbox.id,
      });
      Object.assign(annotations, {
        "io.kubernetes.cri.sandbox-id": spec.pod.sandbox.id,
        "io.kubernetes.cri.sandbox-name": p.name,
        "io.kubernetes.cri.sandbox-namespace": p.namespace,
        "io.kubernetes.cri.sandbox-uid": p.uid,
      });
    }
    if (spec.imageRecord === true && !this.images.has(image)) {
      // A stand-in manifest digest: containerd stores the record without checking content.
      const digest = "sha256:" + createHash("sha256").update(`lanner-test-manifest:${image}`).digest("hex");
      await this.client.deleteImage(this.namespace, image);
      await this.client.createImage(
        this.namespace,
        image,
        digest,
        "application/vnd.oci.image.manifest.v1+json",
        1234,
      );
      this.images.add(image);
    }
    const podUid = spec.pod?.spec.uid;
    const cgroupPath =
      spec.cgroupStyle === "kubepods" || (spec.cgroupStyle === undefined && podUid !== undefined)
        ? `/kubepods/besteffort/pod${podUid ?? "none"}/${id}`
        : `/${this.namespace}/${id}`;
    return this.create(id, {
      labels,
      annotations,
      image,
      command: spec.command ?? ["/bin/sleep", "3600"],
      cgroupPath,
      privileged: spec.privileged ?? false,
      mounts: [...(spec.mounts ?? []), ...(spec.hostUsr === true ? hostUsrMounts() : [])],
      ...(spec.memoryLimit !== undefined ? { memoryLimit: spec.memoryLimit } : {}),
    });
  }

  private async create(
    id: string,
    o: {
      labels: Record<string, string>;
      annotations: Record<string, string>;
      image: string;
      command: readonly string[];
      cgroupPath: string;
      privileged?: boolean;
      mounts?: ReadonlyArray<{ source: string; destination: string; readonly?: boolean }>;
      memoryLimit?: number;
    },
  ): Promise<RunningContainer> {
    const spec = ociSpecTemplate() as {
      process: { args?: string[]; env?: string[]; capabilities?: Record<string, string[]> };
      root: { path: string; readonly?: boolean };
      mounts: Array<{ destination: string; type: string; source: string; options: string[] }>;
      linux: {
        cgroupsPath?: string;
        maskedPaths?: string[];
        readonlyPaths?: string[];
        resources?: { devices?: unknown[]; memory?: { limit?: number } };
      };
      annotations?: Record<string, string>;
      hostname?: string;
    };
    spec.process.args = [...o.command];
    spec.process.env = ["PATH=/bin:/usr/bin:/sbin:/usr/sbin", "HOME=/root"];
    spec.root = { path: busyboxRootfs(), readonly: false };
    spec.linux.cgroupsPath = o.cgroupPath;
    spec.annotations = o.annotations;
    spec.hostname = "lanner-test";
    for (const m of o.mounts ?? []) {
      spec.mounts.push({
        destination: m.destination,
        type: "bind",
        source: m.source,
        options: ["rbind", "rprivate", m.readonly === true ? "ro" : "rw"],
      });
    }
    if (o.memoryLimit !== undefined)
      spec.linux.resources = { ...(spec.linux.resources ?? {}), memory: { limit: o.memoryLimit } };
    if (o.privileged === true) {
      const caps = ALL_CAPS;
      spec.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
      spec.linux.maskedPaths = [];
      spec.linux.readonlyPaths = [];
      spec.linux.resources = { ...(spec.linux.resources ?? {}), devices: [{ allow: true, access: "rwm" }] };
    }
    await this.client.createContainer(this.namespace, {
      id,
      labels: o.labels,
      image: o.image,
      runtimeName: "io.containerd.runc.v2",
      spec,
    });
    const pending: RunningContainer = {
      namespace: this.namespace,
      id,
      pid: 0,
      image: o.image,
      cgroupPath: o.cgroupPath,
    };
    this.live.set(id, pending);
    await execFileP("ctr", ["-n", this.namespace, "task", "start", "-d", "--null-io", id], {
      timeout: 20_000,
    });
    const task = await this.client.getTask(this.namespace, id);
    if (task === null || task.pid <= 0) throw new Error(`container ${id}: no task after start`);
    const running = { ...pending, pid: task.pid };
    this.live.set(id, running);
    return running;
  }

  /** Runs a command inside the container and returns its stdout. */
  async exec(c: RunningContainer, args: readonly string[], opts: { user?: string } = {}): Promise<string> {
    const execId = `exec-${randomBytes(4).toString("hex")}`;
    const userArgs = opts.user === undefined ? [] : ["--user", opts.user];
    const { stdout } = await execFileP(
      "ctr",
      ["-n", c.namespace, "task", "exec", ...userArgs, "--exec-id", execId, c.id, ...args],
      { timeout: 20_000 },
    );
    return stdout;
  }

  /** Starts a long-running process inside the container and returns its host pid. */
  async execDetached(
    c: RunningContainer,
    args: readonly string[],
    opts: { user?: string } = {},
  ): Promise<number> {
    const before = new Set(await this.pids(c));
    const execId = `exec-${randomBytes(4).toString("hex")}`;
    const userArgs = opts.user === undefined ? [] : ["--user", opts.user];
    await execFileP(
      "ctr",
      ["-n", c.namespace, "task", "exec", "-d", ...userArgs, "--exec-id", execId, c.id, ...args],
      { timeout: 20_000 },
    );
    for (let i = 0; i < 100; i++) {
      const added = (await this.pids(c)).filter((p) => !before.has(p));
      if (added.length > 0) return added[0] as number;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`container ${c.id}: exec'd process did not show up`);
  }

  /** Host pids of the container's processes. */
  async pids(c: RunningContainer): Promise<number[]> {
    const { stdout } = await execFileP("ctr", ["-n", c.namespace, "task", "ps", c.id], { timeout: 10_000 });
    return stdout
      .split("\n")
      .slice(1)
      .map((l) => Number(l.trim().split(/\s+/)[0]))
      .filter((n) => Number.isInteger(n) && n > 0);
  }

  /** Kills and removes one container. */
  async remove(c: RunningContainer): Promise<void> {
    const ns = c.namespace;
    await execFileP("ctr", ["-n", ns, "task", "kill", "-s", "SIGKILL", c.id], { timeout: 10_000 }).catch(
      () => undefined,
    );
    for (let i = 0; i < 50; i++) {
      try {
        await execFileP("ctr", ["-n", ns, "task", "delete", c.id], { timeout: 10_000 });
        break;
      } catch (err) {
        if (/not found/.test(String((err as { stderr?: string }).stderr))) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await this.client.deleteContainer(ns, c.id).catch(() => undefined);
    this.live.delete(c.id);
  }

  /** Removes every container and image this instance created. */
  async cleanup(): Promise<void> {
    await Promise.all([...this.live.values()].map((c) => this.remove(c)));
    for (const img of this.images) await this.client.deleteImage(this.namespace, img).catch(() => undefined);
    this.images.clear();
    process.removeListener("exit", this.exitHook);
    this.client.close();
  }

  /** Last resort at process exit: synchronous removal with ctr. */
  private cleanupSync(): void {
    for (const c of this.live.values()) {
      for (const args of [
        ["task", "kill", "-s", "SIGKILL", c.id],
        ["task", "delete", "-f", c.id],
        ["container", "delete", c.id],
      ]) {
        try {
          execFileSync("ctr", ["-n", c.namespace, ...args], { stdio: "ignore", timeout: 5000 });
        } catch {
          // best effort
        }
      }
    }
    for (const img of this.images) {
      try {
        execFileSync("ctr", ["-n", this.namespace, "image", "rm", img], { stdio: "ignore", timeout: 5000 });
      } catch {
        // best effort
      }
    }
    this.live.clear();
  }
}
