/**
 * The gRPC outputs API of a running agent, fed by a real behaviour: two concurrent `sub`
 * subscribers and one `get` caller (clients generated from our .proto at test time) all
 * receive the alert a real `cat` of a marker file raises; `version` answers.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { ClientDuplexStream, ClientReadableStream } from "@grpc/grpc-js";
import { AgentProcess } from "../../test/helpers/agent.js";
import { kernelSkipReason } from "../../test/helpers/kernel.js";
import { makeClients } from "../outputs/test-helpers.js";

type Msg = Record<string, unknown>;
const skip = kernelSkipReason();
if (skip) console.log(`# SKIP gRPC end-to-end tests: ${skip}`);

describe("lanner run --grpc", { skip: skip ?? false }, () => {
  test("every subscriber and a get caller receive the alert of a real behaviour", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lanner-grpc-"));
    const sock = join(dir, "lanner.sock");
    const marker = join(dir, "grpc-marker");
    writeFileSync(marker, "x");
    const rules = join(dir, "rules.yaml");
    writeFileSync(
      rules,
      `- rule: Marker read\n  desc: e2e\n  condition: evt.type in (open, openat) and fd.name = ${marker}\n` +
        `  output: "marker read by %proc.name (pid=%proc.pid file=%fd.name)"\n  priority: CRITICAL\n  tags: [e2e, grpc]\n`,
    );
    const agent = new AgentProcess(["-r", rules, "--grpc", `unix://${sock}`]);
    const clients = { close: () => {} } as ReturnType<typeof makeClients>;
    try {
      await agent.ready();
      assert.equal(statSync(sock).mode & 0o777, 0o660);
      const c = makeClients(`unix://${sock}`);
      Object.assign(clients, c);
      const ver = await new Promise<Msg>((resolve, reject) =>
        (c.version["version"] as (req: Msg, cb: (e: Error | null, r: Msg) => void) => void).call(
          c.version,
          {},
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      );
      assert.match(String(ver["version"]), /^\d+\.\d+\.\d+/);
      const subs = [0, 1].map(() => {
        const s = (c.outputs["sub"] as () => ClientDuplexStream<Msg, Msg>).call(c.outputs);
        const got: Msg[] = [];
        s.on("data", (m: Msg) => got.push(m));
        s.on("error", () => {});
        s.write({});
        return { s, got };
      });
      await new Promise((r) => setTimeout(r, 300)); // both subscriptions registered
      const cat = execFileSync("/bin/sh", ["-c", `cat ${marker} >/dev/null & echo $!`], {
        encoding: "utf8",
      }).trim();
      const deadline = Date.now() + 10000;
      while (subs.some((x) => x.got.length === 0) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const g = (c.outputs["get"] as (req: Msg) => ClientReadableStream<Msg>).call(c.outputs, {});
      const gotG: Msg[] = [];
      g.on("data", (m: Msg) => gotG.push(m));
      await new Promise<void>((resolve, reject) => {
        g.on("end", resolve);
        g.on("error", reject);
      });
      for (const m of [subs[0]!.got[0], subs[1]!.got[0], gotG.find((x) => x["rule"] === "Marker read")]) {
        assert.ok(m, "alert received");
        assert.equal(m["rule"], "Marker read");
        assert.equal(m["priority"], 2); // CRITICAL on the wire
        assert.equal(m["source"], "syscall");
        assert.deepEqual(m["tags"], ["e2e", "grpc"]);
        const f = m["output_fields"] as Record<string, string>;
        assert.equal(f["proc.name"], "cat");
        assert.equal(f["proc.pid"], cat);
        assert.equal(f["fd.name"], marker);
        assert.match(String(m["output"]), /: Critical marker read by cat/);
      }
      for (const x of subs) x.s.cancel();
    } finally {
      clients.close();
      assert.equal(await agent.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
