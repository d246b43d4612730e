// storage-account-key through the real engine: ARM calls through core/arm-rest.ts (the SDK pipeline) and the real
// BlobServiceClient against the ARM double (whose blob endpoint checks Shared Key
// signatures against the account's current keys), and the Key Vault double.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient, StorageSharedKeyCredential, type StoragePipelineOptions } from "@azure/storage-blob";
import { ArmProviderError } from "../../core/arm.js";
import { ConfigurationError, ProviderError, VerificationError } from "../../core/errors.js";
import type { RotationRequest } from "../../core/engine.js";
import { FaultInjector } from "../../emulators/faults.js";
import { DEFAULT_RESOURCE_GROUP as RG, DEFAULT_SUBSCRIPTION_ID as SUB, startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { createRegistry } from "../../core/registry.js";
import { registry as defaultRegistry, rotators } from "../../rotators/index.js";
import { createStorageAccountKeyRotator } from "../../rotators/storage-account-key/index.js";
import { keyFromValue, standardEndpointsFor, storageConnectionString } from "../../rotators/storage-account-key/format.js";
import { failure, testEngine } from "../support/engine.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "storage-kv";
const registry = createRegistry({ ...rotators, "storage-account-key": createStorageAccountKeyRotator({ verifyDelaysMs: [0, 10, 10] }) });

let kv: KeyVaultEmulator;
let arm: ArmEmulator;
let armFaults: FaultInjector;
/** Every key the accounts ever had, to prove none reaches a log line or a notification. */
const seenKeys = new Set<string>();

beforeAll(async () => {
  armFaults = new FaultInjector();
  [kv, arm] = await Promise.all([startKeyVaultEmulator({ vaults: [VAULT] }), startArmEmulator({ faults: armFaults })]);
});

afterAll(async () => {
  await Promise.all([kv?.stop(), arm?.stop()]);
});

function engine(reg = registry) {
  return testEngine(kv, { armEndpoint: arm.url, registry: reg });
}

function account(name: string, o: { allowSharedKeyAccess?: boolean } = {}) {
  const a = arm.addStorageAccount({ name, ...o });
  const keys = () => {
    const k = a.keys();
    seenKeys.add(k.key1).add(k.key2);
    return k;
  };
  keys();
  return { ...a, keys };
}

async function seed(name: string, value: string, tags: Record<string, string>) {
  const client = secretClientFor(kv, VAULT);
  const s = await client.setSecret(name, value, { tags: { ValidityPeriodDays: "60", Owner: "storage-team@contoso.com", ...tags } });
  return { client, version: s.properties.version! };
}

function request(secret: string, mode: RotationRequest["mode"] = "normal"): RotationRequest {
  return { vault: { name: VAULT, url: kv.url(VAULT) }, secret, mode, trigger: { kind: "http", id: `t-${secret}` } };
}

/** An independent Shared Key request: does the blob service accept this key now? */
async function keyWorks(accountName: string, key: string): Promise<boolean> {
  const options: StoragePipelineOptions & { tlsOptions: { ca: string } } = { tlsOptions: { ca: arm.tls.caPem }, retryOptions: { maxTries: 1 } };
  try {
    await new BlobServiceClient(arm.blobUrl(accountName), new StorageSharedKeyCredential(accountName, key), options).getProperties();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 403) return false;
    throw error;
  }
}

