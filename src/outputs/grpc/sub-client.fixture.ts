// Test fixture: a separate process subscribed with falco.outputs.service/sub, so a test can
// stall it for real (SIGSTOP: the process stops reading its socket). Prints `subscribed`,
// then `got N` on a timer and one JSON line per internal alert received.
// Usage: node sub-client.fixture.js ADDRESS

import { makeClients } from "../test-helpers.js";

const address = process.argv[2];
if (address === undefined) throw new Error("usage: sub-client.fixture.js ADDRESS");
const c = makeClients(address);
const s = c.outputs["sub"]!() as NodeJS.ReadWriteStream & { write(m: object): boolean };
s.write({});
let n = 0;
s.on("data", (m: Record<string, unknown>) => {
  n++;
  if (m["source"] === "internal") {
    const f = m["output_fields"] as Record<string, string>;
    process.stdout.write(
      `${JSON.stringify({ rule: m["rule"], source: m["source"], n_drops: f["n_drops"] })}\n`,
    );
  }
});
s.on("error", (e: Error) => {
  process.stderr.write(`sub-client: ${e.message}\n`);
  process.exit(1);
});
process.stdout.write("subscribed\n");
setInterval(() => process.stdout.write(`got ${n}\n`), 100);
