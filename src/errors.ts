/**
 * Lanner's error base. Every error has a stable `code` (for scripts and tests) and an
 * optional `cause`; messages say what was being done ("attaching tracepoint
 * syscalls/sys_exit_openat: ENOENT").
 */
export class LannerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A feature this kernel or machine does not offer, and what would provide it. */
export class NotSupportedError extends LannerError {
  readonly feature: string;
  readonly provider: string;
  constructor(feature: string, provider: string, options?: { cause?: unknown }) {
    super("ENOTSUP", `${feature} is not supported here (${provider})`, options);
    this.feature = feature;
    this.provider = provider;
  }
}

/** Formats any thrown value for a one-line log. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
