// Interop: a Python client (grpcio, stubs generated from our .proto at test time) subscribes
// with falco.outputs.service/sub over the unix socket and over TCP with mTLS.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { join, dirname } from "node:path";
import { describe, it } from "node:test";
import { AlertHub } from "./hub.js";
import { findProtoDir } from "./proto.js";
import { GrpcServer } from "./server.js";
import { makeAlert, makeTlsFixture, tempDir, waitFor } from "../test-helpers.js";

const PY = "/usr/bin/python3";
const protoDir = findProtoDir();
const script = join(dirname(protoDir), "test", "interop", "python_client.py");

function skipReason(): string | false {
  const r = spawnSync(PY, ["-c", "import grpc, grpc_tools"], { encoding: "utf8" });
  if (r.error) return `${PY} not runnable: ${r.error.message}`;
  if (r.status !== 0) return `${PY} lacks grpc/grpc_tools: ${r.stderr.trim().split("\n").at(-1) ?? ""}`;
  return false;
}

async function runClient(hub: AlertHub, args: string[], count: number): Promise<Record<string, unknown>[]> {
  const child = spawn(PY, [script, "--proto-dir", protoDir, "--count", String(count), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    await hub
      .waitForSubscribers((n) => n === 1, 8000)
      .catch((e: Error) => {
        throw new Error(`${e.message}; python stderr: ${err}`);
      });
    for (let i = 0; i < count; i++) {
      hub.publish(
        makeAlert({
          rule: `interop ${i}`,
          priority: "Critical",
          tags: ["a", "b"],
          source: i === 0 ? "syscall" : "myplugin",
        }),
      );
    }
    const code = await exited;
    assert.equal(code, 0, `python client exit ${code}: ${err}`);
  } finally {
    child.kill();
  }
  await waitFor(() => hub.subscriberCount === 0, 3000, "subscriber gone");
  return out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function check(lines: Record<string, unknown>[]): void {
  assert.equal(lines[0]!["version"], "0.1.0");
  assert.equal(lines[0]!["minor"], 1);
  const alerts = lines.slice(1);
  assert.equal(alerts.length, 2);
  assert.equal(alerts[0]!["rule"], "interop 0");
  assert.equal(alerts[0]!["priority_number"], 2);
  assert.match(String(alerts[0]!["priority"]), /^(CRITICAL|critical|Critical)$/);
  assert.equal(alerts[0]!["source"], "syscall");
  assert.equal(alerts[0]!["source_deprecated"], 0);
  assert.equal(alerts[1]!["source"], "myplugin");
  assert.equal(alerts[1]!["source_deprecated"], 3);
  assert.deepEqual(alerts[0]!["tags"], ["a", "b"]);
  assert.equal((alerts[0]!["output_fields"] as Record<string, string>)["proc.pid"], "4242");
  assert.equal(typeof alerts[0]!["seconds"], "number");
  assert.match(String(alerts[0]!["output"]), /Critical A shell/);
}

describe("python interop (grpcio)", () => {
  const skip = skipReason();
  if (skip) console.log(`# skipping python interop: ${skip}`);

  it("subscribes over the unix socket", { skip, timeout: 20_000 }, async () => {
    const tmp = tempDir();
    const hub = new AlertHub();
    const address = `unix://${join(tmp.path, "lanner.sock")}`;
    const server = new GrpcServer({
      address,
      hub,
      hostname: "node-1",
      version: { version: "0.1.0" },
      logger: () => {},
    });
    await server.start();
    try {
      check(await runClient(hub, ["--target", address], 2));
    } finally {
      await server.stop(500);
      tmp.cleanup();
    }
  });

  it("subscribes over TCP with mutual TLS", { skip, timeout: 20_000 }, async () => {
    const tls = makeTlsFixture();
    const hub = new AlertHub();
    const server = new GrpcServer({
      address: "127.0.0.1:0",
      tls: { certChain: tls.serverCert, privateKey: tls.serverKey, rootCerts: tls.ca },
      hub,
      hostname: "node-1",
      version: { version: "0.1.0" },
      logger: () => {},
    });
    await server.start();
    try {
      const args = [
        "--target",
        `127.0.0.1:${server.port}`,
        "--ca",
        tls.paths.ca,
        "--cert",
        tls.paths.clientCert,
        "--key",
        tls.paths.clientKey,
      ];
      check(await runClient(hub, args, 2));
    } finally {
      await server.stop(500);
      tls.cleanup();
    }
  });
});
