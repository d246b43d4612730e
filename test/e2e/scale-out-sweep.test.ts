// Duplicate delivery across processes, with a sweep: two local host processes (two
// instances of the function app) share the Key Vault double and one lock store
// (Azurite); the sweep timer function runs in one of them (its admin endpoint). For each secret, the same
// near-expiry event is delivered five times across both instances, concurrently with five
// manual HTTP rotations and a sweep that finds the secret due: exactly one new version
// per secret; HTTP callers that lost get 409 with Retry-After; losing deliveries ask
// Event Grid to come back, and when it does (and when the sweep runs again) nothing
// rotates twice.
//
// The sweep (core/sweep.ts) lists what is due and then rotates each item without naming
// a version, so what keeps it from rotating a secret that an event rotated between its
// list and its call is the loop guard: the test also acts on a due list made before the
// rotations (as a slow sweep would). The guard here is 6 s (0.1 minute), and
// the seeded versions are older than that when the triggers fire.
//
// To make "concurrently" deterministic, whichever trigger wins a secret's lock is held at
// its commit (the new version's write, held by the Key Vault double) until the other ten
// have answered.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobLeaseLock } from "../../core/blob-lock.js";
import { findDueSecrets, parseWithin } from "../../core/due.js";
import type { SweepSummary } from "../../core/sweep.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { registry } from "../../rotators/index.js";
import { startAzurite, type Azurite } from "../support/azurite.js";
import { testEngine } from "../support/engine.js";
import { HoldingFaults } from "../support/holding-faults.js";
import { startHostProcess, type HostProcess } from "../support/host.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "sweep-scale-kv";
const SECRETS = ["sweep-a", "sweep-b", "sweep-c"];
const GUARD_MINUTES = "0.1";
const GUARD_MS = 6_000;

