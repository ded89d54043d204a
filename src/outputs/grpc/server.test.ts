import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  Client,
  credentials,
  status,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { AlertHub } from "./hub.js";
import { ConfigError, GrpcServer, SUBSCRIBER_DROP_RULE } from "./server.js";
import { makeAlert, makeClients, tempDir, waitFor, type Clients } from "../test-helpers.js";
import type { LogLevel } from "../logger.js";

type Msg = Record<string, unknown>;

function collect(stream: ClientReadableStream<Msg> | ClientDuplexStream<Msg, Msg>): Msg[] {
  const got: Msg[] = [];
  stream.on("data", (m: Msg) => got.push(m));
  stream.on("error", () => {});
  return got;
}

describe("gRPC server on a unix socket", () => {
  const tmp = tempDir();
  const sock = join(tmp.path, "run", "lanner.sock");
  const address = `unix://${sock}`;
  const logs: string[] = [];
  const hub = new AlertHub({ ringSize: 100, subscriberQueueSize: 64 });
  const server = new GrpcServer({
    address,
    hub,
    hostname: "node-1",
    version: { version: "0.1.0-rc.1+abc", engineVersion: "0.63.0" },
    logger: (level: LogLevel, m: string) => logs.push(`${level}: ${m}`),
    dropReportIntervalMs: 0,
    outputStats: () => [
      {
        name: "stdout",
        kind: "stdout",
        delivered: 3,
        failed: 0,
        dropped: 1,
        queueDepth: 0,
        queueCapacity: 10,
      },
    ],
  });
  let clients: Clients;

  before(async () => {
    await server.start();
    clients = makeClients(address);
  });
  after(async () => {
    clients.close();
    await server.stop(500);
    tmp.cleanup();
  });

  it("creates the socket directory and a 0660 socket", () => {
    assert.equal(statSync(sock).mode & 0o777, 0o660);
    assert.ok(statSync(sock).isSocket());
  });

  it("two concurrent sub clients and a get caller all receive the same alert", async () => {
    const a = clients.outputs["sub"]!() as ClientDuplexStream<Msg, Msg>;
    const b = clients.outputs["sub"]!() as ClientDuplexStream<Msg, Msg>;
    a.write({});
    b.write({});
    const gotA = collect(a);
    const gotB = collect(b);
    await hub.waitForSubscribers((n) => n === 2);
    const alert = makeAlert({ rule: "Fan out", priority: "Critical", tags: ["t1", "t2"] });
    hub.publish(alert);
    await waitFor(() => gotA.length === 1 && gotB.length === 1, 3000, "both subscribers");
    const g = clients.outputs["get"]!({}) as ClientReadableStream<Msg>;
    const gotG = collect(g);
    await new Promise<void>((resolve) => g.on("end", resolve));
    const last = gotG.at(-1);
    for (const m of [gotA[0], gotB[0], last]) {
      assert.ok(m);
      assert.equal(m["rule"], "Fan out");
      assert.equal(m["priority"], 2);
      assert.equal(m["source"], "syscall");
      assert.equal(m["source_deprecated"], 0);
      assert.equal(m["hostname"], "node-1");
      assert.deepEqual(m["tags"], ["t1", "t2"]);
      assert.deepEqual(m["time"], {
        seconds: String(alert.timeNs / 1_000_000_000n),
        nanos: Number(alert.timeNs % 1_000_000_000n),
      });
      const f = m["output_fields"] as Record<string, string>;
      assert.equal(f["proc.name"], "bash");
      assert.equal(f["proc.pid"], "4242");
      assert.equal(f["proc.tty"], "<NA>");
      assert.equal(f["evt.time"], "1767268800123456789");
      assert.match(String(m["output"]), /: Critical A shell was spawned/);
    }
    a.cancel();
    b.cancel();
    await hub.waitForSubscribers((n) => n === 0);
  });

  it("a stalled subscriber neither slows the others nor grows past its bound; its drops are counted and reported", async () => {
    // A real stalled reader: another process that stops (SIGSTOP) and so stops reading its socket.
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL("./sub-client.fixture.js", import.meta.url)), address],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let childOut = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => (childOut += d));
    try {
      await hub.waitForSubscribers((n) => n === 1);
      const slowId = hub.stats().perSubscriber[0]!.id;
      process.kill(child.pid!, "SIGSTOP");
      const fast = clients.outputs["sub"]!() as ClientDuplexStream<Msg, Msg>;
      fast.write({});
      const gotFast = collect(fast);
      await hub.waitForSubscribers((n) => n === 2);
      const total = 4000;
      let maxDepth = 0;
      const t0 = Date.now();
      for (let i = 0; i < total; i += 50) {
        for (let j = 0; j < 50; j++) hub.publish(makeAlert({ message: "payload ".repeat(40) }));
        for (const p of hub.stats().perSubscriber) maxDepth = Math.max(maxDepth, p.queueDepth);
        // The fast client keeps up: everything published so far arrives promptly.
        await waitFor(() => gotFast.length >= i + 50, 2000, `fast subscriber at ${i + 50}`);
      }
      const elapsed = Date.now() - t0;
      assert.equal(gotFast.length, total);
      assert.ok(elapsed < 8000, `fast subscriber took ${elapsed} ms`);
      assert.ok(maxDepth <= 64, `queue depth ${maxDepth} exceeded its bound`);
      const s = hub.stats();
      const slow = s.perSubscriber.find((p) => p.id === slowId)!;
      const other = s.perSubscriber.find((p) => p.id !== slowId)!;
      assert.equal(other.dropped, 0);
      assert.equal(other.taken, total);
      assert.ok(slow.dropped > total / 2, `stalled subscriber dropped only ${slow.dropped}`);
      assert.equal(slow.taken + slow.dropped + slow.queueDepth, total);
      assert.ok(slow.queueDepth <= slow.queueCapacity);
      // Resumed, the stream says how many alerts were lost, with source internal.
      process.kill(child.pid!, "SIGCONT");
      await waitFor(() => childOut.includes(SUBSCRIBER_DROP_RULE), 3000, "drop report");
      const line = childOut.split("\n").find((l) => l.includes(SUBSCRIBER_DROP_RULE))!;
      const report = JSON.parse(line) as { source: string; n_drops: string };
      assert.equal(report.source, "internal");
      assert.ok(Number(report.n_drops) > 0);
      fast.cancel();
    } finally {
      child.kill("SIGKILL");
    }
    await hub.waitForSubscribers((n) => n === 0);
    assert.ok(hub.stats().subscriberDrops > 0);
  });

  it("version answers", async () => {
    const r = await new Promise<Msg>((resolve, reject) =>
      clients.version["version"]!({}, (err: ServiceError | null, res: Msg) =>
        err ? reject(err) : resolve(res),
      ),
    );
    assert.equal(r["version"], "0.1.0-rc.1+abc");
    assert.equal(r["major"], 0);
    assert.equal(r["minor"], 1);
    assert.equal(r["patch"], 0);
    assert.equal(r["prerelease"], "rc.1");
    assert.equal(r["build"], "abc");
    assert.equal(r["engine_version"], "0.63.0");
    assert.equal(r["engine_minor"], 63);
  });

  it("lanner.v1 Subscribe filters server-side with typed fields; Health reports counters", async () => {
    const call = clients.lanner["Subscribe"]!({
      min_priority: "error",
      tags: ["shell"],
      containers: ["3ad7b26ded6d"],
    }) as ClientReadableStream<Msg>;
    const got = collect(call);
    await hub.waitForSubscribers((n) => n === 1);
    hub.publish(makeAlert({ rule: "too low", priority: "Warning" }));
    hub.publish(makeAlert({ rule: "wrong tag", priority: "Critical", tags: ["other"] }));
    hub.publish(makeAlert({ rule: "match", priority: "Critical" }));
    hub.publish(
      makeAlert({
        rule: "other container",
        priority: "Critical",
        fields: { "container.id": "ffffffffffff" },
      }),
    );
    await waitFor(() => got.length >= 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      got.map((m) => m["rule"]),
      ["match"],
    );
    const f = got[0]!["output_fields"] as Record<string, Msg>;
    assert.equal(f["proc.pid"]!["int_value"], "4242");
    assert.equal(f["proc.name"]!["string_value"], "bash");
    assert.equal(f["proc.tty"]!["null_value"], true);
    assert.equal(f["evt.time"]!["int_value"], "1767268800123456789");
    const h = await new Promise<Msg>((resolve, reject) =>
      clients.lanner["Health"]!({}, (err: ServiceError | null, res: Msg) =>
        err ? reject(err) : resolve(res),
      ),
    );
    assert.equal(h["status"], 1);
    assert.equal(h["subscribers"], 1);
    assert.ok(Number(h["alerts_published"]) > 0);
    assert.equal((h["outputs"] as Msg[])[0]!["name"], "stdout");
    call.cancel();
    await hub.waitForSubscribers((n) => n === 0);
  });

  it("answers malformed requests with INVALID_ARGUMENT and a log line", async () => {
    const raw = new Client(address, credentials.createInsecure());
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const id = (b: Buffer): Buffer => b;
    const unaryErr = await new Promise<ServiceError | null>((resolve) =>
      raw.makeUnaryRequest("/falco.version.service/version", id, id, garbage, (err) => resolve(err)),
    );
    assert.equal(unaryErr?.code, status.INVALID_ARGUMENT);
    const streamErr = await new Promise<ServiceError>((resolve) => {
      const s = raw.makeServerStreamRequest("/falco.outputs.service/get", id, id, garbage);
      s.on("data", () => {});
      s.on("error", resolve);
    });
    assert.equal(streamErr.code, status.INVALID_ARGUMENT);
    const bidiErr = await new Promise<ServiceError>((resolve) => {
      const s = raw.makeBidiStreamRequest("/falco.outputs.service/sub", id, id);
      s.on("data", () => {});
      s.on("error", resolve);
      s.write(garbage);
    });
    assert.equal(bidiErr.code, status.INVALID_ARGUMENT);
    const badFilter = await new Promise<ServiceError>((resolve) => {
      const s = clients.lanner["Subscribe"]!({ min_priority: "loud" }) as ClientReadableStream<Msg>;
      s.on("data", () => {});
      s.on("error", resolve);
    });
    assert.equal(badFilter.code, status.INVALID_ARGUMENT);
    assert.match(badFilter.details, /min_priority/);
    const tooBig = await new Promise<ServiceError | null>((resolve) =>
      raw.makeUnaryRequest("/falco.version.service/version", id, id, Buffer.alloc(100 * 1024), (err) =>
        resolve(err),
      ),
    );
    assert.equal(tooBig?.code, status.RESOURCE_EXHAUSTED);
    raw.close();
    assert.ok(
      logs.some((l) => /falco\.version\.service\/version .*malformed request/.test(l)),
      logs.join("\n"),
    );
    assert.ok(logs.some((l) => /falco\.outputs\.service\/sub .*malformed request/.test(l)));
    assert.ok(logs.some((l) => /invalid filter: min_priority/.test(l)));
    assert.equal(server.malformedRequests, 4);
  });
});

