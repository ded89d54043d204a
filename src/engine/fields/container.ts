/** container.*: the container of the process, from the runtime (containerd, Docker, CRI). */
import type { FieldClass, FieldSpec, FieldValue } from "../../rules/index.js";
import { compileGlob } from "../../rules/glob.js";
import {
  formatMounts,
  HOST_CONTAINER,
  type ContainerInfo,
  type ContainerMount,
} from "../../state/containers/container-info.js";
import type { EventContext } from "./context.js";

type Spec = FieldSpec<EventContext>;

/** container.mount[N] by index, container.mount[/glob*] by destination (compiled once per use). */
function mountFinder(arg: string | number | undefined): (c: ContainerInfo) => ContainerMount | undefined {
  if (arg === undefined) return () => undefined;
  if (typeof arg === "number") return (c) => c.mounts[arg];
  if (!arg.includes("*") && !arg.includes("?") && !arg.includes("["))
    return (c) => c.mounts.find((m) => m.dest === arg);
  // the rules language's glob matcher: linear in the destination, which a container controls
  const g = compileGlob(arg, false);
  if (!g.ok) return () => undefined;
  const match = g.match;
  return (c) => c.mounts.find((m) => match(m.dest));
}

/** A field of the container record; unknown (null) when the container is not known. */
function field(
  name: string,
  type: Spec["type"],
  desc: string,
  get: (c: ContainerInfo, ctx: EventContext) => FieldValue,
  show = false,
): Spec {
  return {
    name,
    type,
    desc,
    show,
    get: (ctx) => {
      const c = ctx.container();
      return c === undefined ? null : get(c, ctx);
    },
  };
}

function mountField(name: string, desc: string, get: (m: ContainerMount) => FieldValue): Spec {
  return {
    name,
    type: "string",
    desc,
    arg: "key",
    make: (arg) => {
      const find = mountFinder(arg);
      return (ctx) => {
        const c = ctx.container();
        const m = c === undefined ? undefined : find(c);
        return m === undefined ? null : get(m);
      };
    },
  };
}

export const CONTAINER_FIELDS: FieldClass<EventContext> = {
  name: "container",
  desc: "The container of the process (from the runtime's API and cgroups); 'host' outside containers.",
  fields: [
    {
      name: "container.id",
      type: "string",
      desc: "Container id, 12 hex characters; 'host' outside containers.",
      show: true,
      get: (ctx) => ctx.containerId(),
    },
    field(
      "container.full_id",
      "string",
      "Full container id (64 characters); 'host' outside containers.",
      (c) => c.fullId,
      true,
    ),
    field("container.name", "string", "Container name; 'host' outside containers.", (c) => c.name, true),
    field("container.image", "string", "Image name (repository:tag).", (c) => c.image, true),
    field(
      "container.image.repository",
      "string",
      "Image repository (docker.io/library/nginx).",
      (c) => c.imageRepository,
      true,
    ),
    field("container.image.tag", "string", "Image tag.", (c) => c.imageTag, true),
    field("container.image.digest", "string", "Image digest.", (c) => c.imageDigest),
    field(
      "container.type",
      "string",
      "Runtime: docker, containerd, cri-o, podman, cri.",
      (c) => c.type,
      true,
    ),
    field(
      "container.privileged",
      "bool",
      "True if the container runs privileged.",
      (c) => c.privileged,
      true,
    ),
    field(
      "container.mounts",
      "string",
      "Mounts as source:dest:mode:rdwr:propagation, comma separated.",
      (c) => (c.complete ? formatMounts(c.mounts) : null),
    ),
    mountField(
      "container.mount",
      "One mount (source:dest:mode:rdwr:propagation), by index or destination glob: container.mount[/etc*].",
      (m) => formatMounts([m]),
    ),
    mountField("container.mount.source", "A mount's source, by index or destination glob.", (m) => m.source),
    mountField("container.mount.dest", "A mount's destination, by index or destination glob.", (m) => m.dest),
    mountField("container.mount.mode", "A mount's mode, by index or destination glob.", (m) => m.mode),
    mountField(
      "container.mount.rdwr",
      "A mount's read/write flag (true/false), by index or destination glob.",
      (m) => (m.rw ? "true" : "false"),
    ),
    mountField(
      "container.mount.propagation",
      "A mount's propagation, by index or destination glob.",
      (m) => m.propagation,
    ),
    field("container.start_ts", "abstime", "Container start time, ns since the epoch.", (c) => c.startTs),
    field("container.duration", "reltime", "Time since the container started, ns.", (c) =>
      c.startTs === null ? null : BigInt(Date.now()) * 1_000_000n - c.startTs,
    ),
    field(
      "container.host_pid",
      "bool",
      "True if the container shares the host's pid namespace.",
      (c) => c.hostPid,
    ),
    field(
      "container.host_network",
      "bool",
      "True if the container shares the host's network namespace.",
      (c) => c.hostNetwork,
    ),
    field(
      "container.host_ipc",
      "bool",
      "True if the container shares the host's ipc namespace.",
      (c) => c.hostIpc,
    ),
    {
      name: "container.label",
      type: "string",
      desc: "One container label: container.label[io.kubernetes.pod.name] or container.label.io.kubernetes.pod.name.",
      arg: "key",
      dotted: true,
      make: (arg) => {
        const k = String(arg);
        return (ctx) => {
          const c = ctx.container();
          return c === undefined || c === HOST_CONTAINER ? null : (c.labels[k] ?? null);
        };
      },
    },
    field("container.labels", "string", "Every container label, key:value, comma separated.", (c) =>
      Object.entries(c.labels)
        .map(([k, v]) => `${k}:${v}`)
        .join(","),
    ),
  ],
};
