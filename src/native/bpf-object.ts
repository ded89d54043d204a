/**
 * A BPF object file: open -> configure -> load -> attach / maps / ring consumers -> close.
 *
 *   const obj = BpfObject.open('bpf/.output/capture.bpf.o');
 *   obj.setGlobalU32('self_tgid', process.pid);        // const volatile, before load
 *   obj.map('events').setMaxEntries(8 << 20);
 *   obj.load();                                        // NativeError with errno/log on failure
 *   const link = obj.program('ln_enter').attach({ kind: 'tracepoint', category: 'syscalls', name: 'sys_enter_openat' });
 *   const ring = obj.ringBuffer('events', { onBatch: (bytes, n, batch) => decode(batch, bytes, n) });
 *   ...
 *   obj.close();                                       // links, rings, maps, programs; idempotent
 *
 * close() releases everything the object owns (links, ring consumers, fds). A finalizer
 * closes objects that were dropped without close(), but only close() is deterministic.
 */
import {
  addon,
  type NativeAttachSpec,
  type NativeMapInfo,
  type NativeProgramInfo,
  type ObjectHandle,
} from './addon.js';
import { RingReader, type BatchCallback, type RingOptions } from './ring-reader.js';
import { closedError } from './native-error.js';

export interface OpenOptions {
  /** Overrides the object name (prefix of internal maps such as "<name>.rodata"). */
  objectName?: string;
  /** Directory for maps declared with LIBBPF_PIN_BY_NAME. */
  pinRootPath?: string;
  /** Kernel BTF to use for CO-RE instead of /sys/kernel/btf/vmlinux. */
  btfCustomPath?: string;
}

/**
 * How to attach a program. Each attach creates one link; a program may be attached to many
 * points (e.g. one generic tracepoint program on several tracepoints).
 *  - auto: what the ELF section says (bpf_program__attach)
 *  - tracepoint: category/name, e.g. syscalls/sys_enter_openat
 *  - rawTracepoint: e.g. sys_enter
 *  - trace: tp_btf / fentry / fexit (target from the section)
 *  - lsm, xdp (ifindex), cgroup (cgroup v2 directory), uprobe
 *  - tc (ifindex, ingress/egress): a tc filter on a clsact qdisc (created if missing and
 *    left in place on detach); libbpf 1.1 has no tc link, so the id names the filter.
 *  - iter: a BPF iterator (iter/task, iter/task_file...), optionally one process (pid) or
 *    thread (tid) for task iterators, or a map (mapFd); read it with BpfLink.readIter().
 */
export type AttachSpec = NativeAttachSpec;

/** readIter's default cap on one pass of an iterator (bytes). */
export const DEFAULT_ITER_MAX_BYTES = 64 << 20;

/** BPF_MAP_UPDATE_ELEM flags. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_F_LOCK = 4;

/** enum bpf_map_type values the wrappers care about. */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  PERCPU_CGROUP_STORAGE: 21,
  RINGBUF: 27,
} as const;

const PER_CPU_TYPES: ReadonlySet<number> = new Set([
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
  MapType.PERCPU_CGROUP_STORAGE,
]);

/** Number of possible CPUs (libbpf_num_possible_cpus): the stride count of per-CPU values. */
export function numPossibleCpus(): number {
  return addon().numPossibleCpus();
}

export class BpfLink {
  readonly id: number;
  /** What was attached, e.g. "attaching program p to tracepoint syscalls/sys_enter_openat". */
  readonly description: string;
  readonly #obj: BpfObject;
  #closed = false;

  /** Internal: created by BpfProgram.attach(). */
  constructor(obj: BpfObject, id: number, description: string) {
    this.#obj = obj;
    this.id = id;
    this.description = description;
  }

  get closed(): boolean {
    return this.#closed || this.#obj.closed;
  }

