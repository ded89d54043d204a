/**
 * Kubernetes CRI without a registry, for tests: an OCI image archive built from the busybox
 * rootfs (one gzip'ed layer, an OCI config, a manifest, index.json and oci-layout, in a tar)
 * is imported with `ctr -n k8s.io images import` under containerd CRI's sandbox image name and
 * a test name, so RunPodSandbox and CreateContainer find both images locally.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { busyboxRootfs } from "./containerd.js";

const execFileP = promisify(execFile);

export const CRI_TEST_IMAGE = "docker.io/lanner/busybox:cri";

/** containerd CRI's sandbox image (from `containerd config dump`), else pause:3.6. */
export async function sandboxImageName(): Promise<string> {
  try {
    const { stdout } = await execFileP("containerd", ["config", "dump"], { timeout: 10_000 });
    const m = /^\s*sandbox_image\s*=\s*"([^"]+)"/m.exec(stdout);
    if (m?.[1] !== undefined) return m[1];
  } catch {
    // fall through
  }
  return "registry.k8s.io/pause:3.6";
}

function sha256(b: Buffer): string {
  return "sha256:" + createHash("sha256").update(b).digest("hex");
}

/** Writes an OCI image archive of the busybox rootfs naming the image `names`; returns its path. */
export async function buildOciArchive(names: readonly string[], dir: string): Promise<string> {
  const rootfs = busyboxRootfs();
  const layout = join(dir, "layout");
  mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
  const layerTar = join(dir, "layer.tar");
  await execFileP(
    "tar",
    [
      "--numeric-owner",
      "--one-file-system",
      "--exclude=./.complete",
      "--exclude=./proc/*",
      "--exclude=./sys/*",
      "--exclude=./dev/*",
      "-C",
      rootfs,
      "-cf",
      layerTar,
      "./bin",
      "./etc",
      "./home",
      "./root",
      "./tmp",
      "./run",
      "./var",
      "./proc",
      "./sys",
      "./dev",
    ],
    { timeout: 60_000 },
  );
  const raw = readFileSync(layerTar);
  const gz = gzipSync(raw);
  const blob = (b: Buffer): { digest: string; size: number } => {
    const digest = sha256(b);
    writeFileSync(join(layout, "blobs", "sha256", digest.slice(7)), b);
    return { digest, size: b.length };
  };
  const layer = blob(gz);
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: {
          Env: ["PATH=/bin"],
          Cmd: ["/bin/sleep", "2147483647"],
          WorkingDir: "/",
        },
        rootfs: { type: "layers", diff_ids: [sha256(raw)] },
        history: [{ created_by: "lanner test/helpers/cri.ts" }],
      }),
    ),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer }],
      }),
    ),
  );
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: names.map((n) => ({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        platform: { architecture: "amd64", os: "linux" },
        annotations: { "io.containerd.image.name": n, "org.opencontainers.image.ref.name": n },
      })),
    }),
  );
  const archive = join(dir, "image.tar");
  await execFileP("tar", ["-C", layout, "-cf", archive, "oci-layout", "index.json", "blobs"], {
    timeout: 60_000,
  });
  return archive;
}

const imported = new Map<string, Promise<{ sandboxImage: string; image: string }>>();

/**
 * Imports the busybox image into the k8s.io namespace of the containerd on `address` as the
 * CRI sandbox image and as CRI_TEST_IMAGE (once per process; re-importing is harmless).
 */
export function importCriImages(
  address = "/run/containerd/containerd.sock",
): Promise<{ sandboxImage: string; image: string }> {
  let p = imported.get(address);
  if (p !== undefined) return p;
  p = (async () => {
    const sandboxImage = await sandboxImageName();
    const dir = mkdtempSync(join(tmpdir(), "lanner-cri-"));
    try {
      const archive = await buildOciArchive([sandboxImage, CRI_TEST_IMAGE], dir);
      await execFileP(
        "ctr",
        ["--address", address, "-n", "k8s.io", "images", "import", "--all-platforms", archive],
        {
          timeout: 120_000,
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return { sandboxImage, image: CRI_TEST_IMAGE };
  })();
  imported.set(address, p);
  return p;
}

/**
 * Whether this process may lower an oom_score_adj (CAP_SYS_RESOURCE). containerd's CRI gives
 * every pod sandbox oom_score_adj -998, so without it runc fails with "can't get final child's
 * PID from pipe: EOF" unless containerd runs with restrict_oom_score_adj.
 */
export function canLowerOomScore(): boolean {
  const eff = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  return eff !== undefined && ((BigInt("0x" + eff) >> 24n) & 1n) === 1n;
}

export interface PrivateContainerd {
  readonly address: string;
  stop(): Promise<void>;
}

/**
 * A containerd of the tests' own (own socket, root and state directories; the machine's
 * containerd is left alone) whose CRI plugin clamps oom_score_adj (restrict_oom_score_adj),
 * for hosts that withhold CAP_SYS_RESOURCE. Resolves once its socket answers.
 */
export async function startPrivateContainerd(sandboxImage: string): Promise<PrivateContainerd> {
  const base = "/run/lanner-cri-test";
  const root = "/var/lib/lanner-cri-test";
  mkdirSync(base, { recursive: true });
  mkdirSync(root, { recursive: true });
  const address = join(base, "containerd.sock");
  const config = join(base, "config.toml");
  writeFileSync(
    config,
    [
      "version = 2",
      `root = "${root}"`,
      `state = "${join(base, "state")}"`,
      "[grpc]",
      `  address = "${address}"`,
      "[ttrpc]",
      `  address = "${join(base, "containerd-ttrpc.sock")}"`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${sandboxImage}"`,
      "  restrict_oom_score_adj = true",
      "",
    ].join("\n"),
  );
  const log = openSync("/var/log/lanner-cri-containerd.log", "a");
  const child: ChildProcess = spawn("containerd", ["--config", config], {
    stdio: ["ignore", log, log],
    detached: true,
  });
  child.unref();
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  process.once("exit", () => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (existsSync(address)) {
      try {
        await execFileP("ctr", ["--address", address, "version"], { timeout: 5000 });
        return { address, stop };
      } catch {
        // not answering yet
      }
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error("the private containerd did not answer (see /var/log/lanner-cri-containerd.log)");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
