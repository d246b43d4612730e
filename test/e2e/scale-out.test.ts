// Scale-out: two local host processes (two instances of the function app) share the
// Key Vault double and one lock store (Azurite). The same near-expiry event is
// delivered five times across both instances, concurrently with five manual HTTP
// rotations: each secret gets exactly one new version, the HTTP callers that lost get
// 409 with Retry-After, and redelivering the losing events later changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { startAzurite, type Azurite } from "../support/azurite.js";
import { startHostProcess, type HostProcess } from "../support/host.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "scale-kv";
const SECRETS = ["scale-a", "scale-b", "scale-c"];

describe("two instances share the lock", () => {
  let kv: KeyVaultEmulator;
  let azurite: Azurite;
  let hosts: HostProcess[] = [];

  beforeAll(async () => {
    [kv, azurite] = await Promise.all([startKeyVaultEmulator({ vaults: [VAULT] }), startAzurite()]);
    const env = {
      KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`,
      KEYTURN_CREDENTIAL: "local-emulator",
      KEYTURN_TLS_CA_FILE: kv.tls.caFile,
      KEYTURN_ROTATION_GUARD_MINUTES: "0",
      AzureWebJobsStorage: azurite.connectionString,
    };
    hosts = await Promise.all([startHostProcess(env), startHostProcess(env)]);
  });
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    await kv?.stop();
    await azurite?.stop();
  });

  it("one rotation per secret for five deliveries and five HTTP calls across two instances", async () => {
    const client = secretClientFor(kv, VAULT);
    const seeded = new Map<string, string>();
    for (const name of SECRETS) {
      const s = await client.setSecret(name, `initial-${name}-value`, {
        tags: { Rotator: "generated-secret", ValidityPeriodDays: "60" },
        expiresOn: new Date(Date.now() + 10 * 86_400_000),
      });
      seeded.set(name, s.properties.version!);
    }
    // Slow every secret write a little so that all deliveries overlap one rotation.
    const slow = kv.faults.add({ match: { operation: "SetSecret" }, latencyMs: 400 });

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
    const deliver = (i: number, name: string) =>
      fetch(hosts[i % 2]!.webhookUrl("keyVaultEvents"), { method: "POST", headers: { "content-type": "application/json", "aeg-event-type": "Notification" }, body: JSON.stringify(event(name)) });
    const rotate = (i: number, name: string) =>
      fetch(`${hosts[i % 2]!.url}/api/vaults/${VAULT}/secrets/${name}/rotate`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ reason: `operator ${i}` }) });

    const calls = SECRETS.flatMap((name) => [
      ...Array.from({ length: 5 }, (_, i) => deliver(i, name).then((r) => ({ kind: "event", name, r }))),
      ...Array.from({ length: 5 }, (_, i) => rotate(i, name).then((r) => ({ kind: "http", name, r }))),
    ]);
    const answers = await Promise.all(calls);
    slow();

    for (const name of SECRETS) {
      const mine = answers.filter((a) => a.name === name);
      const ok = mine.filter((a) => a.r.status === 200);
      expect(ok, name).toHaveLength(1); // exactly one winner among ten callers
      for (const a of mine.filter((m) => m.kind === "http" && m.r.status !== 200)) {
        expect(a.r.status).toBe(409);
        expect(Number(a.r.headers.get("retry-after"))).toBeGreaterThan(0);
      }
      // Losing deliveries ask Event Grid to come back later (not a 2xx, not a 400).
      for (const a of mine.filter((m) => m.kind === "event" && m.r.status !== 200)) expect(a.r.status).toBe(500);
      expect(await versionsOf(client, name)).toHaveLength(2);
    }

    // Event Grid redelivers the losing events: the rotation already happened.
    for (const name of SECRETS) {
      const r = await deliver(1, name);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ outcomes: ["skipped"] });
      expect(await versionsOf(client, name)).toHaveLength(2);
    }
  });
});