  /**
   * An iterator link: runs the iterator once and returns what its program wrote (at most
   * `maxBytes`; `truncated` when there was more). Throws a NativeError naming the link.
   */
  readIter(maxBytes = DEFAULT_ITER_MAX_BYTES): { data: Buffer; truncated: boolean } {
    if (this.#closed) throw closedError(`reading iterator (${this.description})`, 'link is closed');
    return addon().iterRead(this.#obj.handle('reading iterator of'), this.id, maxBytes);
  }

  /** Detaches (destroys the link). Idempotent; a no-op after the object was closed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#obj.detachLink(this.id);
  }
}

export class BpfProgram {
  readonly obj: BpfObject;
  readonly index: number;
  readonly name: string;
  readonly section: string;
  /** enum bpf_prog_type, and its libbpf name ("tracepoint", "raw_tracepoint", ...). */
  readonly type: number;
  readonly typeName: string;

  /** Internal: use BpfObject.program(). */
  constructor(obj: BpfObject, index: number, info: NativeProgramInfo) {
    this.obj = obj;
    this.index = index;
    this.name = info.name;
    this.section = info.section;
    this.type = info.type;
    this.typeName = info.typeName ?? `type ${info.type}`;
  }

  /** false: the program is not loaded (and so cannot fail the load). Before load only. */
  setAutoload(on: boolean): void {
    addon().setAutoload(this.obj.handle('configuring'), this.index, on);
  }

  setAutoattach(on: boolean): void {
    addon().setAutoattach(this.obj.handle('configuring'), this.index, on);
  }

  get autoload(): boolean {
    return this.#info().autoload;
  }

  get autoattach(): boolean {
    return this.#info().autoattach;
  }

  /** Program fd after load, or a negative value. */
  get fd(): number {
    return this.#info().fd;
  }

  #info(): NativeProgramInfo {
    const p = addon().objectInfo(this.obj.handle('inspecting')).programs[this.index];
    if (p === undefined) throw new Error(`program ${this.name} vanished`);
    return p;
  }

  /** Attaches once; throws a NativeError naming the attach point. */
  attach(spec: AttachSpec = { kind: 'auto' }): BpfLink {
    const id = addon().attach(this.obj.handle('attaching'), this.index, spec);
    return new BpfLink(this.obj, id, describe(this.name, spec));
  }

  attachTracepoint(category: string, name: string): BpfLink {
    return this.attach({ kind: 'tracepoint', category, name });
  }

  attachRawTracepoint(name: string): BpfLink {
    return this.attach({ kind: 'rawTracepoint', name });
  }
}

function describe(prog: string, spec: AttachSpec): string {
  switch (spec.kind) {
    case 'tracepoint':
      return `program ${prog} on tracepoint ${spec.category}/${spec.name}`;
    case 'rawTracepoint':
      return `program ${prog} on raw tracepoint ${spec.name}`;
    case 'xdp':
      return `program ${prog} on XDP ifindex ${spec.ifindex}`;
    case 'cgroup':
      return `program ${prog} on cgroup ${spec.path}`;
    case 'tc':
      return `program ${prog} on tc ifindex ${spec.ifindex} ${spec.direction}`;
    case 'iter':
      return `iterator ${prog}${spec.pid !== undefined ? ` of pid ${spec.pid}` : spec.tid !== undefined ? ` of tid ${spec.tid}` : ''}`;
    case 'uprobe':
      return `program ${prog} on ${spec.retprobe === true ? 'uretprobe' : 'uprobe'} ${spec.binaryPath}:${spec.funcName ?? ''}+${spec.offset ?? 0}`;
    default:
      return `program ${prog} (${spec.kind})`;
  }
}

export class BpfMap {
  readonly obj: BpfObject;
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly typeName: string;
  readonly keySize: number;
  readonly valueSize: number;
  /** True for libbpf's internal maps (.rodata, .data, .bss, .kconfig). */
  readonly internal: boolean;
  readonly perCpu: boolean;
  /** Size of the value buffer for lookup/update: per-CPU maps hold one 8-byte-aligned slot per possible CPU. */
  readonly valueBufferSize: number;

