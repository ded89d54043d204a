// Loads Lanner's .proto files (proto/ at the repository or package root) with proto-loader and
// returns grpc-js service definitions whose serializers pass pre-encoded Buffers through, and
// whose request deserializers never throw: a malformed request becomes a MalformedRequest
// value the handler answers with INVALID_ARGUMENT and a log line.

import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";

export const PROTO_FILES = [
  "falco/outputs.proto",
  "falco/version.proto",
  "lanner/v1/lanner.proto",
  "lanner/v1/node.proto",
] as const;

/** Find the proto/ directory by walking up from this module (works from src/ and dist/src/). */
export function findProtoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "proto");
    if (existsSync(join(candidate, "falco", "outputs.proto"))) return candidate;
    const up = resolve(dir, "..");
    if (up === dir)
      throw new Error("locating proto/falco/outputs.proto above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export class MalformedRequest {
  readonly error: Error;
  constructor(error: Error) {
    this.error = error;
  }
}

export interface LannerServices {
  readonly outputs: ServiceDefinition;
  readonly version: ServiceDefinition;
  readonly lanner: ServiceDefinition;
  /** lanner.v1.Node: served by the agent when the node API is registered (src/api/) */
  readonly node: ServiceDefinition;
  readonly packageDefinition: PackageDefinition;
}

export const PROTO_LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
} as const;

export function loadPackageDefinition(protoDir = findProtoDir()): PackageDefinition {
  return loadSync([...PROTO_FILES], { ...PROTO_LOADER_OPTIONS, includeDirs: [protoDir] });
}

function wrapService(def: unknown, name: string): ServiceDefinition {
  if (def === undefined || typeof def !== "object" || def === null)
    throw new Error(`service ${name} missing from proto`);
  const out: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [method, m] of Object.entries(def as Record<string, MethodDefinition<unknown, unknown>>)) {
    const ser = m.responseSerialize;
    const deser = m.requestDeserialize;
    out[method] = {
      ...m,
      responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : ser(v)),
      requestDeserialize: (b: Buffer) => {
        try {
          return deser(b);
        } catch (err) {
          return new MalformedRequest(err instanceof Error ? err : new Error(String(err)));
        }
      },
    };
  }
  return out as ServiceDefinition;
}

export function loadServices(protoDir?: string): LannerServices {
  const pd = loadPackageDefinition(protoDir);
  return {
    outputs: wrapService(pd["falco.outputs.service"], "falco.outputs.service"),
    version: wrapService(pd["falco.version.service"], "falco.version.service"),
    lanner: wrapService(pd["lanner.v1.Alerts"], "lanner.v1.Alerts"),
    node: wrapService(pd["lanner.v1.Node"], "lanner.v1.Node"),
    packageDefinition: pd,
  };
}
