// Conformance of the Key Vault double (secrets) to the real service. Each test states one
// behaviour that keyturn or an operator relies on and names the recorded session or the
// published specification it was taken from; the double must answer the same way.
// Driven through the real SecretClient where the SDK shows the behaviour, and bare HTTPS
// where it hides the wire.
import { SecretClient } from "@azure/keyvault-secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { localToken, versionsOf } from "../support/keyvault.js";
import { RECORDINGS, SPECS, wire } from "./wire.js";

const VAULT = "kv-conform";
const API = "api-version=2025-07-01";
let kv: KeyVaultEmulator;
let client: SecretClient;

const url = (path: string) => `${kv.url(VAULT)}${path}${path.includes("?") ? "&" : "?"}${API}`;
const call = (path: string, init: Parameters<typeof wire>[2] = {}) => wire(url(path), kv.tls.caPem, init);

/** Writes versions until two of one second list in the opposite order to their writing. */
async function twoVersionsInOneSecondOutOfIdOrder(prefix: string): Promise<{ name: string; first: string; second: string }> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const name = `${prefix}-${attempt}`;
    const first = await client.setSecret(name, "first");
    const second = await client.setSecret(name, "second");
    const a = first.properties;
    const b = second.properties;
    if (a.createdOn?.getTime() === b.createdOn?.getTime() && b.version! < a.version!) return { name, first: a.version!, second: b.version! };
  }
  throw new Error("could not write two versions in one second with descending ids");
}

beforeAll(async () => {
  kv = await startKeyVaultEmulator({ vaults: [VAULT] });
  client = new SecretClient(kv.url(VAULT), localToken, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: kv.tls.caPem },
    retryOptions: { maxRetries: 0 },
  });
});

afterAll(async () => {
  await kv?.stop();
});

describe("authentication challenge", () => {
  it(`answers a request without a token 401 with the Bearer challenge (${RECORDINGS.secrets}/secret_client__list_secrets_in_various_ways/recording_can_list_secret_versions_non_existing.json)`, async () => {
    const res = await call("/secrets/anything/versions", { token: null });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[0-9a-f-]{36}", resource="https:\/\/vault\.azure\.net"$/);
    expect(res.json).toEqual({ error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." } });
  });
});

describe("versions", () => {
  it(`lists a secret's versions in ascending version-id order, not in the order they were written (${RECORDINGS.secrets}/secret_client__list_secrets_in_various_ways/recording_can_retrieve_all_versions_of_a_secret_by_page.json: eccef4…, 877888…, f91c1b… written, 877888… listed first)`, async () => {
    const written: string[] = [];
    for (const value of ["a", "b", "c", "d", "e"]) written.push((await client.setSecret("ordered", value)).properties.version!);
    const listed = (await versionsOf(client, "ordered")).map((p) => p.version!);
    expect(listed).toEqual([...written].sort());
  });

  it(`pages versions with an absolute nextLink that repeats api-version and maxresults after $skiptoken (same recording)`, async () => {
    for (const value of ["1", "2", "3"]) await client.setSecret("paged", value);
    const first = await call("/secrets/paged/versions?maxresults=1");
    expect(first.status).toBe(200);
    expect(first.json.value).toHaveLength(1);
    expect(first.json.value[0]).not.toHaveProperty("value");
    expect(first.json.nextLink).toMatch(new RegExp(`^${kv.url(VAULT).replace(/[.]/g, "\\.")}/secrets/paged/versions\\?api-version=2025-07-01&\\$skiptoken=[^&]+&maxresults=1$`));
    const seen = [first.json.value[0].id];
    let next: string | null = first.json.nextLink;
    while (next) {
      const page = await wire(next, kv.tls.caPem);
      seen.push(...page.json.value.map((item: { id: string }) => item.id));
      next = page.json.nextLink;
    }
    expect(seen).toEqual([...seen].sort());
    expect(seen).toHaveLength(3);
  });

  it(`keeps created and updated in whole seconds, so versions written together tie (same recording: three versions created 1739463638)`, async () => {
    const { name } = await twoVersionsInOneSecondOutOfIdOrder("tied");
    const res = await call(`/secrets/${name}/versions`);
    const created = res.json.value.map((item: { attributes: { created: number } }) => item.attributes.created);
    expect(created.every((c: number) => Number.isInteger(c) && c === created[0])).toBe(true);
  });

  it(`answers the versions of a secret that does not exist with 200 and an empty list, not 404 (${RECORDINGS.secrets}/secret_client__list_secrets_in_various_ways/recording_can_list_secret_versions_non_existing.json)`, async () => {
    const res = await call("/secrets/never-written/versions");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ value: [], nextLink: null });
    expect(await versionsOf(client, "never-written")).toEqual([]);
  });

  it(`GET without a version answers the version written last, whatever the id order (${RECORDINGS.goSecrets}/TestSecretPreviousVersion.json: d24b23… then 60005c… written in second 1760123458, GET answers 60005c…)`, async () => {
    const { name, second } = await twoVersionsInOneSecondOutOfIdOrder("latest");
    const latest = await client.getSecret(name);
    expect(latest.properties.version).toBe(second);
    expect(latest.value).toBe("second");
  });
});