describe("storage-account-key rotation", () => {
  it("regenerates the unused key, proves it with Shared Key, commits it, and keeps the old key working; a second rotation flips back", async () => {
    const acct = account("strot01");
    const before = acct.keys();
    const { client, version } = await seed("st-key", before.key1, { Rotator: "storage-account-key", ProviderAddress: acct.id, CredentialId: "key1" });
    const { engine: e, notifier, logs } = engine();

    arm.clearRequests();
    const first = await e.rotateSecret(request("st-key"));
    const calls = arm.requests().map((r) => `${r.service} ${r.operation ?? r.path}`);
    expect(first).toMatchObject({ status: "rotated", rotator: "storage-account-key", credentialId: "key2", previousCredentialId: "key1", previousVersion: version });
    const afterFirst = acct.keys();
    expect(afterFirst.key1).toBe(before.key1);
    expect(afterFirst.key2).not.toBe(before.key2);
    const latest = await client.getSecret("st-key");
    expect(latest.value).toBe(afterFirst.key2);
    expect(latest.properties.tags).toMatchObject({ CredentialId: "key2", ProviderAddress: acct.id });
    expect(await keyWorks("strot01", latest.value!)).toBe(true);
    // Consumers still on the previous version keep working until the next rotation.
    expect(await keyWorks("strot01", before.key1)).toBe(true);
    expect(await keyWorks("strot01", before.key2)).toBe(false);
    // The calls one rotation makes: check (listKeys, read), create (regenerateKey; the account as check read it), verify (blob).
    expect(calls).toEqual([
      "arm Microsoft.Storage/storageAccounts/listkeys/action",
      "arm Microsoft.Storage/storageAccounts/read",
      "arm Microsoft.Storage/storageAccounts/regeneratekey/action",
      "blob GetServiceProperties",
    ]);

    const second = await e.rotateSecret(request("st-key"));
    expect(second).toMatchObject({ status: "rotated", credentialId: "key1", previousCredentialId: "key2" });
    const afterSecond = acct.keys();
    expect(afterSecond.key2).toBe(afterFirst.key2);
    expect(afterSecond.key1).not.toBe(before.key1);
    expect((await client.getSecret("st-key")).value).toBe(afterSecond.key1);
    expect(await keyWorks("strot01", afterSecond.key1)).toBe(true);
    expect(await keyWorks("strot01", afterFirst.key2)).toBe(true);
    expect(await keyWorks("strot01", before.key1)).toBe(false);

    expect(notifier.sent.map((n) => [n.type, n.credentialId, n.owner])).toEqual([
      ["keyturn.SecretRotated", "key2", "storage-team@contoso.com"],
      ["keyturn.SecretRotated", "key1", "storage-team@contoso.com"],
    ]);
    expect(await versionsOf(client, "st-key")).toHaveLength(3);
    assertNoKeys(logs, notifier.sent);
  });

  it("writes a connection string with the account's blob endpoint when SecretFormat asks, and the string itself works", async () => {
    const acct = account("strot02");
    const before = acct.keys();
    // Onboarded with the bare key: the current value's format does not have to match.
    const { client } = await seed("st-conn", before.key2, { ProviderAddress: acct.id, CredentialId: "key2", SecretFormat: "connection-string" });
    const { engine: e, notifier, logs } = engine();
    await e.rotateSecret(request("st-conn"));
    const value = (await client.getSecret("st-conn")).value!;
    const newKey1 = acct.keys().key1;
    expect(value).toBe(`DefaultEndpointsProtocol=https;AccountName=strot02;AccountKey=${newKey1};BlobEndpoint=${arm.blobUrl("strot02")}`);
    const options: StoragePipelineOptions & { tlsOptions: { ca: string } } = { tlsOptions: { ca: arm.tls.caPem }, retryOptions: { maxTries: 1 } };
    await expect(BlobServiceClient.fromConnectionString(value, options).getAccountInfo()).resolves.toMatchObject({ accountKind: "StorageV2" });

    // The next rotation reads the key out of the connection string.
    await e.rotateSecret(request("st-conn"));
    expect(keyFromValue((await client.getSecret("st-conn")).value!).key).toBe(acct.keys().key2);
    assertNoKeys(logs, notifier.sent);
  });

  it("without CredentialId, finds the active key from the value instead of guessing key1", async () => {
    const acct = account("strot03");
    const before = acct.keys();
    const { client } = await seed("st-nocred", before.key2, { Rotator: "storage-account-key", ProviderAddress: acct.id });
    const result = await engine().engine.rotateSecret(request("st-nocred"));
    expect(result).toMatchObject({ status: "rotated", credentialId: "key1" });
    expect(acct.keys().key2).toBe(before.key2); // the key consumers use was not touched
    expect((await client.getSecret("st-nocred")).properties.tags).toMatchObject({ CredentialId: "key1" });
  });

  it("is selected by ProviderAddress alone (no Rotator tag), through the default registry", async () => {
    const acct = account("strot04");
    await seed("st-bytype", acct.keys().key1, { ProviderAddress: acct.id, CredentialId: "key1" });
    const result = await engine(defaultRegistry).engine.rotateSecret(request("st-bytype"));
    expect(result).toMatchObject({ status: "rotated", rotator: "storage-account-key", credentialId: "key2" });
    expect(await keyWorks("strot04", acct.keys().key2)).toBe(true);
  });

  it("emergency mode regenerates the previously active key too: the old value stops working", async () => {
    const acct = account("strot05");
    const before = acct.keys();
    const { client } = await seed("st-leak", before.key1, { ProviderAddress: acct.id, CredentialId: "key1" });
    const { engine: e, notifier, logs } = engine();
    const result = await e.rotateSecret(request("st-leak", "emergency"));
    expect(result).toMatchObject({ status: "rotated", credentialId: "key2", revoked: true });
    const after = acct.keys();
    expect(after.key1).not.toBe(before.key1);
    expect(await keyWorks("strot05", before.key1)).toBe(false);
    expect((await client.getSecret("st-leak")).value).toBe(after.key2);
    expect(await keyWorks("strot05", after.key2)).toBe(true);
    assertNoKeys(logs, notifier.sent);
  });
});

