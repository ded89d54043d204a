/**
 * trace mount: mount and umount2 calls of the selected containers: source, target (made
 * absolute), file system type, flags, result, and the call as strace would print it. Built
 * on the capture path's mount and umount2 records (source, target and type strings read at
 * exit, the directory a relative target is resolved against).
 */
import { resultName } from "../../decode/errno.js";
import { mountFlags, umountFlags } from "../../decode/flags.js";
import { resolvePath } from "../../decode/event.js";
import { argU32 } from "../../decode/syscall-view.js";
import type { EventContext } from "../../engine/fields/index.js";
import { ruleColumn, ruleValue } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS, PROCESS_COMMON } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, RunningSource } from "../gadget.js";

const res = ruleValue("evt.res");

/** A string argument as C source would quote it; NULL when the call passed none. */
function quoted(s: string | null): string {
  return s === null ? "NULL" : JSON.stringify(s);
}

function pointer(v: bigint | undefined): string {
  return v === undefined || v === 0n ? "NULL" : `0x${v.toString(16)}`;
}

/** `= 0`, or `= -1 EPERM` as strace shows a failure. */
function result(ret: number): string {
  return ret >= 0 ? `= ${ret}` : `= -1 ${resultName(ret)}`;
}

export const TRACE_MOUNT: GadgetSpec = {
  category: "trace",
  name: "mount",
  summary: "mounts and unmounts: mount and umount2 with source, target, type, flags and result",
  common: [...PROCESS_COMMON, ...PLACE_COMMON],
  columns: [
    ruleColumn("evt.type", { title: "SYSCALL", width: 8 }),
    {
      name: "mount.src",
      type: "string",
      desc: "mount: the source as given (a device, a directory for bind mounts, or a name such as tmpfs).",
      title: "SRC",
      width: 20,
      ellipsis: "start",
    },
    {
      name: "mount.dst",
      type: "path",
      desc: "The mount point: mount's target, umount2's path (absolute: a relative one resolved against the caller's cwd).",
      title: "DST",
      width: 24,
      ellipsis: "start",
    },
    {
      name: "mount.fs",
      type: "string",
      desc: "mount: the file system type as given (tmpfs, ext4, overlay...).",
      title: "FS",
      width: 8,
    },
    {
      name: "mount.flags",
      type: "string",
      desc: "The flags by name: mount's MS_* (MS_RDONLY|MS_NOSUID), umount2's MNT_* (MNT_DETACH); 0 for none.",
      title: "FLAGS",
      width: 24,
    },
    {
      name: "mount.call",
      type: "string",
      desc: 'The call as strace prints it: mount("src", "dst", "fs", FLAGS, data) = 0, umount2("dst", FLAGS) = -1 EPERM (the data argument is shown as its address: the capture does not read it).',
      title: "CALL",
      width: 60,
    },
    ruleColumn("evt.res", { title: "ERR", width: 8 }),
    ruleColumn("evt.rawres", { title: "RET", width: 4, align: "right" }),
  ],
  defaults: [...PLACE_DEFAULTS, "proc.pid", "proc.name", "mount.call"],
  params: [],
  capture: { syscalls: ["mount", "umount2"] },
  start(ctx: GadgetContext): RunningSource {
    const capture = ctx.capture;
    if (capture === null) throw new Error("trace mount needs the capture path");
    capture.on((c: EventContext) => {
      const ev = c.sys;
      if (ev === null) return;
      let src: string | null = null;
      let dst: string | null;
      let fs: string | null = null;
      let flags: string;
      let call: string;
      if (ev.type === "mount") {
        src = ev.paths.get(0) ?? null;
        const raw = ev.paths.get(1);
        dst = raw === undefined ? null : resolvePath(raw, ev.dirs.get(1));
        fs = ev.paths.get(2) ?? null;
        flags = mountFlags(argU32(ev, 3));
        call = `mount(${quoted(src)}, ${quoted(raw ?? null)}, ${quoted(fs)}, ${flags}, ${pointer(ev.args[4])}) ${result(ev.ret)}`;
      } else if (ev.type === "umount2") {
        const raw = ev.paths.get(0);
        dst = raw === undefined ? null : resolvePath(raw, ev.dirs.get(0));
        flags = umountFlags(argU32(ev, 1));
        call = `umount2(${quoted(raw ?? null)}, ${flags}) ${result(ev.ret)}`;
      } else return;
      ctx.emit({
        pid: ev.tgid,
        tid: ev.tid,
        cgroupId: ev.cgroupId,
        ts: ev.ts,
        fields: {
          "evt.type": ev.type,
          "mount.src": src,
          "mount.dst": dst,
          "mount.fs": fs,
          "mount.flags": flags,
          "mount.call": call,
          "evt.res": res(c),
          "evt.rawres": ev.ret,
          "user.uid": ev.euid,
          "group.gid": ev.egid,
        },
      });
    });
    return { summary: "mount, umount2", stop: () => undefined };
  },
};
