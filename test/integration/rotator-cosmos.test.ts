// cosmos-db-key through the real engine: ARM calls through core/arm-rest.ts (the SDK pipeline and core-lro poller) against the
// ARM double (regenerateKey as a long-running operation that changes the key when it
// completes), a Cosmos DB data plane that checks master-key signatures against the
// account's current keys, and the Key Vault double. The test checks keys with its own
// signature code, written from Microsoft's documentation, not with the rotator's.
import { createHmac } from "node:crypto";
import { request as httpsRequest } from "node:https";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ArmProviderError } from "../../core/arm.js";
import { ConfigurationError, ProviderError, VerificationError } from "../../core/errors.js";
import type { RotationRequest } from "../../core/engine.js";
import { FaultInjector } from "../../emulators/faults.js";
import { DEFAULT_RESOURCE_GROUP as RG, DEFAULT_SUBSCRIPTION_ID as SUB, startArmEmulator, type ArmEmulator, type CosmosKeys } from "../../emulators/arm/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { createRegistry } from "../../core/registry.js";
import { registry as defaultRegistry, rotators } from "../../rotators/index.js";
import { createCosmosDbKeyRotator, masterKeyAuthorization } from "../../rotators/cosmos-db-key/index.js";
import { readCosmosValue, sameEndpoint } from "../../rotators/cosmos-db-key/format.js";
import { failure, testEngine } from "../support/engine.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "cosmos-kv";
const fastCosmos = createCosmosDbKeyRotator({ pollIntervalMs: 5, verifyDelaysMs: [0, 10, 10] });
const registry = createRegistry({ ...rotators, "cosmos-db-key": fastCosmos });

let kv: KeyVaultEmulator;
let arm: ArmEmulator;
let armFaults: FaultInjector;
const seenKeys = new Set<string>();

beforeAll(async () => {
  armFaults = new FaultInjector();
  [kv, arm] = await Promise.all([startKeyVaultEmulator({ vaults: [VAULT] }), startArmEmulator({ faults: armFaults })]);
});

afterAll(async () => {
  await Promise.all([kv?.stop(), arm?.stop()]);
});

afterEach(() => armFaults.clear());

function engine(reg = registry) {
  return testEngine(kv, { armEndpoint: arm.url, registry: reg });
}

function account(name: string, o: { disableLocalAuth?: boolean } = {}) {
  const a = arm.addCosmosAccount({ name, ...o });
  const keys = (): CosmosKeys => {
    const k = a.keys();
    for (const v of Object.values(k)) seenKeys.add(v);
    return k;
  };
  keys();
  return { ...a, keys };
}

async function seed(name: string, value: string, tags: Record<string, string>) {
  const client = secretClientFor(kv, VAULT);
  const s = await client.setSecret(name, value, { tags: { ValidityPeriodDays: "90", Owner: "data-team@contoso.com", ...tags } });
  return { client, version: s.properties.version! };
}

function request(secret: string, mode: RotationRequest["mode"] = "normal"): RotationRequest {
  return { vault: { name: VAULT, url: kv.url(VAULT) }, secret, mode, trigger: { kind: "sweep", id: `s-${secret}` } };
}