describe("storage-account-key configuration errors name the tag and change nothing", () => {
  const cases: Array<[string, (id: string) => Record<string, string>, string]> = [
    ["not a resource ID", () => ({ Rotator: "storage-account-key", ProviderAddress: "stbadtags01" }), "ProviderAddress"],
    [
      "a resource of another type",
      () => ({ Rotator: "storage-account-key", ProviderAddress: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Sql/servers/stbadtags01` }),
      "ProviderAddress",
    ],
    ["an account that does not exist", () => ({ ProviderAddress: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Storage/storageAccounts/nosuchacct01` }), "ProviderAddress"],
    ["CredentialId that is no key name", (id) => ({ ProviderAddress: id, CredentialId: "key3" }), "CredentialId"],
    ["CredentialId naming the other key than the value", (id) => ({ ProviderAddress: id, CredentialId: "key2" }), "CredentialId"],
    ["an unknown SecretFormat", (id) => ({ ProviderAddress: id, SecretFormat: "xml" }), "SecretFormat"],
  ];

  it.each(cases)("%s", async (label, tags, tag) => {
    const name = `st-bad-${label.replace(/\W+/g, "-")}`.slice(0, 60);
    const acct = account(`stbad${cases.findIndex((c) => c[0] === label)}x`);
    const before = acct.keys();
    const { client } = await seed(name, before.key1, tags(acct.id));
    const { engine: e, notifier } = engine();
    const err = await failure(e.rotateSecret(request(name)));
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as unknown as ConfigurationError).tag).toBe(tag);
    expect(err.message).toContain(`tag ${tag}`);
    expect(acct.keys()).toEqual(before);
    expect(await versionsOf(client, name)).toHaveLength(1);
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", errorKind: "configuration", owner: "storage-team@contoso.com" })]);
  });

  it("refuses a value that is neither key of the account (wrong target or drift) before changing anything", async () => {
    const acct = account("stwrong01");
    const before = acct.keys();
    await seed("st-wrong", Buffer.alloc(64, 9).toString("base64"), { ProviderAddress: acct.id, CredentialId: "key1" });
    const { engine: e, notifier } = engine();
    const err = await failure(e.rotateSecret(request("st-wrong")));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toMatch(/neither key of storage account/);
    expect(acct.keys()).toEqual(before);
    expect(notifier.sent[0]).toMatchObject({ type: "keyturn.RotationFailed", step: "check-current" });
  });

  it("refuses a connection string for another account", async () => {
    const acct = account("stwrong02");
    const value = `DefaultEndpointsProtocol=https;AccountName=someoneelse;AccountKey=${acct.keys().key1};EndpointSuffix=core.windows.net`;
    await seed("st-wrong-conn", value, { ProviderAddress: acct.id, CredentialId: "key1", SecretFormat: "connection-string" });
    const err = await failure(engine().engine.rotateSecret(request("st-wrong-conn")));
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as unknown as ConfigurationError).tag).toBe("ProviderAddress");
  });
});

