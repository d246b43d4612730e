// keyturn's own code against the service behaviours the conformance suite pins down:
// versions listed by id (not age) with `created` in whole seconds, 200-empty listings
// for missing names, and delete/recover that settle some time after they answer.
// Sources as in keyvault-secrets.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyturnError } from "../../core/errors.js";
import { journalName } from "../../core/journal.js";
import { latestVersionProperties, readSecretStatus } from "../../core/status.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { registry } from "../../rotators/index.js";
import { testEngine } from "../support/engine.js";
import { journalingRegistry } from "../support/memory-rotator.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";
import { RECORDINGS } from "./wire.js";

const VAULT = "kv-semantics";
let kv: KeyVaultEmulator;

const TAGS = { Rotator: "generated-secret", ValidityPeriodDays: "90", Owner: "team@contoso.com" };
/** A kind that journals (generated-secret changes no provider and writes no journal). */
const JOURNALED = { Rotator: "memory-password", ValidityPeriodDays: "90", Owner: "team@contoso.com" };

beforeAll(async () => {
  kv = await startKeyVaultEmulator({ vaults: [VAULT] });
});
afterAll(async () => kv?.stop());

const vaultRef = () => ({ name: VAULT, url: kv.url(VAULT) });

/** Two versions of one second whose ids sort opposite to the order they were written in. */
async function tiedOutOfOrder(prefix: string) {
  const client = secretClientFor(kv, VAULT);
  for (let attempt = 0; attempt < 40; attempt++) {
    const name = `${prefix}-${attempt}`;
    const first = (await client.setSecret(name, "first", { tags: { ...TAGS, CredentialId: "one" } })).properties;
    const second = (await client.setSecret(name, "second", { tags: { ...TAGS, CredentialId: "two" } })).properties;
    if (first.createdOn?.getTime() === second.createdOn?.getTime() && second.version! < first.version!) {
      return { client, name, first: first.version!, second: second.version! };
    }
  }
  throw new Error("could not write two versions in one second with descending ids");
}

describe(`keyturn under Key Vault's version listing (${RECORDINGS.secrets}/secret_client__list_secrets_in_various_ways/recording_can_retrieve_all_versions_of_a_secret_by_page.json; ${RECORDINGS.goSecrets}/TestSecretPreviousVersion.json)`, () => {
  it("status names the version written last as current when two versions share a second and list the other way round", async () => {
    const { client, name, first, second } = await tiedOutOfOrder("status-tie");
    const listed = (await versionsOf(client, name)).map((p) => p.version);
    expect(listed.at(-1)).toBe(first); // the list alone would point at the wrong one
    const status = await readSecretStatus(client, vaultRef(), name, registry);
    expect(status.currentVersion).toBe(second);
    expect(status.credentialId).toBe("two");
    expect(status.lastRotation?.previousVersion).toBe(first);
    expect(JSON.stringify(status)).not.toMatch(/"(first|second)"/);
  });

  it("the CLI's pause reads the current version's tags, not the list's last", async () => {
    const { client, name, second } = await tiedOutOfOrder("pause-tie");
    const latest = await latestVersionProperties(client, vaultRef(), name);
    expect(latest.version).toBe(second);
    expect(latest.tags?.CredentialId).toBe("two");
  });

  it("a rotation right after the secret was written (same second) is reported with its journal", async () => {
    const client = secretClientFor(kv, VAULT);
    const { engine } = testEngine(kv, { registry: journalingRegistry });
    const seeded = await client.setSecret("rotated-now", "seed-value-1", { tags: JOURNALED });
    const result = await engine.rotateSecret({ vault: vaultRef(), secret: "rotated-now", mode: "normal", trigger: { kind: "http", id: "t" } });
    const status = await readSecretStatus(client, vaultRef(), "rotated-now", journalingRegistry);
    expect(result.status).toBe("rotated");
    expect(status.currentVersion).toBe(result.version);
    expect(status.currentVersion).not.toBe(seeded.properties.version);
    expect(status.lastRotation?.previousVersion).toBe(seeded.properties.version);
    expect(status.lastRotation?.trigger).toBe("http");
  });

  it(`a secret that does not exist is not found, though its version list answers 200 empty (${RECORDINGS.secrets}/secret_client__list_secrets_in_various_ways/recording_can_list_secret_versions_non_existing.json)`, async () => {
    const client = secretClientFor(kv, VAULT);
    await expect(readSecretStatus(client, vaultRef(), "no-such-secret", registry)).rejects.toMatchObject({ name: "NotFoundError" });
  });
});

describe(`keyturn while a delete or recover settles (${RECORDINGS.secrets}/secrets_client__long_running_operations__recoverdelete/recording_can_wait_until_a_secret_is_recovered.json)`, () => {
  afterAll(() => kv.setSettleMs(0));

  it("a journal read as absent while its recovery settles is never overwritten: the rotation stops before any change, and the next one succeeds", async () => {
    const client = secretClientFor(kv, VAULT);
    const { engine } = testEngine(kv, { registry: journalingRegistry });
    const req = { vault: vaultRef(), secret: "settling", mode: "normal" as const, trigger: { kind: "http" as const, id: "s" } };
    await client.setSecret("settling", "seed-value-2", { tags: JOURNALED });
    await engine.rotateSecret(req);
    const before = (await client.getSecret("settling")).properties.version;
    const journal = journalName("settling");
    const journalVersion = (await client.getSecret(journal)).properties.version;

    kv.setSettleMs(1500);
    await (await client.beginDeleteSecret(journal, { intervalInMs: 50 })).pollUntilDone();
    // Recovered, not yet settled: the journal reads 404 and its name cannot be written.
    await client.beginRecoverDeletedSecret(journal);
    kv.setSettleMs(0);
    const error = await engine.rotateSecret(req).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KeyturnError);
    expect((error as KeyturnError).transient).toBe(false);
    expect((error as KeyturnError).message).toMatch(/currently being recovered/);
    expect((await client.getSecret("settling")).properties.version).toBe(before);

    await new Promise((r) => setTimeout(r, 1600));
    const after = await engine.rotateSecret(req);
    expect(after.status).toBe("rotated");
    expect((await client.getSecret("settling")).properties.version).toBe(after.version);
    const journalVersions = (await versionsOf(client, journal)).map((p) => p.version);
    expect(journalVersions).toContain(journalVersion);
  });
});
