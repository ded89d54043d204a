/**
 * What is registered works, on a real kernel: a real capture (every supported syscall and
 * the lifecycle records, snaplen 80), a real State and an EventContext over real state
 * services (containerd, the API server stand-in, the account files, domain names), and a
 * workload (test/fixtures/field_workload.py) plus real containerd containers in pods. Every
 * registered field is evaluated on every event of the test's own processes and containers
 * when the event is read, as the agent reads it, and must yield a value on at least one
 * event; a bool must be seen both true and false. Exact values are then checked per class
 * against ground truth taken independently (stat(2), the workload's own report, containerd,
 * the stand-in, getent), so a wrong value fails as a missing one does.
 *
 * An exemption names the condition of this host it depends on, is checked at run time and
 * printed; a field registered without a way to fill it here makes the test fail.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { lookup } from "node:dns/promises";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { hostname as osHostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CaptureSession, type CaptureStats } from "../../capture/capture-session.js";
import { packageRoot } from "../../capture/paths.js";
import { decodeRecord, type DecodedEvent } from "../../decode/event.js";
import { KIND_SYSCALL, RecordView, walkBatch } from "../../decode/record-view.js";
import { SUPPORTED_SYSCALLS, SYSCALL_SPECS } from "../../decode/syscall-params.js";
import { clockOffsets } from "../../native/index.js";
import type { FieldDef, FieldValue, Getter } from "../../rules/index.js";
import { ContainerStore } from "../../state/containers/container-store.js";
import { DomainNames } from "../../state/dns/domain-names.js";
import { K8sApiWatcher } from "../../state/k8s/k8s-api-watcher.js";
import { K8sMetadata } from "../../state/k8s/k8s-metadata.js";
import { createStateServices } from "../../state/services.js";
import { State } from "../../state/state.js";
import { UserResolver } from "../../state/users/user-resolver.js";
import {
  containerdAvailable,
  ROOTFS_USERS,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import { contextFor, typeOf } from "../../../test/helpers/fields.js";
import { kernelSkipReason, PYTHON } from "../../../test/helpers/kernel.js";
import { KubeApiStandin } from "../../../test/helpers/kube-apiserver-standin.js";
import { SYSCALL_FIELDS } from "./index.js";

const kernelSkip = kernelSkipReason();
const avail = kernelSkip === null ? await containerdAvailable() : null;
const SKIP = kernelSkip ?? (avail?.ok === true ? null : `containers: ${avail?.reason ?? "unavailable"}`);
if (SKIP !== null) console.log(`# skipping the field kernel test: ${SKIP}`);

const FIXTURE = join(packageRoot(), "test/fixtures/field_workload.py");
const ENV_NAME = "LANNER_FIELD_TEST";
const ENV_VALUE = `env-value-${process.pid}`;
const NODE = "node-1";

// ------------------------------------------------------------------ what is evaluated

type Arg = string | number;

/** Extra names evt.arg / evt.rawarg are asked for besides the syscall's own parameters. */
const EVT_ARG_EXTRAS: readonly Arg[] = [
  "res",
  "fd",
  "args",
  "flags",
  "fd1",
  "fd2",
  "exe",
  "env",
  "child_pid",
  "status",
  0,
];
const EVT_RAWARG_EXTRAS: readonly Arg[] = ["res", "fd", 0];

/**
 * The argument each keyed field is evaluated with (evt.arg and evt.rawarg: every parameter of
 * the event's syscall and the exit values Falco names). A keyed field missing here fails the
 * test: a new one needs a sensible argument.
 */
function keyedArgs(cgroupSubsys: string): Record<string, readonly Arg[] | "params"> {
  return {
    "evt.arg": "params",
    "evt.rawarg": "params",
    "thread.cgroup": [cgroupSubsys],
    "container.mount": ["/hostdata", 0],
    "container.mount.source": ["/hostdata"],
    "container.mount.dest": ["/proc*", "/hostdata"],
    "container.mount.mode": ["/hostdata"],
    "container.mount.rdwr": ["/hostdata"],
    "container.mount.propagation": ["/hostdata"],
    "container.label": ["io.kubernetes.pod.name"],
    "k8s.pod.label": ["app"],
    "k8s.ns.label": ["team"],
    "k8smeta.pod.label": ["app"],
    "k8smeta.ns.label": ["team"],
  };
}

/** Fields whose argument is optional: evaluated without it and with these. */
const OPTIONAL_ARGS: Readonly<Record<string, readonly Arg[]>> = {
  "proc.env": [ENV_NAME],
  "proc.apid": [0, 1, 2],
  "proc.aname": [0, 1, 2],
  "proc.aexe": [0, 1, 2],
  "proc.aexepath": [0, 1, 2],
  "proc.acmdline": [0, 1, 2],
  "fd.types": [0, 1],
};

interface Probe {
  /** field text: `proc.env`, `proc.env[HOME]` */
  readonly key: string;
  /** what coverage is counted under: the name, or `name[]` for "with an argument" */
  readonly cover: string;
  readonly def: FieldDef;
  readonly get: Getter;
}

interface Probes {
  readonly fixed: Probe[];
  /** evt.arg / evt.rawarg: per syscall */
  readonly perSyscall: Map<string, Probe[]>;
  readonly params: FieldDef[];
  /** keyed or optional fields the table has no argument for */
  readonly untabled: string[];
}

function buildProbes(cgroupSubsys: string): Probes {
  const keyed = keyedArgs(cgroupSubsys);
  const fixed: Probe[] = [];
  const params: FieldDef[] = [];
  const untabled: string[] = [];
  for (const d of SYSCALL_FIELDS.defs) {
    if (d.arg === "none" || d.arg === "optional")
      fixed.push({ key: d.name, cover: d.name, def: d, get: d.producer(undefined) });
    if (d.arg === "optional") {
      const args = OPTIONAL_ARGS[d.name];
      if (args === undefined) untabled.push(d.name);
      for (const a of args ?? [])
        fixed.push({ key: `${d.name}[${a}]`, cover: `${d.name}[]`, def: d, get: d.producer(a) });
    }
    if (d.arg === "key" || d.arg === "index") {
      const args = keyed[d.name];
      if (args === undefined) untabled.push(d.name);
      else if (args === "params") params.push(d);
      else
        for (const a of args)
          fixed.push({ key: `${d.name}[${a}]`, cover: `${d.name}[]`, def: d, get: d.producer(a) });
    }
  }
  return { fixed, perSyscall: new Map(), params, untabled };
}

function probesFor(p: Probes, ev: DecodedEvent): Probe[] {
  if (ev.kind !== "syscall") {
    const key = `:${ev.kind}`;
    let l = p.perSyscall.get(key);
    if (l === undefined) {
      l = [...p.fixed];
      for (const d of p.params)
        for (const a of ["child_pid", "status", 0])
          l.push({ key: `${d.name}[${a}]`, cover: `${d.name}[]`, def: d, get: d.producer(a) });
      p.perSyscall.set(key, l);
    }
    return l;
  }
  let l = p.perSyscall.get(ev.type);
  if (l === undefined) {
    l = [...p.fixed];
    const names = (SYSCALL_SPECS.get(ev.nr)?.params ?? []).map((x) => x.name);
    for (const d of p.params) {
      const extras = d.name === "evt.arg" ? EVT_ARG_EXTRAS : EVT_RAWARG_EXTRAS;
      for (const a of new Set<Arg>([...names, ...extras]))
        l.push({ key: `${d.name}[${a}]`, cover: `${d.name}[]`, def: d, get: d.producer(a) });
    }
    p.perSyscall.set(ev.type, l);
  }
  return l;
}

