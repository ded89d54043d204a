import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildOutputs, DEFAULT_OUTPUTS_CONFIG, parseOutputsConfig } from "./config.js";
import { makeAlert, tempDir } from "./test-helpers.js";

describe("outputs config", () => {
  it("defaults to text alerts on stdout only", () => {
    const { config, diagnostics } = parseOutputsConfig({});
    assert.deepEqual(config, DEFAULT_OUTPUTS_CONFIG);
    assert.deepEqual(diagnostics, []);
  });

  it("reads Falco keys and reports bad values and unknown sub-keys by key", () => {
    const { config, diagnostics } = parseOutputsConfig({
      json_output: true,
      outputs_queue: { capacity: 0 },
      file_output: { enabled: true, filename: "/tmp/x.json", keep_alive: true, colour: "blue" },
      http_output: { enabled: "yes", url: "ftp://x", headers: { "X-A": "b" } },
      syslog_output: { enabled: true, facility: "local9" },
      grpc: { enabled: true, bind_address: "0.0.0.0:5060", subscriber_queue_size: -1 },
      program_output: "nope",
    });
    assert.equal(config.jsonOutput, true);
    assert.equal(config.file.filename, "/tmp/x.json");
    assert.deepEqual(config.http.headers, { "X-A": "b" });
    const byKey = (sev: string): string[] =>
      diagnostics
        .filter((d) => d.severity === sev)
        .map((d) => d.key)
        .sort();
    assert.deepEqual(byKey("warning"), ["file_output.colour", "outputs_queue.capacity"]);
    assert.deepEqual(byKey("error"), [
      "grpc.cert_chain",
      "grpc.private_key",
      "grpc.root_certs",
      "grpc.subscriber_queue_size",
      "http_output.enabled",
      "program_output",
      "syslog_output.facility",
    ]);
  });

  it("builds file and gRPC outputs from config; every alert reaches both", async () => {
    const tmp = tempDir();
    const { config, diagnostics } = parseOutputsConfig({
      json_output: true,
      time_format_iso_8601: true,
      stdout_output: { enabled: false },
      file_output: { enabled: true, filename: join(tmp.path, "events.json") },
      grpc: { enabled: true, bind_address: `unix://${join(tmp.path, "g.sock")}`, ring_size: 5 },
    });
    assert.deepEqual(diagnostics, []);
    const built = await buildOutputs(config, {
      hostname: "node-1",
      version: { version: "0.1.0" },
      logger: () => {},
    });
    await built.start();
    for (let i = 0; i < 7; i++) built.manager.publish(makeAlert({ rule: `r${i}` }));
    assert.equal(await built.manager.flush(2000), true);
    assert.equal(built.hub?.recent().length, 5);
    assert.deepEqual(
      built.manager.stats().outputs.map((o) => o.kind),
      ["file", "grpc"],
    );
    await built.manager.close(1000);
    const lines = readFileSync(join(tmp.path, "events.json"), "utf8").trim().split("\n");
    assert.equal(lines.length, 7);
    assert.match(lines[0]!, /"output":"\d{4}-\d\d-\d\dT[^"]*Z: Warning /);
    tmp.cleanup();
  });
});
