// Real key material and X.509 certificates for the Key Vault double's keys and
// certificates: key pairs from node:crypto (native, fast), certificates and CSRs signed
// with node-forge (Node can parse X.509 but not issue it). Nothing here is secret beyond
// the test: the keys live in memory for the life of the double.
//
// Certificates are RSA only (node-forge signs with RSA); an EC certificate policy is
// answered 400 by the double, which says so.
import { createHash, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from "node:crypto";
import forge from "node-forge";

/** JSON Web Key curve names (Key Vault's) and node:crypto's names for them. */
const CURVES: Readonly<Record<string, string>> = { "P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1", "P-256K": "secp256k1" };
export const SUPPORTED_CURVES = Object.keys(CURVES);
export const SUPPORTED_RSA_SIZES = [2048, 3072, 4096] as const;

export type KeySpec = { kty: "RSA"; keySize: number } | { kty: "EC"; crv: string };

export interface KeyMaterial {
  readonly spec: KeySpec;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Public JWK members: `n`, `e` (RSA) or `crv`, `x`, `y` (EC), base64url. */
  readonly publicJwk: { n?: string; e?: string; crv?: string; x?: string; y?: string };
}

export function generateKeyMaterial(spec: KeySpec): KeyMaterial {
  if (spec.kty === "RSA") {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: spec.keySize, publicExponent: 0x10001 });
    const jwk = publicKey.export({ format: "jwk" });
    return { spec, privateKey, publicKey, publicJwk: { n: jwk.n!, e: jwk.e! } };
  }
  const namedCurve = CURVES[spec.crv];
  if (!namedCurve) throw new Error(`unsupported curve ${spec.crv}`);
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve });
  const jwk = publicKey.export({ format: "jwk" });
  return { spec, privateKey, publicKey, publicJwk: { crv: spec.crv, x: jwk.x!, y: jwk.y! } };
}

export interface CertificateRequest {
  /** Distinguished name as Key Vault policies write it: "CN=www.contoso.com, O=Contoso". */
  readonly subject: string;
  readonly dnsNames?: readonly string[];
  readonly emails?: readonly string[];
  /** Extended key usage OIDs (policy `ekus`). */
  readonly ekus?: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly key: KeyMaterial;
  /** Signer; absent = self-signed with `key`. */
  readonly issuer?: { readonly subject: string; readonly key: KeyMaterial };
}

export interface IssuedCertificate {
  readonly der: Buffer;
  /** SHA-1 of the DER: the `x5t` Key Vault reports. */
  readonly thumbprint: Buffer;
  readonly pem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const EKU_NAMES: Readonly<Record<string, string>> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
  "1.3.6.1.5.5.7.3.3": "codeSigning",
  "1.3.6.1.5.5.7.3.4": "emailProtection",
};

/** "CN=a, O=b" → forge attributes; commas escaped with a backslash stay in the value. */
export function parseDistinguishedName(dn: string): forge.pki.CertificateField[] {
  const parts = dn.split(/(?<!\\),/).map((p) => p.trim()).filter((p) => p.length > 0);
  const fields: forge.pki.CertificateField[] = [];
  for (const part of parts) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new Error(`'${part}' is not a NAME=value pair`);
    const shortName = part.slice(0, eq).trim().toUpperCase();
    const value = part.slice(eq + 1).trim().replace(/\\,/g, ",");
    if (!["CN", "O", "OU", "L", "ST", "C", "E"].includes(shortName)) throw new Error(`unsupported attribute ${shortName}`);
    fields.push(shortName === "E" ? { name: "emailAddress", value } : { shortName, value });
  }
  if (fields.length === 0) throw new Error("the subject is empty");
  return fields;
}

function forgePrivateKey(key: KeyMaterial): forge.pki.rsa.PrivateKey {
  if (key.spec.kty !== "RSA") throw new Error("certificates need an RSA key in this double");
  return forge.pki.privateKeyFromPem(key.privateKey.export({ type: "pkcs1", format: "pem" }) as string);
}

function forgePublicKey(key: KeyMaterial): forge.pki.rsa.PublicKey {
  return forge.pki.publicKeyFromPem(key.publicKey.export({ type: "spki", format: "pem" }) as string);
}

export function issueCertificate(request: CertificateRequest): IssuedCertificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublicKey(request.key);
  // A positive serial: 16 random bytes with the top bit cleared.
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  cert.serialNumber = serial.toString("hex");
  cert.validity.notBefore = request.notBefore;
  cert.validity.notAfter = request.notAfter;
  cert.setSubject(parseDistinguishedName(request.subject));
  cert.setIssuer(parseDistinguishedName(request.issuer?.subject ?? request.subject));
  const altNames = [
    ...(request.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(request.emails ?? []).map((value) => ({ type: 1, value })),
  ];
  const extUsages: Record<string, boolean> = {};
  for (const oid of request.ekus ?? []) {
    const name = EKU_NAMES[oid];
    if (name) extUsages[name] = true;
  }
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
    ...(Object.keys(extUsages).length > 0 ? [{ name: "extKeyUsage", ...extUsages }] : []),
    ...(altNames.length > 0 ? [{ name: "subjectAltName", altNames }] : []),
  ]);
  cert.sign(forgePrivateKey(request.issuer?.key ?? request.key), forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), "binary");
  return {
    der,
    thumbprint: createHash("sha1").update(der).digest(),
    pem: forge.pki.certificateToPem(cert),
    notBefore: request.notBefore,
    notAfter: request.notAfter,
  };
}

/** A PKCS#10 request for the key, as Key Vault returns in a pending operation's `csr` (base64 DER). */
export function certificateSigningRequest(subject: string, key: KeyMaterial): string {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forgePublicKey(key);
  csr.setSubject(parseDistinguishedName(subject));
  csr.sign(forgePrivateKey(key), forge.md.sha256.create());
  return Buffer.from(forge.asn1.toDer(forge.pki.certificationRequestToAsn1(csr)).getBytes(), "binary").toString("base64");
}

/** The backing secret's value: PEM (key then certificate) or PKCS#12 without a password, base64. */
export function backingSecretValue(contentType: string, cert: IssuedCertificate, key: KeyMaterial): string {
  const keyPem = key.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  if (contentType === "application/x-pem-file") return `${keyPem}${cert.pem}`;
  const p12 = forge.pkcs12.toPkcs12Asn1(forgePrivateKey(key), [forge.pki.certificateFromPem(cert.pem)], null, { algorithm: "3des" });
  return Buffer.from(forge.asn1.toDer(p12).getBytes(), "binary").toString("base64");
}

/** Reads a DER certificate (a merged x5c entry) with node:crypto. */
export function readCertificate(der: Buffer): { notBefore: Date; notAfter: Date; publicKeySpki: Buffer; thumbprint: Buffer; pem: string } {
  const cert = new X509Certificate(der);
  return {
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    publicKeySpki: cert.publicKey.export({ type: "spki", format: "der" }),
    thumbprint: createHash("sha1").update(der).digest(),
    pem: cert.toString(),
  };
}

export function spkiOf(key: KeyMaterial): Buffer {
  return key.publicKey.export({ type: "spki", format: "der" });
}
