/**
 * The generated TLS material with a real grpc-js mutual-TLS server and client, as the agents
 * (server material, client certificates checked against the CA) and `kubectl lanner` (client
 * material, checking the name lanner-agent) use it.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { describeCertificate, generateTlsMaterial, type TlsMaterial } from "./tls.js";

const identity = (b: Buffer): Buffer => b;
const ECHO: grpc.ServiceDefinition = {
  echo: {
    path: "/lanner.deploytest.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const EchoClient = grpc.makeGenericClientConstructor(ECHO, "Echo");
type Echo = grpc.Client & {
  echo(req: Buffer, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Buffer) => void): void;
};

describe("TLS material with grpc-js mutual TLS", () => {
  let tls: TlsMaterial;
  let other: TlsMaterial;
  let server: grpc.Server;
  let port = 0;
  const peers: string[] = [];

  before(async () => {
    [tls, other] = await Promise.all([generateTlsMaterial(), generateTlsMaterial()]);
    server = new grpc.Server();
    server.addService(ECHO, {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        // the client certificate the server saw
        const cert = call.getAuthContext?.().sslPeerCertificate;
        const cn = cert?.subject?.CN;
        peers.push(Array.isArray(cn) ? cn.join(",") : (cn ?? "none"));
        cb(null, Buffer.concat([Buffer.from("echo:"), call.request]));
      },
    });
    const creds = grpc.ServerCredentials.createSsl(
      Buffer.from(tls.ca.cert),
      [{ cert_chain: Buffer.from(tls.server.cert), private_key: Buffer.from(tls.server.key) }],
      true,
    );
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", creds, (e, p) => (e ? reject(e) : resolve(p))),
    );
  });
  after(() => server.forceShutdown());

  function call(creds: grpc.ChannelCredentials, name = "lanner-agent"): Promise<Buffer> {
    const c = new EchoClient(`127.0.0.1:${port}`, creds, {
      "grpc.ssl_target_name_override": name,
      "grpc.default_authority": name,
    }) as unknown as Echo;
    return new Promise<Buffer>((resolve, reject) =>
      c.echo(Buffer.from("hi"), { deadline: Date.now() + 5000 }, (e, r) => {
        c.close();
        if (e) reject(e);
        else resolve(r as Buffer);
      }),
    ).finally(() => c.close());
  }

  const clientCreds = (m: TlsMaterial, ca = m.ca.cert): grpc.ChannelCredentials =>
    grpc.credentials.createSsl(Buffer.from(ca), Buffer.from(m.client.key), Buffer.from(m.client.cert));

  it("the certificates: ECDSA P-256, one CA, server for lanner-agent, usages as TLS wants", () => {
    const ca = new X509Certificate(tls.ca.cert);
    const srv = new X509Certificate(tls.server.cert);
    const cli = new X509Certificate(tls.client.cert);
    assert.equal(ca.ca, true);
    assert.equal(srv.ca, false);
    assert.equal(srv.verify(ca.publicKey), true);
    assert.equal(cli.verify(ca.publicKey), true);
    assert.equal(srv.checkIssued(ca), true);
    assert.equal(srv.checkHost("lanner-agent"), "lanner-agent");
    assert.equal(srv.checkHost("other"), undefined);
    assert.equal(srv.subjectAltName, "DNS:lanner-agent");
    assert.deepEqual(srv.keyUsage, ["1.3.6.1.5.5.7.3.1"]); // serverAuth
    assert.deepEqual(cli.keyUsage, ["1.3.6.1.5.5.7.3.2"]); // clientAuth
    assert.equal(ca.publicKey.asymmetricKeyType, "ec");
    assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.equal(describeCertificate(tls.server.cert).publicKeyAlgorithm, "ECDSA P-256");
    assert.equal(new X509Certificate(other.ca.cert).fingerprint256 === ca.fingerprint256, false);
    const days = (Date.parse(srv.validTo) - Date.parse(srv.validFrom)) / 86_400_000;
    assert.ok(days > 3649 && days < 3651, `valid ${days} days`);
  });

  it("a round trip with the generated material; the server sees the client certificate", async () => {
    const r = await call(clientCreds(tls));
    assert.equal(r.toString(), "echo:hi");
    assert.equal(peers.at(-1), "kubectl-lanner");
  });

  it("a client certificate from another CA is refused", async () => {
    const n = peers.length;
    // trusts our CA for the server, but presents a certificate another CA signed
    await assert.rejects(call(clientCreds(other, tls.ca.cert)), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNAVAILABLE);
      return true;
    });
    assert.equal(peers.length, n, "the call never reached the service");
  });

  it("a client without a certificate is refused", async () => {
    await assert.rejects(
      call(grpc.credentials.createSsl(Buffer.from(tls.ca.cert))),
      (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.UNAVAILABLE);
        return true;
      },
    );
  });

  it("the client refuses a server of another CA, and a name other than lanner-agent", async () => {
    await assert.rejects(call(clientCreds(tls, other.ca.cert)), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNAVAILABLE);
      return true;
    });
    await assert.rejects(call(clientCreds(tls), "lanner-other"), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNAVAILABLE);
      assert.match(e.details, /lanner-other|altnames|Hostname/i);
      return true;
    });
  });
});
