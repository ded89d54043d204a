/**
 * Container ids from cgroup paths (pure functions, no I/O).
 *
 * Patterns recognised, cgroup v1 and v2 alike (the path is the same shape in both):
 *   containerd (ctr, cgroupfs)  /k8s.io/<id>, /default/<id>, /moby/<id> (<ns>/<id>)
 *   containerd (CRI, systemd)   .../cri-containerd-<64hex>.scope
 *                               .../kubepods-...slice:cri-containerd:<64hex>
 *   CRI (cgroupfs driver)       /kubepods/<qos>/pod<uid>/<64hex>   (runtime not named)
 *   CRI-O                       .../crio-<64hex>.scope  (crio-conmon-* is the monitor, not
 *                               the container) and .../kubepods...slice:crio:<64hex>
 *   Docker                      /docker/<64hex>, .../docker-<64hex>.scope
 *   Podman                      .../libpod-<64hex>.scope (libpod-conmon-* excluded),
 *                               /libpod_parent/libpod-<64hex>
 * The innermost match wins (a container nested in a container node, e.g. kind, resolves to
 * the inner one).
 */

export type ContainerType = "containerd" | "cri-o" | "docker" | "podman" | "cri";

export interface CgroupMatch {
  /** Full container id as the runtime names it. */
  readonly fullId: string;
  /** The runtime the path names; `cri` when it is a kubelet path that names none. */
  readonly type: ContainerType;
}

const HEX64 = /^[0-9a-f]{64}$/;
/** containerd's identifier rule. */
const CONTAINERD_ID = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
/** containerd namespaces whose `/<ns>/<id>` cgroup paths (ctr's default) we accept. */
const CONTAINERD_NAMESPACES = new Set(["k8s.io", "default", "moby"]);

const SCOPE_PREFIXES: ReadonlyArray<readonly [string, ContainerType]> = [
  ["cri-containerd-", "containerd"],
  ["crio-", "cri-o"],
  ["docker-", "docker"],
  ["libpod-", "podman"],
];

const SYSTEMD_COLON: ReadonlyArray<readonly [string, ContainerType]> = [
  [":cri-containerd:", "containerd"],
  [":crio:", "cri-o"],
  [":docker:", "docker"],
];

function matchComponent(
  comp: string,
  prev: string | undefined,
  index: number,
  total: number,
): CgroupMatch | null {
  // foo-<id>.scope
  if (comp.endsWith(".scope")) {
    const base = comp.slice(0, -".scope".length);
    for (const [prefix, type] of SCOPE_PREFIXES) {
      if (base.startsWith(prefix)) {
        const id = base.slice(prefix.length);
        if (HEX64.test(id)) return { fullId: id, type };
      }
    }
    return null;
  }
  // kubepods-...slice:cri-containerd:<id>
  for (const [sep, type] of SYSTEMD_COLON) {
    const at = comp.indexOf(sep);
    if (at > 0) {
      const id = comp.slice(at + sep.length);
      if (HEX64.test(id)) return { fullId: id, type };
    }
  }
  // /libpod_parent/libpod-<id>
  if (comp.startsWith("libpod-") && prev === "libpod_parent") {
    const id = comp.slice("libpod-".length);
    if (HEX64.test(id)) return { fullId: id, type: "podman" };
  }
  if (prev === "docker" && HEX64.test(comp)) return { fullId: comp, type: "docker" };
  // /<containerd-namespace>/<id> at the top of the hierarchy (ctr's default cgroup path).
  if (
    index === 1 &&
    total === 2 &&
    prev !== undefined &&
    CONTAINERD_NAMESPACES.has(prev) &&
    CONTAINERD_ID.test(comp)
  ) {
    return { fullId: comp, type: "containerd" };
  }
  // /kubepods/<qos>/pod<uid>/<id> (cgroupfs driver): the runtime is not named.
  if (HEX64.test(comp) && prev !== undefined && prev.startsWith("pod")) return { fullId: comp, type: "cri" };
  return null;
}

