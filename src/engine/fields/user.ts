/** user.* and group.*: who the process runs as (its container's account files for containers). */
import type { FieldClass } from "../../rules/index.js";
import type { EventContext } from "./context.js";
import { HOST } from "./host.js";

const NO_LOGINUID = 0xffffffff;

function euid(c: EventContext): number {
  return c.ev.euid;
}

function user(c: EventContext) {
  return c.user();
}

function loginUid(c: EventContext): number | null {
  const l = c.ev.kind !== "syscall" ? c.ev.loginuid : c.proc()?.loginuid;
  return l === undefined ? null : l === NO_LOGINUID ? -1 : l;
}

export const USER_FIELDS: FieldClass<EventContext> = {
  name: "user",
  desc: "The user running the process (effective uid).",
  fields: [
    { name: "user.uid", type: "uint32", desc: "User id (effective).", show: true, get: euid },
    {
      name: "user.name",
      type: "string",
      desc: "User name, from the account files the process sees (its container's for containers).",
      show: true,
      get: (c) => user(c)?.name ?? (euid(c) === 0 ? "root" : null),
    },
    { name: "user.homedir", type: "path", desc: "Home directory.", get: (c) => user(c)?.homedir ?? null },
    { name: "user.shell", type: "string", desc: "Login shell.", get: (c) => user(c)?.shell ?? null },
    {
      name: "user.loginuid",
      type: "int64",
      desc: "Audit login uid (-1 when unset).",
      unavailable: () => HOST.loginUid(),
      get: loginUid,
    },
    {
      name: "user.loginname",
      type: "string",
      desc: "Name of the audit login user (the host's account files).",
      unavailable: () => HOST.loginUid(),
      get: (c) => {
        const l = loginUid(c);
        return l === null || l < 0 ? null : (c.services.state?.loginName(l) ?? (l === 0 ? "root" : null));
      },
    },
  ],
};

export const GROUP_FIELDS: FieldClass<EventContext> = {
  name: "group",
  desc: "The group running the process (effective gid).",
  fields: [
    { name: "group.gid", type: "uint32", desc: "Group id (effective).", show: true, get: (c) => c.ev.egid },
    {
      name: "group.name",
      type: "string",
      desc: "Group name, from the account files the process sees.",
      show: true,
      get: (c) => c.group()?.name ?? (c.ev.egid === 0 ? "root" : null),
    },
  ],
};
