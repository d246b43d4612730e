// Certificates near expiry, against the Key Vault double with the real CertificateClient:
// - end to end: the double announces CertificateNearExpiry for a self-signed certificate
//   over Event Grid's webhook protocol to the local host (in this process), which renews
//   it from its policy and tells the owner on the notification topic;
// - an Unknown-issuer certificate: reminders at 30, 14, 7, 3 and 1 days and once expired,
//   each exactly once per version, across restarts (a new service instance), with a
//   second pass on the same day sending nothing, and a new version starting over;
// - a CA-issued (DigiCert) certificate renews; a running operation is joined, not
//   duplicated; a slow CA leaves the renewal pending; stale events and paused
//   certificates change nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalEmulatorCredential } from "../../core/azure.js";
import { createCertificateService, REMINDER_THRESHOLDS, remindedThreshold, reminderThreshold, type CertificateDeps } from "../../core/certificates.js";
import { InProcessLock } from "../../core/lock.js";
import { createLogger } from "../../core/log.js";
import { isObjectNotification, type Notification, type Notifier, type ObjectNotification } from "../../core/notify.js";
import { startEventGridTopic, type EventGridTopicEmulator } from "../../emulators/eventgrid-topic/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { startLocalHost, type LocalHost } from "../../local/host.js";
import { CertificateClient } from "@azure/keyvault-certificates";

const E2E_VAULT = "certs-e2e-kv";
const VAULT = "certs-kv";
const DAY = 86_400_000;
const OWNER = "tls-owners@contoso.com";
/** Key Vault's service default for Self is AutoRenew at 80%: these certificates need keyturn. */
const NO_AUTO_RENEW = [{ trigger: { lifetime_percentage: 90 }, action: { action_type: "EmailContacts" } }];

class Recorder implements Notifier {
  readonly sent: Notification[] = [];
  async notify(n: Notification): Promise<void> {
    this.sent.push(n);
  }
  objects(name: string): ObjectNotification[] {
    return this.sent.filter(isObjectNotification).filter((n) => n.name === name);
  }
}

let kv: KeyVaultEmulator;
let topic: EventGridTopicEmulator;
let host: LocalHost;

function clientFor(vault: string): CertificateClient {
  return new CertificateClient(kv.url(vault), new LocalEmulatorCredential(), {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: kv.tls.caPem },
    retryOptions: { maxRetries: 1, retryDelayInMs: 20 },
  });
}

function service(recorder: Recorder, overrides: Partial<CertificateDeps> = {}) {
  const client = clientFor(VAULT);
  return createCertificateService({
    config: { rotationGuardMs: 0 },
    lock: new InProcessLock(),
    notifier: recorder,
    log: createLogger({}, () => undefined),
    certificateClient: async () => client,
    now: () => kv.clock.now(),
    pollIntervalMs: 5,
    ...overrides,
  });
}

const vaultRef = () => ({ name: VAULT, url: kv.url(VAULT) });
const sweepTrigger = (id: string) => ({ kind: "sweep" as const, id });

beforeAll(async () => {
  kv = await startKeyVaultEmulator({ vaults: [E2E_VAULT, VAULT] });
  topic = await startEventGridTopic({ tls: kv.tls });
  // The runtime of this process reads these when the host first needs it.
  process.env.KEYTURN_VAULTS = `${E2E_VAULT}=${kv.url(E2E_VAULT)},${VAULT}=${kv.url(VAULT)}`;
  process.env.KEYTURN_CREDENTIAL = "local-emulator";
  process.env.KEYTURN_TLS_CA_FILE = kv.tls.caFile;
  process.env.KEYTURN_NOTIFY_TOPIC_ENDPOINT = topic.endpoint;
  process.env.KEYTURN_ROTATION_GUARD_MINUTES = "0";
  delete process.env.AzureWebJobsStorage;
  host = await startLocalHost({ port: 0, timers: false, log: createLogger({}, () => undefined) });
  await kv.subscribe({ vault: E2E_VAULT, endpoint: host.webhookUrl("keyVaultEvents"), schema: "EventGridSchema" });
});

