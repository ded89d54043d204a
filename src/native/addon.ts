/**
 * Loads build/Release/lanner.node (native/lanner.c). This file and its siblings in
 * src/native/ are the only importers of the addon; everything else uses the typed
 * wrappers (BpfObject, RingReader, ...).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Opaque native handles. Only the wrappers in src/native/ hold them. */
export interface ObjectHandle {
  readonly __lannerObject: unique symbol;
}
export interface RingHandle {
  readonly __lannerRing: unique symbol;
}
/** A kernel fd held for its effect (BPF_ENABLE_STATS). */
export interface FdHandle {
  readonly __lannerFd: unique symbol;
}

/** A loaded program of the system, by id (BPF_OBJ_GET_INFO_BY_FD). */
export interface NativeSystemProgram {
  id: number;
  type: number;
  typeName: string | null;
  name: string;
  tag: string;
  runTimeNs: bigint;
  runCount: bigint;
  recursionMisses: bigint;
  /** boot-time ns */
  loadTimeNs: bigint;
  createdByUid: number;
  mapIds: number[];
  xlatedBytes: number;
  jitedBytes: number;
  verifiedInsns: number;
  btfId: number;
  /** bytes charged (fdinfo memlock), -1 when unknown */
  memlock: number;
}

/** A map of the system, by id. */
export interface NativeSystemMap {
  id: number;
  type: number;
  typeName: string | null;
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** bytes charged (fdinfo memlock), -1 when unknown */
  memlock: number;
}

export interface NativeProgramInfo {
  name: string;
  section: string;
  type: number;
  typeName: string | null;
  autoload: boolean;
  autoattach: boolean;
  fd: number;
}

export interface NativeMapInfo {
  name: string;
  type: number;
  typeName: string | null;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  internal: boolean;
  fd: number;
}

export interface NativeObjectInfo {
  name: string;
  loaded: boolean;
  programs: NativeProgramInfo[];
  maps: NativeMapInfo[];
}

export interface NativeRingStats {
  records: number;
  bytes: number;
  batches: number;
  turns: number;
  capHits: number;
  deferred: number;
  oversized: number;
  wakeups: number;
  errors: number;
  lastErrno: number;
  capacity: number;
  started: boolean;
  closed: boolean;
}

/** The attach spec understood by native attach(); see AttachSpec in bpf-object.ts. */
export type NativeAttachSpec =
  | { kind: 'auto' }
  | { kind: 'tracepoint'; category: string; name: string; cookie?: bigint | number }
  | { kind: 'rawTracepoint'; name: string }
  | { kind: 'trace' }
  | { kind: 'lsm' }
  | { kind: 'xdp'; ifindex: number }
  | { kind: 'cgroup'; path: string }
  | { kind: 'tc'; ifindex: number; direction: 'ingress' | 'egress'; priority?: number; handle?: number }
  | { kind: 'iter'; pid?: number; tid?: number; mapFd?: number }
  | {
      kind: 'uprobe';
      binaryPath: string;
      funcName?: string;
      offset?: number;
      pid?: number;
      retprobe?: boolean;
      cookie?: bigint | number;
    };

export interface NativeAddon {
  openObject(
    path: string,
    opts?: { objectName?: string; pinRootPath?: string; btfCustomPath?: string },
  ): ObjectHandle;
  objectInfo(h: ObjectHandle): NativeObjectInfo;
  setGlobal(h: ObjectHandle, name: string, bytes: ArrayBufferView): void;
  setMaxEntries(h: ObjectHandle, mapIndex: number, n: number): void;
  setAutoload(h: ObjectHandle, progIndex: number, on: boolean): void;
  setAutoattach(h: ObjectHandle, progIndex: number, on: boolean): void;
  load(h: ObjectHandle): void;
  attach(h: ObjectHandle, progIndex: number, spec: NativeAttachSpec): number;
  detach(h: ObjectHandle, linkId: number): boolean;
  linkCount(h: ObjectHandle): number;
  closeObject(h: ObjectHandle): void;
  mapLookup(
    h: ObjectHandle,
    mapIndex: number,
    key: ArrayBufferView,
    value: ArrayBufferView,
    flags?: number,
  ): boolean;
  mapUpdate(
    h: ObjectHandle,
    mapIndex: number,
    key: ArrayBufferView,
    value: ArrayBufferView,
    flags?: number,
  ): void;
  mapDelete(h: ObjectHandle, mapIndex: number, key: ArrayBufferView, flags?: number): boolean;
  mapNextKey(
    h: ObjectHandle,
    mapIndex: number,
    key: ArrayBufferView | null,
    next: ArrayBufferView,
  ): boolean;
  ringOpen(
    h: ObjectHandle,
    mapIndex: number,
    batch: Uint8Array,
    cb: (bytes: number, records: number) => void,
    opts?: { pollMs?: number; maxBatchesPerTurn?: number },
  ): RingHandle;
  ringStart(r: RingHandle): void;
  ringStop(r: RingHandle): void;
  ringDrain(r: RingHandle, maxBatches?: number): number;
  ringClose(r: RingHandle): void;
  ringRef(r: RingHandle, on: boolean): void;
  ringStats(r: RingHandle): NativeRingStats;
  iterRead(h: ObjectHandle, linkId: number, maxBytes: number): { data: Buffer; truncated: boolean };
  enableStats(type: number): FdHandle;
  fdClose(f: FdHandle): boolean;
  progIds(): number[];
  progInfo(id: number): NativeSystemProgram | null;
  mapIds(): number[];
  mapInfoById(id: number): NativeSystemMap | null;
  numPossibleCpus(): number;
  clockOffsets(): { realtimeNs: bigint; boottimeNs: bigint; monotonicNs: bigint };
  setLogger(level: number, fn: ((level: string, msg: string) => void) | null): void;
  libbpfVersion(): string;
  readonly RECORD_HEADER_SIZE: number;
  readonly RECORD_ALIGN: number;
  readonly LOG_TAIL_BYTES: number;
}

const ADDON_REL = join('build', 'Release', 'lanner.node');

/** Finds build/Release/lanner.node above this file (works from src/ and from dist/src/). */
export function addonPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, ADDON_REL);
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`native addon not found: no ${ADDON_REL} above ${fileURLToPath(import.meta.url)} (run \`make addon\`)`);
}

let cached: NativeAddon | undefined;

/** The addon, loaded once. Throws with a build hint when it is missing. */
export function addon(): NativeAddon {
  if (cached === undefined) {
    const require = createRequire(import.meta.url);
    cached = require(addonPath()) as NativeAddon;
  }
  return cached;
}
