/** x86_64 syscall numbers and names, and which syscalls the kernel side probes at entry. */
import { X86_64_SYSCALL_NAMES } from "./syscall-names.generated.js";

const NR_BY_NAME = new Map<string, number>(
  Object.entries(X86_64_SYSCALL_NAMES).map(([nr, name]) => [name, Number(nr)]),
);

/** x86_64 number of a syscall name, or undefined. */
export function syscallNr(name: string): number | undefined {
  return NR_BY_NAME.get(name);
}

/** Name of a syscall number (`syscall_<nr>` when unknown). */
export function syscallName(nr: number): string {
  return X86_64_SYSCALL_NAMES[nr] ?? `syscall_${nr}`;
}

/**
 * Syscalls whose arguments the BPF side reads at entry (TOCTOU: the path of open, openat, openat2 and creat,
 * the sockaddr of connect, the arguments of execve and execveat); they get a sys_enter
 * tracepoint (in all mode too: cheaper than tp_btf sys_enter for every syscall).
 */
export const ENTER_SYSCALLS: readonly string[] = [
  "open",
  "openat",
  "openat2",
  "creat",
  "connect",
  "execve",
  "execveat",
];
