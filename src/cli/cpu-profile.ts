/**
 * `lanner run --cpu-prof[=FILE]`: V8's sampling CPU profiler, started in-process through
 * node:inspector once the agent is ready, written as a .cpuprofile (Chrome DevTools, speedscope)
 * when the agent stops. Started after the programs are loaded, not with `node --cpu-prof`,
 * so the profile shows the running agent rather than its start-up.
 */
import { existsSync, statSync, writeFileSync } from "node:fs";
import type { Session } from "node:inspector/promises";
import { dirname, resolve } from "node:path";

/** The profile's path: FILE as given, or lanner.<date>.<time>.<pid>.cpuprofile in the current directory. */
export function cpuProfilePath(given: string, now = new Date(), pid = process.pid): string {
  if (given !== "") return resolve(given);
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  const stamp =
    `${p(now.getFullYear(), 4)}${p(now.getMonth() + 1)}${p(now.getDate())}.` +
    `${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return resolve(`lanner.${stamp}.${pid}.cpuprofile`);
}

/** Why the profile cannot be written at `path` (checked before the agent starts), or null. */
export function cpuProfilePathProblem(path: string): string | null {
  const dir = dirname(path);
  if (!existsSync(dir)) return `directory ${dir} does not exist`;
  if (!statSync(dir).isDirectory()) return `${dir} is not a directory`;
  if (existsSync(path) && statSync(path).isDirectory()) return `${path} is a directory`;
  return null;
}

/** `--cpu-prof[=FILE]` checked: where the profile goes and how to start it, or why it cannot. */
export function planCpuProfile(
  given: string,
): { path: string; start(): Promise<CpuProfiler> } | { error: string } {
  const path = cpuProfilePath(given);
  const error = cpuProfilePathProblem(path);
  return error === null ? { path, start: () => startCpuProfile(path) } : { error };
}

export interface CpuProfiler {
  readonly path: string;
  /** Stops the profiler and writes the profile; resolves to the number of samples written. */
  stop(): Promise<number>;
}

export async function startCpuProfile(path: string): Promise<CpuProfiler> {
  const inspector = await import("node:inspector/promises");
  const session: Session = new inspector.Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  let stopped: Promise<number> | null = null;
  return {
    path,
    stop(): Promise<number> {
      stopped ??= (async () => {
        try {
          const { profile } = await session.post("Profiler.stop");
          writeFileSync(path, JSON.stringify(profile));
          return profile.samples?.length ?? 0;
        } finally {
          session.disconnect();
        }
      })();
      return stopped;
    },
  };
}
