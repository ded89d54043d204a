import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { HttpOutput } from "./http-output.js";
import { makeAlert, makeTlsFixture } from "./test-helpers.js";

interface Received {
  headers: IncomingMessage["headers"];
  body: string;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function handler(onRequest: (r: Received, res: ServerResponse) => void) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => onRequest({ headers: req.headers, body }, res));
  };
}

describe("http output", () => {
  it("retries with backoff against a server that fails first, then delivers Falco JSON once", async () => {
    const got: Received[] = [];
    let calls = 0;
    const server = createServer(
      handler((r, res) => {
        calls++;
        if (calls <= 3) {
          res.writeHead(calls === 2 ? 429 : 503).end("not yet");
          return;
        }
        got.push(r);
        res.writeHead(200).end("{}");
      }),
    );
    const port = await listen(server);
    const out = new HttpOutput({
      url: `http://127.0.0.1:${port}/`,
      backoffMinMs: 10,
      headers: { Authorization: "Bearer t0ken", "X-Team": "sec" },
      logger: () => {},
    });
    const alert = makeAlert({ rule: "posted", priority: "Error" });
    out.enqueue(alert);
    assert.equal(await out.flush(3000), true);
    assert.equal(calls, 4);
    assert.equal(out.retries, 3);
    assert.equal(got.length, 1);
    const r = got[0]!;
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.headers["authorization"], "Bearer t0ken");
    assert.equal(r.headers["x-team"], "sec");
    const j = JSON.parse(r.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(j), [
      "time",
      "rule",
      "priority",
      "source",
      "hostname",
      "output",
      "output_fields",
      "tags",
    ]);
    assert.equal(j["rule"], "posted");
    assert.equal(j["priority"], "Error");
    assert.deepEqual(out.stats().delivered, 1);
    await out.close();
    server.close();
  });

  it("gives up after maxRetries; a 4xx is not retried; a hanging endpoint times out", async () => {
    let calls = 0;
    const hanging: ServerResponse[] = [];
    const server = createServer(
      handler((r, res) => {
        calls++;
        if (r.body.includes('"rule":"bad"')) res.writeHead(400).end("bad request");
        else if (r.body.includes('"rule":"hang"')) hanging.push(res);
        else res.writeHead(500).end();
      }),
    );
    const port = await listen(server);
    const out = new HttpOutput({
      url: `http://127.0.0.1:${port}`,
      maxRetries: 2,
      backoffMinMs: 5,
      timeoutMs: 150,
      logger: () => {},
    });
    out.enqueue(makeAlert({ rule: "bad" }));
    await out.flush(2000);
    assert.equal(calls, 1);
    assert.equal(out.stats().failed, 1);
    out.enqueue(makeAlert({ rule: "fails" }));
    await out.flush(2000);
    assert.equal(calls, 4);
    assert.equal(out.stats().failed, 2);
    const t0 = Date.now();
    out.enqueue(makeAlert({ rule: "hang" }));
    assert.equal(await out.flush(3000), true);
    const took = Date.now() - t0;
    assert.ok(took >= 3 * 150 && took < 2000, `hanging endpoint took ${took} ms`);
    assert.equal(out.stats().failed, 3);
    await out.close();
    for (const h of hanging) h.destroy();
    server.closeAllConnections();
    server.close();
  });

  it("posts over HTTPS with a client certificate (mTLS)", async () => {
    const tls = makeTlsFixture();
    const got: Received[] = [];
    const server = createHttpsServer(
      { cert: tls.serverCert, key: tls.serverKey, ca: tls.ca, requestCert: true, rejectUnauthorized: true },
      handler((r, res) => {
        got.push(r);
        res.writeHead(200).end();
      }),
    );
    const port = await listen(server);
    const good = new HttpOutput({
      url: `https://127.0.0.1:${port}/`,
      ca: tls.ca,
      cert: tls.clientCert,
      key: tls.clientKey,
      logger: () => {},
    });
    good.enqueue(makeAlert({ rule: "mtls" }));
    await good.flush(3000);
    assert.equal(good.stats().delivered, 1);
    assert.equal(got.length, 1);
    const noCert = new HttpOutput({
      url: `https://127.0.0.1:${port}/`,
      ca: tls.ca,
      maxRetries: 0,
      logger: () => {},
    });
    noCert.enqueue(makeAlert());
    await noCert.flush(3000);
    assert.equal(noCert.stats().failed, 1);
    assert.equal(got.length, 1);
    await good.close();
    await noCert.close();
    server.close();
    tls.cleanup();
  });
});
