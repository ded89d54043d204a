/**
 * One bpftrace run: the scope resolved, the program rewritten into a temporary file, the
 * node's bpftrace started on it, its output streamed as it comes (whole lines), its error
 * positions given back in the user's program, and its end: SIGINT (bpftrace prints its maps),
 * then SIGTERM, then SIGKILL if it does not exit.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { constants as osConstants } from "node:os";
import { LannerError, NotSupportedError, errorMessage } from "../errors.js";
import type { GadgetEnvironment } from "../gadgets/environment.js";
import { BpftraceInputError } from "./input-error.js";
import { parseProgram, ProgramError, rewriteProgram, type Rewritten } from "./program.js";
import { resolvePodScope, type PodScope } from "./scope.js";

export interface BpftraceOptions {
  /** the program's text (-e, or -f FILE's content) */
  readonly program: string;
  /** where it came from, for messages: "-e" or the file's path */
  readonly programName: string;
  /** scope: this pod (in `namespace`; default "default") and optionally one of its containers */
  readonly pod?: string | undefined;
  readonly namespace?: string | undefined;
  readonly container?: string | undefined;
  readonly format: "text" | "json";
  /** SIGINT after this long (maps are printed) */
  readonly timeoutS?: number | undefined;
  /** the bpftrace binary (default: found on PATH) */
  readonly bpftrace?: string | undefined;
  /** how long each signal (SIGINT, then SIGTERM) is given before the next (ms; default 10 000) */
  readonly killGraceMs?: number | undefined;
}

export interface BpftraceSink {
  /** bpftrace attached its probes (summary: what was scoped, e.g. "pod=shop/web cgroups=2") */
  ready(summary: string): void;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** A line longer than this is passed on in pieces (bytes of text held per stream). */
export const MAX_LINE = 1 << 20;
const DEFAULT_GRACE_MS = 10_000;
/**
 * bpftrace 0.17 raises RLIMIT_MEMLOCK and reports when it cannot; since Linux 5.11 BPF memory
 * is charged to the memory cgroup and the limit is not consulted, so the line says nothing
 * about the run (a real shortage still fails the map's creation, which is reported).
 */
const MEMLOCK_NOISE = /^ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK/;

/** The bpftrace binary: `explicit` if given, else the first on PATH. */
export function findBpftrace(explicit?: string): string {
  const candidates =
    explicit !== undefined
      ? [explicit]
      : (process.env["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
          .split(delimiter)
          .filter((d) => d !== "")
          .map((d) => join(d, "bpftrace"));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      // next
    }
  }
  if (explicit !== undefined)
    throw new LannerError("ENOENT", `bpftrace: ${explicit} is not an executable file`);
  throw new NotSupportedError("bpftrace", "no bpftrace on PATH: install it (apt-get install bpftrace)");
}

/** Splits a stream into whole lines (bounded: a line over MAX_LINE is passed on in pieces). */
class Lines {
  private partial = "";
  constructor(private readonly out: (lines: string[]) => void) {}
  push(chunk: string): void {
    const text = this.partial + chunk;
    const nl = text.lastIndexOf("\n");
    if (nl < 0) {
      this.partial = text;
    } else {
      this.partial = text.slice(nl + 1);
      this.out(text.slice(0, nl + 1).split(/(?<=\n)/));
    }
    if (this.partial.length > MAX_LINE) {
      const p = this.partial;
      this.partial = "";
      this.out([p]);
    }
  }
  end(): void {
    if (this.partial !== "") this.out([this.partial]);
    this.partial = "";
  }
}

const ERROR_POS = /^(.*?):(\d+)(?:-(\d+))?(?::(\d+)(?:-(\d+))?)?:( .*)$/s;

/**
 * bpftrace's messages with the user's program name and positions: `FILE:L:C-C2: ERROR: ...`
 * (then the source line and a `~~~` underline, both redone from the user's line).
 */
export class ErrorMapper {
  private expectSource: { line: number; col: number; end: number; rewrittenLine: string } | null = null;
  private expectUnderline: { col: number; end: number } | null = null;
  constructor(
    private readonly file: string,
    private readonly name: string,
    private readonly rw: Rewritten,
    private readonly rewrittenLines: readonly string[],
  ) {}