describe("storage-account-key failures leave Key Vault holding a key that works", () => {
  async function seeded(accountName: string, secret: string, o: { allowSharedKeyAccess?: boolean } = {}) {
    const acct = account(accountName, o);
    const before = acct.keys();
    const { client } = await seed(secret, before.key1, { ProviderAddress: acct.id, CredentialId: "key1" });
    const holdsWorkingKey = async () => {
      const value = (await client.getSecret(secret)).value!;
      expect(value).toBe(before.key1);
      expect(acct.keys().key1).toBe(before.key1);
      if (o.allowSharedKeyAccess !== false) expect(await keyWorks(accountName, value)).toBe(true);
    };
    return { acct, before, client, holdsWorkingKey };
  }

  it("ARM 500 on listKeys: transient, nothing changed, the trigger retries", async () => {
    const { acct, before, holdsWorkingKey } = await seeded("stfail01", "st-fail-list");
    const remove = armFaults.add({ match: { service: "arm", operation: "Microsoft.Storage/storageAccounts/listkeys/action" }, status: 500, times: 10 });
    const { engine: e, notifier } = engine();
    try {
      const err = await failure(e.rotateSecret(request("st-fail-list")));
      expect(err).toMatchObject({ kind: "transient" });
    } finally {
      remove();
    }
    expect(acct.keys()).toEqual(before);
    await holdsWorkingKey();
    // Handed back to the trigger for another try; the owner hears of it, marked willRetry.
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "check-current", errorKind: "transient", willRetry: true })]);
  });

  it("ARM 500 on regenerateKey is transient; a permanent refusal (400) is reported with ARM's code", async () => {
    const { holdsWorkingKey } = await seeded("stfail02", "st-fail-regen");
    const { engine: e, notifier } = engine();
    const op = "Microsoft.Storage/storageAccounts/regeneratekey/action";
    let remove = armFaults.add({ match: { service: "arm", operation: op }, status: 500, times: 10 });
    try {
      expect(await failure(e.rotateSecret(request("st-fail-regen")))).toMatchObject({ kind: "transient" });
    } finally {
      remove();
    }
    await holdsWorkingKey();

    remove = armFaults.add({ match: { service: "arm", operation: op }, status: 400, errorCode: "StorageAccountIsNotProvisioned", times: 1 });
    try {
      const err = await failure(e.rotateSecret(request("st-fail-regen")));
      expect(err).toBeInstanceOf(ArmProviderError);
      expect(err.code).toBe("StorageAccountIsNotProvisioned");
    } finally {
      remove();
    }
    await holdsWorkingKey();
    expect(notifier.sent).toEqual([
      expect.objectContaining({ type: "keyturn.RotationFailed", step: "create", errorKind: "transient", willRetry: true }),
      expect.objectContaining({ type: "keyturn.RotationFailed", step: "create", errorKind: "provider", willRetry: false }),
    ]);
    expect(notifier.sent[1]!.error).toContain("StorageAccountIsNotProvisioned");
  });

  it("verification failing (the blob service refuses the new key) is reported; the active key is untouched", async () => {
    const { acct, before, holdsWorkingKey } = await seeded("stfail03", "st-fail-verify");
    const remove = armFaults.add({ match: { service: "blob", operation: "GetServiceProperties" }, status: 403, errorCode: "AuthenticationFailed", times: 50 });
    const { engine: e, notifier, logs } = engine();
    try {
      const err = await failure(e.rotateSecret(request("st-fail-verify")));
      expect(err).toBeInstanceOf(VerificationError);
      expect(err.message).toContain("refused key2");
    } finally {
      remove();
    }
    expect(acct.keys().key2).not.toBe(before.key2); // only the unused key was regenerated
    await holdsWorkingKey();
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "verify", errorKind: "verification" })]);
    assertNoKeys(logs, notifier.sent);
  });

  it("refuses an account that does not allow Shared Key at all, before regenerating anything", async () => {
    const { acct, before, holdsWorkingKey } = await seeded("stfail04", "st-fail-nokey", { allowSharedKeyAccess: false });
    const { engine: e, notifier } = engine();
    const err = await failure(e.rotateSecret(request("st-fail-nokey")));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toContain("allowSharedKeyAccess is false");
    expect(acct.keys()).toEqual(before);
    await holdsWorkingKey();
    expect(notifier.sent[0]).toMatchObject({ type: "keyturn.RotationFailed", step: "check-current" });
  });

  it("Key Vault refusing the new version: the previous version, whose key still works, stays the latest", async () => {
    const { client, holdsWorkingKey } = await seeded("stfail05", "st-fail-commit");
    const { engine: e, notifier } = engine();
    let remove = kv.faults.add({ match: { operation: "SetSecret", path: /\/secrets\/st-fail-commit$/ }, status: 500, times: 10 });
    try {
      expect(await failure(e.rotateSecret(request("st-fail-commit")))).toMatchObject({ kind: "transient" });
    } finally {
      remove();
    }
    await holdsWorkingKey();
    remove = kv.faults.add({ match: { operation: "SetSecret", path: /\/secrets\/st-fail-commit$/ }, status: 403, errorCode: "Forbidden", times: 1 });
    try {
      expect(await failure(e.rotateSecret(request("st-fail-commit")))).toMatchObject({ kind: "provider" });
    } finally {
      remove();
    }
    await holdsWorkingKey();
    expect(await versionsOf(client, "st-fail-commit")).toHaveLength(1);
    expect(notifier.sent).toEqual([
      expect.objectContaining({ type: "keyturn.RotationFailed", step: "commit", willRetry: true }),
      expect.objectContaining({ type: "keyturn.RotationFailed", step: "commit", willRetry: false }),
    ]);
    // And the next rotation succeeds, regenerating the unused key once more.
    await expect(e.rotateSecret(request("st-fail-commit"))).resolves.toMatchObject({ status: "rotated", credentialId: "key2" });
  });

  it("403 from ARM names the role keyturn needs on the account", async () => {
    const { acct, holdsWorkingKey } = await seeded("stfail06", "st-fail-denied");
    const allow = arm.denyScope(acct.id);
    const { engine: e, notifier } = engine();
    try {
      const err = await failure(e.rotateSecret(request("st-fail-denied")));
      expect(err).toBeInstanceOf(ArmProviderError);
      expect(err.code).toBe("AuthorizationFailed");
      expect(err.message).toContain("keyturn Storage Account Key Rotator");
    } finally {
      allow();
    }
    await holdsWorkingKey();
    expect(notifier.sent[0]!.error).toContain("keyturn Storage Account Key Rotator");
  });
});