/** The container a cgroup path belongs to, or null for host cgroups. */
export function containerFromCgroupPath(path: string): CgroupMatch | null {
  const comps = path.split("/").filter((c) => c.length > 0);
  for (let i = comps.length - 1; i >= 0; i--) {
    const comp = comps[i] as string;
    const m = matchComponent(comp, comps[i - 1], i, comps.length);
    if (m !== null) return m;
  }
  return null;
}

export interface ProcCgroupLine {
  /** Hierarchy id; 0 for the v2 unified hierarchy. */
  readonly hierarchy: number;
  /** Controllers ("cpu,cpuacct", "name=systemd"; empty for v2). */
  readonly controllers: string;
  readonly path: string;
}

/** Parses /proc/PID/cgroup text; malformed lines are skipped. */
export function parseProcCgroup(text: string): ProcCgroupLine[] {
  const out: ProcCgroupLine[] = [];
  for (const line of text.split("\n")) {
    if (line.length === 0) continue;
    const a = line.indexOf(":");
    const b = a < 0 ? -1 : line.indexOf(":", a + 1);
    if (a < 0 || b < 0) continue;
    const hierarchy = Number(line.slice(0, a));
    if (!Number.isInteger(hierarchy) || hierarchy < 0) continue;
    out.push({ hierarchy, controllers: line.slice(a + 1, b), path: line.slice(b + 1) });
  }
  return out;
}

/**
 * The container of a process from its /proc/PID/cgroup text: the v2 line first, then
 * name=systemd, then any v1 controller.
 */
export function containerFromProcCgroup(text: string): CgroupMatch | null {
  const lines = parseProcCgroup(text);
  const order = [
    ...lines.filter((l) => l.hierarchy === 0),
    ...lines.filter((l) => l.controllers === "name=systemd"),
    ...lines.filter((l) => l.hierarchy !== 0 && l.controllers !== "name=systemd"),
  ];
  for (const l of order) {
    const m = containerFromCgroupPath(l.path);
    if (m !== null) return m;
  }
  return null;
}

/** The v2 (unified) cgroup path of a process, or null on a pure-v1 host. */
export function unifiedPathFromProcCgroup(text: string): string | null {
  for (const l of parseProcCgroup(text)) if (l.hierarchy === 0 && l.controllers === "") return l.path;
  return null;
}

/** container.id: the first 12 characters of the full id. */
export function shortContainerId(fullId: string): string {
  return fullId.length > 12 ? fullId.slice(0, 12) : fullId;
}

/**
 * The cgroup directory (relative to the cgroup root) an OCI spec's linux.cgroupsPath names:
 * a path for the cgroupfs driver (`/kubepods/besteffort/pod<uid>/<id>`, `/k8s.io/<id>`), or
 * systemd's `slice:prefix:name` (`kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>` ->
 * `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope`).
 * Null when absent or not understood.
 */
export function cgroupDirFromSpec(cgroupsPath: string | undefined): string | null {
  if (cgroupsPath === undefined || cgroupsPath === "") return null;
  if (cgroupsPath.startsWith("/")) return cgroupsPath;
  const parts = cgroupsPath.split(":");
  if (parts.length !== 3) return null;
  const [slice, prefix, name] = parts as [string, string, string];
  if (name === "") return null;
  let dir = "";
  if (slice !== "" && slice !== "-.slice") {
    if (!slice.endsWith(".slice")) return null;
    // systemd nests a-b-c.slice under a.slice/a-b.slice/.
    const words = slice.slice(0, -".slice".length).split("-");
    for (let i = 1; i <= words.length; i++) dir += `/${words.slice(0, i).join("-")}.slice`;
  } else {
    dir = "/system.slice";
  }
  const unit = name.endsWith(".slice") ? name : `${prefix === "" ? "" : `${prefix}-`}${name}.scope`;
  return `${dir}/${unit}`;
}
