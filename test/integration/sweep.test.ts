// The sweep against the Key Vault double with the real SDK clients:
// - a vault of 1,000 secrets (due, expired, not due, untagged, malformed, paused, without
//   expiry, a journal left behind, one whose vault write fails) plus certificates and
//   keys: exactly the due secrets rotate, the journal is rolled forward, malformed ones
//   are reported and not rotated, the failing one does not stop the rest, at most
//   SWEEP_CONCURRENCY items are in flight, and a second sweep rotates nothing again;
// - the timer function in the local host: on demand through POST /admin/functions/sweep
//   (the summary comes back), and on its NCRONTAB schedule.
import { CertificateClient } from "@azure/keyvault-certificates";
import { KeyClient } from "@azure/keyvault-keys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalEmulatorCredential } from "../../core/azure.js";
import { createCertificateService } from "../../core/certificates.js";
import { generateSecret } from "../../core/generate.js";
import { writeJournal } from "../../core/journal.js";
import { createKeyService } from "../../core/keys.js";
import type { LockLease, RotationLock } from "../../core/lock.js";
import { InProcessLock } from "../../core/lock.js";
import { createLogger } from "../../core/log.js";
import { isObjectNotification, type Notification, type Notifier } from "../../core/notify.js";
import { withConcurrency } from "../../core/concurrency.js";
import { SWEEP_CONCURRENCY, runSweep, type SweepSummary } from "../../core/sweep.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { startLocalHost, type LocalHost } from "../../local/host.js";
import { registry } from "../../rotators/index.js";
import { testEngine } from "../support/engine.js";
import { eventually } from "../support/host.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "sweep-kv";
const HOST_VAULT = "sweep-host-kv";
const DAY = 86_400_000;
const MANAGED = { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "team@contoso.com" };

/** A lock that counts how many leases are held at once (every rotation, renewal and key check takes one). */
class CountingLock implements RotationLock {
  readonly retryAfterSeconds = 30;
  private readonly inner = new InProcessLock();
  held = 0;
  maxHeld = 0;
  async tryAcquire(key: string): Promise<LockLease | undefined> {
    const lease = await this.inner.tryAcquire(key);
    if (!lease) return undefined;
    this.held++;
    this.maxHeld = Math.max(this.maxHeld, this.held);
    let released = false;
    return {
      release: async () => {
        if (!released) {
          released = true;
          this.held--;
        }
        await lease.release();
      },
    };
  }
}

class Recorder implements Notifier {
  readonly sent: Notification[] = [];
  async notify(n: Notification): Promise<void> {
    this.sent.push(n);
  }
}

