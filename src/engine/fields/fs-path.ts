/**
 * fs.path.*: the paths of file-system syscalls, as libsinsp defines them: a successful
 * call's path (mkdir, unlink, open...), or its source and target (rename, link, symlink,
 * mount). The plain fields are absolute and normalised (resolved against the cwd or dirfd
 * captured with the call); the raw ones are exactly as passed.
 */
import type { SyscallEvent } from "../../decode/event.js";
import { resolvePath } from "../../decode/event.js";
import type { FieldClass, FieldSpec } from "../../rules/index.js";
import type { EventContext } from "./context.js";

type Where = { path?: number; source?: number; target?: number; fdPath?: boolean; open?: boolean };

/** Which argument holds the path, the source and the target, by syscall (libsinsp's table). */
const PATHS: Readonly<Record<string, Where>> = {
  mkdir: { path: 0 },
  mkdirat: { path: 1 },
  rmdir: { path: 0 },
  unlink: { path: 0 },
  unlinkat: { path: 1 },
  open: { path: 0, open: true },
  openat: { path: 1, open: true },
  openat2: { path: 1, open: true },
  creat: { path: 0, open: true },
  chmod: { path: 0 },
  fchmodat: { path: 1 },
  fchmod: { fdPath: true },
  chown: { path: 0 },
  fchown: { fdPath: true },
  fchownat: { path: 1 },
  truncate: { path: 0 },
  umount2: { path: 0 },
  rename: { source: 0, target: 1 },
  renameat: { source: 1, target: 3 },
  renameat2: { source: 1, target: 3 },
  link: { source: 1, target: 0 },
  linkat: { source: 3, target: 1 },
  symlink: { source: 1, target: 0 },
  symlinkat: { source: 2, target: 0 },
  mount: { source: 0, target: 1 },
};
const EVENTS = Object.keys(PATHS);
const SOURCE_TARGET = EVENTS.filter((t) => PATHS[t]?.source !== undefined);
const PATH_ONLY = EVENTS.filter((t) => PATHS[t]?.source === undefined);

function succeeded(ev: SyscallEvent, w: Where): boolean {
  return w.open === true ? ev.ret >= 0 : ev.ret === 0;
}

function pick(c: EventContext, role: "path" | "source" | "target", raw: boolean): string | null {
  const ev = c.sys;
  if (ev === null) return null;
  const w = PATHS[ev.type];
  if (w === undefined || !succeeded(ev, w)) return null;
  if (role === "path" && w.fdPath === true) return c.fd()?.name ?? null;
  const arg = w[role];
  if (arg === undefined) return null;
  const p = ev.paths.get(arg);
  if (p === undefined) return null;
  // a symlink's target is what the link will contain, a mount's source a device or a name
  if (
    raw ||
    (role === "target" && ev.type.startsWith("symlink")) ||
    (role === "source" && ev.type === "mount")
  )
    return p;
  return resolvePath(p, ev.dirs.get(arg) ?? c.proc()?.cwd);
}

function field(
  name: string,
  desc: string,
  events: readonly string[],
  role: "path" | "source" | "target",
  raw: boolean,
): FieldSpec<EventContext> {
  return { name, type: "path", desc, events, show: !raw, get: (c) => pick(c, role, raw) };
}

export const FS_PATH_FIELDS: FieldClass<EventContext> = {
  name: "fs.path",
  desc: "Paths of successful file-system syscalls (mkdir, unlink, open, chmod, rename, link, symlink, mount...).",
  fields: [
    field(
      "fs.path.name",
      "The path a file-system syscall acted on (absolute, normalised).",
      PATH_ONLY,
      "path",
      false,
    ),
    field("fs.path.nameraw", "The path as passed to the syscall.", PATH_ONLY, "path", true),
    field(
      "fs.path.source",
      "Source path of rename, link, symlink and mount (absolute).",
      SOURCE_TARGET,
      "source",
      false,
    ),
    field("fs.path.sourceraw", "Source path as passed.", SOURCE_TARGET, "source", true),
    field(
      "fs.path.target",
      "Target path of rename, link, symlink and mount (absolute; a symlink's target as given).",
      SOURCE_TARGET,
      "target",
      false,
    ),
    field("fs.path.targetraw", "Target path as passed.", SOURCE_TARGET, "target", true),
  ],
};
