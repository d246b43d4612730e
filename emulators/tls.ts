// Test TLS material for the local HTTPS test doubles.
//
// Every double (Key Vault, ARM, Graph, webhook receivers) serves with a leaf
// certificate signed by one throw-away CA made at start, so a client needs exactly one
// `ca` to trust all of them. The ARM clients refuse bearer tokens over plain HTTP, and
// the Key Vault client does challenge auth, so the doubles must be real HTTPS.
//
// Keys come from node:crypto (fast, native); node-forge only builds the X.509 structures.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import forge from "node-forge";

export interface TestTls {
  /** PEM of the CA that signed `cert`: give this to clients as `ca`. */
  readonly caPem: string;
  /** A file holding `caPem`, for child processes (`KEYTURN_TLS_CA_FILE`, `NODE_EXTRA_CA_CERTS`). */
  readonly caFile: string;
  /** Leaf certificate for 127.0.0.1, ::1 and localhost. */
  readonly cert: string;
  readonly key: string;
}

function newKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

function serial(): string {
  // Positive serial: clear the top bit.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}

function makeTestTls(): TestTls {
  const now = Date.now();
  const notBefore = new Date(now - 24 * 3600_000);
  const notAfter = new Date(now + 365 * 24 * 3600_000);

  const caKeys = newKeyPair();
  const caKey = forge.pki.privateKeyFromPem(caKeys.privatePem);
  const ca = forge.pki.createCertificate();
  ca.publicKey = forge.pki.publicKeyFromPem(caKeys.publicPem);
  ca.serialNumber = serial();
  ca.validity.notBefore = notBefore;
  ca.validity.notAfter = notAfter;
  const caName = [{ name: "commonName", value: "keyturn local test CA" }];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  ca.sign(caKey, forge.md.sha256.create());

  const leafKeys = newKeyPair();
  const leaf = forge.pki.createCertificate();
  leaf.publicKey = forge.pki.publicKeyFromPem(leafKeys.publicPem);
  leaf.serialNumber = serial();
  leaf.validity.notBefore = notBefore;
  leaf.validity.notAfter = notAfter;
  leaf.setSubject([{ name: "commonName", value: "localhost" }]);
  leaf.setIssuer(caName);
  leaf.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [
        { type: 2, value: "localhost" },
        { type: 7, ip: "127.0.0.1" },
        { type: 7, ip: "::1" },
      ],
    },
  ]);
  leaf.sign(caKey, forge.md.sha256.create());

  const caPem = forge.pki.certificateToPem(ca);
  const dir = mkdtempSync(join(tmpdir(), "keyturn-tls-"));
  const caFile = join(dir, "ca.pem");
  writeFileSync(caFile, caPem);
  return { caPem, caFile, cert: forge.pki.certificateToPem(leaf), key: leafKeys.privatePem };
}

let shared: TestTls | undefined;

/** One CA and leaf per process, made on first use. */
export function testTls(): TestTls {
  shared ??= makeTestTls();
  return shared;
}