describe("gRPC server lifecycle", () => {
  it("refuses TCP without TLS", async () => {
    const s = new GrpcServer({
      address: "127.0.0.1:0",
      hub: new AlertHub(),
      hostname: "h",
      version: { version: "0.1.0" },
    });
    await assert.rejects(s.start(), (e: unknown) => e instanceof ConfigError && /mutual TLS/.test(e.message));
  });

  it("replaces a stale socket, refuses a live one, and stop() ends open subscriptions", async () => {
    const tmp = tempDir();
    const address = `unix://${join(tmp.path, "l.sock")}`;
    const hub = new AlertHub();
    const opts = { address, hub, hostname: "h", version: { version: "0.1.0" }, logger: () => {} };
    const s1 = new GrpcServer(opts);
    await s1.start();
    const s2 = new GrpcServer(opts);
    await assert.rejects(s2.start(), /in use/);
    const c = makeClients(address);
    const sub = c.outputs["sub"]!() as ClientDuplexStream<Msg, Msg>;
    sub.write({});
    sub.on("data", () => {});
    const ended = new Promise<void>((resolve) => sub.on("status", () => resolve()));
    await hub.waitForSubscribers((n) => n === 1);
    await s1.stop(500);
    await ended;
    c.close();
    // Socket removed on stop; a crash would leave it behind, which start() cleans up.
    const s3 = new GrpcServer(opts);
    await s3.start();
    await s3.stop(200);
    tmp.cleanup();
  });
});
