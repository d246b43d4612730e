// Kill the rotating process at every step boundary of a generated-secret rotation; the
// next trigger (a fresh process) completes the rotation, and at every moment either the
// latest version or a pending journal holds the value that the next rotation commits.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { journalName } from "../../core/journal.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { rotateInChild } from "../support/crash.js";
import { testEngine } from "../support/engine.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "crash-kv";
const STEPS = ["plan", "journal", "check-current", "create", "verify", "commit", "notify"];

describe("a killed rotation is completed by the next trigger (generated-secret)", () => {
  let kv: KeyVaultEmulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
    env = {
      KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`,
      KEYTURN_CREDENTIAL: "local-emulator",
      KEYTURN_TLS_CA_FILE: kv.tls.caFile,
      KEYTURN_ROTATION_GUARD_MINUTES: "0",
      ROTATE_VAULT: VAULT,
      AzureWebJobsStorage: "",
    };
  });
  afterAll(async () => kv?.stop());

  it.each(STEPS)("killed at %s", async (step) => {
    const client = secretClientFor(kv, VAULT);
    const name = `crash-${step}`;
    const seeded = await client.setSecret(name, `seed-${step}-value`, { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60" } });

    const killed = await rotateInChild({ ...env, ROTATE_SECRET: name, ROTATE_EXPECTED_VERSION: seeded.properties.version! }, step);
    expect(killed.killedAt).toBe(step);
    expect(killed.result).toBeUndefined();

    // What survived the kill: the seeded version (still latest), maybe a pending journal.
    const afterKill = await versionsOf(client, name);
    expect(afterKill).toHaveLength(step === "notify" ? 2 : 1);
    const journal = await client.getSecret(journalName(name)).catch(() => undefined);
    const journaledValue = journal?.properties.tags?.KeyturnJournalState === "pending" ? (JSON.parse(journal.value!) as { secretValue: string }).secretValue : undefined;

    // The same event is delivered again (to another instance).
    const { engine } = testEngine(kv);
    const again = () =>
      engine.rotateSecret({ vault: { name: VAULT, url: kv.url(VAULT) }, secret: name, expectedVersion: seeded.properties.version!, mode: "normal", trigger: { kind: "event", id: "redelivery" } });
    if (step === "notify") {
      // Killed after the commit: the rotation is already complete.
      expect(await again()).toMatchObject({ status: "skipped", reason: "stale-event" });
      expect(await versionsOf(client, name)).toHaveLength(2);
      return;
    }
    const next = await again();
    expect(next).toMatchObject({ status: "rotated", previousVersion: seeded.properties.version });
    const latest = await client.getSecret(name);
    expect(await versionsOf(client, name)).toHaveLength(2);
    if (journaledValue) {
      // Rolled forward with the journaled value, not a new one.
      expect(next).toMatchObject({ rolledForward: true });
      expect(latest.value).toBe(journaledValue);
    }
    expect((await client.getSecret(journalName(name))).properties.tags?.KeyturnJournalState).toBe("committed");
    // A third delivery of the same event rotates nothing.
    expect(await again()).toMatchObject({ status: "skipped", reason: "stale-event" });
  });
});
