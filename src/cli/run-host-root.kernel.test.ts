/**
 * `lanner run` in the DaemonSet reads the node's accounts from the node's etc/ mounted under
 * LANNER_HOST_ROOT (deploy/README.md): user.name and group.name of host processes come from
 * there, not from the image's /etc.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AgentProcess } from "../../test/helpers/agent.js";
import { kernelSkipReason } from "../../test/helpers/kernel.js";

const skip = kernelSkipReason();
if (skip) console.log(`# SKIP lanner run LANNER_HOST_ROOT test: ${skip}`);

describe("lanner run with LANNER_HOST_ROOT", { skip: skip ?? false }, () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "deploy-hostroot-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("user.name and group.name of a host process come from $LANNER_HOST_ROOT/etc", async () => {
    const root = join(dir, "host");
    mkdirSync(join(root, "etc"), { recursive: true });
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    writeFileSync(join(root, "etc/passwd"), `deploynodeuser:x:${uid}:${gid}:node's account:/root:/bin/sh\n`);
    writeFileSync(join(root, "etc/group"), `deploynodegroup:x:${gid}:\n`);
    const marker = join(dir, "marker");
    writeFileSync(marker, "");
    const rules = join(dir, "rules.yaml");
    writeFileSync(
      rules,
      `- rule: Host root marker\n  desc: test\n  condition: evt.type in (open, openat) and fd.name = ${marker}\n` +
        `  output: "marker by %user.name/%group.name"\n  priority: WARNING\n`,
    );
    process.env["LANNER_HOST_ROOT"] = root;
    let agent: AgentProcess;
    try {
      agent = new AgentProcess(["--json", "-r", rules]);
    } finally {
      delete process.env["LANNER_HOST_ROOT"];
    }
    try {
      await agent.ready();
      execFileSync("/bin/cat", [marker]);
      await agent.waitFor(() => agent.alerts.some((a) => a.rule === "Host root marker"), "the marker alert");
      const a = agent.alerts.find((x) => x.rule === "Host root marker")!;
      assert.equal(a.output_fields["user.name"], "deploynodeuser");
      assert.equal(a.output_fields["group.name"], "deploynodegroup");
    } finally {
      assert.equal(await agent.stop("SIGTERM"), 0);
    }
  });
});
