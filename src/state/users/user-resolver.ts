/**
 * uid/gid -> user and group names, home directory and shell, from the host's /etc/passwd and
 * /etc/group, or from a container's own files (through /proc/PID/root) for processes in
 * containers; user.loginuid from /proc/PID/loginuid and user.loginname from the host's files.
 *
 * Names follow the account files: useradd/userdel/usermod replace /etc/passwd and /etc/group
 * by rename, so a uid removed and re-created seconds later resolves to its new name. Each file
 * set remembers the identity of the files it was parsed from (inode, size, mtime, ctime, from
 * fstat of the very file read) and is checked against the files (one stat of each) at most
 * once per event-loop turn it is used in: the agent handles a batch of kernel events in one
 * turn, drained after they happened, so an event of a process that runs after the files
 * changed sees the new names; lookups within one turn never make a syscall. A container's
 * files, through /proc/PID/root/etc, get the same check (lstat: never followed). Files are
 * re-read only when they changed, or after the TTL as a backstop.
 *
 * A container's files are opened non-blocking, must be regular files (a FIFO or device
 * planted by a container cannot stall the agent) and are capped in size. Sources and entries
 * are bounded.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  type Stats,
} from "node:fs";
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
  /** How long a parsed file set is kept, unchanged, before re-reading anyway (default 30 s). */
  readonly ttlMs?: number;
  /** Most container file sets kept (default 256). */
  readonly maxSources?: number;
  /** Largest passwd/group file read (default 4 MiB). */
  readonly maxFileBytes?: number;
  readonly logger?: Logger;
}

/** loginuid of a process without a login session (the kernel's (uid_t)-1). */
export const NO_LOGINUID = 4294967295;

/** Which file was read: a file replaced by rename or rewritten in place differs. */
interface FileId {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

interface Source {
  readonly users: Map<number, PasswdEntry>;
  readonly groups: Map<number, GroupEntry>;
  readonly loadedAt: number;
  /** the files parsed (null: absent or unreadable) */
  readonly passwd: FileId | null;
  readonly group: FileId | null;
  /** the resolver's turn in which the files were last compared with these */
  checkedTurn: number;
}

const fileId = (st: Stats): FileId => ({
  ino: st.ino,
  size: st.size,
  mtimeMs: st.mtimeMs,
  ctimeMs: st.ctimeMs,
});

const sameFile = (a: FileId | null, b: FileId | null): boolean =>
  a === b ||
  (a !== null &&
    b !== null &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs);

const emptySource = (turn: number): Source => ({
  users: new Map(),
  groups: new Map(),
  loadedAt: Date.now(),
  passwd: null,
  group: null,
  checkedTurn: turn,
});

export class UserResolver {
  private readonly procRoot: string;
  private readonly hostRoot: string;
  private readonly ttlMs: number;
  private readonly maxFileBytes: number;
  private readonly sources: LruMap<string, Source>;
  private host: Source | null = null;
  private readonly problems: LogOnce;
  /** Lookups within one turn share one check of the files; a microtask closes the turn. */
  private turn = 0;
  private turnOpen = false;
  private readonly closeTurn = (): void => {
    this.turnOpen = false;
  };
  /** files read */
  reads = 0;
  readErrors = 0;
  /** file sets compared with the files on disk (two stats each) */
  checks = 0;

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
    if (!this.turnOpen) {
      this.turnOpen = true;
      this.turn++;
      queueMicrotask(this.closeTurn);
    }
    if (container === undefined || container === "host" || pid === undefined) {
      const h = this.host;
      if (h !== null && h.checkedTurn === this.turn) return h;
      const etc = join(this.hostRoot, "etc");
      if (h !== null && !this.stale(etc, h, false)) {
        h.checkedTurn = this.turn;
        return h;
      }
      // files that vanished altogether: keep the names we had
      const s =
        this.load(etc, "host", false) ?? (h === null ? emptySource(this.turn) : this.recheckedLater(h));
      this.host = s;
      return s;
    }
    const cached = this.sources.get(container);
    if (cached !== undefined && cached.checkedTurn === this.turn) return cached;
    const etc = `${this.procRoot}/${pid}/root/etc`;
    if (cached !== undefined && !this.stale(etc, cached, true)) {
      cached.checkedTurn = this.turn;
      return cached;
    }
    const loaded = this.load(etc, `container ${container}`, true);
    // A process that already exited: keep what we had, else remember "nothing" (checked
    // again, through the next process of the container, in a later turn).
    const s = loaded ?? (cached === undefined ? emptySource(this.turn) : this.recheckedLater(cached));
    this.sources.set(container, s);
    return s;
  }

  /**
   * Whether `src` no longer matches the files in `etc` (or is past its TTL). A container's
   * files that cannot be looked at (the process exited) count as unchanged.
   */
  private stale(etc: string, src: Source, untrusted: boolean): boolean {
    if (Date.now() - src.loadedAt > this.ttlMs) return true;
    this.checks++;
    const passwd = this.statFile(join(etc, "passwd"), untrusted);
    const group = this.statFile(join(etc, "group"), untrusted);
    // both gone: the process exited (its container's files are not looked at through it)
    if (untrusted && (passwd ?? null) === null && (group ?? null) === null) return false;
    return !sameFile(passwd ?? null, src.passwd) || !sameFile(group ?? null, src.group);
  }

  /** The file's identity; null when absent; undefined when it cannot be looked at. */
  private statFile(path: string, untrusted: boolean): FileId | null | undefined {
    try {
      const st = untrusted
        ? lstatSync(path, { throwIfNoEntry: false })
        : statSync(path, { throwIfNoEntry: false });
      return st === undefined ? null : fileId(st);
    } catch {
      return undefined;
    }
  }

  /** A source kept as it is because its files could not be read: not checked again this turn. */
  private recheckedLater(src: Source): Source {
    src.checkedTurn = this.turn;
    return src;
  }

  private load(etc: string, what: string, untrusted: boolean): Source | null {
    const passwd = this.readSmall(join(etc, "passwd"), what, untrusted);
    const group = this.readSmall(join(etc, "group"), what, untrusted);
    if (passwd === null && group === null) return null;
    return {
      users: parsePasswd(passwd?.text ?? ""),
      groups: parseGroup(group?.text ?? ""),
      loadedAt: Date.now(),
      passwd: passwd?.id ?? null,
      group: group?.id ?? null,
      checkedTurn: this.turn,
    };
  }

  /**
   * Reads a regular file of bounded size without blocking on FIFOs or devices; null when it
   * cannot be opened. `text` is null for a file that is not a regular one.
   */
  private readSmall(
    path: string,
    what: string,
    untrusted: boolean,
  ): { text: string | null; id: FileId } | null {
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
      const id = fileId(st);
      if (!st.isFile()) {
        this.readErrors++;
        this.problems.report("users:ENOTREG", `state: reading ${what} ${path}: not a regular file`);
        return { text: null, id };
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
      return { text: buf.subarray(0, off).toString("utf8"), id };
    } catch (err) {
      this.readErrors++;
      this.problems.report(`users:read`, `state: reading ${what} ${path}: ${(err as Error).message}`);
      return null;
    } finally {
      closeSync(fd);
    }
  }
}
