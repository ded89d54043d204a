/**
 * Capability sets as names (`thread.cap_effective`): "CAP_CHOWN CAP_SYS_ADMIN ...", in bit
 * order, as Falco renders them. Renderings are cached per distinct mask (a node has few).
 */
const NAMES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

const cache = new Map<bigint, string>();
const MAX_CACHED = 256;

/** Space-separated names of the bits set in `mask`; unknown bits render as `CAP_<n>`. */
export function capabilityNames(mask: bigint): string {
  const hit = cache.get(mask);
  if (hit !== undefined) return hit;
  const parts: string[] = [];
  for (let i = 0; i < 64; i++) {
    if ((mask >> BigInt(i)) & 1n) parts.push(NAMES[i] ?? `CAP_${i}`);
  }
  const s = parts.join(" ");
  if (cache.size < MAX_CACHED) cache.set(mask, s);
  return s;
}

/** Parses a capability mask as /proc/PID/status prints it (16 hex digits). */
export function parseCapMask(hex: string): bigint {
  return /^[0-9a-fA-F]{1,16}$/.test(hex) ? BigInt(`0x${hex}`) : 0n;
}
