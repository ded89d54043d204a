/**
 * libbpf's own messages. Default: silent (load errors still carry the verifier log).
 * With a level, messages at or above that severity go to `sink` (or stderr), delivered
 * after the addon call that produced them returns, never from inside libbpf.
 */
import { addon } from './addon.js';

export type LibbpfLogLevel = 'silent' | 'warn' | 'info' | 'debug';
export type LibbpfLogSink = (level: 'warn' | 'info' | 'debug', message: string) => void;

const LEVELS: Record<LibbpfLogLevel, number> = { silent: -1, warn: 0, info: 1, debug: 2 };

export function setLibbpfLogger(level: LibbpfLogLevel, sink?: LibbpfLogSink): void {
  addon().setLogger(
    LEVELS[level],
    sink === undefined ? null : (l, m) => sink(l as 'warn' | 'info' | 'debug', m),
  );
}

export function libbpfVersion(): string {
  return addon().libbpfVersion();
}