describe("duplicate deliveries, manual rotations and a sweep across two instances", () => {
  let kv: KeyVaultEmulator;
  let faults: HoldingFaults;
  let azurite: Azurite;
  let hosts: HostProcess[] = [];
  const seeded = new Map<string, string>();
  let seededAt = 0;

  beforeAll(async () => {
    faults = new HoldingFaults();
    [kv, azurite] = await Promise.all([startKeyVaultEmulator({ vaults: [VAULT], faults }), startAzurite()]);
    // Seed first, so the versions age past the loop guard while the hosts start.
    for (const name of SECRETS) {
      const s = kv.seedSecret(VAULT, name, `initial-${name}-value-0123456789`, {
        tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "team@contoso.com" },
        expiresOn: new Date(Date.now() + 10 * 86_400_000),
      });
      seeded.set(name, s.version);
    }
    seededAt = Date.now();
    const env = {
      KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`,
      KEYTURN_CREDENTIAL: "local-emulator",
      KEYTURN_TLS_CA_FILE: kv.tls.caFile,
      KEYTURN_ROTATION_GUARD_MINUTES: GUARD_MINUTES,
      // The sweep runs when the test asks (the admin endpoint), not on a schedule.
      KEYTURN_SWEEP_SCHEDULE: "0 0 0 1 1 *",
      AzureWebJobsStorage: azurite.connectionString,
    };
    hosts = await Promise.all([startHostProcess(env), startHostProcess(env)]);
  });
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    await kv?.stop();
    await azurite?.stop();
  });

  it("one new version per secret for 5 deliveries + 5 HTTP calls + a sweep", async () => {
    const client = secretClientFor(kv, VAULT);
    const { engine, notifier } = testEngine(kv, {
      lock: new BlobLeaseLock({ connectionString: azurite.connectionString }, { getToken: async () => null }, {}),
      env: { KEYTURN_ROTATION_GUARD_MINUTES: GUARD_MINUTES },
    });
    const vault = { name: VAULT, url: kv.url(VAULT) };
    // Warm both instances and this process (runtime, handlers, clients load on first use).
    for (const h of hosts) expect((await fetch(`${h.url}/api/vaults/${VAULT}/secrets/${SECRETS[0]}`)).status).toBe(200);
    await engine.rotateSecret({ vault, secret: SECRETS[0]!, mode: "dry-run", trigger: { kind: "http", id: "warm" } });
    const wait = seededAt + GUARD_MS + 500 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));

    // A sweep that listed the vault a moment ago, before any of the triggers below.
    const earlier = await findDueSecrets(client, { vault: VAULT, within: parseWithin("30d"), now: new Date(), registry, guardMs: GUARD_MS });
    expect(earlier.due.map((d) => d.secret).sort()).toEqual(SECRETS);

    // Whichever trigger wins a secret's lock is held at its commit until the
    // instances have answered the other triggers for that secret (nine of the ten: the
    // winner's own answer waits for the release, or the winner is the sweep).
    const answered = new Map(SECRETS.map((n) => [n, 0]));
    // oxlint-disable-next-line unicorn/no-thenable -- `then` is the held fault's option, never awaited
    const holds = new Map(SECRETS.map((n) => [n, faults.hold((d) => d.operation === "SetSecret" && d.path === `/secrets/${n}`, { then: "serve" })]));
    const counted = async <T>(name: string, p: Promise<T>): Promise<T> => {
      try {
        return await p;
      } finally {
        answered.set(name, answered.get(name)! + 1);
        if (answered.get(name) === 9) holds.get(name)!.release();
      }
    };

    const event = (name: string) => [
      {
        id: `evt-${name}`,
        topic: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/keyturn-local/providers/Microsoft.KeyVault/vaults/${VAULT}`,
        subject: name,
        eventType: "Microsoft.KeyVault.SecretNearExpiry",
        eventTime: new Date().toISOString(),
        data: { Id: `${kv.url(VAULT)}/secrets/${name}/${seeded.get(name)}`, VaultName: VAULT, ObjectType: "Secret", ObjectName: name, Version: seeded.get(name) },
        dataVersion: "1",
        metadataVersion: "1",
      },
    ];
    type Answer = { kind: string; name: string; status: number; retryAfter: string | null; body: { outcomes?: string[]; status?: string } };
    const deliver = async (i: number, name: string): Promise<Answer> => {
      const r = await fetch(hosts[i % 2]!.webhookUrl("keyVaultEvents"), { method: "POST", headers: { "content-type": "application/json", "aeg-event-type": "Notification" }, body: JSON.stringify(event(name)) });
      return { kind: "event", name, status: r.status, retryAfter: r.headers.get("retry-after"), body: (await r.json()) as Answer["body"] };
    };
    const rotate = async (i: number, name: string): Promise<Answer> => {
      const r = await fetch(`${hosts[i % 2]!.url}/api/vaults/${VAULT}/secrets/${name}/rotate`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ reason: `operator ${i}` }) });
      return { kind: "http", name, status: r.status, retryAfter: r.headers.get("retry-after"), body: (await r.json()) as Answer["body"] };
    };
    /** The sweep timer function (core/sweep.ts), run now by an instance's admin endpoint. */
    const sweep = async (i: number): Promise<SweepSummary> => {
      const r = await fetch(`${hosts[i % 2]!.url}/admin/functions/sweep`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input: "" }) });
      expect(r.status).toBe(200);
      return (await r.json()) as SweepSummary;
    };

    const [answers, swept] = await Promise.all([
      Promise.all(
        SECRETS.flatMap((name) => [
          ...Array.from({ length: 5 }, (_, i) => counted(name, deliver(i, name))),
          ...Array.from({ length: 5 }, (_, i) => counted(name, rotate(i, name))),
        ]),
      ),
      sweep(0),
    ]);

    // Across all secrets: the instances' rotations and the sweep's add up to one each.
    const byInstances = answers.filter((a) => a.status === 200 && (a.kind === "event" ? a.body.outcomes?.[0] === "rotated" : a.body.status === "rotated"));
    expect(byInstances.length + swept.secrets.rotated, JSON.stringify({ byInstances: byInstances.map((a) => [a.kind, a.name]), sweep: swept.secrets })).toBe(SECRETS.length);
    // What the sweep did not rotate, it found busy (lock held) or recently rotated (loop guard).
    expect(swept.secrets.rotated + swept.secrets.busy + swept.secrets.skipped, JSON.stringify(swept.secrets)).toBe(swept.secrets.due);
    expect(swept.secrets.failed).toBe(0);
    for (const name of SECRETS) {
      const mine = answers.filter((a) => a.name === name);
      expect(byInstances.filter((a) => a.name === name).length, `${name}: ${JSON.stringify(mine.map((m) => [m.kind, m.status, m.body]))}`).toBeLessThanOrEqual(1);
      for (const a of mine.filter((m) => m.kind === "http" && m.status !== 200)) {
        expect(a.status).toBe(409);
        expect(Number(a.retryAfter)).toBeGreaterThan(0);
      }
      // Losing deliveries ask Event Grid to come back later (not a 2xx, not a 400).
      for (const a of mine.filter((m) => m.kind === "event" && m.status !== 200)) expect(a.status).toBe(500);
      expect(await versionsOf(client, name)).toHaveLength(2);
    }

    // The sweep that listed the vault before the rotations acts on its list only now: the
    // loop guard keeps it from rotating again.
    for (const d of earlier.due) {
      expect(await engine.rotateSecret({ vault, secret: d.secret, mode: "normal", trigger: { kind: "sweep", id: "sweep-late" } })).toMatchObject({ status: "skipped", reason: "recently-rotated" });
    }
    // Event Grid redelivers the events to both instances; the sweep runs again.
    for (const name of SECRETS) {
      for (const i of [0, 1]) {
        const a = await deliver(i, name);
        expect(a, JSON.stringify(a)).toMatchObject({ status: 200, body: { outcomes: ["skipped"] } });
      }
    }
    const next = await sweep(1);
    expect(next.secrets, "the next sweep finds nothing due").toMatchObject({ due: 0, rotated: 0, journals: 0 });
    for (const name of SECRETS) expect(await versionsOf(client, name)).toHaveLength(2);
    expect(notifier.sent.filter((n) => n.type === "keyturn.RotationFailed")).toEqual([]);
  });
});