describe("the sweep over a vault of 1,000 secrets", () => {
  let kv: KeyVaultEmulator;
  const expected = { due: [] as string[], malformed: [] as string[], notDue: [] as string[], untagged: [] as string[], paused: [] as string[], noExpiry: [] as string[] };
  const FAILING = "due-007";
  const JOURNALED = "journaled-secret";
  let journalValue = "";
  let first: SweepSummary;
  const lock = new CountingLock();
  const objects = new Recorder();
  let deps: Parameters<typeof runSweep>[0];
  let engineNotifier: ReturnType<typeof testEngine>["notifier"];

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
    const now = Date.now();
    let count = 0;
    const seed = (name: string, tags: Record<string, string> | undefined, expiresInDays: number | undefined, list: string[]) => {
      kv.seedSecret(VAULT, name, `value-of-${name}-0123456789`, {
        ...(tags ? { tags } : {}),
        ...(expiresInDays !== undefined ? { expiresOn: new Date(now + expiresInDays * DAY) } : {}),
        notBefore: new Date(now - 30 * DAY),
      });
      list.push(name);
      count++;
    };
    const pad = (i: number) => String(i).padStart(3, "0");
    // 50 due: half expired already, half within the 30-day window.
    for (let i = 0; i < 50; i++) seed(`due-${pad(i)}`, MANAGED, i % 2 === 0 ? -1 - (i % 5) : 1 + (i % 28), expected.due);
    // 30 malformed and due: tags that do not plan.
    const bad = [{ ...MANAGED, ValidityPeriodDays: "abc" }, { ...MANAGED, ValidityPeriodDays: "10" }, { ...MANAGED, Rotator: "no-such-kind" }];
    for (let i = 0; i < 30; i++) seed(`malformed-${pad(i)}`, bad[i % 3], 5, expected.malformed);
    for (let i = 0; i < 400; i++) seed(`later-${pad(i)}`, MANAGED, 90 + (i % 100), expected.notDue);
    for (let i = 0; i < 10; i++) seed(`paused-${pad(i)}`, { ...MANAGED, RotationPaused: "true" }, 3, expected.paused);
    for (let i = 0; i < 9; i++) seed(`no-exp-${pad(i)}`, MANAGED, undefined, expected.noExpiry);
    // A rotation interrupted after its journal was written (the secret itself is not due).
    seed(JOURNALED, MANAGED, 120, []);
    const client = secretClientFor(kv, VAULT);
    const current = await client.getSecret(JOURNALED);
    journalValue = generateSecret(32); // what generated-secret would have made (it verifies length and characters)
    await writeJournal(client, JOURNALED, current.properties.version!, "generated-secret", { credentialId: undefined, secretValue: journalValue });
    // The rest: not keyturn's (no rotation tags), many of them near expiry too.
    for (let i = 0; count < 1000; i++) seed(`app-setting-${pad(i)}`, i % 2 === 0 ? { Team: "payments" } : undefined, i % 3 === 0 ? 2 : undefined, expected.untagged);

    // Certificates and keys in the same vault.
    const lifetime = [{ trigger: { lifetime_percentage: 95 }, action: { action_type: "EmailContacts" } }];
    kv.seedCertificate(VAULT, "self-tls", { expiresOn: new Date(now + 12 * DAY), tags: { Owner: "tls@contoso.com" }, lifetimeActions: lifetime });
    kv.seedCertificate(VAULT, "partner-tls", { issuer: "Unknown", expiresOn: new Date(now + 12 * DAY), tags: { Owner: "tls@contoso.com" } });
    kv.seedCertificate(VAULT, "fresh-tls", { expiresOn: new Date(now + 200 * DAY), lifetimeActions: lifetime });
    kv.seedKey(VAULT, "expiring-cmk", { expiresOn: new Date(now + 9 * DAY), tags: { Owner: "crypto@contoso.com" } });
    kv.seedKey(VAULT, "no-policy-cmk", { expiresOn: new Date(now + 300 * DAY), tags: { Owner: "crypto@contoso.com" } });
    kv.seedKey(VAULT, "good-cmk", {
      expiresOn: new Date(now + 300 * DAY),
      rotationPolicy: { expiryTime: "P1Y", lifetimeActions: [{ trigger: { timeBeforeExpiry: "P90D" }, action: { type: "Rotate" } }] },
    });

    // One secret whose vault write fails for good (500 on every try).
    kv.faults.add({ match: { method: "PUT", path: `/secrets/${FAILING}` }, status: 500 });

    const t = testEngine(kv, { lock });
    engineNotifier = t.notifier;
    const options = { disableChallengeResourceVerification: true, tlsOptions: { ca: kv.tls.caPem }, retryOptions: { maxRetries: 1, retryDelayInMs: 10 } };
    const certificateClient = new CertificateClient(kv.url(VAULT), new LocalEmulatorCredential(), options);
    const keyClient = new KeyClient(kv.url(VAULT), new LocalEmulatorCredential(), options);
    const quiet = createLogger({}, () => undefined);
    deps = {
      config: t.config,
      engine: t.engine,
      certificates: createCertificateService({ config: t.config, lock, notifier: objects, log: quiet, certificateClient: async () => certificateClient, pollIntervalMs: 5 }),
      keys: createKeyService({ config: t.config, lock, notifier: objects, log: quiet, keyClient: async () => keyClient }),
      registry,
      log: quiet,
      secretClient: async () => secretClientFor(kv, VAULT),
      certificateClient: async () => certificateClient,
      keyClient: async () => keyClient,
      // The failing secret's 500s are transient: the sweep tries it once more after a pause.
      retryDelaysMs: [5],
    };
    const started = Date.now();
    first = await runSweep(deps, { id: "sweep-1" });
    console.log(`sweep of 1,000 secrets, 3 certificates, 3 keys: ${Date.now() - started} ms, at most ${lock.maxHeld} in flight`);
  });

  afterAll(async () => kv?.stop());

  it("rotates exactly the due secrets and finishes the journal; the failing one does not stop the rest", async () => {
    expect(first.secrets).toMatchObject({
      scanned: 1004, // 1,000 secrets, the journal, and the three certificates' backing secrets (listed, left alone)
      due: 50,
      rotated: 50, // 49 due + the journaled secret
      failed: 1,
      malformed: 30,
      journals: 1,
      journalsFinished: 1,
      busy: 0,
    });
    const client = secretClientFor(kv, VAULT);
    const count = async (name: string) => (await versionsOf(client, name)).length;
    for (const name of expected.due) expect(await count(name), name).toBe(name === FAILING ? 1 : 2);
    for (const name of [...expected.malformed, ...expected.notDue, ...expected.untagged, ...expected.paused, ...expected.noExpiry]) expect(await count(name), name).toBe(1);
    expect((await client.getSecret(JOURNALED)).value).toBe(journalValue);
    expect(first.failures).toEqual([expect.objectContaining({ vault: VAULT, objectType: "secret", name: FAILING })]);
    expect(first.retried).toBe(1); // the transient failure was retried by the sweep before it counted
    const rotatedBySweep = engineNotifier.sent.filter((n) => n.type === "keyturn.SecretRotated");
    expect(rotatedBySweep).toHaveLength(50);
    expect(rotatedBySweep.every((n) => n.trigger === "sweep" && n.triggerId === "sweep-1")).toBe(true);
  });

  it("reports the malformed secrets, naming the tag, and does not rotate them", () => {
    expect(first.problems.map((p) => p.name).sort()).toEqual([...expected.malformed].sort());
    expect(first.problems.find((p) => p.name === "malformed-000")?.detail).toMatch(/tag ValidityPeriodDays: must be a whole number/);
    expect(first.problems.find((p) => p.name === "malformed-001")?.detail).toMatch(/tag ValidityPeriodDays: must be more than 30/);
    expect(first.problems.find((p) => p.name === "malformed-002")?.detail).toMatch(/tag Rotator: unknown rotator 'no-such-kind'/);
    expect(engineNotifier.sent.some((n) => n.secret.startsWith("malformed-"))).toBe(false);
  });

  it("renews, reminds and rotates certificates and keys, and reports a key without a policy", () => {
    expect(first.certificates).toMatchObject({ scanned: 3, expiring: 2, renewed: 1, reminded: 1, failed: 0 });
    expect(first.keys).toMatchObject({ scanned: 6, expiring: 1, rotated: 1, policyMissing: 2, failed: 0 }); // 3 certificate-backed keys are listed and left alone
    const sent = objects.sent.filter(isObjectNotification).map((n) => `${n.type} ${n.name}`).sort();
    expect(sent).toEqual([
      "keyturn.CertificateExpiring partner-tls",
      "keyturn.CertificateRenewed self-tls",
      "keyturn.KeyPolicyMissing expiring-cmk",
      "keyturn.KeyPolicyMissing no-policy-cmk",
      "keyturn.KeyRotated expiring-cmk",
    ]);
  });

  it("keeps at most SWEEP_CONCURRENCY items in flight, and more than one", () => {
    expect(lock.maxHeld).toBeLessThanOrEqual(SWEEP_CONCURRENCY);
    expect(lock.maxHeld).toBeGreaterThan(1);
  });

  it("a second sweep rotates nothing twice, reminds no one twice, and finishes what failed once the vault accepts it", async () => {
    kv.faults.clear();
    const before = objects.sent.length;
    const second = await runSweep(deps, { id: "sweep-2" });
    // The failed secret (generated-secret: no journal, nothing changed) is still due: rotated now; nothing else rotates.
    expect(second.secrets).toMatchObject({ rotated: 1, journals: 0, journalsFinished: 0, malformed: 30, failed: 0 });
    expect(await versionsOf(secretClientFor(kv, VAULT), FAILING)).toHaveLength(2);
    expect(second.certificates).toMatchObject({ renewed: 0, reminded: 0 });
    expect(second.keys).toMatchObject({ rotated: 0, policyMissing: 0 });
    expect(objects.sent.length).toBe(before);
  });

  it("withConcurrency never runs more than its limit and runs everything", async () => {
    let inFlight = 0;
    let max = 0;
    const done: number[] = [];
    await withConcurrency(
      Array.from({ length: 40 }, (_, i) => i),
      3,
      async (i) => {
        inFlight++;
        max = Math.max(max, inFlight);
        await new Promise((r) => setTimeout(r, 2));
        inFlight--;
        done.push(i);
      },
    );
    expect(max).toBe(3);
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});