/** Reads the database account with `key`, signed here from the documented algorithm: does Cosmos DB accept the key now? */
function keyWorks(documentEndpoint: string, key: string): Promise<boolean> {
  const date = new Date().toUTCString();
  const payload = `get\n\n\n${date.toLowerCase()}\n\n`;
  const sig = createHmac("sha256", Buffer.from(key, "base64")).update(payload).digest("base64");
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      documentEndpoint,
      { headers: { authorization: encodeURIComponent(`type=master&ver=1.0&sig=${sig}`), "x-ms-date": date, "x-ms-version": "2018-12-31" }, ca: arm.tls.caPem },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve(true) : res.statusCode === 401 ? resolve(false) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("cosmos-db-key rotation", () => {
  it("regenerates the unused read-write key through the LRO, proves it with a signed read, commits it; the old key works until the next rotation flips back", async () => {
    const acct = account("cosmosrot01");
    const before = acct.keys();
    const { client, version } = await seed("cosmos-key", before.primaryMasterKey, { Rotator: "cosmos-db-key", ProviderAddress: acct.id, CredentialId: "primary" });
    const { engine: e, notifier, logs } = engine();

    arm.clearRequests();
    const first = await e.rotateSecret(request("cosmos-key"));
    const calls = arm.requests().map((r) => `${r.service} ${r.status} ${(r.operation ?? "").replace(/^Microsoft\.DocumentDB\//, "")}`);
    expect(first).toMatchObject({ status: "rotated", rotator: "cosmos-db-key", credentialId: "secondary", previousCredentialId: "primary", previousVersion: version });
    const afterFirst = acct.keys();
    expect(afterFirst.primaryMasterKey).toBe(before.primaryMasterKey);
    expect(afterFirst.secondaryMasterKey).not.toBe(before.secondaryMasterKey);
    expect(afterFirst.primaryReadonlyMasterKey).toBe(before.primaryReadonlyMasterKey);
    const latest = await client.getSecret("cosmos-key");
    expect(latest.value).toBe(afterFirst.secondaryMasterKey);
    expect(latest.properties.tags).toMatchObject({ CredentialId: "secondary" });
    expect(await keyWorks(acct.documentEndpoint, latest.value!)).toBe(true);
    expect(await keyWorks(acct.documentEndpoint, before.primaryMasterKey)).toBe(true);
    expect(await keyWorks(acct.documentEndpoint, before.secondaryMasterKey)).toBe(false);
    expect(calls).toEqual([
      "arm 200 databaseAccounts/read",
      "arm 200 databaseAccounts/listKeys/action",
      "arm 202 databaseAccounts/regenerateKey/action",
      "arm 200 locations/operationsStatus/read",
      "arm 200 locations/operationsStatus/read",
      "arm 204 locations/operationResults/read",
      "arm 200 databaseAccounts/listKeys/action",
      "cosmos 200 GetDatabaseAccount",
    ]);

    const second = await e.rotateSecret(request("cosmos-key"));
    expect(second).toMatchObject({ status: "rotated", credentialId: "primary", previousCredentialId: "secondary" });
    const afterSecond = acct.keys();
    expect(afterSecond.secondaryMasterKey).toBe(afterFirst.secondaryMasterKey);
    expect((await client.getSecret("cosmos-key")).value).toBe(afterSecond.primaryMasterKey);
    expect(await keyWorks(acct.documentEndpoint, afterSecond.primaryMasterKey)).toBe(true);
    expect(await keyWorks(acct.documentEndpoint, afterFirst.secondaryMasterKey)).toBe(true);
    expect(await keyWorks(acct.documentEndpoint, before.primaryMasterKey)).toBe(false);
    expect(notifier.sent.map((n) => [n.type, n.credentialId])).toEqual([
      ["keyturn.SecretRotated", "secondary"],
      ["keyturn.SecretRotated", "primary"],
    ]);
    assertNoKeys(logs, notifier.sent);
  });

  it("rotates the read-only pair, reading it back with listReadOnlyKeys, and leaves the read-write keys alone", async () => {
    const acct = account("cosmosrot02");
    const before = acct.keys();
    const { client } = await seed("cosmos-ro", before.secondaryReadonlyMasterKey, { ProviderAddress: acct.id, CredentialId: "secondaryReadonly" });
    arm.clearRequests();
    const result = await engine().engine.rotateSecret(request("cosmos-ro"));
    expect(result).toMatchObject({ status: "rotated", credentialId: "primaryReadonly" });
    const after = acct.keys();
    expect(after.primaryReadonlyMasterKey).not.toBe(before.primaryReadonlyMasterKey);
    expect({ ...after, primaryReadonlyMasterKey: "" }).toEqual({ ...before, primaryReadonlyMasterKey: "" });
    expect((await client.getSecret("cosmos-ro")).value).toBe(after.primaryReadonlyMasterKey);
    expect(await keyWorks(acct.documentEndpoint, after.primaryReadonlyMasterKey)).toBe(true);
    const ops = arm.requests().map((r) => r.operation ?? "");
    expect(ops).toContain("Microsoft.DocumentDB/databaseAccounts/readonlykeys/action");
    expect(ops).not.toContain("Microsoft.DocumentDB/databaseAccounts/listKeys/action");
  });

  it("writes AccountEndpoint=…;AccountKey=…; when SecretFormat asks, and reads the key out of it next time", async () => {
    const acct = account("cosmosrot03");
    const { client } = await seed("cosmos-conn", acct.keys().primaryMasterKey, { ProviderAddress: acct.id, CredentialId: "primary", SecretFormat: "connection-string" });
    const { engine: e, notifier, logs } = engine();
    await e.rotateSecret(request("cosmos-conn"));
    const value = (await client.getSecret("cosmos-conn")).value!;
    expect(value).toBe(`AccountEndpoint=${acct.documentEndpoint};AccountKey=${acct.keys().secondaryMasterKey};`);
    await e.rotateSecret(request("cosmos-conn"));
    const next = readCosmosValue((await client.getSecret("cosmos-conn")).value!);
    expect(next).toEqual({ key: acct.keys().primaryMasterKey, endpoint: acct.documentEndpoint });
    expect(await keyWorks(acct.documentEndpoint, next.key)).toBe(true);
    assertNoKeys(logs, notifier.sent);
  });

  it("without CredentialId or KeyKind, finds the active key from the value", async () => {
    const acct = account("cosmosrot04");
    const before = acct.keys();
    const { client } = await seed("cosmos-nocred", before.secondaryMasterKey, { ProviderAddress: acct.id });
    await expect(engine().engine.rotateSecret(request("cosmos-nocred"))).resolves.toMatchObject({ status: "rotated", credentialId: "primary" });
    expect(acct.keys().secondaryMasterKey).toBe(before.secondaryMasterKey);
    expect((await client.getSecret("cosmos-nocred")).properties.tags).toMatchObject({ CredentialId: "primary" });
  });

  it("is selected by ProviderAddress alone: planned through the default registry, rotated through the registry's resource-type lookup", async () => {
    const acct = account("cosmosrot05");
    await seed("cosmos-bytype", acct.keys().primaryMasterKey, { ProviderAddress: acct.id, CredentialId: "primary" });
    const planned = await engine(defaultRegistry).engine.rotateSecret({ ...request("cosmos-bytype"), mode: "dry-run" });
    expect(planned).toMatchObject({ status: "planned", rotator: "cosmos-db-key", plan: ["check-current", "create", "verify", "commit"] });
    await expect(engine().engine.rotateSecret(request("cosmos-bytype"))).resolves.toMatchObject({ status: "rotated", rotator: "cosmos-db-key" });
  });

  it("emergency mode regenerates the previously active key too: the old value stops working", async () => {
    const acct = account("cosmosrot06");
    const before = acct.keys();
    const { client } = await seed("cosmos-leak", before.primaryMasterKey, { ProviderAddress: acct.id, CredentialId: "primary" });
    const { engine: e, notifier, logs } = engine();
    await expect(e.rotateSecret(request("cosmos-leak", "emergency"))).resolves.toMatchObject({ status: "rotated", credentialId: "secondary", revoked: true });
    const after = acct.keys();
    expect(after.primaryMasterKey).not.toBe(before.primaryMasterKey);
    expect(await keyWorks(acct.documentEndpoint, before.primaryMasterKey)).toBe(false);
    expect((await client.getSecret("cosmos-leak")).value).toBe(after.secondaryMasterKey);
    expect(await keyWorks(acct.documentEndpoint, after.secondaryMasterKey)).toBe(true);
    assertNoKeys(logs, notifier.sent);
  });
});

describe("cosmos-db-key failures leave Key Vault holding a key that works", () => {
  async function seeded(accountName: string, secret: string, o: { disableLocalAuth?: boolean } = {}) {
    const acct = account(accountName, o);
    const before = acct.keys();
    const { client } = await seed(secret, before.primaryMasterKey, { ProviderAddress: acct.id, CredentialId: "primary" });
    const holdsWorkingKey = async () => {
      const value = (await client.getSecret(secret)).value!;
      expect(value).toBe(before.primaryMasterKey);
      expect(acct.keys().primaryMasterKey).toBe(before.primaryMasterKey);
      if (!o.disableLocalAuth) expect(await keyWorks(acct.documentEndpoint, value)).toBe(true);
    };
    return { acct, before, client, holdsWorkingKey };
  }

  it("ARM 500 on listKeys and on the regenerateKey operation's status are transient and change nothing Key Vault holds", async () => {
    const { holdsWorkingKey } = await seeded("cosmosfail01", "cosmos-fail-500");
    const { engine: e, notifier } = engine();
    armFaults.add({ match: { service: "arm", operation: "Microsoft.DocumentDB/databaseAccounts/listKeys/action" }, status: 500, times: 3 });
    expect(await failure(e.rotateSecret(request("cosmos-fail-500")))).toMatchObject({ kind: "transient" });
    await holdsWorkingKey();
    armFaults.add({ match: { service: "arm", operation: "Microsoft.DocumentDB/locations/operationsStatus/read" }, status: 503, times: 10 });
    expect(await failure(e.rotateSecret(request("cosmos-fail-500")))).toMatchObject({ kind: "transient" });
    armFaults.clear();
    await holdsWorkingKey();
    expect(notifier.sent.map((n) => [n.step, n.errorKind, n.willRetry])).toEqual([
      ["check-current", "transient", true],
      ["create", "transient", true],
    ]);
    await expect(e.rotateSecret(request("cosmos-fail-500"))).resolves.toMatchObject({ status: "rotated" });
  });

  it("ARM refusing regenerateKey (400) is a ProviderError with ARM's code, reported once", async () => {
    const { holdsWorkingKey } = await seeded("cosmosfail02", "cosmos-fail-400");
    const { engine: e, notifier } = engine();
    armFaults.add({ match: { service: "arm", operation: "Microsoft.DocumentDB/databaseAccounts/regenerateKey/action" }, status: 400, errorCode: "BadRequest", errorMessage: "Operation not allowed now.", times: 1 });
    const err = await failure(e.rotateSecret(request("cosmos-fail-400")));
    expect(err).toBeInstanceOf(ArmProviderError);
    expect(err.code).toBe("BadRequest");
    await holdsWorkingKey();
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "create", errorKind: "provider", willRetry: false })]);
  });

  it("verification failing (the data plane refuses the new key) is reported; the active key is untouched", async () => {
    const { acct, before, holdsWorkingKey } = await seeded("cosmosfail03", "cosmos-fail-verify");
    armFaults.add({ match: { service: "cosmos", operation: "GetDatabaseAccount" }, status: 401, errorCode: "Unauthorized", times: 3 });
    const { engine: e, notifier, logs } = engine();
    const err = await failure(e.rotateSecret(request("cosmos-fail-verify")));
    expect(err).toBeInstanceOf(VerificationError);
    expect(err.message).toContain("refused the secondary key: HTTP 401");
    expect(acct.keys().secondaryMasterKey).not.toBe(before.secondaryMasterKey);
    await holdsWorkingKey();
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "verify", errorKind: "verification" })]);
    assertNoKeys(logs, notifier.sent);
  });

  it("refuses an account with key authentication disabled, before regenerating anything", async () => {
    const { acct, before, holdsWorkingKey } = await seeded("cosmosfail04", "cosmos-fail-aad", { disableLocalAuth: true });
    const err = await failure(engine().engine.rotateSecret(request("cosmos-fail-aad")));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toContain("local (key) authentication disabled");
    expect(acct.keys()).toEqual(before);
    await holdsWorkingKey();
  });

  it("Key Vault failing the commit: the previous version, whose key still works, stays the latest", async () => {
    const { client, holdsWorkingKey } = await seeded("cosmosfail05", "cosmos-fail-commit");
    const { engine: e, notifier } = engine();
    kv.faults.add({ match: { operation: "SetSecret", path: /\/secrets\/cosmos-fail-commit$/ }, status: 500, times: 3 });
    expect(await failure(e.rotateSecret(request("cosmos-fail-commit")))).toMatchObject({ kind: "transient" });
    await holdsWorkingKey();
    expect(await versionsOf(client, "cosmos-fail-commit")).toHaveLength(1);
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "commit", willRetry: true })]);
  });

  it("403 from ARM names the Cosmos DB key role", async () => {
    const { acct, holdsWorkingKey } = await seeded("cosmosfail06", "cosmos-fail-denied");
    const allow = arm.denyScope(acct.id);
    const { engine: e, notifier } = engine();
    try {
      const err = await failure(e.rotateSecret(request("cosmos-fail-denied")));
      expect(err).toBeInstanceOf(ArmProviderError);
      expect(err.code).toBe("AuthorizationFailed");
      expect(err.message).toContain("'keyturn Cosmos DB Key Rotator' role");
    } finally {
      allow();
    }
    await holdsWorkingKey();
    expect(notifier.sent[0]).toMatchObject({ step: "check-current", errorKind: "provider" });
  });
});

