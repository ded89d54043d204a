/**
 * Errors thrown by the addon are plain `Error`s with extra fields. Messages say what was
 * being done: "loading program ln_exit_btf: EACCES: <verifier log tail>",
 * "attaching program p to tracepoint syscalls/sys_enter_nope: ENOENT: No such file or directory".
 */
export interface NativeError extends Error {
  /** Positive errno value. */
  errno: number;
  /** errno name, e.g. 'EPERM', 'EACCES', 'ENOENT' ('EUNKNOWN' for unmapped values). */
  code: string;
  /** load(): the program whose load failed, when libbpf named one. */
  program?: string;
  /** load(): the map whose creation failed, when libbpf named one. */
  map?: string;
  /** load(): the last LOG_TAIL_BYTES (8 KiB) of libbpf warnings, verifier log included. */
  log?: string;
}

export function isNativeError(e: unknown): e is NativeError {
  return (
    e instanceof Error &&
    typeof (e as Partial<NativeError>).errno === 'number' &&
    typeof (e as Partial<NativeError>).code === 'string'
  );
}

/** The error for using a handle after close(): EBADF, like the addon's own. */
export function closedError(what: string, detail = 'closed'): NativeError {
  const e = new Error(`${what}: EBADF: ${detail}`) as NativeError;
  e.errno = 9;
  e.code = 'EBADF';
  return e;
}