afterAll(async () => {
  await host?.close();
  await kv?.stop();
  await topic?.stop();
});

describe("a self-signed certificate near expiry, end to end", () => {
  it("CertificateNearExpiry → the host renews it from its policy → a new version, and the owner is told", async () => {
    const now = kv.clock.now().getTime();
    const seeded = kv.seedCertificate(E2E_VAULT, "web-tls", {
      subject: "CN=web.contoso.com",
      dnsNames: ["web.contoso.com"],
      validityMonths: 12,
      notBefore: new Date(now - 300 * DAY),
      expiresOn: new Date(now + 40 * DAY),
      tags: { Owner: OWNER, Team: "web" },
      lifetimeActions: NO_AUTO_RENEW,
    });
    await kv.clock.advance(11 * DAY);
    const renewed = await topic.waitFor((e) => e.type === "keyturn.CertificateRenewed" && e.data.name === "web-tls", 20_000);

    const client = clientFor(E2E_VAULT);
    const latest = await client.getCertificate("web-tls");
    expect(latest.properties.version).not.toBe(seeded.version);
    expect(latest.properties.enabled).toBe(true);
    // From the existing policy: same subject, 12 months, the owner's tags on the new version.
    expect(latest.policy).toMatchObject({ issuerName: "Self", subject: "CN=web.contoso.com", validityInMonths: 12 });
    expect(latest.properties.tags).toEqual({ Owner: OWNER, Team: "web" });
    const months = (latest.properties.expiresOn!.getTime() - kv.clock.now().getTime()) / (30.44 * DAY);
    expect(months).toBeGreaterThan(11.8);
    expect(renewed.subject).toBe("certificates/web-tls");
    expect(renewed.data).toMatchObject({
      objectType: "certificate",
      vault: E2E_VAULT,
      name: "web-tls",
      version: latest.properties.version,
      previousVersion: seeded.version,
      issuer: "Self",
      owner: OWNER,
      trigger: "event",
      expiresOn: latest.properties.expiresOn!.toISOString(),
    });
    const delivered = kv.deliveries.filter((d) => d.eventType === "Microsoft.KeyVault.CertificateNearExpiry" && d.subject === "web-tls");
    expect(delivered.some((d) => d.status === 200)).toBe(true);
    const versions = [];
    for await (const v of client.listPropertiesOfCertificateVersions("web-tls")) versions.push(v);
    expect(versions).toHaveLength(2);

    // The same event again: the version it names is no longer the one in service.
    const again = await fetch(host.webhookUrl("keyVaultEvents"), {
      method: "POST",
      headers: { "content-type": "application/json", "aeg-event-type": "Notification" },
      body: JSON.stringify([
        {
          id: "redelivered",
          eventType: "Microsoft.KeyVault.CertificateNearExpiry",
          topic: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/keyturn-local/providers/Microsoft.KeyVault/vaults/${E2E_VAULT}`,
          subject: "web-tls",
          eventTime: new Date().toISOString(),
          data: { Id: seeded.id, VaultName: E2E_VAULT, ObjectType: "Certificate", ObjectName: "web-tls", Version: seeded.version },
          dataVersion: "1",
          metadataVersion: "1",
        },
      ]),
    });
    expect(await again.json()).toEqual({ outcomes: ["skipped"] });
    expect(topic.events.filter((e) => e.type === "keyturn.CertificateRenewed" && e.data.name === "web-tls")).toHaveLength(1);
  });
});

describe("an Unknown-issuer certificate: reminders, not renewal", () => {
  it("picks the threshold the days remaining have crossed", () => {
    expect(reminderThreshold(45)).toBeUndefined();
    expect(reminderThreshold(30)).toBe(30);
    expect(reminderThreshold(15)).toBe(30);
    expect(reminderThreshold(14)).toBe(14);
    expect(reminderThreshold(8)).toBe(14);
    expect(reminderThreshold(7)).toBe(7);
    expect(reminderThreshold(2)).toBe(3);
    expect(reminderThreshold(1)).toBe(1);
    expect(reminderThreshold(0)).toBe(0);
    expect(reminderThreshold(-3)).toBe(0);
    expect(remindedThreshold({ KeyturnReminded: "14@abc" }, "abc")).toBe(14);
    expect(remindedThreshold({ KeyturnReminded: "14@abc" }, "other")).toBeUndefined();
  });

  it("reminds at 30, 14, 7, 3 and 1 days and once expired, never twice, across restarts", async () => {
    const client = clientFor(VAULT);
    const start = kv.clock.now().getTime();
    const seeded = kv.seedCertificate(VAULT, "partner-tls", {
      issuer: "Unknown",
      subject: "CN=partner.contoso.com",
      notBefore: new Date(start - 325 * DAY),
      expiresOn: new Date(start + 40 * DAY),
      tags: { Owner: OWNER },
    });
    let recorder = new Recorder();
    const all: ObjectNotification[] = [];
    let certificates = service(recorder);

    // The near-expiry event (30 days before) is the first reminder.
    await kv.clock.advance(10 * DAY);
    const first = await certificates.handle({ vault: vaultRef(), name: "partner-tls", expectedVersion: seeded.version, trigger: { kind: "event", id: "e1" } });
    expect(first).toMatchObject({ status: "reminded", threshold: 30, daysRemaining: 30 });

    // Then a pass a day (the sweep), twice on some days, and a "restart" half way.
    for (let day = 11; day <= 42; day++) {
      await kv.clock.advance(DAY);
      const outcome = await certificates.handle({ vault: vaultRef(), name: "partner-tls", trigger: sweepTrigger(`day-${day}`) });
      if (day % 3 === 0) {
        const second = await certificates.handle({ vault: vaultRef(), name: "partner-tls", trigger: sweepTrigger(`day-${day}-again`) });
        expect(second.status, `second pass on day ${day}`).toBe("skipped");
      }
      if (outcome.status === "reminded") expect(outcome.daysRemaining).toBeLessThanOrEqual(outcome.threshold === 0 ? 0 : outcome.threshold);
      if (day === 30) {
        all.push(...recorder.objects("partner-tls"));
        recorder = new Recorder();
        certificates = service(recorder); // a new process: nothing in memory
      }
    }
    all.push(...recorder.objects("partner-tls"));
    const reminders = all.filter((n) => n.type === "keyturn.CertificateExpiring");
    expect(reminders.map((n) => n.threshold)).toEqual([...REMINDER_THRESHOLDS, 0]);
    expect(reminders.map((n) => n.daysRemaining)).toEqual([30, 14, 7, 3, 1, 0]);
    for (const n of reminders) {
      expect(n).toMatchObject({ objectType: "certificate", name: "partner-tls", version: seeded.version, issuer: "Unknown", owner: OWNER });
      expect(n.action).toMatch(/az keyvault certificate/);
    }
    // Never renewed: keyturn cannot, and did not try.
    expect(all.some((n) => n.type === "keyturn.CertificateRenewed")).toBe(false);
    const latest = await client.getCertificate("partner-tls");
    expect(latest.properties.version).toBe(seeded.version);
    expect(latest.properties.tags).toEqual({ Owner: OWNER, KeyturnReminded: `0@${seeded.version}` });

    // The owner merges a new certificate: a new version starts with no reminders.
    const next = kv.seedCertificate(VAULT, "partner-tls", {
      issuer: "Unknown",
      subject: "CN=partner.contoso.com",
      expiresOn: new Date(kv.clock.now().getTime() + 20 * DAY),
      tags: { Owner: OWNER, KeyturnReminded: `0@${seeded.version}` }, // copied along by hand: it names the old version
    });
    const fresh = await certificates.handle({ vault: vaultRef(), name: "partner-tls", trigger: sweepTrigger("new-version") });
    expect(fresh).toMatchObject({ status: "reminded", version: next.version, threshold: 30, daysRemaining: 20 });
  });

  it("mentions a pending certificate request in the reminder when one waits for a merge", async () => {
    const now = kv.clock.now().getTime();
    kv.seedCertificate(VAULT, "csr-tls", { issuer: "Unknown", expiresOn: new Date(now + 6 * DAY), tags: { Owner: OWNER } });
    const client = clientFor(VAULT);
    const policy = await client.getCertificatePolicy("csr-tls");
    await client.beginCreateCertificate("csr-tls", policy); // stays pending: Unknown issuer
    const recorder = new Recorder();
    const outcome = await service(recorder).handle({ vault: vaultRef(), name: "csr-tls", trigger: sweepTrigger("csr") });
    expect(outcome).toMatchObject({ status: "reminded", threshold: 7, daysRemaining: 6 });
    expect(recorder.objects("csr-tls")[0]!.action).toMatch(/pending merge/);
  });
});

describe("renewable certificates", () => {
  it("renews a certificate from a DigiCert issuer the vault is configured with", async () => {
    kv.seedIssuer(VAULT, "digicert-prod", "DigiCert");
    const now = kv.clock.now().getTime();
    const seeded = kv.seedCertificate(VAULT, "shop-tls", { issuer: "digicert-prod", expiresOn: new Date(now + 20 * DAY), tags: { Owner: OWNER }, lifetimeActions: NO_AUTO_RENEW });
    const recorder = new Recorder();
    const outcome = await service(recorder).handle({ vault: vaultRef(), name: "shop-tls", trigger: sweepTrigger("ca") });
    expect(outcome).toMatchObject({ status: "renewed", previousVersion: seeded.version, issuer: "digicert-prod" });
    expect(recorder.objects("shop-tls").map((n) => n.type)).toEqual(["keyturn.CertificateRenewed"]);
  });

  it("an issuer with a provider Key Vault does not integrate with gets reminders, not renewal", async () => {
    kv.seedIssuer(VAULT, "inhouse-ca", "ContosoPKI");
    const seeded = kv.seedCertificate(VAULT, "intranet-tls", { issuer: "inhouse-ca", expiresOn: new Date(kv.clock.now().getTime() + 12 * DAY), tags: { Owner: OWNER }, lifetimeActions: NO_AUTO_RENEW });
    const recorder = new Recorder();
    const outcome = await service(recorder).handle({ vault: vaultRef(), name: "intranet-tls", trigger: sweepTrigger("inhouse") });
    expect(outcome).toMatchObject({ status: "reminded", version: seeded.version, threshold: 14 });
    expect(recorder.objects("intranet-tls")[0]!.action).toMatch(/ContosoPKI/);
  });

  it("joins a renewal already running instead of starting another, and sees one that finished meanwhile", async () => {
    // A CA that needs a few polls: the operation is still running when keyturn looks.
    const ca = await startKeyVaultEmulator({ vaults: [VAULT], tls: kv.tls, certificateOperationPolls: 4 });
    try {
      const client = new CertificateClient(ca.url(VAULT), new LocalEmulatorCredential(), { disableChallengeResourceVerification: true, tlsOptions: { ca: kv.tls.caPem } });
      const ref = { name: VAULT, url: ca.url(VAULT) };
      const deps = { certificateClient: async () => client, now: () => ca.clock.now() };
      const seeded = ca.seedCertificate(VAULT, "join-tls", { expiresOn: new Date(Date.now() + 10 * DAY), tags: { Owner: OWNER }, lifetimeActions: NO_AUTO_RENEW });
      await client.beginCreateCertificate("join-tls", await client.getCertificatePolicy("join-tls"), { tags: { Owner: OWNER } });
      const recorder = new Recorder();
      // The event names the version in service (the new one is still pending).
      const outcome = await service(recorder, deps).handle({ vault: ref, name: "join-tls", expectedVersion: seeded.version, trigger: { kind: "event", id: "join" } });
      expect(outcome).toMatchObject({ status: "renewed", previousVersion: seeded.version });
      const versions = [];
      for await (const v of client.listPropertiesOfCertificateVersions("join-tls")) versions.push(v);
      expect(versions).toHaveLength(2);

      // An operation that completes between keyturn's looks is not followed by another.
      const second = ca.seedCertificate(VAULT, "race-tls", { expiresOn: new Date(Date.now() + 10 * DAY), lifetimeActions: NO_AUTO_RENEW });
      const poller = await client.beginCreateCertificate("race-tls", await client.getCertificatePolicy("race-tls"), { intervalInMs: 5 });
      await poller.pollUntilDone();
      const raced = await service(new Recorder(), deps).handle({ vault: ref, name: "race-tls", expectedVersion: second.version, trigger: { kind: "event", id: "race" } });
      expect(raced).toMatchObject({ status: "skipped", reason: "stale-event" });
    } finally {
      await ca.stop();
    }
  });

  it("leaves a slow renewal pending in Key Vault, and a later pass completes it", async () => {
    const slow = await startKeyVaultEmulator({ vaults: [VAULT], tls: kv.tls, certificateOperationPolls: 50 });
    try {
      const client = new CertificateClient(slow.url(VAULT), new LocalEmulatorCredential(), { disableChallengeResourceVerification: true, tlsOptions: { ca: kv.tls.caPem } });
      const seeded = slow.seedCertificate(VAULT, "slow-tls", { expiresOn: new Date(Date.now() + 10 * DAY), tags: { Owner: OWNER }, lifetimeActions: NO_AUTO_RENEW });
      const recorder = new Recorder();
      const deps = { certificateClient: async () => client, now: () => slow.clock.now(), renewalTimeoutMs: 100 };
      const ref = { name: VAULT, url: slow.url(VAULT) };
      const first = await service(recorder, deps).handle({ vault: ref, name: "slow-tls", trigger: sweepTrigger("slow-1") });
      expect(first).toMatchObject({ status: "pending", version: seeded.version });
      expect(recorder.sent).toHaveLength(0);
      const second = await service(recorder, { ...deps, renewalTimeoutMs: 30_000 }).handle({ vault: ref, name: "slow-tls", trigger: sweepTrigger("slow-2") });
      expect(second).toMatchObject({ status: "renewed", previousVersion: seeded.version });
      const versions = [];
      for await (const v of client.listPropertiesOfCertificateVersions("slow-tls")) versions.push(v);
      expect(versions).toHaveLength(2); // joined, not a second operation
    } finally {
      await slow.stop();
    }
  });

  it("changes nothing for a stale event, a paused certificate, or one not yet near expiry", async () => {
    const now = kv.clock.now().getTime();
    const old = kv.seedCertificate(VAULT, "stale-tls", { expiresOn: new Date(now + 5 * DAY), lifetimeActions: NO_AUTO_RENEW });
    const current = kv.seedCertificate(VAULT, "stale-tls", { expiresOn: new Date(now + 300 * DAY), lifetimeActions: NO_AUTO_RENEW });
    kv.seedCertificate(VAULT, "paused-tls", { expiresOn: new Date(now + 5 * DAY), tags: { RotationPaused: "true" }, lifetimeActions: NO_AUTO_RENEW });
    kv.seedCertificate(VAULT, "later-tls", { expiresOn: new Date(now + 90 * DAY), lifetimeActions: NO_AUTO_RENEW });
    const recorder = new Recorder();
    const certificates = service(recorder);
    expect(await certificates.handle({ vault: vaultRef(), name: "stale-tls", expectedVersion: old.version, trigger: { kind: "event", id: "s" } })).toMatchObject({
      status: "skipped",
      reason: "stale-event",
      version: current.version,
    });
    expect(await certificates.handle({ vault: vaultRef(), name: "paused-tls", trigger: sweepTrigger("p") })).toMatchObject({ status: "skipped", reason: "paused" });
    expect(await certificates.handle({ vault: vaultRef(), name: "later-tls", trigger: sweepTrigger("l") })).toMatchObject({ status: "skipped", reason: "not-due" });
    expect(recorder.sent).toHaveLength(0);
  });
});