describe("cosmos-db-key configuration errors name the tag and change nothing", () => {
  const cases: Array<[string, (a: { id: string; documentEndpoint: string; key: string }) => Record<string, string>, string, ((a: { key: string }) => string)?]> = [
    ["not a resource ID", () => ({ Rotator: "cosmos-db-key", ProviderAddress: "https://x.documents.azure.com:443/" }), "ProviderAddress"],
    [
      "a SQL server's ID",
      () => ({ Rotator: "cosmos-db-key", ProviderAddress: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Sql/servers/cosmosbad` }),
      "ProviderAddress",
    ],
    ["an account that does not exist", () => ({ ProviderAddress: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.DocumentDB/databaseAccounts/no-such-acct` }), "ProviderAddress"],
    ["CredentialId that is no key", (a) => ({ ProviderAddress: a.id, CredentialId: "tertiary" }), "CredentialId"],
    ["CredentialId of the other pair than KeyKind", (a) => ({ ProviderAddress: a.id, CredentialId: "primary", KeyKind: "readonly" }), "CredentialId"],
    ["an unknown KeyKind", (a) => ({ ProviderAddress: a.id, KeyKind: "admin" }), "KeyKind"],
    ["CredentialId naming another key than the value", (a) => ({ ProviderAddress: a.id, CredentialId: "secondary" }), "CredentialId"],
    ["an unknown SecretFormat", (a) => ({ ProviderAddress: a.id, SecretFormat: "mongodb" }), "SecretFormat"],
    [
      "a connection string for another account",
      (a) => ({ ProviderAddress: a.id, CredentialId: "primary", SecretFormat: "connection-string" }),
      "ProviderAddress",
      (a) => `AccountEndpoint=https://elsewhere.documents.azure.com:443/;AccountKey=${a.key};`,
    ],
  ];

  it.each(cases)("%s", async (label, tags, tag, value) => {
    const i = cases.findIndex((c) => c[0] === label);
    const acct = account(`cosmosbad${i}`);
    const before = acct.keys();
    const name = `cosmos-bad-${i}`;
    const { client } = await seed(name, value ? value({ key: before.primaryMasterKey }) : before.primaryMasterKey, tags({ id: acct.id, documentEndpoint: acct.documentEndpoint, key: before.primaryMasterKey }));
    const { engine: e, notifier } = engine();
    const err = await failure(e.rotateSecret(request(name)));
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as unknown as ConfigurationError).tag).toBe(tag);
    expect(acct.keys()).toEqual(before);
    expect(await versionsOf(client, name)).toHaveLength(1);
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", errorKind: "configuration", owner: "data-team@contoso.com" })]);
  });

  it("refuses a value that is none of the account's keys", async () => {
    const acct = account("cosmoswrong1");
    await seed("cosmos-wrong", Buffer.alloc(64, 3).toString("base64"), { ProviderAddress: acct.id, CredentialId: "primary" });
    const err = await failure(engine().engine.rotateSecret(request("cosmos-wrong")));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toContain("none of the readwrite keys");
  });
});

describe("cosmos-db-key signing and endpoints (pure)", () => {
  it("signs as the documentation describes and compares endpoints loosely", () => {
    const key = Buffer.alloc(64, 5).toString("base64");
    const date = "Tue, 01 Nov 1994 08:12:31 GMT";
    const expected = createHmac("sha256", Buffer.from(key, "base64")).update(`get\ndbs\ndbs/ToDoList\n${date.toLowerCase()}\n\n`).digest("base64");
    expect(decodeURIComponent(masterKeyAuthorization("GET", "dbs", "dbs/ToDoList", date, key))).toBe(`type=master&ver=1.0&sig=${expected}`);
    expect(sameEndpoint("https://acct.documents.azure.com:443/", "https://ACCT.documents.azure.com")).toBe(true);
    expect(sameEndpoint("https://acct.documents.azure.com:443/", "https://other.documents.azure.com:443/")).toBe(false);
  });
});

function assertNoKeys(logs: string[], sent: unknown[]): void {
  const text = `${logs.join("\n")}\n${JSON.stringify(sent)}`;
  for (const key of seenKeys) expect(text).not.toContain(key);
  expect(text).not.toMatch(/AccountKey=(?!\[REDACTED\])/);
}