  map(line: string): string {
    const nl = line.endsWith("\n") ? "\n" : "";
    const body = nl === "" ? line : line.slice(0, -1);
    if (this.expectSource !== null) {
      const s = this.expectSource;
      this.expectSource = null;
      if (body === s.rewrittenLine) {
        this.expectUnderline = { col: s.col, end: s.end };
        return this.rw.originalLine(s.line) + nl;
      }
    } else if (this.expectUnderline !== null) {
      const u = this.expectUnderline;
      this.expectUnderline = null;
      if (/^\s*~+\s*$/.test(body))
        return " ".repeat(Math.max(0, u.col - 1)) + "~".repeat(Math.max(1, u.end - u.col)) + nl;
    }
    if (!body.includes(this.file)) return line;
    const m = ERROR_POS.exec(body);
    if (m === null || m[1] !== this.file) return body.split(this.file).join(this.name) + nl;
    const l1 = Number(m[2]);
    const l2 = m[3] !== undefined ? Number(m[3]) : undefined;
    const rest = m[6] as string;
    if (m[4] === undefined) return `${this.name}:${l1}${l2 !== undefined ? `-${l2}` : ""}:${rest}${nl}`;
    const c1 = Number(m[4]);
    const p1 = this.rw.originalPosition(l1, c1);
    let pos = `${p1.line}:${p1.col}`;
    let end = p1.col + 1;
    if (m[5] !== undefined) {
      const p2 = this.rw.originalPosition(l1, Number(m[5]));
      end = p2.line === p1.line ? Math.max(p2.col, p1.col + 1) : p1.col + 1;
      pos += `-${end}`;
    }
    this.expectSource = { line: p1.line, col: p1.col, end, rewrittenLine: this.rewrittenLines[l1 - 1] ?? "" };
    return `${this.name}:${pos}:${rest}${nl}`;
  }
}

function summaryOf(scope: PodScope | null, rw: Rewritten): string {
  if (scope === null) return "host (not scoped)";
  const names = scope.containers.map((c) => c.name).join(",");
  return (
    `pod=${scope.namespace}/${scope.pod} containers=${names} cgroups=${scope.cgroupIds.length} ` +
    `container_pid=${scope.containerPid} scoped_blocks=${rw.scopedBlocks}`
  );
}

export class BpftraceRun {
  /** resolves with bpftrace's exit code once it ended and its output was delivered */
  readonly done: Promise<number>;
  /** what was scoped (also given to sink.ready) */
  readonly summary: string;
  /** the program bpftrace runs (after the rewrite) */
  readonly rewritten: string;
  /** the temporary file bpftrace reads it from (removed once bpftrace exited) */
  readonly file: string;
  private readonly child: ChildProcess;
  private readonly grace: number;
  private stopping = false;
  private exited = false;
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(
    child: ChildProcess,
    done: Promise<number>,
    summary: string,
    rewritten: string,
    file: string,
    grace: number,
  ) {
    this.child = child;
    this.file = file;
    this.done = done;
    this.summary = summary;
    this.rewritten = rewritten;
    this.grace = grace;
    void done.finally(() => {
      this.exited = true;
      for (const t of this.timers) clearTimeout(t);
    });
  }