describe("errors", () => {
  it(`answers a missing secret 404 SecretNotFound with the service's message (${RECORDINGS.secrets}/secret_client__restore_secrets_and_recover_backups/recording_can_backup_a_secret_non_existing.json)`, async () => {
    const res = await call("/secrets/absent");
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe("SecretNotFound");
    expect(res.json.error.message).toBe(
      "A secret with (name/id) absent was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
    );
  });

  it(`answers GET of a disabled version 403 Forbidden, inner code SecretDisabled (${RECORDINGS.secrets}/secret_client__create_read_update_and_delete_operations/recording_cant_get_a_disabled_secret.json)`, async () => {
    await client.setSecret("disabled", "v", { enabled: false });
    const res = await call("/secrets/disabled");
    expect(res.status).toBe(403);
    expect(res.json.error).toEqual({ code: "Forbidden", message: "Operation get is not allowed on a disabled secret.", innererror: { code: "SecretDisabled" } });
  });

  it(`sends the service's headers on every answer: no-cache, JSON with charset, request ids, service version and region (every recording's ResponseHeaders)`, async () => {
    const res = await call("/secrets/absent", { headers: { "x-ms-client-request-id": "conformance-1" } });
    expect(res.headers["cache-control"]).toBe("no-cache");
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.headers["x-ms-client-request-id"]).toBe("conformance-1");
    expect(res.headers["x-ms-request-id"]).toBeTruthy();
    expect(res.headers["x-ms-keyvault-service-version"]).toBeTruthy();
    expect(res.headers["x-ms-keyvault-region"]).toBeTruthy();
    expect(res.headers["strict-transport-security"]).toBe("max-age=31536000;includeSubDomains");
  });
});

