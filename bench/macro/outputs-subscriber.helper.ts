// Helper process for bench/macro/outputs.ts: opens K falco.outputs.service/sub streams to
// ADDRESS and prints `counts c1 c2 ...` every 50 ms. Usage: node outputs-subscriber.helper.js ADDRESS K

import { makeClients } from "../../src/outputs/test-helpers.js";

const address = process.argv[2];
const k = Number(process.argv[3] ?? "1");
if (address === undefined) throw new Error("usage: outputs-subscriber.helper.js ADDRESS K");
const c = makeClients(address);
const counts = new Array<number>(k).fill(0);
for (let i = 0; i < k; i++) {
  const s = c.outputs["sub"]!() as NodeJS.ReadWriteStream & { write(m: object): boolean };
  s.write({});
  s.on("data", () => counts[i]!++);
  s.on("error", () => {});
}
process.stdout.write("ready\n");
setInterval(() => process.stdout.write(`counts ${counts.join(" ")}\n`), 50);
