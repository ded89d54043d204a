/** Where a command writes. Tests pass their own; the CLI passes the process streams. */
export interface CliIO {
  stdout(s: string): void;
  stderr(s: string): void;
}

let pipeWatched = false;

/** `lanner trace ... | head`: once the reader is gone nothing more is wanted; exit quietly. */
function watchPipe(): void {
  if (pipeWatched) return;
  pipeWatched = true;
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
}

export const processIO: CliIO = {
  stdout: (s) => {
    watchPipe();
    process.stdout.write(s);
  },
  stderr: (s) => {
    process.stderr.write(s);
  },
};

/** A usage or input problem: printed as `lanner: <message>` with exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Output in chunks: what one turn of the event loop produced (a ring batch's events) is one
 * write, flushed when the turn ends or at 64 KiB. A write per line is a syscall per event
 * (stdout to a file or pipe is synchronous here) and was most of a busy gadget's cost.
 */
export class ChunkedOutput {
  private parts: string[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(private readonly out: (s: string) => void) {}

  write(s: string): void {
    this.parts.push(s);
    this.bytes += s.length;
    if (this.bytes >= 64 * 1024) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.parts.length === 0) return;
    const s = this.parts.length === 1 ? (this.parts[0] as string) : this.parts.join("");
    this.parts = [];
    this.bytes = 0;
    this.out(s);
  }
}
