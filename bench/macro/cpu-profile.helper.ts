/**
 * Loaded into `lanner run` with `node --import` by bench/macro/agent.ts --profile: SIGUSR2
 * starts V8's sampling profiler (after `lanner: ready`, so no SIGPROF is pending while the
 * kernel verifies the programs), a second SIGUSR2 stops it and writes the profile to
 * $LANNER_BENCH_CPU_PROFILE. Nothing happens without that variable.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";

const out = process.env["LANNER_BENCH_CPU_PROFILE"];
const intervalUs = Number(process.env["LANNER_BENCH_CPU_PROFILE_INTERVAL_US"] ?? "1000");

if (out !== undefined && out !== "") {
  const session = new Session();
  session.connect();
  let running = false;
  const say = (s: string): void => {
    process.stderr.write(`bench profiler: ${s}\n`);
  };
  process.on("SIGUSR2", () => {
    if (!running) {
      running = true;
      session.post("Profiler.enable", () =>
        session.post("Profiler.setSamplingInterval", { interval: intervalUs }, () =>
          session.post("Profiler.start", (err) => say(err ? `start failed: ${err.message}` : "started")),
        ),
      );
      return;
    }
    running = false;
    session.post("Profiler.stop", (err, r) => {
      if (err) {
        say(`stop failed: ${err.message}`);
        return;
      }
      writeFileSync(out, JSON.stringify(r.profile));
      say(`written to ${out}`);
    });
  });
}
