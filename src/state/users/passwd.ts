/** Parsers for passwd(5) and group(5) text (pure). Malformed lines are skipped. */

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly gecos: string;
  readonly homedir: string;
  readonly shell: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

function id(s: string | undefined): number | null {
  if (s === undefined || !/^\d{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n <= 0xffffffff ? n : null;
}

/** uid -> first entry with that uid (as getpwuid returns the first). */
export function parsePasswd(text: string): Map<number, PasswdEntry> {
  const out = new Map<number, PasswdEntry>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#") || line.startsWith("+") || line.startsWith("-")) continue;
    const f = line.split(":");
    if (f.length < 7) continue;
    const uid = id(f[2]);
    const gid = id(f[3]);
    if (uid === null || gid === null || f[0] === "") continue;
    if (!out.has(uid))
      out.set(uid, {
        name: f[0] as string,
        uid,
        gid,
        gecos: f[4] as string,
        homedir: f[5] as string,
        shell: f.slice(6).join(":"),
      });
  }
  return out;
}

/** gid -> first entry with that gid. */
export function parseGroup(text: string): Map<number, GroupEntry> {
  const out = new Map<number, GroupEntry>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#") || line.startsWith("+") || line.startsWith("-")) continue;
    const f = line.split(":");
    if (f.length < 3) continue;
    const gid = id(f[2]);
    if (gid === null || f[0] === "") continue;
    if (!out.has(gid))
      out.set(gid, { name: f[0] as string, gid, members: (f[3] ?? "").split(",").filter((m) => m !== "") });
  }
  return out;
}
