/**
 * The node API on TCP requires mutual TLS, as the alert API does: NodeClient without a
 * certificate, or with one another CA signed, is refused; the right one gets Status. A
 * server certificate issued to a name (not the address) is accepted with `serverName`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Client, credentials, status, type MethodDefinition, type ServiceError } from "@grpc/grpc-js";
import { loadServices } from "../outputs/grpc/proto.js";
import { HOST_CONTAINER } from "../state/containers/container-info.js";
import { standInEnvironment } from "../../test/helpers/gadget-environment.js";
import { AlertHub } from "../outputs/grpc/hub.js";
import { GrpcServer } from "../outputs/grpc/server.js";
import { makeTlsFixture, TestPki, type TlsFixture } from "../outputs/test-helpers.js";
import { NodeCallError, NodeClient, type NodeTls } from "./node-client.js";
import { NodeService } from "./node-service.js";

async function serve(tls: { cert: Buffer; key: Buffer; ca: Buffer }): Promise<GrpcServer> {
  const server = new GrpcServer({
    address: "127.0.0.1:0",
    tls: { certChain: tls.cert, privateKey: tls.key, rootCerts: tls.ca },
    hub: new AlertHub(),
    hostname: "nodeapi-tls",
    version: { version: "0.1.0" },
    logger: () => {},
  });
  new NodeService({
    node: "nodeapi-tls",
    version: "0.1.0",
    env: standInEnvironment({ loadMs: 0, container: () => HOST_CONTAINER }),
    features: () => [],
    logger: () => {},
  }).register(server);
  await server.start();
  return server;
}

async function statusError(address: string, tls: NodeTls | undefined): Promise<NodeCallError> {
  const c = new NodeClient(tls !== undefined ? { address, tls } : { address }, { connectTimeoutMs: 1500 });
  try {
    await c.status();
  } catch (e) {
    assert.ok(e instanceof NodeCallError, String(e));
    return e;
  } finally {
    c.close();
  }
  assert.fail("the call was not refused");
}

describe("the node API on TCP with mutual TLS", () => {
  let f: TlsFixture;
  let server: GrpcServer;
  let named: GrpcServer;
  let address = "";
  let namedAddress = "";
  let namedCert: Buffer;

  before(async () => {
    f = makeTlsFixture();
    server = await serve({ cert: f.serverCert, key: f.serverKey, ca: f.ca });
    address = `127.0.0.1:${server.port}`;
    // a server certificate for a name only (as issued to a DaemonSet's service name)
    new TestPki(f.dir).leaf(
      "named",
      "ca",
      "subjectAltName=DNS:lanner-agent.nodeapi.test\nextendedKeyUsage=serverAuth\n",
      "lanner-agent",
    );
    namedCert = readFileSync(join(f.dir, "named.crt"));
    named = await serve({ cert: namedCert, key: readFileSync(join(f.dir, "named.key")), ca: f.ca });
    namedAddress = `127.0.0.1:${named.port}`;
  });
  after(async () => {
    await server.stop(500);
    await named.stop(500);
    f.cleanup();
  });

  it("serves a client whose certificate the CA signed", async () => {
    const c = new NodeClient({ address, tls: { ca: f.ca, cert: f.clientCert, key: f.clientKey } });
    const s = await c.status();
    c.close();
    assert.equal(s.node, "nodeapi-tls");
    assert.equal(s.gadgetsRunning, 0);
  });

  it("refuses a client without a certificate (NodeClient will not even try plaintext TCP)", async () => {
    const e = await statusError(address, undefined);
    assert.equal(e.status, "INVALID_ARGUMENT");
    assert.equal(
      e.message,
      `node address ${address}: TCP needs mutual TLS (a CA, a client certificate and its key)`,
    );
    const empty = await statusError(address, { ca: f.ca, cert: "", key: "" });
    assert.equal(empty.status, "INVALID_ARGUMENT");
    assert.equal(empty.message, `node address ${address}: TLS cert is empty (mutual TLS needs all three)`);
    const garbage = await statusError(address, { ca: f.ca, cert: "not a certificate", key: f.clientKey });
    assert.equal(garbage.status, "INVALID_ARGUMENT");
    assert.match(garbage.message, /^node address 127\.0\.0\.1:\d+: reading the TLS material: /);
    // a TLS client with the CA but no certificate of its own: the server's handshake refuses it
    const def = (loadServices().node as unknown as Record<string, MethodDefinition<unknown, unknown>>)[
      "Status"
    ] as MethodDefinition<unknown, unknown>;
    const raw = new Client(address, credentials.createSsl(f.ca));
    const err = await new Promise<ServiceError | null>((resolve) =>
      raw.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        {},
        { deadline: Date.now() + 3000 },
        (e: ServiceError | null) => resolve(e),
      ),
    );
    raw.close();
    assert.equal(err?.code, status.UNAVAILABLE);
  });

  it("refuses a client whose certificate another CA signed", async () => {
    const e = await statusError(address, { ca: f.ca, cert: f.rogueCert, key: f.rogueKey });
    assert.equal(e.status, "UNAVAILABLE");
  });

  it("checks the server's certificate: issued to a name, it needs serverName", async () => {
    const tls = { ca: f.ca, cert: f.clientCert, key: f.clientKey };
    const e = await statusError(namedAddress, tls);
    assert.equal(e.status, "UNAVAILABLE");
    const c = new NodeClient({
      address: namedAddress,
      tls: { ...tls, serverName: "lanner-agent.nodeapi.test" },
    });
    assert.equal((await c.status()).node, "nodeapi-tls");
    c.close();
    const wrong = await statusError(namedAddress, { ...tls, serverName: "other.nodeapi.test" });
    assert.equal(wrong.status, "UNAVAILABLE");
  });
});
