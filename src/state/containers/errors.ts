/**
 * Errors of the container/Kubernetes/user state. Lanner's convention: one base class with a
 * stable `code` and a `cause`; NotSupportedError names the feature and what would provide it.
 * (When a repository-wide base error lands, these should extend it.)
 */
export class StateError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StateError";
    this.code = code;
  }
}

/** A feature Lanner does not implement (yet); `provider` says what would supply it. */
export class NotSupportedError extends StateError {
  readonly feature: string;
  readonly provider: string;
  constructor(feature: string, provider: string) {
    super("ENOTSUP", `${feature}: not supported (${provider})`);
    this.name = "NotSupportedError";
    this.feature = feature;
    this.provider = provider;
  }
}

/** Turns anything thrown into a one-line message for logs. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
