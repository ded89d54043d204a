/** Lanner's version: the package's (package.json), read once. */
import { createRequire } from "node:module";
import { join } from "node:path";
import { packageRoot } from "../capture/paths.js";

let version: string | undefined;

export function lannerVersion(): string {
  version ??= (createRequire(import.meta.url)(join(packageRoot(), "package.json")) as { version: string })
    .version;
  return version;
}
