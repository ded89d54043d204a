/** Turns a failed gRPC call to a container runtime into a StateError with a stable code. */
import * as grpc from "@grpc/grpc-js";
import { StateError } from "./errors.js";

const CODES: ReadonlyMap<number, string> = new Map([
  [grpc.status.DEADLINE_EXCEEDED, "ETIMEDOUT"],
  [grpc.status.UNAVAILABLE, "EUNAVAILABLE"],
  [grpc.status.NOT_FOUND, "ENOTFOUND"],
  [grpc.status.INTERNAL, "EMALFORMED"],
]);

/** `runtime` names the API in the message (`containerd`, `CRI`), `what` the call. */
export function grpcCallError(runtime: string, what: string, err: unknown): StateError {
  const e = err as { code?: unknown; details?: unknown; message?: unknown };
  const code = (typeof e.code === "number" ? CODES.get(e.code) : undefined) ?? "ERUNTIME";
  const msg =
    typeof e.details === "string" && e.details !== ""
      ? e.details
      : typeof e.message === "string"
        ? e.message
        : String(err);
  return new StateError(code, `${runtime} ${what}: ${msg}`, { cause: err });
}
