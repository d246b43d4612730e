// The Key Vault double's certificates, driven by the real @azure/keyvault-certificates
// CertificateClient: create from a policy (pending operation, completion after polls),
// real X.509 with backing key and secret, the Unknown issuer's CSR and merge, issuers,
// policy get/update, and CertificateNearExpiry/Expired on the clock; plus raw HTTPS where
// the SDK hides the wire.
import { X509Certificate } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { request as httpsRequest } from "node:https";
import { CertificateClient } from "@azure/keyvault-certificates";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import forge from "node-forge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { localToken } from "../support/keyvault.js";

const VAULT = "certs-kv";
const DAY_MS = 86_400_000;

let kv: KeyVaultEmulator;
let certs: CertificateClient;
let receiver: Server;
const received: Array<{ eventType: string; subject: string; data: Record<string, unknown> }> = [];

function clientOptions() {
  return { disableChallengeResourceVerification: true, tlsOptions: { ca: kv.tls.caPem }, retryOptions: { maxRetries: 1, retryDelayInMs: 20 } };
}

function rawGet(path: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${kv.url(VAULT)}${path}`, { headers: { authorization: "Bearer t" }, ca: kv.tls.caPem }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: body ? JSON.parse(body) : undefined }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  kv = await startKeyVaultEmulator({ vaults: [VAULT], deliveryRetryDelaysMs: [50] });
  certs = new CertificateClient(kv.url(VAULT), localToken, clientOptions());
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const events = JSON.parse(body) as Array<{ eventType: string; subject: string; data: Record<string, unknown> }>;
      if (req.headers["aeg-event-type"] === "SubscriptionValidation") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ validationResponse: events[0]!.data.validationCode }));
        return;
      }
      received.push(...events);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  await kv.subscribe({ vault: VAULT, endpoint: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, schema: "EventGridSchema" });
});

afterAll(async () => {
  await kv?.stop();
  await new Promise((r) => receiver?.close(r));
});

describe("certificates in the Key Vault double", () => {
  it("creates a self-signed certificate from a policy: pending, then a real X.509 with backing key and secret", async () => {
    const poller = await certs.beginCreateCertificate(
      "web-tls",
      { issuerName: "Self", subject: "CN=web.contoso.com, O=Contoso", subjectAlternativeNames: { dnsNames: ["web.contoso.com", "www.contoso.com"] }, validityInMonths: 6 },
      { intervalInMs: 5, tags: { Owner: "web-team@contoso.com" } },
    );
    // The first poll (made by beginCreateCertificate) sees the operation in progress.
    expect(poller.isDone()).toBe(false);
    const pending = await rawGet("/certificates/web-tls/pending?api-version=2025-07-01");
    expect(pending.json).toMatchObject({ id: `${kv.url(VAULT)}/certificates/web-tls/pending`, issuer: { name: "Self" }, cancellation_requested: false });
    expect(typeof pending.json.csr).toBe("string");

    const created = await poller.pollUntilDone();
    expect(created.properties.enabled).toBe(true);
    expect(created.properties.tags).toEqual({ Owner: "web-team@contoso.com" });
    expect(created.policy?.issuerName).toBe("Self");
    const x509 = new X509Certificate(Buffer.from(created.cer!));
    expect(x509.subject).toContain("CN=web.contoso.com");
    expect(x509.subjectAltName).toContain("DNS:www.contoso.com");
    expect(x509.issuer).toBe(x509.subject); // self-signed
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(new Date(x509.validTo).getTime()).toBe(created.properties.expiresOn!.getTime());
    const months = (created.properties.expiresOn!.getTime() - Date.now()) / (30.4 * DAY_MS);
    expect(months).toBeGreaterThan(5.8);
    expect(months).toBeLessThan(6.2);
    // 10 minutes of clock-skew allowance, as the service's certificates have.
    expect(Date.now() - created.properties.notBefore!.getTime()).toBeGreaterThan(590_000);

    const secret = await new SecretClient(kv.url(VAULT), localToken, clientOptions()).getSecret("web-tls");
    expect(secret.properties.managed).toBe(true);
    expect(secret.properties.version).toBe(created.properties.version);
    expect(secret.properties.contentType).toBe("application/x-pkcs12");
    const key = await new KeyClient(kv.url(VAULT), localToken, clientOptions()).getKey("web-tls");
    expect(key.properties.managed).toBe(true);
    expect(key.properties.version).toBe(created.properties.version);
    const operation = await rawGet("/certificates/web-tls/pending?api-version=2025-07-01");
    expect(operation.json).toMatchObject({ status: "completed", target: `${kv.url(VAULT)}/certificates/web-tls` });
    await waitFor("CertificateNewVersionCreated", () =>
      received.find((e) => e.eventType === "Microsoft.KeyVault.CertificateNewVersionCreated" && e.data.Version === created.properties.version),
    );
  });

  it("renews from the existing policy: a new version, 409 while one is pending, policy updates apply to the next version", async () => {
    const first = await certs.getCertificate("web-tls");
    const policy = await certs.getCertificatePolicy("web-tls");
    expect(policy).toMatchObject({ issuerName: "Self", subject: "CN=web.contoso.com, O=Contoso", validityInMonths: 6, keyType: "RSA", keySize: 2048 });

    const renewal = await certs.beginCreateCertificate("web-tls", policy, { intervalInMs: 5, tags: first.properties.tags });
    // While the new version is pending, the certificate's latest version is it: disabled, no cer.
    const latest = await rawGet("/certificates/web-tls/?api-version=2025-07-01");
    expect(latest.json.attributes.enabled).toBe(false);
    expect(latest.json.cer).toBeUndefined();
    expect(latest.json.pending).toEqual({ id: `${kv.url(VAULT)}/certificates/web-tls/pending` });
    // A second create while one is in progress is refused.
    await expect(certs.beginCreateCertificate("web-tls", policy)).rejects.toMatchObject({ statusCode: 409 });
    const renewed = await renewal.pollUntilDone();
    expect(renewed.properties.version).not.toBe(first.properties.version);
    expect(renewed.properties.tags).toEqual(first.properties.tags);

    await certs.updateCertificatePolicy("web-tls", { ...policy, validityInMonths: 12 });
    expect((await certs.getCertificatePolicy("web-tls")).validityInMonths).toBe(12);
    const versions = [];
    for await (const v of certs.listPropertiesOfCertificateVersions("web-tls")) versions.push(v);
    expect(versions.map((v) => v.version).sort()).toEqual([first.properties.version, renewed.properties.version].sort());

    await certs.updateCertificateProperties("web-tls", renewed.properties.version!, { tags: { Owner: "web-team@contoso.com", KeyturnReminded: "14" } });
    expect((await certs.getCertificate("web-tls")).properties.tags).toEqual({ Owner: "web-team@contoso.com", KeyturnReminded: "14" });
    expect((await certs.getCertificateVersion("web-tls", first.properties.version!)).properties.tags).toEqual({ Owner: "web-team@contoso.com" });
  });

  it("keeps an Unknown-issuer request pending until a certificate for its CSR is merged", async () => {
    const poller = await certs.beginCreateCertificate(
      "partner-tls",
      { issuerName: "Unknown", subject: "CN=partner.contoso.com" },
      { intervalInMs: 5, tags: { Owner: "partner-team@contoso.com" } },
    );
    for (let i = 0; i < 4; i++) await poller.poll();
    expect(poller.isDone()).toBe(false);
    const operation = await certs.getCertificateOperation("partner-tls");
    const state = operation.getOperationState().certificateOperation!;
    expect(state.status).toBe("inProgress");

    // An external CA signs the CSR.
    const csr = forge.pki.certificationRequestFromAsn1(forge.asn1.fromDer(Buffer.from(state.csr!).toString("binary")));
    expect(csr.verify()).toBe(true);
    const caKeys = forge.pki.rsa.generateKeyPair(1024);
    const signed = forge.pki.createCertificate();
    signed.publicKey = csr.publicKey!;
    signed.serialNumber = "0a";
    signed.validity.notBefore = new Date(Date.now() - 60_000);
    signed.validity.notAfter = new Date(Date.now() + 90 * DAY_MS);
    signed.setSubject(csr.subject.attributes);
    signed.setIssuer([{ shortName: "CN", value: "Partner CA" }]);
    signed.sign(caKeys.privateKey, forge.md.sha256.create());
    const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(signed)).getBytes(), "binary");

    // A certificate for another key is refused.
    const other = forge.pki.createCertificate();
    other.publicKey = caKeys.publicKey;
    other.serialNumber = "0b";
    other.validity.notBefore = new Date();
    other.validity.notAfter = new Date(Date.now() + DAY_MS);
    other.setSubject([{ shortName: "CN", value: "wrong" }]);
    other.setIssuer([{ shortName: "CN", value: "wrong" }]);
    other.sign(caKeys.privateKey, forge.md.sha256.create());
    await expect(
      certs.mergeCertificate("partner-tls", [Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(other)).getBytes(), "binary")]),
    ).rejects.toMatchObject({ statusCode: 400 });

    const merged = await certs.mergeCertificate("partner-tls", [der]);
    expect(merged.properties.enabled).toBe(true);
    expect(merged.properties.expiresOn!.getTime()).toBe(Math.floor(signed.validity.notAfter.getTime() / 1000) * 1000);
    expect(merged.properties.tags).toEqual({ Owner: "partner-team@contoso.com" });
    expect((await rawGet("/certificates/partner-tls/pending?api-version=2025-07-01")).json.status).toBe("completed");
  });

  it("cancels and deletes an operation as the service does: cancellation is a request, the disabled version stays", async () => {
    await certs.beginCreateCertificate("cancel-me", { issuerName: "Unknown", subject: "CN=cancel.contoso.com" });
    const operation = await certs.getCertificateOperation("cancel-me");
    await operation.cancelOperation();
    expect((await rawGet("/certificates/cancel-me/pending?api-version=2025-07-01")).json).toMatchObject({ cancellation_requested: true, status: "inProgress" });
    await certs.deleteCertificateOperation("cancel-me");
    expect((await rawGet("/certificates/cancel-me/pending?api-version=2025-07-01")).json.error.code).toBe("PendingCertificateNotFound");
    expect((await rawGet("/certificates/cancel-me/?api-version=2025-07-01")).json.attributes.enabled).toBe(false);
    // Only with includePending is a never-completed certificate listed.
    const names: string[] = [];
    for await (const p of certs.listPropertiesOfCertificates()) names.push(p.name!);
    expect(names).not.toContain("cancel-me");
    const withPending: string[] = [];
    for await (const p of certs.listPropertiesOfCertificates({ includePending: true })) withPending.push(p.name!);
    expect(withPending).toContain("cancel-me");
  });

  it("issues through a configured issuer (DigiCert) and refuses an issuer name the vault does not know", async () => {
    await certs.createIssuer("digicert-prod", "DigiCert");
    expect((await certs.getIssuer("digicert-prod")).provider).toBe("DigiCert");
    const cert = await (await certs.beginCreateCertificate("shop-tls", { issuerName: "digicert-prod", subject: "CN=shop.contoso.com" }, { intervalInMs: 5 })).pollUntilDone();
    expect(new X509Certificate(Buffer.from(cert.cer!)).issuer).toContain("DigiCert");
    await expect(certs.beginCreateCertificate("nope-tls", { issuerName: "no-such-issuer", subject: "CN=x" })).rejects.toMatchObject({ statusCode: 400 });
  });

  it("announces CertificateNearExpiry 30 days before exp and CertificateExpired at exp, for the current version", async () => {
    const now = kv.clock.now().getTime();
    const seeded = kv.seedCertificate(VAULT, "api-tls", {
      expiresOn: new Date(now + 40 * DAY_MS),
      tags: { Owner: "api@contoso.com" },
      lifetimeActions: [{ trigger: { lifetime_percentage: 90 }, action: { action_type: "EmailContacts" } }],
    });
    await kv.clock.advance(5 * DAY_MS);
    expect(received.filter((e) => e.subject === "api-tls" && e.eventType.endsWith("NearExpiry"))).toHaveLength(0);
    await kv.clock.advance(6 * DAY_MS);
    const near = await waitFor("CertificateNearExpiry", () => received.find((e) => e.subject === "api-tls" && e.eventType === "Microsoft.KeyVault.CertificateNearExpiry"));
    expect(near.data).toMatchObject({ ObjectType: "Certificate", ObjectName: "api-tls", Version: seeded.version, Id: seeded.id, VaultName: VAULT });
    await kv.clock.advance(30 * DAY_MS);
    await waitFor("CertificateExpired", () => received.find((e) => e.subject === "api-tls" && e.eventType === "Microsoft.KeyVault.CertificateExpired"));
    // The backing secret does not announce its own expiry.
    expect(received.filter((e) => e.subject === "api-tls" && e.eventType.startsWith("Microsoft.KeyVault.Secret"))).toHaveLength(0);
  });

  it("renews by itself when the policy says AutoRenew (the service's default for Self), so no near-expiry event comes", async () => {
    const now = kv.clock.now().getTime();
    const seeded = kv.seedCertificate(VAULT, "auto-tls", { notBefore: new Date(now - 300 * DAY_MS), expiresOn: new Date(now + 65 * DAY_MS) });
    await kv.clock.advance(DAY_MS);
    const latest = await certs.getCertificate("auto-tls");
    expect(latest.properties.version).not.toBe(seeded.version);
    expect(latest.properties.expiresOn!.getTime()).toBeGreaterThan(now + 300 * DAY_MS);
    await kv.clock.advance(40 * DAY_MS);
    expect(received.filter((e) => e.subject === "auto-tls" && e.eventType === "Microsoft.KeyVault.CertificateNearExpiry")).toHaveLength(0);
  });
});
