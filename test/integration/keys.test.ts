// Keys near expiry and key rotation policies, against the Key Vault double with the real
// KeyClient:
// - end to end: KeyNearExpiry over Event Grid's webhook protocol to the local host (in
//   this process) → rotateKey → a new version with the previous version's lifetime; the
//   owner hears that the key was rotated and that it has no rotation policy;
// - `RotationPolicy=default` → keyturn's policy is set first, and the new version takes
//   its expiry from it;
// - the sweep's policy check: a missing policy is reported once per version, or set
//   when tagged; keys with a Rotate action, keys backing a certificate, paused keys and
//   stale events are left alone.
import { KeyClient } from "@azure/keyvault-keys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalEmulatorCredential } from "../../core/azure.js";
import { DEFAULT_KEY_ROTATION_POLICY, createKeyService, describeKeyPolicy, requestedPolicy } from "../../core/keys.js";
import { InProcessLock } from "../../core/lock.js";
import { createLogger } from "../../core/log.js";
import { isObjectNotification, type Notification, type Notifier, type ObjectNotification } from "../../core/notify.js";
import { startEventGridTopic, type EventGridTopicEmulator } from "../../emulators/eventgrid-topic/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { startLocalHost, type LocalHost } from "../../local/host.js";

const E2E_VAULT = "keys-e2e-kv";
const VAULT = "keys-kv";
const DAY = 86_400_000;
const OWNER = "crypto-owners@contoso.com";

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

function clientFor(vault: string): KeyClient {
  return new KeyClient(kv.url(vault), new LocalEmulatorCredential(), {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: kv.tls.caPem },
    retryOptions: { maxRetries: 1, retryDelayInMs: 20 },
  });
}

function service(recorder: Recorder) {
  const client = clientFor(VAULT);
  return createKeyService({
    config: { rotationGuardMs: 0 },
    lock: new InProcessLock(),
    notifier: recorder,
    log: createLogger({}, () => undefined),
    keyClient: async () => client,
    now: () => kv.clock.now(),
  });
}

const vaultRef = () => ({ name: VAULT, url: kv.url(VAULT) });
const sweep = (id: string) => ({ kind: "sweep" as const, id });

