// Shared by the outputs tests and benchmarks: alert fixtures, temp dirs, throwaway TLS
// material, and gRPC clients generated from our .proto at run time.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  credentials,
  loadPackageDefinition,
  type ChannelCredentials,
  type Client,
  type GrpcObject,
  type ServiceClientConstructor,
} from "@grpc/grpc-js";
import type { Alert, OutputFieldValue, Priority } from "../engine/alert.js";
import { loadPackageDefinition as loadDefs } from "./grpc/proto.js";

let seq = 0;

export function makeAlert(over: Partial<Alert> & { fields?: Record<string, OutputFieldValue> } = {}): Alert {
  seq++;
  const priority: Priority = over.priority ?? "Warning";
  return {
    timeNs: over.timeNs ?? 1_767_268_800_123_456_789n + BigInt(seq),
    rule: over.rule ?? "Terminal shell in container",
    priority,
    source: over.source ?? "syscall",
    hostname: over.hostname ?? "node-1",
    message:
      over.message ?? `A shell was spawned (seq=${seq}) user=root process=bash container_id=3ad7b26ded6d`,
    outputFields: over.outputFields ??
      over.fields ?? {
        "evt.time": 1_767_268_800_123_456_789n,
        "proc.name": "bash",
        "proc.pid": 4242,
        "user.name": "root",
        "container.id": "3ad7b26ded6d",
        "proc.tty": null,
        seq,
      },
    tags: over.tags ?? ["container", "shell", "mitre_execution"],
  };
}

export function tempDir(prefix = "lanner-outputs-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export async function waitFor(pred: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface TlsFixture {
  dir: string;
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  /** A client certificate signed by a different CA. */
  rogueCert: Buffer;
  rogueKey: Buffer;
  paths: Record<
    "ca" | "serverCert" | "serverKey" | "clientCert" | "clientKey" | "rogueCert" | "rogueKey",
    string
  >;
  cleanup: () => void;
}

/**
 * Certificates made with the openssl CLI in `dir` (tests): CAs, and leaves a CA signs
 * (EC P-256, valid two days). Files are NAME.crt and NAME.key.
 */
export class TestPki {
  constructor(readonly dir: string) {}

  path(file: string): string {
    return join(this.dir, file);
  }

  private ossl(...args: string[]): void {
    execFileSync("openssl", args, { cwd: this.dir, stdio: ["ignore", "ignore", "pipe"] });
  }

  private static readonly EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

  /** A self-signed CA NAME (subject CN=cn). */
  ca(name: string, cn = name): void {
    this.ossl(
      "req",
      "-x509",
      ...TestPki.EC,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-subj",
      `/CN=${cn}`,
      "-days",
      "2",
    );
  }

  /** A leaf NAME signed by CA `caName`, with the x509v3 extensions `ext` (subject CN=cn). */
  leaf(name: string, caName: string, ext: string, cn = name): void {
    writeFileSync(this.path(`${name}.ext`), ext);
    this.ossl("req", ...TestPki.EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
    this.ossl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${caName}.crt`,
      "-CAkey",
      `${caName}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    );
  }
}

/** A throwaway CA, a server cert (localhost, 127.0.0.1) and client certs, made with the openssl CLI. */
export function makeTlsFixture(): TlsFixture {
  const { path: dir, cleanup } = tempDir("lanner-tls-");
  const pki = new TestPki(dir);
  const ca = (name: string): void => pki.ca(name);
  const leaf = (name: string, caName: string, ext: string): void => pki.leaf(name, caName, ext);
  ca("ca");
  ca("rogue-ca");
  leaf("server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  leaf("client", "ca", "extendedKeyUsage=clientAuth\n");
  leaf("rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n");
  const p = (f: string): string => join(dir, f);
  const paths = {
    ca: p("ca.crt"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    clientCert: p("client.crt"),
    clientKey: p("client.key"),
    rogueCert: p("rogue.crt"),
    rogueKey: p("rogue.key"),
  };
  return {
    dir,
    ca: readFileSync(paths.ca),
    serverCert: readFileSync(paths.serverCert),
    serverKey: readFileSync(paths.serverKey),
    clientCert: readFileSync(paths.clientCert),
    clientKey: readFileSync(paths.clientKey),
    rogueCert: readFileSync(paths.rogueCert),
    rogueKey: readFileSync(paths.rogueKey),
    paths,
    cleanup,
  };
}

export interface Clients {
  outputs: Client & Record<string, (...args: unknown[]) => unknown>;
  version: Client & Record<string, (...args: unknown[]) => unknown>;
  lanner: Client & Record<string, (...args: unknown[]) => unknown>;
  close(): void;
}

function ctor(root: GrpcObject, path: string): ServiceClientConstructor {
  let o: unknown = root;
  for (const part of path.split(".")) o = (o as Record<string, unknown>)[part];
  return o as ServiceClientConstructor;
}

/** Clients generated from proto/ at run time. */
export function makeClients(
  address: string,
  creds: ChannelCredentials = credentials.createInsecure(),
  options: Record<string, string | number> = {},
): Clients {
  const root = loadPackageDefinition(loadDefs());
  const mk = (path: string): Client & Record<string, (...args: unknown[]) => unknown> =>
    new (ctor(root, path))(address, creds, options) as Client &
      Record<string, (...args: unknown[]) => unknown>;
  const outputs = mk("falco.outputs.service");
  const version = mk("falco.version.service");
  const lanner = mk("lanner.v1.Alerts");
  return {
    outputs,
    version,
    lanner,
    close() {
      outputs.close();
      version.close();
      lanner.close();
    },
  };
}