  /** Resolves the scope, rewrites the program, starts bpftrace; rejects with BpftraceInputError or LannerError. */
  static async start(
    opts: BpftraceOptions,
    env: GadgetEnvironment,
    sink: BpftraceSink,
  ): Promise<BpftraceRun> {
    if (opts.pod === undefined && opts.container !== undefined)
      throw new BpftraceInputError(`-c ${opts.container}: a container is chosen within a pod (--pod)`);
    if (opts.timeoutS !== undefined && !(opts.timeoutS > 0))
      throw new BpftraceInputError(`--timeout: expected a positive number of seconds, got ${opts.timeoutS}`);
    let parsed;
    try {
      parsed = parseProgram(opts.program);
    } catch (e) {
      if (e instanceof ProgramError) throw new BpftraceInputError(`${opts.programName}:${e.message}`);
      throw e;
    }
    // the binary before the scope: a node without bpftrace says so whatever the program
    const bin = findBpftrace(opts.bpftrace);
    const scope =
      opts.pod === undefined
        ? null
        : await resolvePodScope(env, { pod: opts.pod, namespace: opts.namespace, container: opts.container });
    let rw: Rewritten;
    try {
      rw = rewriteProgram(parsed, scope);
    } catch (e) {
      if (e instanceof ProgramError) throw new BpftraceInputError(`${opts.programName}:${e.message}`);
      throw e;
    }
    const dir = mkdtempSync(join(tmpdir(), "lanner-bpftrace-"));
    const file = join(dir, "program.bt");
    writeFileSync(file, rw.text, { mode: 0o600 });
    const args: string[] = [];
    if (opts.format === "json") args.push("-f", "json");
    // #include "x.h" next to the user's file still resolves
    if (opts.programName !== "-e") {
      try {
        if (statSync(dirname(opts.programName)).isDirectory()) args.push("-I", dirname(opts.programName));
      } catch {
        // not a path here (sent from another machine)
      }
    }
    args.push(file);
    const summary = summaryOf(scope, rw);
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    const spawned = await new Promise<Error | null>((resolve) => {
      child.once("spawn", () => resolve(null));
      child.once("error", (e) => resolve(e));
    });
    if (spawned !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new LannerError("EBPFTRACE", `starting ${bin}: ${errorMessage(spawned)}`, { cause: spawned });
    }
    let ready = false;
    const isReady =
      opts.format === "json"
        ? (l: string): boolean => /^\{\s*"type"\s*:\s*"attached_probes"/.test(l)
        : (l: string): boolean => /^Attaching \d+ probes?\.\.\./.test(l);
    const stdout = new Lines((lines) => {
      if (!ready && lines.some(isReady)) {
        ready = true;
        sink.ready(summary);
      }
      sink.stdout(lines.join(""));
    });
    const mapper = new ErrorMapper(file, opts.programName, rw, rw.text.split("\n"));
    const stderr = new Lines((lines) => {
      const kept = lines.filter((l) => !MEMLOCK_NOISE.test(l));
      if (kept.length > 0) sink.stderr(kept.map((l) => mapper.map(l)).join(""));
    });
    child.stdout?.setEncoding("utf8").on("data", (s: string) => stdout.push(s));
    child.stderr?.setEncoding("utf8").on("data", (s: string) => stderr.push(s));
    const done = new Promise<number>((resolve) => {
      child.once("close", (code, signal) => {
        stdout.end();
        stderr.end();
        rmSync(dir, { recursive: true, force: true });
        if (code !== null) resolve(code);
        else resolve(128 + (signal !== null ? (osConstants.signals[signal] ?? 0) : 0));
      });
    });
    const run = new BpftraceRun(child, done, summary, rw.text, file, opts.killGraceMs ?? DEFAULT_GRACE_MS);
    if (opts.timeoutS !== undefined) run.timers.push(setTimeout(() => run.stop(), opts.timeoutS * 1000));
    return run;
  }

  /** Ends bpftrace (SIGINT: it prints its maps), escalating if it does not exit. */
  stop(): void {
    if (this.stopping || this.exited) return;
    this.stopping = true;
    this.child.kill("SIGINT");
    this.timers.push(
      setTimeout(() => {
        if (this.exited) return;
        this.child.kill("SIGTERM");
        this.timers.push(
          setTimeout(() => {
            if (!this.exited) this.child.kill("SIGKILL");
          }, this.grace),
        );
      }, this.grace),
    );
  }
}