describe("the sweep as a timer function of the local host", () => {
  let kv: KeyVaultEmulator;
  let host: LocalHost;
  let timed: LocalHost | undefined;

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [HOST_VAULT] });
    process.env.KEYTURN_VAULTS = `${HOST_VAULT}=${kv.url(HOST_VAULT)}`;
    process.env.KEYTURN_CREDENTIAL = "local-emulator";
    process.env.KEYTURN_TLS_CA_FILE = kv.tls.caFile;
    process.env.KEYTURN_ROTATION_GUARD_MINUTES = "0";
    delete process.env.KEYTURN_NOTIFY_TOPIC_ENDPOINT;
    delete process.env.AzureWebJobsStorage;
    host = await startLocalHost({ port: 0, timers: false, functionKey: "local-key-123", log: createLogger({}, () => undefined) });
  });

  afterAll(async () => {
    await host?.close();
    await timed?.close();
    await kv?.stop();
  });

  it("runs on demand through POST /admin/functions/sweep (function key required) and answers with the summary", async () => {
    kv.seedSecret(HOST_VAULT, "host-due", "initial-value-0123456789", { tags: MANAGED, expiresOn: new Date(Date.now() + 5 * DAY) });
    const refused = await fetch(`${host.url}/admin/functions/sweep`, { method: "POST", body: "{}" });
    expect(refused.status).toBe(401);
    const unknown = await fetch(`${host.url}/admin/functions/nope`, { method: "POST", headers: { "x-functions-key": "local-key-123" } });
    expect(unknown.status).toBe(404);
    const res = await fetch(`${host.url}/admin/functions/sweep`, {
      method: "POST",
      headers: { "x-functions-key": "local-key-123", "content-type": "application/json" },
      body: JSON.stringify({ input: "" }),
    });
    expect(res.status).toBe(200);
    const summary = (await res.json()) as SweepSummary;
    expect(summary).toMatchObject({ vaults: 1, secrets: { scanned: 1, due: 1, rotated: 1 } });
    expect(await versionsOf(secretClientFor(kv, HOST_VAULT), "host-due")).toHaveLength(2);
    expect(host.nextRuns()).toEqual({});
  });

  it("runs on its NCRONTAB schedule (KEYTURN_SWEEP_SCHEDULE)", async () => {
    process.env.KEYTURN_SWEEP_SCHEDULE = "*/1 * * * * *"; // every second
    try {
      timed = await startLocalHost({ port: 0, log: createLogger({}, () => undefined) });
      const next = new Date(timed.nextRuns().sweep!);
      expect(next.getTime() - Date.now()).toBeLessThanOrEqual(1000);
      kv.seedSecret(HOST_VAULT, "timer-due", "initial-value-0123456789", { tags: MANAGED, expiresOn: new Date(Date.now() - DAY) });
      await eventually(async () => ((await versionsOf(secretClientFor(kv, HOST_VAULT), "timer-due")).length === 2 ? true : undefined), 15_000, "the timer's sweep");
    } finally {
      delete process.env.KEYTURN_SWEEP_SCHEDULE;
    }
  });
});
