/** The native layer: the only code that touches build/Release/lanner.node. */
export {
  BpfObject,
  BpfProgram,
  BpfMap,
  BpfLink,
  MapType,
  BPF_ANY,
  BPF_NOEXIST,
  BPF_EXIST,
  BPF_F_LOCK,
  DEFAULT_ITER_MAX_BYTES,
  numPossibleCpus,
  type OpenOptions,
  type AttachSpec,
} from './bpf-object.js';
export {
  RingReader,
  RECORD_HEADER_SIZE,
  RECORD_ALIGN,
  DEFAULT_BATCH_BYTES,
  DEFAULT_POLL_MS,
  DEFAULT_MAX_BATCHES_PER_TURN,
  nextRecordOffset,
  type RingOptions,
  type RingStats,
  type BatchCallback,
} from './ring-reader.js';
export {
  BpfStats,
  programIds,
  programInfo,
  mapIds,
  systemMapInfo,
  type SystemProgram,
  type SystemMap,
} from './bpf-system.js';
export { BootClock, clockOffsets, type ClockOffsets } from './clock.js';
export { setLibbpfLogger, libbpfVersion, type LibbpfLogLevel, type LibbpfLogSink } from './libbpf-log.js';
export { isNativeError, type NativeError } from './native-error.js';
export { addonPath } from './addon.js';
