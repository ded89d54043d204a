/**
 * What this host lets Lanner produce, for the fields whose data depends on the kernel:
 * checked once, when a rule first uses such a field (`rules validate` then warns naming the
 * field and the rule instead of the field reading as unknown or false).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export class HostFeatures {
  private audit: string | undefined | null = null;
  private overlay: string | undefined | null = null;

  constructor(private readonly root = "/") {}

  /** Why login uids are not available (a kernel without audit support), or undefined. */
  loginUid(): string | undefined {
    if (this.audit === null)
      this.audit = existsSync(join(this.root, "proc/self/loginuid"))
        ? undefined
        : "the kernel has no audit support (CONFIG_AUDIT): processes have no login uid";
    return this.audit;
  }

  /**
   * Why overlayfs layers cannot be told apart (the kernel's type information has no
   * overlayfs inode), or undefined.
   */
  overlayLayers(): string | undefined {
    if (this.overlay === null) {
      const btf = join(this.root, "sys/kernel/btf");
      let found = existsSync(join(btf, "overlay"));
      if (!found) {
        try {
          found = readFileSync(join(btf, "vmlinux")).includes("\0ovl_inode\0");
        } catch {
          found = false;
        }
      }
      this.overlay = found
        ? undefined
        : "the kernel's BTF describes no overlayfs inode (overlay not built in, no module BTF)";
    }
    return this.overlay;
  }
}

/** This host's. */
export const HOST = new HostFeatures();
