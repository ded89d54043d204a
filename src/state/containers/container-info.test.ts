import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatMounts, isPrivilegedSpec, mountsFromSpec, parseImageRef } from "./container-info.js";

describe("parseImageRef", () => {
  const table: Array<[string, string | null, string | null, string | null]> = [
    ["busybox", "busybox", null, null],
    ["busybox:1.36", "busybox", "1.36", null],
    ["docker.io/library/busybox:1.36", "docker.io/library/busybox", "1.36", null],
    ["localhost:5000/app", "localhost:5000/app", null, null],
    ["localhost:5000/app:v2", "localhost:5000/app", "v2", null],
    [`quay.io/x/y@sha256:${"a".repeat(64)}`, "quay.io/x/y", null, `sha256:${"a".repeat(64)}`],
    [`quay.io/x/y:1@sha256:${"b".repeat(64)}`, "quay.io/x/y", "1", `sha256:${"b".repeat(64)}`],
  ];
  for (const [ref, repo, tag, digest] of table) {
    it(ref, () => assert.deepEqual(parseImageRef(ref), { repository: repo, tag, digest }));
  }
  it("empty", () => assert.equal(parseImageRef(""), null));
});

describe("isPrivilegedSpec", () => {
  const all = Array.from({ length: 41 }, (_, i) => `CAP_${i}`).concat([
    "CAP_SYS_ADMIN",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_PTRACE",
    "CAP_NET_ADMIN",
    "CAP_MAC_ADMIN",
  ]);
  it("all capabilities", () =>
    assert.equal(isPrivilegedSpec({ process: { capabilities: { bounding: all } } }), true));
  it("default capabilities", () =>
    assert.equal(
      isPrivilegedSpec({ process: { capabilities: { bounding: ["CAP_CHOWN", "CAP_KILL"] } } }),
      false,
    ));
  it("all devices, no masked paths, CAP_SYS_ADMIN", () =>
    assert.equal(
      isPrivilegedSpec({
        process: { capabilities: { bounding: ["CAP_SYS_ADMIN"] } },
        linux: { resources: { devices: [{ allow: true, access: "rwm" }] }, maskedPaths: [] },
      }),
      true,
    ));
  it("no spec", () => assert.equal(isPrivilegedSpec(null), null));
});

describe("mounts", () => {
  it("formats like Falco", () => {
    const m = mountsFromSpec({
      mounts: [
        { destination: "/proc", type: "proc", source: "proc", options: ["nosuid"] },
        { destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "rprivate", "ro"] },
      ],
    });
    assert.equal(formatMounts(m), "proc:/proc:proc:true:,/srv/data:/data:bind:false:rprivate");
  });
});
