import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { HOST, HostFeatures } from "./host.js";
import { SYSCALL_FIELDS } from "./index.js";

test("host features: what the kernel lets Lanner produce, from /proc and the kernel's BTF", () => {
  const root = mkdtempSync(join(tmpdir(), "lanner-host-"));
  const bare = new HostFeatures(root);
  assert.match(bare.loginUid() ?? "", /no audit support/);
  assert.match(bare.overlayLayers() ?? "", /no overlayfs inode/);
  mkdirSync(join(root, "proc/self"), { recursive: true });
  writeFileSync(join(root, "proc/self/loginuid"), "4294967295");
  mkdirSync(join(root, "sys/kernel/btf"), { recursive: true });
  writeFileSync(join(root, "sys/kernel/btf/vmlinux"), Buffer.from("\0task_struct\0ovl_inode\0inode\0"));
  const full = new HostFeatures(root);
  assert.equal(full.loginUid(), undefined);
  assert.equal(full.overlayLayers(), undefined);
});

test("the fields that depend on them say so through the registry", () => {
  for (const name of ["user.loginuid", "user.loginname"])
    assert.equal(SYSCALL_FIELDS.byName(name)?.unavailable(), HOST.loginUid(), name);
  for (const name of [
    "proc.is_exe_upper_layer",
    "proc.is_exe_lower_layer",
    "fd.is_upper_layer",
    "fd.is_lower_layer",
  ])
    assert.equal(SYSCALL_FIELDS.byName(name)?.unavailable(), HOST.overlayLayers(), name);
});
