import { LannerError } from "../errors.js";

/** Bad input (no such pod, a program that cannot be scoped): exit 2 in the CLI, INVALID_ARGUMENT on the node API. */
export class BpftraceInputError extends LannerError {
  constructor(message: string) {
    super("EUSAGE", message);
  }
}