describe("soft delete", () => {
  it(`answers DELETE with a DeletedSecretBundle whose scheduledPurgeDate is deletedDate plus recoverableDays, and refuses the name while it is deleted (409 ObjectIsDeletedButRecoverable) (${RECORDINGS.secrets}/secret_client__restore_secrets_and_recover_backups/recording_can_restore_a_secret.json)`, async () => {
    await client.setSecret("soft", "v");
    const res = await call("/secrets/soft", { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(res.json).not.toHaveProperty("value");
    expect(res.json.recoveryId).toBe(`${kv.url(VAULT)}/deletedsecrets/soft`);
    expect(res.json.scheduledPurgeDate - res.json.deletedDate).toBe(res.json.attributes.recoverableDays * 86_400);
    expect((await call("/secrets/soft")).status).toBe(404);
    const again = await call("/secrets/soft", { method: "PUT", body: { value: "w" } });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("Conflict");
    expect(again.json.error.innererror).toEqual({ code: "ObjectIsDeletedButRecoverable" });
    expect((await call("/deletedsecrets/soft", { method: "DELETE" })).status).toBe(204);
  });

  it(`cannot delete a certificate's backing secret (managed: true, ${SPECS.secrets} SecretBundle.managed) through the secrets API: 403 (${RECORDINGS.keysNock}: DELETE /keys/MyCert of a managed key → 403 "Operation "delete" is not allowed as this object's lifetime is managed by Key Vault.")`, async () => {
    kv.seedCertificate(VAULT, "backed-tls");
    const secret = await call("/secrets/backed-tls");
    expect(secret.json.managed).toBe(true);
    const res = await call("/secrets/backed-tls", { method: "DELETE" });
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe("Forbidden");
    expect(res.json.error.message).toBe(`Operation "delete" is not allowed as this object's lifetime is managed by Key Vault.`);
    expect((await call("/secrets/backed-tls")).status).toBe(200);
  });

  describe("eventual consistency (opt-in: settleMs)", () => {
    beforeAll(() => kv.setSettleMs(400));
    afterAll(() => kv.setSettleMs(0));

    it(`a deleted secret is not found in deletedsecrets at first, then is; the SDK's delete poller waits it out (${RECORDINGS.secrets}/secrets_client__long_running_operations__delete/recording_can_wait_until_a_secret_is_deleted.json; recording_can_restore_a_secret.json: two 404s before 200)`, async () => {
      await client.setSecret("ec-delete", "v");
      expect((await call("/secrets/ec-delete", { method: "DELETE" })).status).toBe(200);
      const early = await call("/deletedsecrets/ec-delete");
      expect(early.status).toBe(404);
      expect(early.json.error).toEqual({ code: "SecretNotFound", message: "Deleted Secret not found: ec-delete" });
      await client.setSecret("ec-delete-2", "v");
      const poller = await client.beginDeleteSecret("ec-delete-2", { intervalInMs: 100 });
      const deleted = await poller.pollUntilDone();
      expect(deleted.recoveryId).toBe(`${kv.url(VAULT)}/deletedsecrets/ec-delete-2`);
    });

    it(`purge or recover while the delete runs answers 409 Conflict, inner code ObjectIsBeingDeleted (${RECORDINGS.keysNock}: DELETE /deletedkeys/… answered 409 "Key is currently being deleted.", innererror ObjectIsBeingDeleted)`, async () => {
      await client.setSecret("ec-purge", "v");
      await call("/secrets/ec-purge", { method: "DELETE" });
      const purge = await call("/deletedsecrets/ec-purge", { method: "DELETE" });
      expect(purge.status).toBe(409);
      expect(purge.json.error.code).toBe("Conflict");
      expect(purge.json.error.innererror).toEqual({ code: "ObjectIsBeingDeleted" });
    });

    it(`a recovered secret is not found at first, then is; the SDK's recover poller waits it out (${RECORDINGS.secrets}/secrets_client__long_running_operations__recoverdelete/recording_can_wait_until_a_secret_is_recovered.json: GET 404 after the recover's 200)`, async () => {
      await client.setSecret("ec-recover", "v");
      await (await client.beginDeleteSecret("ec-recover", { intervalInMs: 100 })).pollUntilDone();
      const recover = await call("/deletedsecrets/ec-recover/recover", { method: "POST" });
      expect(recover.status).toBe(200);
      expect(recover.json).not.toHaveProperty("value");
      expect((await call("/secrets/ec-recover")).status).toBe(404);
      expect(await versionsOf(client, "ec-recover")).toEqual([]);
      await client.setSecret("ec-recover-2", "v");
      await (await client.beginDeleteSecret("ec-recover-2", { intervalInMs: 100 })).pollUntilDone();
      const recovered = await (await client.beginRecoverDeletedSecret("ec-recover-2", { intervalInMs: 100 })).pollUntilDone();
      expect(recovered.name).toBe("ec-recover-2");
      expect((await client.getSecret("ec-recover-2")).value).toBe("v");
    });

    it(`after a purge the name conflicts for a while: restore answers 409 Conflict, then succeeds (${RECORDINGS.secrets}/secret_client__restore_secrets_and_recover_backups/recording_can_restore_a_secret.json: 204 purge, 409s, then 200)`, async () => {
      await client.setSecret("ec-restore", "kept");
      const blob = await client.backupSecret("ec-restore");
      await (await client.beginDeleteSecret("ec-restore", { intervalInMs: 100 })).pollUntilDone();
      await client.purgeDeletedSecret("ec-restore");
      const conflict = await call("/secrets/restore", { method: "POST", body: { value: Buffer.from(blob!).toString("base64url") } });
      expect(conflict.status).toBe(409);
      expect(conflict.json.error.code).toBe("Conflict");
      await new Promise((r) => setTimeout(r, 450));
      const restored = await client.restoreSecretBackup(blob!);
      expect(restored.name).toBe("ec-restore");
    });
  });
});

describe("backup and restore", () => {
  it(`backs up a secret as an opaque blob in the service's format, no value readable in it (${RECORDINGS.secrets}/secret_client__restore_secrets_and_recover_backups/recording_can_restore_a_secret.json: value starts ")AzureKeyVaultSecretBackupV1.microsoft.com")`, async () => {
    await client.setSecret("backed-up", "hunter2-conformance-value");
    const res = await call("/secrets/backed-up/backup", { method: "POST" });
    expect(res.status).toBe(200);
    expect(Object.keys(res.json)).toEqual(["value"]);
    const blob = Buffer.from(res.json.value, "base64url");
    expect(blob.subarray(0, 42).toString("ascii")).toBe(")AzureKeyVaultSecretBackupV1.microsoft.com");
    expect(blob.toString("latin1")).not.toContain("hunter2-conformance-value");
    expect(res.text).not.toContain(Buffer.from("hunter2-conformance-value").toString("base64"));
  });

  it(`restores every version of a purged secret with its ids, answering a SecretBundle without the value (${SPECS.secrets}: RestoreSecret "Restores a backed up secret, and all its versions")`, async () => {
    const v1 = (await client.setSecret("restored", "one")).properties.version!;
    const v2 = (await client.setSecret("restored", "two")).properties.version!;
    const blob = await client.backupSecret("restored");
    await (await client.beginDeleteSecret("restored", { intervalInMs: 50 })).pollUntilDone();
    await client.purgeDeletedSecret("restored");
    const res = await call("/secrets/restore", { method: "POST", body: { value: Buffer.from(blob!).toString("base64url") } });
    expect(res.status).toBe(200);
    expect(res.json).not.toHaveProperty("value");
    expect(res.json.id).toBe(`${kv.url(VAULT)}/secrets/restored/${v2}`);
    expect((await versionsOf(client, "restored")).map((p) => p.version).sort()).toEqual([v1, v2].sort());
    expect((await client.getSecret("restored", { version: v1 })).value).toBe("one");
  });

  it(`refuses to restore over a name in use: 409 Conflict (recording_can_restore_a_secret.json's message)`, async () => {
    await client.setSecret("in-use", "v");
    const blob = await client.backupSecret("in-use");
    const res = await call("/secrets/restore", { method: "POST", body: { value: Buffer.from(blob!).toString("base64url") } });
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe("Conflict");
    expect(res.json.error.message).toMatch(/^There was a conflict restoring the secret '.*in-use\/[0-9a-f]{32}'/);
  });

  it(`answers a malformed blob 400 "Malformed backup blob" (${RECORDINGS.secrets}/secret_client__restore_secrets_and_recover_backups/recording_can_restore_a_secret_malformed_backup_bytes.json)`, async () => {
    const res = await call("/secrets/restore", { method: "POST", body: { value: Buffer.alloc(4735).toString("base64url") } });
    expect(res.status).toBe(400);
    expect(res.json.error).toEqual({ code: "Malformed backup blob", message: "Backup blob contains invalid or corrupt version." });
  });

  it(`answers a backup of a missing secret 404 SecretNotFound (${RECORDINGS.secrets}/secret_client__restore_secrets_and_recover_backups/recording_can_backup_a_secret_non_existing.json)`, async () => {
    const res = await call("/secrets/nothing-here/backup", { method: "POST" });
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe("SecretNotFound");
  });
});

describe("vault soft-delete settings", () => {
  let protectedKv: KeyVaultEmulator;
  const vault = "kv-conform-pp";
  beforeAll(async () => {
    protectedKv = await startKeyVaultEmulator({ vaults: [vault], softDelete: { retentionDays: 7, purgeProtection: true } });
  });
  afterAll(async () => protectedKv?.stop());
  const pcall = (path: string, init: Parameters<typeof wire>[2] = {}) =>
    wire(`${protectedKv.url(vault)}${path}${path.includes("?") ? "&" : "?"}${API}`, protectedKv.tls.caPem, init);

  it(`a vault with 7 days' retention reports recoverableDays 7 and a "CustomizedRecoverable" level, and its deletions are scheduled 7 days out (${RECORDINGS.secrets}/secret_client__restore_secrets_and_recover_backups/recording_can_restore_a_secret.json: "CustomizedRecoverable+Purgeable", 7, scheduledPurgeDate = deletedDate + 604800; ${SPECS.secrets} DeletionRecoveryLevel)`, async () => {
    const set = await pcall("/secrets/retained", { method: "PUT", body: { value: "v" } });
    expect(set.json.attributes).toMatchObject({ recoveryLevel: "CustomizedRecoverable", recoverableDays: 7 });
    const deleted = await pcall("/secrets/retained", { method: "DELETE" });
    expect(deleted.json.scheduledPurgeDate - deleted.json.deletedDate).toBe(7 * 86_400);
  });

  it(`with purge protection a purge is refused 403 and the deleted secret stays recoverable (${SPECS.secrets} DeletionRecoveryLevel "Recoverable": "only the system can purge"; the service's message as quoted in published purge-protection bug reports)`, async () => {
    await pcall("/secrets/protected", { method: "PUT", body: { value: "v" } });
    await pcall("/secrets/protected", { method: "DELETE" });
    const purge = await pcall("/deletedsecrets/protected", { method: "DELETE" });
    expect(purge.status).toBe(403);
    expect(purge.json.error.code).toBe("Forbidden");
    expect(purge.json.error.message).toMatch(/^Operation "purge" is not allowed because purge protection is enabled for this vault\./);
    expect((await pcall("/deletedsecrets/protected")).status).toBe(200);
    expect((await pcall("/deletedsecrets/protected/recover", { method: "POST" })).status).toBe(200);
  });

  it(`the default vault is Key Vault's default: 90 days, "Recoverable+Purgeable" (${SPECS.secrets} DeletionRecoveryLevel)`, async () => {
    const set = await call("/secrets/default-level", { method: "PUT", body: { value: "v" } });
    expect(set.json.attributes).toMatchObject({ recoveryLevel: "Recoverable+Purgeable", recoverableDays: 90 });
  });
});
