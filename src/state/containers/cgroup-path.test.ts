import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cgroupDirFromSpec,
  containerFromCgroupPath,
  containerFromProcCgroup,
  parseProcCgroup,
  shortContainerId,
  unifiedPathFromProcCgroup,
} from "./cgroup-path.js";

const ID = "a".repeat(8) + "0123456789abcdef".repeat(3) + "b".repeat(8);
const ID2 = "c".repeat(64);

describe("containerFromCgroupPath", () => {
  const table: Array<[string, string | null, string | null]> = [
    // [path, full id, type]
    [`/k8s.io/${ID}`, ID, "containerd"],
    [`/default/${ID}`, ID, "containerd"],
    ["/k8s.io/abc123", "abc123", "containerd"],
    [
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-${ID}.scope`,
      ID,
      "containerd",
    ],
    [
      `/system.slice/containerd.service/kubepods-burstable-pod5678.slice:cri-containerd:${ID}`,
      ID,
      "containerd",
    ],
    [`/kubepods/besteffort/pod0f2c1e3a-1111-2222-3333-444455556666/${ID}`, ID, "cri"],
    [`/kubepods/pod0f2c1e3a-1111-2222-3333-444455556666/${ID}`, ID, "cri"],
    [`/kubepods.slice/kubepods-pod1.slice/crio-${ID}.scope`, ID, "cri-o"],
    [`/kubepods.slice/kubepods-pod1.slice/crio-conmon-${ID}.scope`, null, null],
    [`/kubepods-burstable-pod1.slice:crio:${ID}`, ID, "cri-o"],
    [`/docker/${ID}`, ID, "docker"],
    [`/system.slice/docker-${ID}.scope`, ID, "docker"],
    [`/machine.slice/libpod-${ID}.scope`, ID, "podman"],
    [`/machine.slice/libpod-${ID}.scope/container`, ID, "podman"],
    [`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`, ID, "podman"],
    [`/machine.slice/libpod-conmon-${ID}.scope`, null, null],
    [`/libpod_parent/libpod-${ID}`, ID, "podman"],
    // Nested: a kind node (docker) running a CRI container: the inner one wins.
    [`/docker/${ID2}/kubepods/besteffort/pod1/${ID}`, ID, "cri"],
    [`/docker/${ID2}/system.slice/containerd.service`, ID2, "docker"],
    // Host cgroups.
    ["/", null, null],
    ["", null, null],
    ["/user.slice/user-0.slice/session-1.scope", null, null],
    ["/system.slice/containerd.service", null, null],
    ["/process_api/da7e1e1b29b43e0d1c9273ed177d85c8", null, null],
    [`/docker/${ID.slice(0, 63)}`, null, null],
    [`/docker/${ID.toUpperCase()}`, null, null],
    [`/kubepods.slice/cri-containerd-${ID}.scopex`, null, null],
    [`/other/k8s.io/${ID.slice(0, 10)}`, null, null],
  ];
  for (const [path, id, type] of table) {
    it(`${path || "(empty)"} -> ${id === null ? "host" : `${type}:${id.slice(0, 12)}`}`, () => {
      const m = containerFromCgroupPath(path);
      if (id === null) assert.equal(m, null);
      else assert.deepEqual(m, { fullId: id, type });
    });
  }
});

describe("/proc/PID/cgroup", () => {
  const hybrid = [
    `9:name=systemd:/k8s.io/${ID}`,
    `8:pids:/k8s.io/${ID}`,
    `4:memory:/k8s.io/${ID}`,
    `1:cpu:/k8s.io/${ID}`,
    `0::/k8s.io/${ID}`,
    "",
  ].join("\n");
  it("parses lines of a hybrid (v1 + v2) host", () => {
    const lines = parseProcCgroup(hybrid);
    assert.equal(lines.length, 5);
    assert.deepEqual(lines[0], { hierarchy: 9, controllers: "name=systemd", path: `/k8s.io/${ID}` });
    assert.deepEqual(lines[4], { hierarchy: 0, controllers: "", path: `/k8s.io/${ID}` });
  });
  it("finds the container on a hybrid host", () => {
    assert.deepEqual(containerFromProcCgroup(hybrid), { fullId: ID, type: "containerd" });
    assert.equal(unifiedPathFromProcCgroup(hybrid), `/k8s.io/${ID}`);
  });
  it("finds the container on a pure v2 host", () => {
    const v2 = `0::/system.slice/docker-${ID}.scope\n`;
    assert.deepEqual(containerFromProcCgroup(v2), { fullId: ID, type: "docker" });
  });
  it("finds the container on a pure v1 host (no 0:: line)", () => {
    const v1 = `12:cpu,cpuacct:/docker/${ID}\n1:name=systemd:/docker/${ID}\n`;
    assert.deepEqual(containerFromProcCgroup(v1), { fullId: ID, type: "docker" });
    assert.equal(unifiedPathFromProcCgroup(v1), null);
  });
  it("prefers v2 but falls back to v1 when v2 is the root (cgroup namespace)", () => {
    const t = `4:memory:/kubepods/besteffort/pod1/${ID}\n0::/\n`;
    assert.deepEqual(containerFromProcCgroup(t), { fullId: ID, type: "cri" });
  });
  it("host process", () => {
    const host = "9:name=systemd:/\n4:memory:/process_api/da7e1e1b29b43e0d1c9273ed177d85c8\n0::/\n";
    assert.equal(containerFromProcCgroup(host), null);
  });
  it("skips malformed lines", () => {
    assert.deepEqual(parseProcCgroup("garbage\nx:y:/z\n-1::/a\n0::/ok\n"), [
      { hierarchy: 0, controllers: "", path: "/ok" },
    ]);
    assert.equal(containerFromProcCgroup("\u0000\u0001"), null);
  });
});

describe("shortContainerId", () => {
  it("keeps 12 characters", () => {
    assert.equal(shortContainerId(ID), ID.slice(0, 12));
    assert.equal(shortContainerId("abc"), "abc");
  });
});

describe("cgroupDirFromSpec", () => {
  it("cgroupfs paths as they are", () => {
    assert.equal(cgroupDirFromSpec(`/kubepods/besteffort/pod1/${ID}`), `/kubepods/besteffort/pod1/${ID}`);
    assert.equal(cgroupDirFromSpec(`/k8s.io/${ID}`), `/k8s.io/${ID}`);
  });
  it("systemd slice:prefix:name", () => {
    const d = cgroupDirFromSpec(`kubepods-besteffort-pod12.slice:cri-containerd:${ID}`);
    assert.equal(
      d,
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-${ID}.scope`,
    );
    assert.deepEqual(containerFromCgroupPath(d ?? ""), { fullId: ID, type: "containerd" });
    assert.equal(cgroupDirFromSpec(`system.slice:docker:${ID}`), `/system.slice/docker-${ID}.scope`);
  });
  it("absent or odd", () => {
    assert.equal(cgroupDirFromSpec(undefined), null);
    assert.equal(cgroupDirFromSpec(""), null);
    assert.equal(cgroupDirFromSpec("a:b"), null);
    assert.equal(cgroupDirFromSpec("notaslice:p:n"), null);
  });
});
