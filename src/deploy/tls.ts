/**
 * The TLS material of a deployment, made at deploy time: a CA, a server certificate for the
 * agents (DNS name `lanner-agent`, which clients check: agents are reached by pod IP or
 * through a port-forward, so no address could be in it), and a client certificate for
 * `kubectl lanner`, both signed by the CA. ECDSA P-256 with SHA-256, PEM (keys PKCS#8), with
 * @peculiar/x509 over Node's WebCrypto. The agents accept only clients whose certificate the
 * CA signed; the client accepts only a server certificate the CA signed, for `lanner-agent`.
 */
import "reflect-metadata"; // @peculiar/x509's dependency injection needs it, before the import
import { randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { LannerError } from "../errors.js";
import { SERVER_NAME } from "./names.js";

export interface CertAndKey {
  /** PEM certificate */
  readonly cert: string;
  /** PEM PKCS#8 private key */
  readonly key: string;
}

export interface TlsMaterial {
  /** the CA; its key is not stored anywhere after deploy (re-deploying with --rotate-certs makes a new one) */
  readonly ca: CertAndKey;
  readonly server: CertAndKey;
  readonly client: CertAndKey;
}

export interface TlsOptions {
  /** the server certificate's DNS names (default: [lanner-agent]) */
  readonly serverNames?: readonly string[];
  /** validity in days (default 3650: rotation is `lanner deploy --rotate-certs`) */
  readonly days?: number;
  /** a name for the subjects' O= (default "lanner") */
  readonly organization?: string;
  /** the clock (tests) */
  readonly now?: Date;
}

const ALG: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGN: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] as number) & 0x7f; // positive, as RFC 5280 wants
  return b.toString("hex");
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
}

async function pemKey(k: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", k);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

/** Makes a CA and the server and client certificates it signs. */
export async function generateTlsMaterial(opts: TlsOptions = {}): Promise<TlsMaterial> {
  const names = opts.serverNames ?? [SERVER_NAME];
  if (names.length === 0 || names.some((n) => !/^[a-z0-9*]([-a-z0-9.]*[a-z0-9])?$/i.test(n)))
    throw new LannerError(
      "ETLS",
      `making TLS material: server names ${JSON.stringify(names)} are not DNS names`,
    );
  const days = opts.days ?? 3650;
  if (!Number.isInteger(days) || days < 1)
    throw new LannerError("ETLS", `making TLS material: validity ${days} days is not a positive integer`);
  const org = opts.organization ?? "lanner";
  const now = opts.now ?? new Date();
  // a few minutes back: nodes whose clock is behind still accept a certificate made now
  const notBefore = new Date(now.getTime() - 5 * 60_000);
  const notAfter = new Date(now.getTime() + days * 86_400_000);
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  try {
    const caKeys = await keyPair();
    const caName = `CN=lanner CA, O=${org}`;
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: caName,
      notBefore,
      notAfter,
      keys: caKeys,
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    const leaf = async (
      cn: string,
      usage: x509.ExtendedKeyUsage,
      dns: readonly string[],
    ): Promise<CertAndKey> => {
      const keys = await keyPair();
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: `CN=${cn}, O=${org}`,
        issuer: ca.subject,
        notBefore,
        notAfter,
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        signingAlgorithm: SIGN,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([usage], false),
          ...(dns.length > 0
            ? [
                new x509.SubjectAlternativeNameExtension(
                  dns.map((value) => ({ type: "dns" as const, value })),
                ),
              ]
            : []),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
          await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
        ],
      });
      return { cert: cert.toString("pem") + "\n", key: (await pemKey(keys.privateKey)) + "\n" };
    };
    return {
      ca: { cert: ca.toString("pem") + "\n", key: (await pemKey(caKeys.privateKey)) + "\n" },
      server: await leaf(names[0] as string, x509.ExtendedKeyUsage.serverAuth, names),
      client: await leaf("kubectl-lanner", x509.ExtendedKeyUsage.clientAuth, []),
    };
  } catch (e) {
    if (e instanceof LannerError) throw e;
    throw new LannerError("ETLS", `making TLS material: ${(e as Error).message}`, { cause: e });
  }
}

/** The subject, issuer, DNS names and validity of a PEM certificate (for tests and messages). */
export function describeCertificate(pem: string): {
  subject: string;
  issuer: string;
  dnsNames: string[];
  notBefore: Date;
  notAfter: Date;
  publicKeyAlgorithm: string;
} {
  const c = new x509.X509Certificate(pem);
  const san = c.getExtension(x509.SubjectAlternativeNameExtension);
  const alg = c.publicKey.algorithm as webcrypto.EcKeyAlgorithm;
  return {
    subject: c.subject,
    issuer: c.issuer,
    dnsNames: san === null ? [] : san.names.items.filter((n) => n.type === "dns").map((n) => n.value),
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    publicKeyAlgorithm: `${alg.name}${alg.namedCurve !== undefined ? ` ${alg.namedCurve}` : ""}`,
  };
}