/** A value that shows something: not null, not an empty string or list. */
function shows(v: FieldValue): boolean {
  if (v === null) return false;
  if (typeof v === "string") return v !== "";
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

interface Seen {
  readonly ev: DecodedEvent;
  readonly type: string;
  readonly pid: number;
  /** the values that showed something, by field text */
  readonly v: Map<string, FieldValue>;
}

interface Cover {
  readonly def: FieldDef;
  value: boolean;
  isTrue: boolean;
  isFalse: boolean;
}

// ------------------------------------------------------------------ ground truth helpers

interface Facts {
  main: { pid: number; ppid: number; pgid: number; sid: number; tid: number };
  exe: { path: string; ino: number; dev: number; ctime_ns: string; mtime_ns: string; exepath: string };
  rlimit_nofile: number;
  cgroup: string;
  env: string;
  stdio: string[];
  vmrss: number[];
  files: {
    cwd: string;
    rel: { raw: string; abs: string; fd: number; ino: number; dev: number; major: number; minor: number };
    failed: { path: string; errno: number };
    at: { dirfd: number; fd: number; raw: string; abs: string };
    openat2: { fd?: number; raw?: string; abs?: string; error?: string };
    created: string;
    rename: { source: string; target: string };
    renameat: { source: string; target: string };
  };
  thread: { tid: number };
  tcp: {
    sport: number;
    cport: number;
    listen_fd: number;
    cli_fd: number;
    conn_fd: number;
    payload: string;
    poll: number[];
  };
  udp: { a_fd: number; b_fd: number; a_port: number; b_port: number; first: string; second: string };
  syslog: { fd?: number; message?: string; skipped?: string };
  pipes: { r: number; w: number; dup2: number; dup: number };
  children: {
    pgid_leader: { pid: number; pgid: number; sid: number };
    sid_leader: { pid: number; pgid: number; sid: number };
    tty: { pid: number; sid: number; major: number; minor: number };
    memfd: { pid: number; status: number };
    writable: {
      pid: number;
      exe: string;
      uid: number;
      stat: { ino: number; ctime_ns: string; mtime_ns: string };
    };
    not_writable: { pid: number; exe: string; uid: number };
    loginuid: { pid?: number; loginuid?: number; error?: string };
    mounts: {
      pid: number;
      error?: string;
      tmpfs?: { source: string; target: string };
      tmpfs_error?: string;
      overlay_error?: string;
      overlay?: Record<
        "lower" | "upper",
        { exe_pid: number; exe: string; file: string; ino: number; dev: number }
      >;
    };
  };
}

function getent(db: string, key: string): string[] | null {
  try {
    return execFileSync("getent", [db, key], { encoding: "utf8" }).trim().split(/\s+/)[0]?.split(":") ?? null;
  } catch {
    return null;
  }
}

function getentServices(port: number, proto: string): string | null {
  try {
    return (
      execFileSync("getent", ["services", `${port}/${proto}`], { encoding: "utf8" })
        .trim()
        .split(/\s+/)[0] ?? null
    );
  } catch {
    return null;
  }
}

async function until<T>(
  what: string,
  fn: () => T | undefined | null | false,
  timeoutMs = 10_000,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ------------------------------------------------------------------ the test

interface PodCase {
  readonly key: "web" | "cron" | "ds" | "sts";
  readonly name: string;
  readonly namespace: string;
  readonly labels: Record<string, string>;
  readonly container: string;
  readonly owner: { kind: string; name: string; apiVersion: string };
  /** what the owner chain names, by field (k8s.<x>.name) */
  readonly owners: Record<string, string>;
  readonly ip: string;
}

const PODS: readonly PodCase[] = [
  {
    key: "web",
    name: "web-7d9f8-x1y2z",
    namespace: "shop",
    labels: { app: "web", tier: "frontend", "pod-template-hash": "7d9f8" },
    container: "app",
    owner: { kind: "ReplicaSet", name: "web-7d9f8", apiVersion: "apps/v1" },
    owners: { rs: "web-7d9f8", deployment: "web" },
    ip: "10.1.0.11",
  },
  {
    key: "cron",
    name: "report-28999-abcde",
    namespace: "batch",
    labels: { app: "report" },
    container: "report",
    owner: { kind: "Job", name: "report-28999", apiVersion: "batch/v1" },
    // (no CronJob: the agent does not read Jobs, and a Job's name alone does not say it)
    owners: { job: "report-28999" },
    ip: "10.1.0.12",
  },
  {
    key: "ds",
    name: "agent-q8w7e",
    namespace: "infra",
    labels: { app: "agent" },
    container: "agent",
    owner: { kind: "DaemonSet", name: "agent", apiVersion: "apps/v1" },
    owners: { daemonset: "agent" },
    ip: "10.1.0.13",
  },
  {
    key: "sts",
    name: "db-0",
    namespace: "shop",
    labels: { app: "db" },
    container: "db",
    owner: { kind: "StatefulSet", name: "db", apiVersion: "apps/v1" },
    owners: { statefulset: "db" },
    ip: "10.1.0.14",
  },
];
const NS_LABELS: Record<string, Record<string, string>> = {
  shop: { team: "payments" },
  batch: { team: "reports" },
  infra: { team: "platform" },
};
const OWNER_FIELDS = ["rs", "deployment", "daemonset", "statefulset", "job"];

describe("every registered syscall field, filled from real events", { skip: SKIP ?? false }, () => {
  let dir = "";
  let work = "";
  let hostdata = "";
  const api = new KubeApiStandin();
  let tc: TestContainers;
  const pods = new Map<string, { pod: RunningPod; c: RunningContainer; spec: PodCase }>();
  let store: ContainerStore;
  let watcher: K8sApiWatcher;
  let k8s: K8sMetadata;
  let domains: DomainNames;
  const seen: Seen[] = [];
  const cover = new Map<string, Cover>();
  const thrown: string[] = [];
  let probes: Probes;
  let facts: Facts;
  let devLogExisted = false;
  let cgroupSubsys = "unified";
  let wallStart = 0n;
  let wallEnd = 0n;
  let runMs = 0;
  const t0 = Date.now();
  let appUserPid = 0;
  let statsAtEnd: CaptureStats | null = null;
  let evalMs = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "lanner-fields-kernel-"));
    work = join(dir, "work");
    hostdata = join(dir, "hostdata");
    mkdirSync(work);
    mkdirSync(hostdata);
    writeFileSync(join(hostdata, "note.txt"), "from the host\n");
    chmodSync(dir, 0o755);
    devLogExisted = existsSync("/dev/log");
    // a cgroup v1 controller this host has (one placing this process below the root if
    // any), else the unified hierarchy
    const controllers = readFileSync("/proc/self/cgroup", "utf8")
      .split("\n")
      .map((l) => l.split(":"))
      .filter((p) => p[1] !== undefined && p[1] !== "" && !p[1].startsWith("name="));
    const pick = controllers.find((p) => p.slice(2).join(":") !== "/") ?? controllers[0];
    if (pick !== undefined) cgroupSubsys = (pick[1] as string).split(",")[0] as string;
    probes = buildProbes(cgroupSubsys);

    // ---- containers in pods, and the API server's view of them
    tc = new TestContainers();
    await Promise.all(
      PODS.map(async (spec) => {
        const pod = await tc.startPod({ name: spec.name, namespace: spec.namespace, labels: spec.labels });
        const c = await tc.start({
          name: spec.container,
          pod,
          ...(spec.key === "web"
            ? {
                privileged: true,
                imageRecord: true,
                labels: { "example.com/team": "blue" },
                mounts: [{ source: hostdata, destination: "/hostdata" }],
              }
            : {}),
        });
        pods.set(spec.key, { pod, c, spec });
      }),
    );
    await api.start();
    for (const [ns, labels] of Object.entries(NS_LABELS)) api.addNamespace(ns, labels);
    // (no ReplicaSet or Job objects: the agent names a Deployment from the pod alone)
    for (const { pod, spec } of pods.values())
      api.addPod({
        name: spec.name,
        namespace: spec.namespace,
        uid: pod.spec.uid,
        nodeName: NODE,
        labels: spec.labels,
        ownerReferences: [{ ...spec.owner, controller: true }],
        podIP: spec.ip,
      });

    // ---- the state services the agent reads
    store = new ContainerStore({ logger: () => undefined });
    store.start();
    assert.equal(await store.whenSynced(10_000), true, "containerd synced");
    watcher = new K8sApiWatcher({
      nodeName: NODE,
      kubeconfig: api.writeKubeconfig(join(dir, "kubeconfig")),
      requestTimeoutMs: 2000,
      logger: () => undefined,
    });
    watcher.start();
    assert.equal(await watcher.whenSynced(10_000), true, "API server synced");
    k8s = new K8sMetadata({ containers: store, api: watcher });
    domains = new DomainNames();
    await domains.watch(["localhost"]);
    const services = createStateServices({ containers: store, k8s, users: new UserResolver(), domains });
    for (const { c, spec } of pods.values())
      await until(`pod metadata of ${spec.name}`, () => {
        const info = store.byPid(c.pid);
        const m = info?.complete === true ? k8s.forContainer(info) : null;
        return m?.source === "api" && (m.owners?.length ?? 0) === Object.keys(spec.owners).length;
      });
    const ours = new Set([...pods.values()].map((p) => p.c.id));

    // ---- the capture, read as the agent reads it
    const state = new State();
    state.seed();
    const ctx = contextFor(state, services);
    const mine = new Set<number>();
    // cgroup id -> one of our containers; the node's other records cost one map read
    const oursByCgroup = new Map<bigint, boolean>();
    const view = new RecordView();
    let num = 0;
    let lastTs = 0;
    const session: CaptureSession = CaptureSession.start({
      syscalls: [...SUPPORTED_SYSCALLS],
      snaplen: 80,
      // the whole node is captured, and other work may run beside the test
      ringBytes: 64 << 20,
      onBatch: (batch, bytes) =>
        walkBatch(view, batch, bytes, (v) => {
          state.applyRecord(v, Date.now());
          num++;
          const syscall = v.kind === KIND_SYSCALL;
          const tgid = v.tgid;
          if (syscall && !mine.has(tgid)) {
            const cg = v.syscallCgroupId;
            let inOurs = oursByCgroup.get(cg);
            if (inOurs === undefined) {
              const c = store.lookup(tgid, cg === 0n ? undefined : cg);
              if (c === undefined) return;
              inOurs = ours.has(c.fullId);
              oursByCgroup.set(cg, inOurs);
            }
            if (!inOurs) return;
          }
          const ev = decodeRecord(v);
          if (!ev) return;
          if (ev.kind === "exec" && (ev.ppid === process.pid || mine.has(ev.ppid))) mine.add(ev.tgid);
          if (ev.kind === "fork" && mine.has(ev.tgid)) mine.add(ev.childTgid);
          if (!syscall && !mine.has(ev.tgid)) {
            const cg = ev.cgroupId;
            const c =
              oursByCgroup.get(cg) ??
              (() => {
                const info = store.lookup(ev.tgid, cg === 0n ? undefined : cg);
                return info !== undefined && ours.has(info.fullId);
              })();
            if (!c) return;
          }
          const e0 = performance.now();
          const type = typeOf(ev);
          ctx.set(ev, type, num);
          ctx.prevTs = lastTs;
          lastTs = ev.ts;
          const values = new Map<string, FieldValue>();
          for (const p of probesFor(probes, ev)) {
            let val: FieldValue;
            try {
              val = p.get(ctx, type);
            } catch (e) {
              thrown.push(`${p.key} on ${type}: ${String(e)}`);
              continue;
            }
            let c = cover.get(p.cover);
            if (c === undefined)
              cover.set(p.cover, (c = { def: p.def, value: false, isTrue: false, isFalse: false }));
            if (val === true) c.isTrue = true;
            if (val === false) c.isFalse = true;
            if (shows(val)) {
              c.value = true;
              values.set(p.key, val);
            }
          }
          seen.push({ ev, type, pid: ev.tgid, v: values });
          evalMs += performance.now() - e0;
        }),
    });
    ctx.bootToWallNs = session.bootToWallNs;
    ctx.startTs = Number(clockOffsets().boottimeNs);
    wallStart = BigInt(Date.now()) * 1_000_000n;
    try {
      facts = await runWorkload();
      // in every container: a shell that reads a file and lists the host mount
      for (const { c } of pods.values())
        await tc.exec(c, [
          "/bin/sh",
          "-c",
          "cat /etc/hostname >/dev/null; ls /hostdata /proc/1 >/dev/null 2>&1; true",
        ]);
      // in the web pod, a process of the image's own user, kept alive until its events were
      // read: a container's account files are read through its processes
      const web = pods.get("web");
      if (web !== undefined) {
        appUserPid = await tc.execDetached(
          web.c,
          ["/bin/sh", "-c", "cat /etc/passwd >/dev/null; exec sleep 30"],
          {
            user: String(ROOTFS_USERS.app.uid),
          },
        );
        try {
          await until("the exec of sleep as the image's user", () =>
            seen.some((s) => s.pid === appUserPid && s.type === "execve" && val(s, "proc.exe") === "sleep"),
          );
        } finally {
          process.kill(appUserPid, "SIGKILL");
        }
      }
      await new Promise((r) => setTimeout(r, 60));
      session.drain();
    } finally {
      statsAtEnd = session.stats();
      session.close();
    }
    wallEnd = BigInt(Date.now()) * 1_000_000n;
    runMs = Date.now() - t0;
  });

  /**
   * Runs the workload; it reports its facts, then waits on stdin until the test has read the
   * event of its last mark, so that every event of its own was read while it was alive
   * (values read from /proc when asked need the process).
   */
  async function runWorkload(): Promise<Facts> {
    const child = spawn(PYTHON, [FIXTURE, "main", work, devLogExisted ? "no-devlog" : "bind-devlog"], {
      env: { ...process.env, [ENV_NAME]: ENV_VALUE },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    try {
      const line = await until(
        "the workload's facts",
        () => (out.includes("\n") ? out.split("\n")[0] : undefined),
        40_000,
      );
      const f = JSON.parse(line as string) as Facts;
      await until("the workload's last mark", () =>
        seen.some((s) => s.pid === f.main.pid && rawOf(s) === "/nonexistent-lanner-mark/done"),
      );
      child.stdin.end();
      assert.equal(await exited, 0, `workload failed: ${err}`);
      return f;
    } catch (e) {
      child.kill("SIGKILL");
      throw new Error(`${String(e)}; workload stderr: ${err}`, { cause: e });
    }
  }

  after(async () => {
    domains?.close();
    k8s?.close();
    await watcher?.close();
    await api.stop();
    await store?.close();
    await tc?.cleanup();
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
    // the workload removes the /dev/log it bound; if it was killed first, the socket left
    // behind is the one made during this run (a host's own is never touched)
    if (!devLogExisted) {
      const st = lstatSync("/dev/log", { throwIfNoEntry: false });
      if (st?.isSocket() === true && st.ctimeMs >= t0) rmSync("/dev/log", { force: true });
    }
    console.log(
      `# field kernel test: ${seen.length} events evaluated in ${Math.round(evalMs)} ms, ${Date.now() - t0} ms in all (containers, capture and workload ${runMs} ms); capture: ${JSON.stringify(statsAtEnd)}`,
    );
  });

  // ---------------------------------------------------------------- lookups over the events

  const of = (pid: number, type?: string): Seen[] =>
    seen.filter((s) => s.pid === pid && (type === undefined || s.type === type));
  const first = (what: string, pred: (s: Seen) => boolean): Seen => {
    const s = seen.find(pred);
    assert.ok(s, `no event: ${what}`);
    return s;
  };
  const val = (s: Seen, key: string): FieldValue => s.v.get(key) ?? null;
  const rawOf = (s: Seen): string | null => (val(s, "fd.nameraw") as string | null) ?? null;

  /** The exemptions of this host: coverage key -> why (each condition checked now). */
  function exemptions(): Map<string, string> {
    const ex = new Map<string, string>();
    if (devLogExisted || facts.syslog.skipped !== undefined)
      ex.set(
        "evt.is_syslog=true",
        "/dev/log exists on this host (a syslog daemon's socket): the test never writes to the host's log",
      );
    const m = facts.children.mounts;
    const ovl = m.error ?? m.overlay_error;
    if (ovl !== undefined)
      for (const k of [
        "fd.is_upper_layer",
        "fd.is_lower_layer",
        "proc.is_exe_upper_layer",
        "proc.is_exe_lower_layer",
      ])
        ex.set(`${k}=true`, `overlayfs cannot be mounted here (${ovl})`);
    const lu = facts.children.loginuid.error;
    if (lu !== undefined)
      ex.set("user.loginname", `this kernel refuses an audit login uid to a child (${lu})`);
    return ex;
  }

  it("every registered field yields a value from a real event (a bool: true and false)", () => {
    assert.deepEqual(probes.untabled, [], "keyed or optional fields without an argument in the test's table");
    assert.deepEqual(thrown.slice(0, 20), [], "producers never throw");
    assert.ok(seen.length > 500, `only ${seen.length} events of the workload were read`);
    const ex = exemptions();
    const missing: string[] = [];
    const need = (key: string, ok: boolean, what: string): void => {
      if (ok) return;
      const why = ex.get(key);
      if (why !== undefined) console.log(`# exempt: ${key}: ${why}`);
      else missing.push(`${key} (${what})`);
    };
    for (const d of SYSCALL_FIELDS.defs) {
      const keys =
        d.arg === "none" ? [d.name] : d.arg === "optional" ? [d.name, `${d.name}[]`] : [`${d.name}[]`];
      for (const k of keys) {
        const c = cover.get(k);
        need(k, c?.value === true, "never a value");
        if (d.type === "bool") {
          need(`${k}=true`, c?.isTrue === true, "never true");
          need(`${k}=false`, c?.isFalse === true, "never false");
        }
      }
    }
    if (ex.size === 0) console.log("# exemptions: none on this host");
    const lost = statsAtEnd === null ? 0 : statsAtEnd.dropRing;
    assert.deepEqual(
      missing,
      [],
      `fields no real event filled (${lost} records were dropped by the ring):\n  ${missing.join("\n  ")}`,
    );
  });

  it("evt: types, results, arguments, time, data and paths", () => {
    const main = facts.main.pid;
    const f = facts.files;
    const failed = first("the failed open", (s) => s.pid === main && rawOf(s) === f.failed.path);
    assert.equal(failed.type, "openat");
    assert.equal(val(failed, "evt.res"), "ENOENT");
    assert.equal(val(failed, "evt.rawres"), -f.failed.errno);
    assert.equal(val(failed, "evt.failed"), true);
    assert.equal(val(failed, "evt.arg[name]"), f.failed.path);
    assert.equal(val(failed, "evt.arg[res]"), "ENOENT");
    assert.equal(val(failed, "evt.rawarg[res]"), -f.failed.errno);
    assert.match(String(val(failed, "evt.arg[flags]")), /O_RDONLY/);
    assert.match(String(val(failed, "evt.args")), new RegExp(`name=${f.failed.path}`));
    assert.equal(val(failed, "evt.category"), "file");
    assert.equal(val(failed, "evt.source"), "syscall");
    assert.equal(val(failed, "evt.hostname"), osHostname());
    assert.equal(val(failed, "evt.is_open_read"), true);
    // time: inside the run, the same instant in every rendering
    const t = val(failed, "evt.time") as bigint;
    assert.ok(t >= wallStart && t <= wallEnd, `evt.time ${t} outside the run [${wallStart}, ${wallEnd}]`);
    assert.equal(val(failed, "evt.rawtime"), t);
    assert.equal(
      BigInt(val(failed, "evt.rawtime.s") as number) * 1_000_000_000n +
        BigInt(val(failed, "evt.rawtime.ns") as number),
      t,
    );
    const iso = new Date(Number(t / 1_000_000n)).toISOString().slice(0, 19);
    assert.equal(String(val(failed, "evt.time.iso8601")).slice(0, 19), iso);
    assert.equal(String(val(failed, "evt.datetime")).slice(0, 19), iso.replace("T", " "));
    assert.equal(val(failed, "evt.datetime.s"), iso.replace("T", " "));
    assert.equal(val(failed, "evt.time.s"), iso.slice(11, 19));
    const rel = val(failed, "evt.reltime") as number;
    assert.ok(rel > 0 && rel < (Date.now() - t0) * 1e6, `evt.reltime ${rel}`);
    const lat = val(failed, "evt.latency") as number;
    assert.ok(lat > 0 && lat < 1e9, `evt.latency ${lat}`);
    assert.equal(val(failed, "evt.latency.ns"), lat % 1e9);
    // an open relative to a directory fd: the absolute path
    const at = first(
      "openat with a dirfd",
      (s) => s.pid === main && s.type === "openat" && val(s, "evt.rawarg[dirfd]") === f.at.dirfd,
    );
    assert.equal(val(at, "evt.abspath"), f.at.abs);
    // an executable created by open(O_CREAT, 0755)
    const made = first("the O_CREAT open", (s) => s.pid === main && rawOf(s) === f.created);
    assert.equal(val(made, "evt.is_open_exec"), true);
    assert.equal(val(made, "evt.is_open_create"), true);
    assert.equal(val(made, "evt.is_open_write"), true);
    assert.equal(val(made, "evt.is_open_read"), false);
    // renameat: both ends absolute
    const rn = first("renameat", (s) => s.pid === main && s.type === "renameat");
    assert.equal(val(rn, "evt.abspath.src"), f.renameat.source);
    assert.equal(val(rn, "evt.abspath.dst"), f.renameat.target);
    // data: what the TCP client sent, and what the server received
    const tcp = facts.tcp;
    const sent = first(
      "the TCP send",
      (s) => s.pid === main && s.type === "sendto" && val(s, "evt.rawarg[fd]") === tcp.cli_fd,
    );
    assert.equal(Buffer.from(val(sent, "evt.buffer") as Uint8Array).toString(), tcp.payload);
    assert.equal(val(sent, "evt.buflen"), tcp.payload.length);
    assert.equal(val(sent, "evt.is_io_write"), true);
    assert.equal(val(sent, "evt.is_io"), true);
    const got = first(
      "the TCP receive",
      (s) => s.pid === main && s.type === "recvfrom" && val(s, "evt.rawarg[fd]") === tcp.conn_fd,
    );
    assert.equal(Buffer.from(val(got, "evt.buffer") as Uint8Array).toString(), tcp.payload);
    assert.equal(val(got, "evt.is_io_read"), true);
    assert.equal(val(got, "evt.category"), "net");
    if (facts.syslog.fd !== undefined) {
      const log = first(
        "the datagram to /dev/log",
        (s) => s.pid === main && s.type === "sendto" && val(s, "evt.is_syslog") === true,
      );
      assert.equal(Buffer.from(val(log, "evt.buffer") as Uint8Array).toString(), facts.syslog.message);
    }
    // lifecycle records: a fork names its child
    const pg = facts.children.pgid_leader.pid;
    const fork = first(
      "the fork of a child",
      (s) => s.pid === main && s.type === "procfork" && val(s, "evt.arg[child_pid]") === pg,
    );
    assert.equal(val(fork, "evt.type"), "procfork");
  });

  it("proc: ids, environment, executable inode and times, sessions, groups, tty, memory", () => {
    const m = facts.main;
    const evs = of(m.pid);
    assert.ok(evs.length > 50, `${evs.length} events of the workload`);
    // the mark after the main steps: the process is alive when it is read
    const s = markOf("end");
    assert.equal(val(s, "proc.pid"), m.pid);
    assert.equal(val(s, "proc.ppid"), m.ppid);
    assert.equal(m.ppid, process.pid);
    assert.equal(val(s, "proc.pgid"), m.pgid);
    assert.equal(val(s, "proc.vpgid"), m.pgid, "host pid namespace: vpgid = pgid");
    assert.equal(val(s, "proc.sid"), m.sid);
    assert.equal(val(s, "proc.vpid"), m.pid);
    assert.equal(val(s, "proc.env[LANNER_FIELD_TEST]"), ENV_VALUE);
    assert.equal(facts.env, ENV_VALUE);
    assert.ok(String(val(s, "proc.env")).split(" ").includes(`${ENV_NAME}=${ENV_VALUE}`));
    assert.equal(val(s, "proc.exepath"), facts.exe.exepath);
    assert.equal(val(s, "proc.exe"), PYTHON);
    assert.equal(val(s, "proc.name"), readComm(m.pid) ?? "python3");
    assert.equal(val(s, "proc.exe_ino"), facts.exe.ino);
    assert.equal(
      val(s, "proc.cmdline"),
      `${val(s, "proc.name") as string} ${FIXTURE} main ${work} ${devLogExisted ? "no-devlog" : "bind-devlog"}`,
    );
    assert.equal(
      val(s, "proc.args"),
      `${FIXTURE} main ${work} ${devLogExisted ? "no-devlog" : "bind-devlog"}`,
    );
    assert.equal(val(s, "proc.cmdnargs"), 4);
    assert.equal(val(s, "proc.cwd"), work);
    assert.equal(val(s, "proc.fdlimit"), facts.rlimit_nofile);
    assert.equal(val(s, "proc.is_sid_leader"), false);
    assert.equal(val(s, "proc.is_pgid_leader"), false);
    assert.equal(val(s, "proc.tty"), 0);
    assert.equal(val(s, "proc.apid[1]"), process.pid);
    assert.deepEqual((val(s, "proc.apid") as string[]).slice(0, 1), [String(process.pid)]);
    assert.equal(val(s, "proc.pname"), readComm(process.pid));
    assert.equal(val(s, "proc.aname[1]"), readComm(process.pid));
    // the leaders of its session and process group are the test runner's
    assert.equal(val(s, "proc.sname"), readComm(m.sid));
    assert.equal(val(s, "proc.pgid.name"), readComm(m.pgid));
    assert.equal(val(s, "proc.vpgid.name"), readComm(m.pgid));
    // stdio as the workload saw it in /proc/self/fd
    const kind = (link: string): string =>
      link.startsWith("pipe:")
        ? "pipe"
        : link.startsWith("socket:")
          ? "unix"
          : link.startsWith("/")
            ? "file"
            : "other";
    assert.equal(val(s, "proc.stdout.type"), kind(facts.stdio[1] as string));
    // start time: inside the run
    const start = val(s, "proc.pid.ts") as bigint;
    assert.ok(start >= wallStart - 1_000_000_000n && start <= wallEnd, `proc.pid.ts ${start}`);
    // the host pid namespace's init: /proc/1/stat's start (clock ticks after boot) + btime
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    const ticks = Number(readFileSync("/proc/1/stat", "utf8").split(") ")[1]?.split(" ")[19]);
    const initWall = BigInt(btime) * 1_000_000_000n + BigInt(ticks) * 10_000_000n;
    const pidns = val(s, "proc.pidns_init_start_ts") as bigint;
    assert.ok(
      pidns - initWall < 2_000_000_000n && initWall - pidns < 2_000_000_000n,
      `proc.pidns_init_start_ts ${pidns}, /proc says ${initWall}`,
    );
    // memory while the workload ran its steps, against its own /proc/self/status samples
    const marks = evs.map((x, i) => [i, rawOf(x)] as const);
    const b = marks.find(([, r]) => r === "/nonexistent-lanner-mark/begin")?.[0];
    const e = marks.find(([, r]) => r === "/nonexistent-lanner-mark/end")?.[0];
    assert.ok(b !== undefined && e !== undefined && e > b, "the phase marks");
    const lo = Math.min(...facts.vmrss);
    const hi = Math.max(...facts.vmrss);
    for (const x of evs.slice(b, e + 1)) {
      const rss = val(x, "proc.vmrss") as number | null;
      if (rss === null) continue;
      assert.ok(
        rss >= lo / 2 && rss <= hi * 2,
        `proc.vmrss ${rss} kB on ${x.type}, the workload saw ${lo}..${hi} kB`,
      );
      assert.ok((val(x, "proc.vmsize") as number) >= rss, "vmsize >= vmrss");
    }
    // the children: a process group leader, a session leader, one on a terminal
    const c = facts.children;
    const pg = lastOf(c.pgid_leader.pid);
    assert.equal(val(pg, "proc.pgid"), c.pgid_leader.pid);
    assert.equal(val(pg, "proc.is_pgid_leader"), true);
    assert.equal(val(pg, "proc.is_vpgid_leader"), true);
    assert.equal(val(pg, "proc.pgid.exe"), PYTHON);
    assert.equal(val(pg, "proc.ppid"), m.pid);
    const sl = lastOf(c.sid_leader.pid);
    assert.equal(val(sl, "proc.sid"), c.sid_leader.pid);
    assert.equal(val(sl, "proc.is_sid_leader"), true);
    assert.equal(val(sl, "proc.sid.exe"), PYTHON);
    assert.equal(val(sl, "proc.sid.exepath"), facts.exe.exepath);
    const tty = lastOf(c.tty.pid);
    assert.equal(val(tty, "proc.tty"), (c.tty.major << 20) | c.tty.minor);
    assert.equal(val(tty, "proc.sid"), c.tty.pid);
    // executables: from a memfd, writable by a non-root owner, not writable, overlay layers
    // the pid exec'd twice: python, then the memfd
    const memfd = first(
      "the memfd exec",
      (x) => x.pid === c.memfd.pid && x.type === "procexec" && val(x, "proc.exe") !== PYTHON,
    );
    assert.equal(val(memfd, "proc.is_exe_from_memfd"), true);
    assert.equal(val(memfd, "proc.exe"), "lanner-memfd-true");
    assert.equal(val(memfd, "proc.exepath"), "memfd:lanner-memfd-true", "Falco's form: the memfd's name");
    const memfdExit = first(
      "the exec of the memfd",
      (x) => x.pid === c.memfd.pid && x.type.startsWith("execve") && val(x, "proc.exe") !== PYTHON,
    );
    assert.match(String(val(memfdExit, "evt.arg[flags]")), /EXE_FROM_MEMFD/);
    const wr = first(
      "the exec of a file its user owns",
      (x) => x.pid === c.writable.pid && x.type === "procexec",
    );
    assert.equal(val(wr, "proc.exepath"), c.writable.exe);
    assert.equal(val(wr, "proc.is_exe_writable"), true);
    const nw = first(
      "the exec of /bin/true as nobody",
      (x) => x.pid === c.not_writable.pid && x.type === "procexec",
    );
    assert.equal(val(nw, "proc.is_exe_writable"), false);
    const ov = c.mounts.overlay;
    if (ov !== undefined) {
      const lower = first(
        "the exec from the lower layer",
        (x) => x.pid === ov.lower.exe_pid && x.type === "procexec",
      );
      assert.equal(val(lower, "proc.is_exe_lower_layer"), true);
      assert.equal(val(lower, "proc.is_exe_upper_layer"), false);
      const upper = first(
        "the exec from the upper layer",
        (x) => x.pid === ov.upper.exe_pid && x.type === "procexec",
      );
      assert.equal(val(upper, "proc.is_exe_upper_layer"), true);
      assert.equal(val(upper, "proc.is_exe_lower_layer"), false);
    }
  });

  it("proc.exe_ino.*: the executable's inode and times as stat(2) gives them", () => {
    const s = markOf("end");
    const c = facts.children.writable;
    // a binary installed long ago, and one written during the run
    const w = first(
      "the exec of the file written during the run",
      (x) => x.pid === c.pid && x.type === "procexec",
    );
    assert.equal(val(s, "proc.exe_ino"), facts.exe.ino);
    assert.equal(val(w, "proc.exe_ino"), c.stat.ino);
    assert.equal(val(s, "proc.exe_ino.mtime"), BigInt(facts.exe.mtime_ns));
    assert.equal(val(w, "proc.exe_ino.mtime"), BigInt(c.stat.mtime_ns));
    // ctime: the kernel keeps a flag in the top bit of i_ctime_nsec (multigrain timestamps,
    // Linux 6.13+), which stat(2) masks
    assert.equal(
      val(s, "proc.exe_ino.ctime"),
      BigInt(facts.exe.ctime_ns),
      `proc.exe_ino.ctime of ${facts.exe.path}`,
    );
    assert.equal(val(w, "proc.exe_ino.ctime"), BigInt(c.stat.ctime_ns), `proc.exe_ino.ctime of ${c.exe}`);
  });

  it("proc.exe_ino.ctime_duration_*: libsinsp's differences of the process's and pid namespace's start and the ctime", () => {
    const s = markOf("end");
    const w = first(
      "the exec of the file written during the run",
      (x) => x.pid === facts.children.writable.pid && x.type === "procexec",
    );
    for (const [what, e] of [
      ["a binary installed before the namespace started", s],
      ["a binary written during the run", w],
    ] as const) {
      const ct = val(e, "proc.exe_ino.ctime") as bigint;
      const start = val(e, "proc.pid.ts") as bigint;
      const pidns = val(e, "proc.pidns_init_start_ts") as bigint;
      // process start - ctime
      assert.equal(val(e, "proc.exe_ino.ctime_duration_proc_start"), Number(start - ct), what);
      // ctime - pid namespace start, set only when the file changed after the namespace started
      assert.equal(
        val(e, "proc.exe_ino.ctime_duration_pidns_start"),
        ct > pidns ? Number(ct - pidns) : null,
        what,
      );
    }
    assert.ok(
      (val(w, "proc.exe_ino.ctime") as bigint) > (val(w, "proc.pidns_init_start_ts") as bigint),
      "written after the namespace started",
    );
  });

  it("evt.abspath.*: libsinsp's ends of linkat (src: the existing file) and symlinkat (the link)", () => {
    const main = facts.main.pid;
    const ln = first("linkat", (s) => s.pid === main && s.type === "linkat");
    assert.equal(val(ln, "evt.abspath.src"), join(work, "data.txt"), "linkat: src is oldpath");
    assert.equal(val(ln, "evt.abspath.dst"), join(work, "hard2.txt"), "linkat: dst is newpath");
    assert.equal(val(ln, "evt.abspath"), join(work, "data.txt"), "linkat: evt.abspath is oldpath");
    const sy = first("symlinkat", (s) => s.pid === main && s.type === "symlinkat");
    assert.equal(val(sy, "evt.abspath"), join(work, "sym2.txt"));
    assert.equal(val(sy, "evt.abspath.src"), join(work, "sym2.txt"));
    assert.equal(
      val(sy, "evt.abspath.dst"),
      join(work, "sym2.txt"),
      "symlinkat: every end is linkdirfd + linkpath",
    );
  });

  it("evt.category and evt.is_io*: sendmsg and recvmsg on a socket are network I/O", () => {
    const main = facts.main.pid;
    const sm = first(
      "sendmsg",
      (s) => s.pid === main && s.type === "sendmsg" && val(s, "fd.num") === facts.tcp.cli_fd,
    );
    const rm = first(
      "recvmsg",
      (s) => s.pid === main && s.type === "recvmsg" && val(s, "fd.num") === facts.tcp.conn_fd,
    );
    assert.equal(val(sm, "evt.category"), "net");
    assert.equal(val(rm, "evt.category"), "net");
    assert.equal(val(sm, "evt.is_io"), true);
    assert.equal(val(sm, "evt.is_io_write"), true);
    assert.equal(val(rm, "evt.is_io_read"), true);
  });

  it("evt.args names each argument once (as Falco renders an event's arguments)", () => {
    const twice: string[] = [];
    for (const e of seen) {
      const text = val(e, "evt.args");
      if (typeof text !== "string") continue;
      const names = text.split(" ").flatMap((t) => /^([a-z_0-9]+)=/.exec(t)?.[1] ?? []);
      if (new Set(names).size !== names.length && !twice.some((x) => x.startsWith(`${e.type}:`)))
        twice.push(`${e.type}: ${text.slice(0, 160)}`);
    }
    assert.deepEqual(twice, [], `an argument named twice:\n  ${twice.join("\n  ")}`);
  });

  it("thread.vtid of a procfork is the forking thread's, not the child's", () => {
    const fork = first("a fork of the workload", (s) => s.pid === facts.main.pid && s.type === "procfork");
    assert.equal(val(fork, "thread.tid"), facts.main.pid);
    assert.equal(val(fork, "thread.vtid"), facts.main.pid, "host pid namespace: vtid = tid");
  });

  it("thread: the ids, cgroup and capabilities of the thread that made the call", () => {
    const th = first(
      "the open of the second thread",
      (s) => s.ev.tid === facts.thread.tid && s.type === "openat",
    );
    assert.equal(val(th, "thread.tid"), facts.thread.tid);
    assert.equal(val(th, "thread.vtid"), facts.thread.tid);
    assert.equal(val(th, "thread.ismain"), false);
    assert.equal(val(th, "proc.pid"), facts.main.pid);
    assert.equal(val(th, "thread.nametid"), `${val(th, "proc.name") as string}:${facts.thread.tid}`);
    const main = markOf("end");
    assert.equal(val(main, "thread.ismain"), true);
    const want = facts.cgroup
      .split("\n")
      .map((l) => l.split(":"))
      .find((p) =>
        p[1] === "" ? cgroupSubsys === "unified" : (p[1] ?? "").split(",").includes(cgroupSubsys),
      );
    assert.equal(val(main, `thread.cgroup[${cgroupSubsys}]`), want?.slice(2).join(":"));
    assert.ok(
      String(val(main, "thread.cap_effective")).split(" ").includes("CAP_SYS_ADMIN"),
      "root has CAP_SYS_ADMIN",
    );
    const cpu = val(main, "thread.totexectime") as number;
    assert.ok(cpu > 0 && cpu < (Date.now() - t0) * 1e6, `thread.totexectime ${cpu}`);
  });

  it("fd: files (path as given, inode, device), sockets (both ends, services, names), pipes, polls", () => {
    const main = facts.main.pid;
    const f = facts.files;
    const rel = first(
      "the open through '..'",
      (s) => s.pid === main && s.type === "openat" && rawOf(s) === f.rel.raw,
    );
    assert.equal(val(rel, "fd.name"), f.rel.abs);
    assert.equal(val(rel, "fd.num"), f.rel.fd);
    assert.equal(val(rel, "fd.type"), "file");
    assert.equal(val(rel, "fd.typechar"), "f");
    assert.equal(val(rel, "fd.directory"), dirname(f.rel.abs));
    assert.equal(val(rel, "fd.filename"), "data.txt");
    assert.equal(val(rel, "fd.ino"), f.rel.ino);
    assert.equal(val(rel, "fd.dev"), f.rel.dev);
    assert.equal(val(rel, "fd.dev.major"), f.rel.major);
    assert.equal(val(rel, "fd.dev.minor"), f.rel.minor);
    assert.equal(val(rel, "fd.uid"), `${main}:${f.rel.fd}`);
    assert.equal(val(rel, "fd.containername"), `host:${f.rel.abs}`);
    assert.equal(val(rel, "fd.is_upper_layer"), false);
    assert.equal(val(rel, "fs.path.nameraw"), f.rel.raw);
    assert.equal(val(rel, "fs.path.name"), f.rel.abs);
    if (f.openat2.fd !== undefined) {
      const o2 = first(
        "openat2",
        (s) => s.pid === main && s.type === "openat2" && val(s, "evt.rawres") === f.openat2.fd,
      );
      assert.equal(val(o2, "fd.nameraw"), f.openat2.raw);
      assert.equal(val(o2, "fd.name"), f.openat2.abs);
      assert.equal(val(o2, "fd.ino"), f.rel.ino);
      assert.match(String(val(o2, "evt.arg[flags]")), /O_CLOEXEC/);
    }
    const failed = first("the failed open", (s) => s.pid === main && rawOf(s) === f.failed.path);
    assert.equal(val(failed, "fd.num"), -1);
    assert.equal(val(failed, "fd.name"), f.failed.path);
    // TCP on loopback, both ports named in /etc/services
    const t = facts.tcp;
    const sproto = getentServices(t.sport, "tcp");
    const cproto = getentServices(t.cport, "tcp");
    const conn = first(
      "the TCP connect",
      (s) => s.pid === main && s.type === "connect" && val(s, "fd.sport") === t.sport,
    );
    const name = `127.0.0.1:${t.cport}->127.0.0.1:${t.sport}`;
    assert.equal(val(conn, "fd.name"), name);
    assert.equal(val(conn, "fd.cip"), "127.0.0.1");
    assert.equal(val(conn, "fd.sip"), "127.0.0.1");
    assert.equal(val(conn, "fd.cport"), t.cport);
    assert.equal(val(conn, "fd.lport"), t.cport);
    assert.equal(val(conn, "fd.rport"), t.sport);
    assert.equal(val(conn, "fd.l4proto"), "tcp");
    assert.equal(val(conn, "fd.type"), "ipv4");
    assert.equal(val(conn, "fd.typechar"), "4");
    assert.equal(val(conn, "fd.sockfamily"), "ip");
    assert.equal(val(conn, "fd.is_server"), false);
    assert.equal(val(conn, "fd.connected"), true);
    assert.equal(val(conn, "fd.name_changed"), true);
    assert.equal(val(conn, "fd.sproto"), sproto);
    assert.equal(val(conn, "fd.cproto"), cproto);
    assert.equal(val(conn, "fd.rproto"), sproto);
    assert.equal(val(conn, "fd.lproto"), cproto);
    assert.deepEqual(val(conn, "fd.port"), [String(t.cport), String(t.sport)]);
    assert.deepEqual(val(conn, "fd.proto"), [cproto, sproto]);
    const names = localhostNames;
    if (names.includes("127.0.0.1")) {
      assert.equal(val(conn, "fd.sip.name"), "localhost");
      assert.equal(val(conn, "fd.cip.name"), "localhost");
    }
    const acc = first(
      "the accept",
      (s) => s.pid === main && s.type.startsWith("accept") && val(s, "fd.num") === t.conn_fd,
    );
    assert.equal(val(acc, "fd.name"), name);
    assert.equal(val(acc, "fd.is_server"), true);
    assert.equal(val(acc, "fd.lport"), t.sport);
    assert.equal(val(acc, "fd.rport"), t.cport);
    assert.equal(val(acc, "fd.lproto"), sproto);
    assert.equal(val(acc, "fd.rproto"), cproto);
    // poll over the two connected sockets
    const poll = first("the poll", (s) => s.pid === main && (s.type === "poll" || s.type === "ppoll"));
    assert.equal(val(poll, "fdlist.nums"), t.poll.join(","));
    assert.equal(val(poll, "fdlist.cports"), `${t.cport},${t.cport}`);
    assert.equal(val(poll, "fdlist.sports"), `${t.sport},${t.sport}`);
    assert.equal(val(poll, "fdlist.cips"), "127.0.0.1,127.0.0.1");
    assert.equal(val(poll, "fdlist.sips"), "127.0.0.1,127.0.0.1");
    assert.equal(val(poll, "fdlist.names"), `${name},${name}`);
    // UDP: the first datagram to a peer changes the socket's name, the second does not
    const u = facts.udp;
    const sends = of(main, "sendto").filter(
      (s) => val(s, "evt.rawarg[fd]") === u.a_fd && val(s, "fd.l4proto") === "udp",
    );
    assert.equal(sends.length, 2, "two UDP datagrams");
    const [s1, s2] = sends as [Seen, Seen];
    assert.equal(Buffer.from(val(s1, "evt.buffer") as Uint8Array).toString(), u.first);
    assert.equal(val(s1, "fd.name_changed"), true);
    assert.equal(val(s2, "fd.name_changed"), false);
    assert.equal(val(s1, "fd.rport"), u.b_port);
    assert.equal(val(s1, "fd.lport"), u.a_port);
    // a pipe and its duplicates
    const p = facts.pipes;
    const pipe = first(
      "the pipe",
      (s) => s.pid === main && s.type.startsWith("pipe") && val(s, "evt.arg[fd1]") === p.r,
    );
    assert.equal(val(pipe, "evt.arg[fd2]"), p.w);
    const dup2 = first(
      "the dup2",
      (s) => s.pid === main && (s.type === "dup2" || s.type === "dup3") && val(s, "fd.num") === p.dup2,
    );
    assert.equal(val(dup2, "fd.type"), "pipe");
    assert.ok((val(dup2, "fd.types") as string[]).includes("pipe"));
    // overlayfs: the layer of each opened file
    const ov = facts.children.mounts.overlay;
    if (ov !== undefined) {
      for (const layer of ["lower", "upper"] as const) {
        const o = first(
          `the open in the ${layer} layer`,
          (s) => s.pid === facts.children.mounts.pid && val(s, "fd.name") === ov[layer].file,
        );
        assert.equal(val(o, `fd.is_${layer}_layer`), true, layer);
        assert.equal(val(o, `fd.is_${layer === "lower" ? "upper" : "lower"}_layer`), false, layer);
        assert.equal(val(o, "fd.ino"), ov[layer].ino);
        assert.equal(val(o, "fd.dev"), ov[layer].dev);
      }
    }
  });

  it("fs.path: the path, source and target of file-system calls", () => {
    const main = facts.main.pid;
    const f = facts.files;
    const rn = first("rename", (s) => s.pid === main && s.type === "rename");
    assert.equal(val(rn, "fs.path.source"), f.rename.source);
    assert.equal(val(rn, "fs.path.target"), f.rename.target);
    assert.equal(val(rn, "fs.path.sourceraw"), f.rename.source);
    const rat = first("renameat", (s) => s.pid === main && s.type === "renameat");
    assert.equal(val(rat, "fs.path.source"), f.renameat.source);
    assert.equal(val(rat, "fs.path.sourceraw"), "renamed.sh");
    assert.equal(val(rat, "fs.path.targetraw"), "renamed2.sh");
    // link(old, new): libsinsp's source is the new name, its target the existing file
    const ln = first("linkat", (s) => s.pid === main && s.type === "linkat");
    assert.equal(val(ln, "fs.path.source"), join(work, "hard2.txt"));
    assert.equal(val(ln, "fs.path.target"), join(work, "data.txt"));
    const sy = first("symlinkat", (s) => s.pid === main && s.type === "symlinkat");
    assert.equal(val(sy, "fs.path.source"), join(work, "sym2.txt"));
    assert.equal(val(sy, "fs.path.targetraw"), "data.txt");
    const ul = first("unlinkat", (s) => s.pid === main && s.type === "unlinkat");
    assert.equal(val(ul, "fs.path.name"), join(work, "hard2.txt"));
    assert.equal(val(ul, "fs.path.nameraw"), "hard2.txt");
    const fchmod = first("fchmod", (s) => s.pid === main && s.type === "fchmod");
    assert.equal(val(fchmod, "fs.path.name"), join(work, "data.txt"));
    const mk = first(
      "mkdir",
      (s) =>
        s.pid === main &&
        (s.type === "mkdir" || s.type === "mkdirat") &&
        val(s, "fs.path.name") === join(work, "newdir"),
    );
    assert.equal(val(mk, "evt.res"), "SUCCESS");
    const tmpfs = facts.children.mounts.tmpfs;
    if (tmpfs !== undefined) {
      const mt = first(
        "the tmpfs mount",
        (s) =>
          s.pid === facts.children.mounts.pid &&
          s.type === "mount" &&
          val(s, "fs.path.sourceraw") === tmpfs.source,
      );
      assert.equal(
        val(mt, "fs.path.source"),
        tmpfs.source,
        "a mount's source is a device or a name, as given",
      );
      assert.equal(val(mt, "fs.path.target"), tmpfs.target);
      const um = first(
        "the tmpfs umount",
        (s) =>
          s.pid === facts.children.mounts.pid &&
          s.type === "umount2" &&
          val(s, "fs.path.name") === tmpfs.target,
      );
      assert.equal(val(um, "evt.res"), "SUCCESS");
    }
  });

  it("user and group: names, home, shell and login uid from the account files", () => {
    const root = getent("passwd", "0");
    const main = lastOf(facts.main.pid);
    assert.equal(val(main, "user.uid"), 0);
    assert.equal(val(main, "user.name"), root?.[0]);
    assert.equal(val(main, "user.homedir"), root?.[5]);
    assert.equal(val(main, "user.shell"), root?.[6]);
    assert.equal(val(main, "user.loginuid"), -1, "the test runner has no login uid");
    assert.equal(val(main, "group.gid"), 0);
    assert.equal(val(main, "group.name"), getent("group", "0")?.[0]);
    const nobody = getent("passwd", String(facts.children.writable.uid));
    const nb = first(
      "the exec as nobody",
      (s) => s.pid === facts.children.not_writable.pid && s.type === "procexec",
    );
    assert.equal(val(nb, "user.uid"), facts.children.writable.uid);
    assert.equal(val(nb, "user.name"), nobody?.[0]);
    assert.equal(val(nb, "user.homedir"), nobody?.[5]);
    assert.equal(val(nb, "user.shell"), nobody?.[6]);
    assert.equal(val(nb, "group.name"), getent("group", String(facts.children.writable.uid))?.[0]);
    const lu = facts.children.loginuid;
    if (lu.pid !== undefined) {
      const l = lastOf(lu.pid);
      assert.equal(val(l, "user.loginuid"), lu.loginuid);
      assert.equal(val(l, "user.loginname"), getent("passwd", String(lu.loginuid))?.[0]);
    }
    // a container's process: its image's account files, not the host's
    assert.ok(appUserPid > 0, "the container process of the image's user was seen");
    const app = first(
      "the exec of sleep as the image's user",
      (s) => s.pid === appUserPid && s.type === "execve" && val(s, "proc.exe") === "sleep",
    );
    assert.equal(val(app, "user.uid"), ROOTFS_USERS.app.uid);
    assert.equal(val(app, "user.name"), ROOTFS_USERS.app.name);
    assert.equal(val(app, "user.homedir"), ROOTFS_USERS.app.home);
    assert.equal(val(app, "user.shell"), ROOTFS_USERS.app.shell);
    assert.equal(val(app, "group.name"), ROOTFS_USERS.app.name);
  });

  it("container and k8s: what containerd and the API server say about each pod", () => {
    const host = lastOf(facts.main.pid);
    assert.equal(val(host, "container.id"), "host");
    assert.equal(val(host, "container.name"), "host");
    assert.equal(val(host, "container.host_pid"), true);
    assert.equal(val(host, "k8s.pod.name"), null);
    for (const { pod, c, spec } of pods.values()) {
      const evs = seen.filter((s) => val(s, "container.full_id") === c.id);
      assert.ok(evs.length > 0, `events of the ${spec.key} container`);
      const s = evs.find((x) => x.type === "openat") ?? (evs[evs.length - 1] as Seen);
      assert.equal(val(s, "container.id"), c.id.slice(0, 12));
      assert.equal(val(s, "container.name"), spec.container);
      assert.equal(val(s, "container.image"), c.image);
      assert.equal(val(s, "container.image.repository"), c.image.split(":")[0]);
      assert.equal(val(s, "container.image.tag"), c.image.split(":")[1]);
      assert.equal(val(s, "container.type"), "containerd");
      assert.equal(val(s, "container.privileged"), spec.key === "web");
      assert.equal(val(s, "container.host_pid"), false);
      assert.equal(val(s, "container.host_network"), false);
      assert.equal(val(s, "container.host_ipc"), false);
      assert.equal(val(s, "container.label[io.kubernetes.pod.name]"), spec.name);
      assert.ok(
        String(val(s, "container.labels"))
          .split(",")
          .includes(`io.kubernetes.container.name:${spec.container}`),
      );
      assert.equal(val(s, "container.mount.dest[/proc*]"), "/proc");
      const ts = val(s, "container.start_ts") as bigint;
      assert.ok(ts > BigInt(t0 - 60_000) * 1_000_000n && ts <= wallEnd, `container.start_ts ${ts}`);
      assert.equal(val(s, "k8s.pod.name"), spec.name);
      assert.equal(val(s, "k8s.pod.uid"), pod.spec.uid);
      assert.equal(val(s, "k8s.pod.sandbox_id"), pod.sandbox.id.slice(0, 12));
      assert.equal(val(s, "k8s.pod.full_sandbox_id"), pod.sandbox.id);
      assert.equal(val(s, "k8s.pod.ip"), spec.ip);
      assert.equal(val(s, "k8s.ns.name"), spec.namespace);
      assert.equal(val(s, "k8s.pod.label[app]"), spec.labels["app"]);
      assert.deepEqual(
        String(val(s, "k8s.pod.labels")).split(",").sort(),
        Object.entries(spec.labels)
          .map(([k, v]) => `${k}:${v}`)
          .sort(),
      );
      assert.equal(val(s, "k8s.ns.label[team]"), NS_LABELS[spec.namespace]?.["team"]);
      for (const o of OWNER_FIELDS)
        assert.equal(val(s, `k8s.${o}.name`), spec.owners[o] ?? null, `k8s.${o}.name of ${spec.key}`);
      assert.equal(val(s, "k8smeta.pod.name"), spec.name);
      assert.equal(val(s, "k8smeta.deployment.name"), spec.owners["deployment"] ?? null);
      assert.equal(val(s, "k8smeta.ns.label[team]"), NS_LABELS[spec.namespace]?.["team"]);
      if (spec.key === "web") {
        assert.equal(val(s, "container.mount.dest[/hostdata]"), "/hostdata");
        assert.equal(val(s, "container.mount.source[/hostdata]"), hostdata);
        assert.equal(val(s, "container.mount.rdwr[/hostdata]"), "true");
        assert.equal(val(s, "container.mount.propagation[/hostdata]"), "rprivate");
        assert.match(String(val(s, "container.image.digest")), /^sha256:[0-9a-f]{64}$/);
        assert.equal(val(s, "container.label[io.kubernetes.pod.name]"), spec.name);
      }
    }
  });

  // helpers over the ground truth, after the run
  let localhostNames: string[] = [];
  before(async () => {
    try {
      localhostNames = (await lookup("localhost", { all: true })).map((a) => a.address);
    } catch {
      localhostNames = [];
    }
  });

  /** The workload's failing open of /nonexistent-lanner-mark/NAME (the phases of its run). */
  function markOf(name: string): Seen {
    return first(
      `the mark ${name}`,
      (s) => s.pid === facts.main.pid && rawOf(s) === `/nonexistent-lanner-mark/${name}`,
    );
  }

  function lastOf(pid: number): Seen {
    const evs = of(pid).filter((s) => s.type !== "procexit");
    const s = evs[evs.length - 1];
    assert.ok(s, `no event of pid ${pid}`);
    return s;
  }
});

function readComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null;
  }
}
