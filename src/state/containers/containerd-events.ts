/**
 * containerd event payloads (the Any inside an events.v1 Envelope), decoded by a minimal,
 * bounds-checked protobuf reader: only the fields Lanner uses, by field number
 * (containerd/api/events/{container,task}.proto). Malformed bytes throw a StateError with
 * code EMALFORMED; the caller counts it.
 */
import { StateError } from "./errors.js";

type FieldValue = bigint | Uint8Array;

/** Reads the top-level fields of a protobuf message: field number -> values in order. */
export function readProtoFields(buf: Uint8Array): Map<number, FieldValue[]> {
  const out = new Map<number, FieldValue[]>();
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new StateError("EMALFORMED", "protobuf: truncated varint");
      const b = buf[pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new StateError("EMALFORMED", "protobuf: varint longer than 10 bytes");
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new StateError("EMALFORMED", "protobuf: field number 0");
    let value: FieldValue;
    switch (wire) {
      case 0:
        value = varint();
        break;
      case 1:
        if (pos + 8 > buf.length) throw new StateError("EMALFORMED", "protobuf: truncated fixed64");
        value = buf.subarray(pos, pos + 8);
        pos += 8;
        break;
      case 2: {
        const len = varint();
        if (len > BigInt(buf.length - pos)) throw new StateError("EMALFORMED", "protobuf: length past end");
        const n = Number(len);
        value = buf.subarray(pos, pos + n);
        pos += n;
        break;
      }
      case 5:
        if (pos + 4 > buf.length) throw new StateError("EMALFORMED", "protobuf: truncated fixed32");
        value = buf.subarray(pos, pos + 4);
        pos += 4;
        break;
      default:
        throw new StateError("EMALFORMED", `protobuf: unsupported wire type ${wire}`);
    }
    let list = out.get(field);
    if (list === undefined) out.set(field, (list = []));
    list.push(value);
  }
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function str(fields: Map<number, FieldValue[]>, n: number): string {
  const v = fields.get(n)?.at(-1);
  if (v === undefined) return "";
  if (typeof v === "bigint") throw new StateError("EMALFORMED", `protobuf: field ${n} is not a string`);
  try {
    return utf8.decode(v);
  } catch (err) {
    throw new StateError("EMALFORMED", `protobuf: field ${n} is not UTF-8`, { cause: err });
  }
}

function u32(fields: Map<number, FieldValue[]>, n: number): number {
  const v = fields.get(n)?.at(-1);
  if (v === undefined) return 0;
  if (typeof v !== "bigint") throw new StateError("EMALFORMED", `protobuf: field ${n} is not a varint`);
  return Number(v & 0xffffffffn);
}

export type ContainerdEvent =
  | { readonly kind: "container-create"; readonly id: string; readonly image: string }
  | { readonly kind: "container-update"; readonly id: string; readonly image: string }
  | { readonly kind: "container-delete"; readonly id: string }
  | { readonly kind: "task-create"; readonly id: string; readonly pid: number }
  | { readonly kind: "task-start"; readonly id: string; readonly pid: number }
  | {
      readonly kind: "task-exit";
      readonly id: string;
      readonly execId: string;
      readonly pid: number;
      readonly exitStatus: number;
    }
  | { readonly kind: "task-delete"; readonly id: string; readonly pid: number }
  | { readonly kind: "exec-started"; readonly id: string; readonly execId: string; readonly pid: number }
  | { readonly kind: "other"; readonly topic: string };

/** Decodes the payload of an event by its topic. Throws StateError(EMALFORMED). */
export function decodeContainerdEvent(topic: string, payload: Uint8Array): ContainerdEvent {
  const f = readProtoFields(payload);
  switch (topic) {
    case "/containers/create":
      return { kind: "container-create", id: str(f, 1), image: str(f, 2) };
    case "/containers/update":
      return { kind: "container-update", id: str(f, 1), image: str(f, 2) };
    case "/containers/delete":
      return { kind: "container-delete", id: str(f, 1) };
    case "/tasks/create":
      return { kind: "task-create", id: str(f, 1), pid: u32(f, 6) };
    case "/tasks/start":
      return { kind: "task-start", id: str(f, 1), pid: u32(f, 2) };
    case "/tasks/exit":
      return { kind: "task-exit", id: str(f, 1), execId: str(f, 2), pid: u32(f, 3), exitStatus: u32(f, 4) };
    case "/tasks/delete":
      return { kind: "task-delete", id: str(f, 1), pid: u32(f, 2) };
    case "/tasks/exec-started":
      return { kind: "exec-started", id: str(f, 1), execId: str(f, 2), pid: u32(f, 3) };
    default:
      return { kind: "other", topic };
  }
}