beforeAll(async () => {
  kv = await startKeyVaultEmulator({ vaults: [E2E_VAULT, VAULT] });
  topic = await startEventGridTopic({ tls: kv.tls });
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

describe("a key near expiry, end to end", () => {
  it("KeyNearExpiry → the host rotates the key; the new version keeps the key's lifetime; the owner hears of both rotation and missing policy", async () => {
    const now = kv.clock.now().getTime();
    const seeded = kv.seedKey(E2E_VAULT, "storage-cmk", { keySize: 3072, notBefore: new Date(now - DAY), expiresOn: new Date(now + 400 * DAY), tags: { Owner: OWNER } });
    const client = clientFor(E2E_VAULT);
    const before = await client.getKey("storage-cmk");
    const lifetime = before.properties.expiresOn!.getTime() - before.properties.createdOn!.getTime();

    await kv.clock.advance(371 * DAY);
    const rotated = await topic.waitFor((e) => e.type === "keyturn.KeyRotated" && e.data.name === "storage-cmk", 20_000);
    const latest = await client.getKey("storage-cmk");
    expect(latest.properties.version).not.toBe(seeded.version);
    expect(Buffer.from(latest.key!.n!).equals(Buffer.from(before.key!.n!))).toBe(false);
    expect(Buffer.from(latest.key!.n!).length).toBe(384); // still RSA 3072
    // The rotated key carries the owner's tags; its lifetime is the previous version's.
    expect(latest.properties.tags).toMatchObject({ Owner: OWNER });
    // (The host's clock is the real one; the double's was moved 11 days on.)
    const newLifetime = latest.properties.expiresOn!.getTime() - Date.now();
    expect(Math.abs(newLifetime - lifetime)).toBeLessThan(60_000);
    expect(rotated.subject).toBe("keys/storage-cmk");
    expect(rotated.data).toMatchObject({ objectType: "key", name: "storage-cmk", version: latest.properties.version, previousVersion: seeded.version, owner: OWNER, trigger: "event" });

    const missing = await topic.waitFor((e) => e.type === "keyturn.KeyPolicyMissing" && e.data.name === "storage-cmk");
    expect(missing.data).toMatchObject({ version: seeded.version, owner: OWNER });
    expect(String(missing.data.action)).toMatch(/RotationPolicy=default/);
    expect(kv.deliveries.some((d) => d.eventType === "Microsoft.KeyVault.KeyNearExpiry" && d.subject === "storage-cmk" && d.status === 200)).toBe(true);
    const versions = [];
    for await (const v of client.listPropertiesOfKeyVersions("storage-cmk")) versions.push(v);
    expect(versions).toHaveLength(2);
  });
});

describe("key rotation policies", () => {
  it("sets keyturn's default policy first when the key's RotationPolicy tag asks, so the new version expires after P1Y", async () => {
    const now = kv.clock.now().getTime();
    const seeded = kv.seedKey(VAULT, "sql-tde", { expiresOn: new Date(now + 10 * DAY), tags: { Owner: OWNER, RotationPolicy: "default" } });
    const recorder = new Recorder();
    const outcome = await service(recorder).rotateNearExpiry({ vault: vaultRef(), name: "sql-tde", expectedVersion: seeded.version, trigger: { kind: "event", id: "e" } });
    expect(outcome).toMatchObject({ status: "rotated", previousVersion: seeded.version, policy: "set-default" });
    const client = clientFor(VAULT);
    const policy = await client.getKeyRotationPolicy("sql-tde");
    expect(policy.expiresIn).toBe("P1Y");
    expect(policy.lifetimeActions).toEqual([
      { action: "Rotate", timeBeforeExpiry: "P90D", timeAfterCreate: undefined },
      { action: "Notify", timeBeforeExpiry: "P30D", timeAfterCreate: undefined },
    ]);
    const latest = await client.getKey("sql-tde");
    expect(Math.abs(latest.properties.expiresOn!.getTime() - (kv.clock.now().getTime() + 365 * DAY))).toBeLessThan(10_000);
    const [notice] = recorder.objects("sql-tde");
    expect(notice).toMatchObject({ type: "keyturn.KeyRotated", policyApplied: describeKeyPolicy(DEFAULT_KEY_ROTATION_POLICY) });
    expect(recorder.objects("sql-tde")).toHaveLength(1);
  });

  it("rotates a key that has a Rotate action without talking about policies", async () => {
    const seeded = kv.seedKey(VAULT, "with-policy", {
      expiresOn: new Date(kv.clock.now().getTime() + 20 * DAY),
      tags: { Owner: OWNER },
      rotationPolicy: { expiryTime: "P2Y", lifetimeActions: [{ trigger: { timeAfterCreate: "P18M" }, action: { type: "Rotate" } }] },
    });
    const recorder = new Recorder();
    const outcome = await service(recorder).rotateNearExpiry({ vault: vaultRef(), name: "with-policy", trigger: sweep("s") });
    expect(outcome).toMatchObject({ status: "rotated", previousVersion: seeded.version, policy: "present" });
    expect(recorder.objects("with-policy").map((n) => n.type)).toEqual(["keyturn.KeyRotated"]);
  });

  it("the sweep's check reports a missing policy once per version, and sets it when tagged", async () => {
    const seeded = kv.seedKey(VAULT, "no-policy", { expiresOn: new Date(kv.clock.now().getTime() + 200 * DAY), tags: { Owner: OWNER } });
    kv.seedKey(VAULT, "tagged", { expiresOn: new Date(kv.clock.now().getTime() + 200 * DAY), tags: { Owner: OWNER, RotationPolicy: "Default" } });
    const recorder = new Recorder();
    const keys = service(recorder);
    expect(await keys.checkPolicy({ vault: vaultRef(), name: "no-policy", trigger: sweep("1") })).toMatchObject({ status: "checked", policy: "missing-reported" });
    expect(await keys.checkPolicy({ vault: vaultRef(), name: "no-policy", trigger: sweep("2") })).toMatchObject({ status: "checked", policy: "missing-already-reported" });
    // A restart changes nothing: the report is recorded on the version.
    expect(await service(recorder).checkPolicy({ vault: vaultRef(), name: "no-policy", trigger: sweep("3") })).toMatchObject({ policy: "missing-already-reported" });
    expect(recorder.objects("no-policy").map((n) => [n.type, n.version])).toEqual([["keyturn.KeyPolicyMissing", seeded.version]]);
    expect((await clientFor(VAULT).getKey("no-policy")).properties.tags).toEqual({ Owner: OWNER, KeyturnPolicyReported: seeded.version });

    expect(await keys.checkPolicy({ vault: vaultRef(), name: "tagged", trigger: sweep("4") })).toMatchObject({ status: "checked", policy: "set-default" });
    expect(recorder.objects("tagged").map((n) => n.type)).toEqual(["keyturn.KeyPolicySet"]);
    expect(await keys.checkPolicy({ vault: vaultRef(), name: "tagged", trigger: sweep("5") })).toMatchObject({ policy: "present" });
    expect(() => requestedPolicy({ RotationPolicy: "yearly" })).toThrow(/tag RotationPolicy: must be 'default'/);
  });

  it("leaves alone keys that back a certificate, paused keys and stale events", async () => {
    kv.seedCertificate(VAULT, "tls-backed", { expiresOn: new Date(kv.clock.now().getTime() + 10 * DAY) });
    const old = kv.seedKey(VAULT, "moved-on", { expiresOn: new Date(kv.clock.now().getTime() + 10 * DAY) });
    kv.seedKey(VAULT, "moved-on", { expiresOn: new Date(kv.clock.now().getTime() + 300 * DAY) });
    kv.seedKey(VAULT, "paused-key", { expiresOn: new Date(kv.clock.now().getTime() + 10 * DAY), tags: { RotationPaused: "true" } });
    const recorder = new Recorder();
    const keys = service(recorder);
    expect(await keys.rotateNearExpiry({ vault: vaultRef(), name: "tls-backed", trigger: sweep("a") })).toMatchObject({ status: "skipped", reason: "managed" });
    expect(await keys.rotateNearExpiry({ vault: vaultRef(), name: "moved-on", expectedVersion: old.version, trigger: { kind: "event", id: "b" } })).toMatchObject({
      status: "skipped",
      reason: "stale-event",
    });
    expect(await keys.rotateNearExpiry({ vault: vaultRef(), name: "paused-key", trigger: sweep("c") })).toMatchObject({ status: "skipped", reason: "paused" });
    expect(await keys.checkPolicy({ vault: vaultRef(), name: "paused-key", trigger: sweep("d") })).toMatchObject({ status: "skipped", reason: "paused" });
    expect(recorder.sent).toHaveLength(0);
  });
});