  /** Internal: use BpfObject.map(). */
  constructor(obj: BpfObject, index: number, info: NativeMapInfo) {
    this.obj = obj;
    this.index = index;
    this.name = info.name;
    this.type = info.type;
    this.typeName = info.typeName ?? `type ${info.type}`;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.internal = info.internal;
    this.perCpu = PER_CPU_TYPES.has(info.type);
    this.valueBufferSize = this.perCpu
      ? ((info.valueSize + 7) & ~7) * numPossibleCpus()
      : info.valueSize;
  }

  get maxEntries(): number {
    return this.#info().maxEntries;
  }

  get fd(): number {
    return this.#info().fd;
  }

  #info(): NativeMapInfo {
    const m = addon().objectInfo(this.obj.handle('inspecting')).maps[this.index];
    if (m === undefined) throw new Error(`map ${this.name} vanished`);
    return m;
  }

  /** Before load only (ring buffers: a power of two multiple of the page size). */
  setMaxEntries(n: number): void {
    addon().setMaxEntries(this.obj.handle('configuring'), this.index, n);
  }

  /** Copies the value into `value` (valueBufferSize bytes). false when the key is absent. */
  lookup(key: ArrayBufferView, value: ArrayBufferView, flags = 0): boolean {
    return addon().mapLookup(this.obj.handle('reading'), this.index, key, value, flags);
  }

  /** Allocating convenience over lookup(). */
  get(key: ArrayBufferView): Buffer | undefined {
    const v = Buffer.alloc(this.valueBufferSize);
    return this.lookup(key, v) ? v : undefined;
  }

  update(key: ArrayBufferView, value: ArrayBufferView, flags = BPF_ANY): void {
    addon().mapUpdate(this.obj.handle('updating'), this.index, key, value, flags);
  }

  /** false when the key was absent. */
  delete(key: ArrayBufferView): boolean {
    return addon().mapDelete(this.obj.handle('deleting from'), this.index, key);
  }

  /** Writes the key after `key` (null: the first key) into `next`; false at the end. */
  nextKey(key: ArrayBufferView | null, next: ArrayBufferView): boolean {
    return addon().mapNextKey(this.obj.handle('iterating'), this.index, key, next);
  }

  /** Iterates keys (a fresh Buffer each). Concurrent deletes may restart the walk (kernel semantics). */
  *keys(): Generator<Buffer> {
    let cur: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.keySize);
      if (!this.nextKey(cur, next)) return;
      yield next;
      cur = next;
    }
  }

  /** Per-CPU maps: the value of each possible CPU, as views into `value`. */
  perCpuValues(value: Buffer): Buffer[] {
    const stride = (this.valueSize + 7) & ~7;
    const out: Buffer[] = [];
    for (let off = 0; off + this.valueSize <= value.length; off += stride) {
      out.push(value.subarray(off, off + this.valueSize));
    }
    return out;
  }
}

export class BpfObject {
  readonly path: string;
  readonly name: string;
  #h: ObjectHandle | undefined;
  readonly #programs: BpfProgram[];
  readonly #maps: BpfMap[];
  readonly #rings = new Set<RingReader>();
  #loaded = false;

  private constructor(path: string, h: ObjectHandle) {
    this.path = path;
    this.#h = h;
    const info = addon().objectInfo(h);
    this.name = info.name;
    this.#programs = info.programs.map((p, i) => new BpfProgram(this, i, p));
    this.#maps = info.maps.map((m, i) => new BpfMap(this, i, m));
  }

  /** bpf_object__open_file. Throws a NativeError ("opening BPF object <path>: ENOENT: ..."). */
  static open(path: string, opts: OpenOptions = {}): BpfObject {
    return new BpfObject(path, addon().openObject(path, opts));
  }

