/**
 * uid/gid -> user and group names, home directory and shell, from the host's /etc/passwd and
 * /etc/group, or from a container's own files (through /proc/PID/root) for processes in
 * containers; user.loginuid from /proc/PID/loginuid and user.loginname from the host's files.
 *
 * Files are read synchronously on a cache miss only (once per source per TTL); a container's
 * files are opened non-blocking, must be regular files (a FIFO or device planted by a
 * container cannot stall the agent) and are capped in size. Sources and entries are bounded.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import { LogOnce, stderrLogger, type Logger } from "../containers/log-once.js";
import { LruMap } from "../containers/lru.js";
import { parseGroup, parsePasswd, type GroupEntry, type PasswdEntry } from "./passwd.js";

export interface UserInfo {
  readonly uid: number;
  /** user.name; null when the uid has no entry. */
  readonly name: string | null;
  readonly homedir: string | null;
  readonly shell: string | null;
}

export interface GroupInfo {
  readonly gid: number;
  readonly name: string | null;
}

export interface UserResolverOptions {
  readonly procRoot?: string;
  /** Where the host's etc/ lives (default "/"). */
  readonly hostRoot?: string;
  /** How long a parsed file set is trusted before re-reading (default 30 s). */
  readonly ttlMs?: number;
  /** Most container file sets kept (default 256). */
  readonly maxSources?: number;
  /** Largest passwd/group file read (default 4 MiB). */
  readonly maxFileBytes?: number;
  readonly logger?: Logger;
}

/** loginuid of a process without a login session (the kernel's (uid_t)-1). */
export const NO_LOGINUID = 4294967295;

interface Source {
  readonly users: Map<number, PasswdEntry>;
  readonly groups: Map<number, GroupEntry>;
  readonly loadedAt: number;
}

const EMPTY: Source = { users: new Map(), groups: new Map(), loadedAt: 0 };

export class UserResolver {
  private readonly procRoot: string;
  private readonly hostRoot: string;
  private readonly ttlMs: number;
  private readonly maxFileBytes: number;
  private readonly sources: LruMap<string, Source>;
  private host: Source | null = null;
  private readonly problems: LogOnce;
  reads = 0;
  readErrors = 0;

  constructor(opts: UserResolverOptions = {}) {
    this.procRoot = opts.procRoot ?? "/proc";
    this.hostRoot = opts.hostRoot ?? "/";
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.maxFileBytes = opts.maxFileBytes ?? 4 * 1024 * 1024;
    this.sources = new LruMap(opts.maxSources ?? 256);
    this.problems = new LogOnce(opts.logger ?? stderrLogger);
  }

  /**
   * The user of `uid`. With `container` (a container id other than `host`) and `pid`, the
   * container's own /etc/passwd is used, read through /proc/PID/root.
   */
  user(uid: number, pid?: number, container?: string): UserInfo {
    const e = this.source(pid, container).users.get(uid);
    return e === undefined
      ? { uid, name: null, homedir: null, shell: null }
      : { uid, name: e.name, homedir: e.homedir, shell: e.shell };
  }

  group(gid: number, pid?: number, container?: string): GroupInfo {
    const e = this.source(pid, container).groups.get(gid);
    return { gid, name: e === undefined ? null : e.name };
  }

  /** user.loginuid: the audit login uid of a process; -1 when unset; null if unreadable. */
  loginUid(pid: number): number | null {
    try {
      const n = Number(readFileSync(`${this.procRoot}/${pid}/loginuid`, "utf8").trim());
      if (!Number.isInteger(n)) return null;
      return n === NO_LOGINUID ? -1 : n;
    } catch {
      return null;
    }
  }

  /** user.loginname: the host's name of a login uid (login sessions are the host's). */
  loginName(loginUid: number): string | null {
    if (loginUid < 0 || loginUid === NO_LOGINUID) return null;
    return this.user(loginUid).name;
  }

  /** Drops a container's cached files (call when the container goes away). */
  forgetContainer(container: string): void {
    this.sources.delete(container);
  }

  private source(pid: number | undefined, container: string | undefined): Source {
    const now = Date.now();
    if (container === undefined || container === "host" || pid === undefined) {
      if (this.host === null || now - this.host.loadedAt > this.ttlMs) {
        this.host = this.load(join(this.hostRoot, "etc"), "host", false) ??
          this.host ?? { ...EMPTY, loadedAt: now };
      }
      return this.host;
    }
    const cached = this.sources.get(container);
    if (cached !== undefined && now - cached.loadedAt <= this.ttlMs) return cached;
    const loaded = this.load(`${this.procRoot}/${pid}/root/etc`, `container ${container}`, true);
    // A process that already exited: keep what we had, else remember "nothing" briefly.
    const s = loaded ?? cached ?? { ...EMPTY, loadedAt: now };
    this.sources.set(container, s);
    return s;
  }

  private load(etc: string, what: string, untrusted: boolean): Source | null {
    const passwd = this.readSmall(join(etc, "passwd"), what, untrusted);
    const group = this.readSmall(join(etc, "group"), what, untrusted);
    if (passwd === null && group === null) return null;
    return { users: parsePasswd(passwd ?? ""), groups: parseGroup(group ?? ""), loadedAt: Date.now() };
  }

  /** Reads a regular file of bounded size without blocking on FIFOs or devices. */
  private readSmall(path: string, what: string, untrusted: boolean): string | null {
    this.reads++;
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (untrusted ? constants.O_NOFOLLOW : 0));
    } catch (err) {
      const code = (err as { code?: string }).code ?? "EIO";
      if (code !== "ENOENT" && code !== "ESRCH") {
        this.readErrors++;
        this.problems.report(`users:${code}`, `state: reading ${what} ${path}: ${code}`);
      }
      return null;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) {
        this.readErrors++;
        this.problems.report("users:ENOTREG", `state: reading ${what} ${path}: not a regular file`);
        return null;
      }
      const size = Math.min(st.size, this.maxFileBytes);
      const buf = Buffer.alloc(size);
      let off = 0;
      while (off < size) {
        const n = readSync(fd, buf, off, size - off, off);
        if (n <= 0) break;
        off += n;
      }
      if (st.size > this.maxFileBytes)
        this.problems.report(
          "users:EFBIG",
          `state: reading ${what} ${path}: larger than ${this.maxFileBytes} bytes, truncated`,
        );
      return buf.subarray(0, off).toString("utf8");
    } catch (err) {
      this.readErrors++;
      this.problems.report(`users:read`, `state: reading ${what} ${path}: ${(err as Error).message}`);
      return null;
    } finally {
      closeSync(fd);
    }
  }
}
