/** Where a command writes. Tests pass their own; the CLI passes the process streams. */
export interface CliIO {
  stdout(s: string): void;
  stderr(s: string): void;
}

export const processIO: CliIO = {
  stdout: (s) => {
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
