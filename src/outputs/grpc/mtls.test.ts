import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { credentials, status, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { AlertHub } from "./hub.js";
import { GrpcServer } from "./server.js";
import { makeAlert, makeClients, makeTlsFixture, waitFor, type TlsFixture } from "../test-helpers.js";

type Msg = Record<string, unknown>;

function version(
  address: string,
  creds: ReturnType<typeof credentials.createSsl>,
): Promise<{ err: ServiceError | null; res?: Msg }> {
  const c = makeClients(address, creds);
  return new Promise((resolve) => {
    c.version["version"]!({}, { deadline: Date.now() + 3000 }, (err: ServiceError | null, res: Msg) => {
      c.close();
      resolve({ err, res });
    });
  });
}

describe("gRPC over TCP with mutual TLS", () => {
  let tls: TlsFixture;
  const hub = new AlertHub();
  let server: GrpcServer;
  let address = "";

  before(async () => {
    tls = makeTlsFixture();
    server = new GrpcServer({
      address: "127.0.0.1:0",
      tls: { certChain: tls.serverCert, privateKey: tls.serverKey, rootCerts: tls.ca },
      hub,
      hostname: "node-1",
      version: { version: "0.1.0" },
      logger: () => {},
    });
    await server.start();
    address = `127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.stop(500);
    tls.cleanup();
  });

  it("serves a client with a certificate signed by the CA (version and sub)", async () => {
    const creds = credentials.createSsl(tls.ca, tls.clientKey, tls.clientCert);
    const { err, res } = await version(address, creds);
    assert.equal(err, null);
    assert.equal(res?.["version"], "0.1.0");
    const c = makeClients(address, creds);
    const sub = c.outputs["sub"]!() as ClientDuplexStream<Msg, Msg>;
    const got: Msg[] = [];
    sub.on("data", (m: Msg) => got.push(m));
    sub.on("error", () => {});
    sub.write({});
    await hub.waitForSubscribers((n) => n === 1);
    hub.publish(makeAlert({ rule: "over tls" }));
    await waitFor(() => got.length === 1);
    assert.equal(got[0]!["rule"], "over tls");
    sub.cancel();
    c.close();
    await hub.waitForSubscribers((n) => n === 0);
  });

  it("refuses a client without a certificate", async () => {
    const { err } = await version(address, credentials.createSsl(tls.ca));
    assert.ok(err);
    assert.equal(err.code, status.UNAVAILABLE);
  });

  it("refuses a client whose certificate another CA signed", async () => {
    const { err } = await version(address, credentials.createSsl(tls.ca, tls.rogueKey, tls.rogueCert));
    assert.ok(err);
    assert.equal(err.code, status.UNAVAILABLE);
  });

  it("refuses a plaintext client", async () => {
    const { err } = await version(address, credentials.createInsecure());
    assert.ok(err);
    assert.equal(err.code, status.UNAVAILABLE);
  });
});