  /** Internal to src/native: the live native handle, or a "closed" error. */
  handle(what: string): ObjectHandle {
    if (this.#h === undefined) throw closedError(`${what} BPF object ${this.name}`, 'object is closed');
    return this.#h;
  }

  get closed(): boolean {
    return this.#h === undefined;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  programs(): readonly BpfProgram[] {
    return this.#programs;
  }

  maps(): readonly BpfMap[] {
    return this.#maps;
  }

  hasProgram(name: string): boolean {
    return this.#programs.some((p) => p.name === name);
  }

  hasMap(name: string): boolean {
    return this.#maps.some((m) => m.name === name);
  }

  program(name: string): BpfProgram {
    const p = this.#programs.find((x) => x.name === name);
    if (p === undefined) throw new Error(`BPF object ${this.name} has no program ${name}`);
    return p;
  }

  /** By name; internal maps also by section (".rodata"). */
  map(name: string): BpfMap {
    const m =
      this.#maps.find((x) => x.name === name) ??
      (name.startsWith('.') ? this.#maps.find((x) => x.internal && x.name.endsWith(name)) : undefined);
    if (m === undefined) throw new Error(`BPF object ${this.name} has no map ${name}`);
    return m;
  }

  /** Sets a global (`const volatile` in .rodata, or .data/.bss) before load; exact size. */
  setGlobal(name: string, bytes: ArrayBufferView): void {
    addon().setGlobal(this.handle('configuring'), name, bytes);
  }

  setGlobalU8(name: string, v: number): void {
    this.setGlobal(name, Uint8Array.of(v));
  }

  setGlobalU32(name: string, v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.setGlobal(name, b);
  }

  setGlobalU64(name: string, v: bigint | number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.setGlobal(name, b);
  }

  /** Loads maps and programs. Throws a NativeError with errno, code, program/map and log. */
  load(): void {
    addon().load(this.handle('loading'));
    this.#loaded = true;
  }

  /** Live links (leak checks). */
  get linkCount(): number {
    return this.#h === undefined ? 0 : addon().linkCount(this.#h);
  }

  /** Internal: BpfLink.close(). */
  detachLink(id: number): void {
    if (this.#h !== undefined) addon().detach(this.#h, id);
  }

  /** A batched consumer on a BPF_MAP_TYPE_RINGBUF map (after load). */
  ringBuffer(mapName: string, opts: RingOptions): RingReader {
    const m = this.map(mapName);
    const r = new RingReader(this.handle('opening ring consumer on'), m.index, m.name, opts);
    this.#rings.add(r);
    return r;
  }

  /** Positional form of ringBuffer() with a caller-owned batch buffer. */
  openRing(
    mapName: string,
    batch: Buffer,
    onBatch: BatchCallback,
    opts: Omit<RingOptions, 'onBatch' | 'batch' | 'batchBytes'> = {},
  ): RingReader {
    return this.ringBuffer(mapName, { ...opts, batch, onBatch });
  }

  // Name-based shorthands (same as going through program(name) / map(name)).

  setAutoload(program: string, on: boolean): void {
    this.program(program).setAutoload(on);
  }

  setAutoattach(program: string, on: boolean): void {
    this.program(program).setAutoattach(on);
  }

  setMaxEntries(map: string, n: number): void {
    this.map(map).setMaxEntries(n);
  }

  mapInfo(map: string): BpfMap {
    return this.map(map);
  }

  mapLookup(map: string, key: ArrayBufferView, value: ArrayBufferView, flags = 0): boolean {
    return this.map(map).lookup(key, value, flags);
  }

  mapUpdate(map: string, key: ArrayBufferView, value: ArrayBufferView, flags = BPF_ANY): void {
    this.map(map).update(key, value, flags);
  }

  mapDelete(map: string, key: ArrayBufferView): boolean {
    return this.map(map).delete(key);
  }

  mapNextKey(map: string, key: ArrayBufferView | null, next: ArrayBufferView): boolean {
    return this.map(map).nextKey(key, next);
  }

  attach(program: string, spec: AttachSpec = { kind: 'auto' }): BpfLink {
    return this.program(program).attach(spec);
  }

  attachTracepoint(program: string, category: string, name: string): BpfLink {
    return this.program(program).attachTracepoint(category, name);
  }

  attachRawTracepoint(program: string, name: string): BpfLink {
    return this.program(program).attachRawTracepoint(name);
  }

  /** Idempotent: closes ring consumers, destroys links, closes maps/programs. */
  close(): void {
    const h = this.#h;
    if (h === undefined) return;
    this.#h = undefined;
    for (const r of this.#rings) r.close();
    this.#rings.clear();
    addon().closeObject(h);
  }
}
