/** Lanner's package: where it is installed (the folder holding package.json) and its version. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LannerError } from "./errors.js";

/** The repository (or installed package) root: the folder holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "package.json"))) return dir;
    dir = resolve(dir, "..");
  }
  throw new LannerError("ENOPKG", `finding Lanner's package root from ${fileURLToPath(import.meta.url)}`);
}

let version: string | undefined;

/** The package's version (package.json), read once. */
export function packageVersion(): string {
  if (version !== undefined) return version;
  const p = join(packageRoot(), "package.json");
  const v = (JSON.parse(readFileSync(p, "utf8")) as { version?: unknown }).version;
  if (typeof v !== "string" || v === "") throw new LannerError("ENOPKG", `reading the version of ${p}`);
  version = v;
  return v;
}
