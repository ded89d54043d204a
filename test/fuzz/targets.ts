/**
 * Every fuzz target, in one list: `run.js` and `fuzz.test.ts` run what is here. A target
 * for another part (the record decoder...) is added to this list.
 */
import type { FuzzTarget } from "./harness.js";
import { decoderTarget } from "./decoder.target.js";
import { conditionsTarget, rulesFilesTarget } from "./rules-targets.js";

export const TARGETS: readonly FuzzTarget[] = [conditionsTarget, rulesFilesTarget, decoderTarget];
