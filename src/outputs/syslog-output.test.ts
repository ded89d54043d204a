import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { SyslogOutput } from "./syslog-output.js";
import { makeAlert, tempDir, waitFor } from "./test-helpers.js";

// Node has no unix datagram sockets, so the receiving end is a few lines of Python.
const RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    d = s.recv(65536)
    sys.stdout.write(d.decode("utf-8", "replace").replace("\\n", "\\\\n") + "\\n")
    sys.stdout.flush()
`;

function python(): string | undefined {
  for (const p of ["/usr/bin/python3", "python3"]) {
    if (spawnSync(p, ["-c", "import socket; socket.AF_UNIX"], { stdio: "ignore" }).status === 0) return p;
  }
  return undefined;
}

function hasLogger(): boolean {
  return spawnSync("logger", ["--help"], { stdio: "ignore" }).status === 0;
}

describe("syslog output", () => {
  const py = python();
  const skip =
    py === undefined ? "no python3 to receive datagrams" : !hasLogger() ? "no util-linux logger" : false;
  if (skip) console.log(`# skipping syslog tests: ${skip}`);

  for (const protocol of ["rfc5424", "rfc3164"] as const) {
    it(
      `delivers ${protocol} datagrams to a unix socket with Falco priorities mapped to severities`,
      { skip },
      async () => {
        const tmp = tempDir();
        const sock = join(tmp.path, "log.sock");
        const recv = spawn(py!, ["-c", RECEIVER, sock], { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        recv.stdout.setEncoding("utf8");
        recv.stdout.on("data", (d: string) => (out += d));
        try {
          await waitFor(() => out.startsWith("ready"), 3000, "receiver");
          const o = new SyslogOutput({ socket: sock, protocol, facility: "local0", logger: () => {} });
          o.enqueue(makeAlert({ priority: "Critical", message: "crit\nmultiline" }));
          o.enqueue(makeAlert({ priority: "Debug", message: "dbg" }));
          await o.flush(3000);
          await waitFor(() => out.split("\n").length >= 4, 3000, "two datagrams");
          const [, first, second] = out.split("\n");
          // local0 = 16: Critical (2) -> 130, Debug (7) -> 135.
          if (protocol === "rfc5424") {
            assert.match(
              first!,
              new RegExp(
                `^<130>1 \\S+ \\S+ lanner ${process.pid} - - \\d\\d:\\d\\d:\\d\\d\\.\\d{9}: Critical crit multiline$`,
              ),
            );
          } else {
            assert.match(
              first!,
              /^<130>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ lanner\[\d+\]: \d\d:\d\d:\d\d\.\d{9}: Critical crit multiline$/,
            );
          }
          assert.match(second!, /^<135>.*Debug dbg$/);
          assert.equal(o.stats().delivered, 2);
          await o.close();
        } finally {
          recv.kill();
          tmp.cleanup();
        }
      },
    );
  }

  it("fails (counted) and retries with backoff when logger cannot start", async () => {
    const logs: string[] = [];
    const o = new SyslogOutput({
      loggerPath: "/nonexistent/logger",
      backoffMinMs: 10,
      logger: (_l, m) => logs.push(m),
    });
    o.enqueue(makeAlert());
    await o.flush(2000);
    o.enqueue(makeAlert());
    await o.flush(2000);
    assert.equal(o.stats().failed, 2);
    assert.ok(
      logs.some((l) => /starting \/nonexistent\/logger: .*ENOENT/.test(l)),
      logs.join("\n"),
    );
    await o.close(200);
  });

  it("keeps retrying while the socket is missing, then delivers", { skip }, async () => {
    const tmp = tempDir();
    const sock = join(tmp.path, "late.sock");
    const logs: string[] = [];
    const o = new SyslogOutput({ socket: sock, backoffMinMs: 20, logger: (_l, m) => logs.push(m) });
    o.enqueue(makeAlert({ message: "early" }));
    await new Promise((r) => setTimeout(r, 150));
    const recv = spawn(py!, ["-c", RECEIVER, sock], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    recv.stdout.setEncoding("utf8");
    recv.stdout.on("data", (d: string) => (out += d));
    try {
      await waitFor(() => out.startsWith("ready"), 3000, "receiver");
      o.enqueue(makeAlert({ message: "late" }));
      await waitFor(() => out.includes("late"), 5000, "delivery after the socket appeared");
      assert.ok(
        logs.some((l) => /No such file or directory|exited/.test(l)),
        logs.join("\n"),
      );
      await o.close();
    } finally {
      recv.kill();
      tmp.cleanup();
    }
  });
});
