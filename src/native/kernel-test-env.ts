/**
 * Shared set-up for the src/native kernel tests (not a test file itself): where the
 * selftest object is, why a kernel test must be skipped, fd counting for leak checks.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { addonPath } from './addon.js';

/** Repository root (the directory holding build/Release/lanner.node). */
export function repoRoot(): string {
  return dirname(dirname(dirname(addonPath())));
}

export function selftestObjectPath(): string {
  return join(repoRoot(), 'bpf', '.output', 'selftest.bpf.o');
}

/** undefined when kernel tests can run; else the reason to print with t.skip(). */
export function kernelSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'kernel tests need root (bpf(2), tracefs)';
  try {
    addonPath();
  } catch (e) {
    return `native addon missing (run make addon): ${(e as Error).message}`;
  }
  if (!existsSync(selftestObjectPath())) {
    return `${selftestObjectPath()} missing (run make bpf)`;
  }
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'kernel has no BTF (/sys/kernel/btf/vmlinux)';
  if (!existsSync('/sys/kernel/tracing/events/syscalls')) {
    return 'tracefs with syscall tracepoints not mounted at /sys/kernel/tracing';
  }
  return undefined;
}

/** Open file descriptors of this process. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Makes `n` getppid(2) calls: Node's process.ppid getter calls uv_os_getppid each time. */
export function getppidTimes(n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += process.ppid;
  return s;
}