describe("storage-account-key value formats (pure)", () => {
  it("uses EndpointSuffix for the cloud's standard endpoints and explicit endpoints otherwise", () => {
    const standard = standardEndpointsFor("https://management.azure.com", "stapp")!;
    expect(standard.blob).toBe("https://stapp.blob.core.windows.net/");
    expect(storageConnectionString("stapp", "K==", standard)).toBe("DefaultEndpointsProtocol=https;AccountName=stapp;AccountKey=K==;EndpointSuffix=core.windows.net");
    expect(storageConnectionString("stapp", "K==", { blob: "https://stapp.blob.core.chinacloudapi.cn/" })).toMatch(/;EndpointSuffix=core\.chinacloudapi\.cn$/);
    expect(storageConnectionString("stapp", "K==", { blob: "https://stapp.z13.blob.storage.azure.net/", queue: "https://stapp.z13.queue.storage.azure.net/" })).toBe(
      "DefaultEndpointsProtocol=https;AccountName=stapp;AccountKey=K==;BlobEndpoint=https://stapp.z13.blob.storage.azure.net/;QueueEndpoint=https://stapp.z13.queue.storage.azure.net/",
    );
    expect(standardEndpointsFor("https://127.0.0.1:4443", "stapp")).toBeUndefined();
    expect(keyFromValue("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc==;EndpointSuffix=x")).toEqual({ key: "abc==", accountName: "a" });
    expect(keyFromValue(" abc== ")).toEqual({ key: "abc==" });
  });
});

function assertNoKeys(logs: string[], sent: unknown[]): void {
  const text = `${logs.join("\n")}\n${JSON.stringify(sent)}`;
  for (const key of seenKeys) expect(text).not.toContain(key);
  expect(text).not.toMatch(/AccountKey=(?!\[REDACTED\])/);
}
