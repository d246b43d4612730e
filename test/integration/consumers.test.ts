// Consumers end to end: the real engine, the real storage-account-key and
// generated-secret rotators, the Key Vault double, and the ARM double's App Service sites
// and Container Apps, whose Key Vault references resolve against the Key Vault double.
//
// What the double answers follows azure-rest-api-specs:
//   specification/web/resource-manager/Microsoft.Web/AppService/stable/2024-04-01/examples/
//     GetKeyVaultReferencesForAppSettings.json (GET {site}/config/configreferences/appsettings:
//     value[].properties { vaultName, secretName, secretVersion }, plus ApiKVReferenceProperties'
//     status (ResolveStatus), activeVersion, source, identityType, details — the model of the
//     Microsoft.Web 2023-12-01 spec, as go-azure-sdk's webapps/model_apikvreferenceproperties.go
//     generates it);
//   POST {site}/config/configreferences/appsettings/refresh, App Service's documented
//     refresh of Key Vault references (Key Vault references article, "Understand rotation");
//   specification/app/resource-manager/Microsoft.App/ContainerApps/stable/2025-01-01/examples/
//     Revisions_List.json (properties.active), Revisions_Restart.json (POST → 200),
//     Replicas_Get.json (properties.createdTime, runningState).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSUMER_API_VERSIONS, CONSUMER_ROLE_NAME, ConsumerStatus, parseConsumers } from "../../core/consumers.js";
import { ConsumerAccess } from "../../core/access.js";
import { ConfigurationError } from "../../core/errors.js";
import { SkipReason, type RotationRequest } from "../../core/engine.js";
import { NotificationType, describeNotification } from "../../core/notify.js";
import { DEFAULT_RESOURCE_GROUP as RG, DEFAULT_SUBSCRIPTION_ID as SUB, startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { keyVaultResolver } from "../../emulators/arm/consumers.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { FaultInjector } from "../../emulators/faults.js";
import { rotators } from "../../rotators/index.js";
import { formatRotation } from "../../cli/format.js";
import { rotationResponse } from "../../app/responses.js";
import { createRegistry } from "../../core/registry.js";
import { createStorageAccountKeyRotator } from "../../rotators/storage-account-key/index.js";
import { testEngine, type TestEngine } from "../support/engine.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "consumers-kv";
const registry = createRegistry({ ...rotators, "storage-account-key": createStorageAccountKeyRotator({ verifyDelaysMs: [0, 10, 10] }) });
const TIMING = { timeoutMs: 300, intervalMs: 50 };

let kv: KeyVaultEmulator;
let arm: ArmEmulator;
const armFaults = new FaultInjector();
/** Every credential the accounts and vault ever held: none may reach a log line or a notification. */
const seenValues = new Set<string>();
const engines: TestEngine[] = [];
/** What the CLI printed and the HTTP API answered, searched for values too. */
const printed: string[] = [];

beforeAll(async () => {
  [kv, arm] = await Promise.all([startKeyVaultEmulator({ vaults: [VAULT] }), startArmEmulator({ faults: armFaults })]);
  arm.consumers.resolveSecret = keyVaultResolver([{ name: VAULT, url: kv.url(VAULT) }], kv.tls.caPem);
});

afterAll(async () => {
  // No secret value in anything keyturn wrote: logs, notifications, their rendered text.
  const client = secretClientFor(kv, VAULT);
  for await (const p of client.listPropertiesOfSecrets()) {
    for (const v of await versionsOf(client, p.name)) seenValues.add((await client.getSecret(p.name, { version: v.version! })).value!);
  }
  const captured = engines
    .flatMap((e) => [...e.logs, ...e.notifier.sent.map((n) => JSON.stringify(n)), ...e.notifier.sent.map((n) => describeNotification(n).text)])
    .concat(printed)
    .join("\n");
  expect(captured.length).toBeGreaterThan(0);
  for (const value of seenValues) expect(captured.includes(value), "a secret value reached captured output").toBe(false);
  await Promise.all([kv?.stop(), arm?.stop()]);
});

function engine() {
  const e = testEngine(kv, { armEndpoint: arm.url, registry, consumerTiming: TIMING });
  engines.push(e);
  return e;
}

function request(secret: string, mode: RotationRequest["mode"] = "normal"): RotationRequest {
  return { vault: { name: VAULT, url: kv.url(VAULT) }, secret, mode, trigger: { kind: "event", id: `t-${secret}-${Math.random()}` } };
}

function storageAccount(name: string) {
  const a = arm.addStorageAccount({ name });
  const keys = () => {
    const k = a.keys();
    seenValues.add(k.key1).add(k.key2);
    return k;
  };
  keys();
  return { ...a, keys };
}

async function seedStorageSecret(secret: string, account: ReturnType<typeof storageAccount>, consumers: string) {
  const s = await secretClientFor(kv, VAULT).setSecret(secret, account.keys().key1, {
    tags: { ValidityPeriodDays: "60", Owner: "payments-oncall@contoso.com", ProviderAddress: account.id, CredentialId: "key1", Consumers: consumers },
  });
  return s.properties.version!;
}

describe("Consumers tag", () => {
  const site = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Web/sites/app-a`;
  const app = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.App/containerApps/worker`;

  it("reads comma-separated resource IDs, continued in Consumers2, without duplicates", () => {
    const parsed = parseConsumers({ Consumers: `${site}, ${app}/`, consumers2: site.toUpperCase().replace("/SUBSCRIPTIONS", "/subscriptions") });
    expect(parsed.map((c) => [c.kind, c.resource.name])).toEqual([
      ["app-service", "app-a"],
      ["container-app", "worker"],
    ]);
    expect(parseConsumers({})).toEqual([]);
  });

  it("refuses what is not a site or a container app, naming the tag", () => {
    const storage = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Storage/storageAccounts/x`;
    for (const bad of [storage, "app-a", `${site}/slots/staging`]) {
      const error = (() => {
        try {
          parseConsumers({ Consumers: bad });
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as ConfigurationError).tag).toBe("Consumers");
    }
    expect(() => parseConsumers({ Consumers: `${site},`.repeat(3) + "x".repeat(200) })).toThrow(/256 characters/);
  });

  it("declares its role once (core/access.ts), and infra's generated roles.json deploys exactly that", () => {
    const infra = JSON.parse(readFileSync(new URL("../../infra/roles.json", import.meta.url), "utf8")) as { roles: Record<string, { roleName: string; actions: string[]; assignedOn: string[] }> };
    expect(infra.roles.consumers?.roleName).toBe(CONSUMER_ROLE_NAME);
    expect(infra.roles.consumers?.actions.slice().sort()).toEqual([...ConsumerAccess.actions].sort());
    expect(infra.roles.consumers?.assignedOn).toEqual([...ConsumerAccess.resourceTypes]);
    // The api-versions keyturn sends are ones the double (and the published specs) know.
    expect(CONSUMER_API_VERSIONS).toEqual({ "microsoft.web": "2024-04-01", "microsoft.app": "2025-01-01" });
  });
});

describe("rotation with consumers (storage-account-key, dual)", () => {
  it("refreshes an App Service site and restarts a Container App after the commit, and proves both resolve the new version", async () => {
    const account = storageAccount("stconsumers1");
    const ids = [`/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Web/sites/app-orders`, `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.App/containerApps/orders-worker`];
    const v1 = await seedStorageSecret("orders-storage", account, ids.join(","));
    const site = arm.consumers.addSite({ name: "app-orders", kind: "app", appSettings: { Storage: `@Microsoft.KeyVault(VaultName=${VAULT};SecretName=orders-storage)`, Plain: "x" } });
    const app = arm.consumers.addContainerApp({ name: "orders-worker", secrets: [{ name: "storage", keyVaultUrl: `${kv.url(VAULT)}/secrets/orders-storage` }], replicas: 2 });
    await Promise.all([site.ready, app.ready]);
    expect([site.id, app.id]).toEqual(ids);
    expect(site.references()[0]?.activeVersion).toBe(v1);
    const { engine: e, notifier } = engine();
    arm.clearRequests();

    const result = await e.rotateSecret(request("orders-storage"));
    // The ARM calls on the site: one read before regenerating (already current), then
    // read, refresh and read again after the commit.
    expect(arm.requests().filter((r) => r.path.startsWith(site.id)).map((r) => `${r.method} ${r.path.slice(site.id.length)}`)).toEqual([
      "GET /config/configreferences/appsettings",
      "GET /config/configreferences/appsettings",
      "POST /config/configreferences/appsettings/refresh",
      "GET /config/configreferences/appsettings",
    ]);

    expect(result.status).toBe("rotated");
    expect(result.previousVersion).toBe(v1);
    expect(result.consumers?.map((c) => [c.id, c.status])).toEqual([
      [site.id, ConsumerStatus.Current],
      [app.id, ConsumerStatus.Current],
    ]);
    // The double's own view: both now hold the committed version.
    expect(site.references()).toEqual([{ setting: "Storage", status: "Resolved", activeVersion: result.version }]);
    expect(site.refreshes()).toBe(1);
    // (Replicas that started in the same second as v1 are restarted by the check before
    // regenerating too: whole-second times cannot order them.)
    expect(app.restarts()).toBeGreaterThanOrEqual(1);
    expect(app.replicaVersions()).toEqual([result.version, result.version]);
    const sent = notifier.sent.at(-1)!;
    expect(sent.type).toBe(NotificationType.SecretRotated);
    expect(sent.consumers?.map((c) => c.status)).toEqual([ConsumerStatus.Current, ConsumerStatus.Current]);

    // The next rotation finds both consumers on the latest version and regenerates.
    const keysBefore = account.keys();
    const again = await e.rotateSecret(request("orders-storage"));
    expect(again.status).toBe("rotated");
    expect(account.keys().key1).not.toBe(keysBefore.key1);
    expect(site.references()[0]?.activeVersion).toBe(again.version);
    // The calls a rotation makes on consumers, as the double recorded them.
    const calls = arm.requests().filter((r) => /Microsoft\.(Web|App)\//i.test(r.path)).map((r) => `${r.method} ${r.operation}`);
    expect(calls).toContain("POST Microsoft.Web/sites/config/Write");
    expect(calls).toContain("POST Microsoft.App/containerApps/revisions/restart/action");
  });

  it("does not regenerate while a consumer lags, tells the owner which one, and rotates on the next trigger once it caught up", async () => {
    const account = storageAccount("stconsumers2");
    await seedStorageSecret("billing-storage", account, `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Web/sites/app-billing`);
    const site = arm.consumers.addSite({ name: "app-billing", appSettings: { Storage: `@Microsoft.KeyVault(SecretUri=${kv.url(VAULT)}/secrets/billing-storage/)` } });
    await site.ready;
    const { engine: e, notifier } = engine();

    // The site resolves at start; then its refreshes stop taking effect.
    const first = await e.rotateSecret(request("billing-storage"));
    expect(first.consumers?.[0]?.status).toBe(ConsumerStatus.Current);
    site.holdRefresh(true);
    const second = await e.rotateSecret(request("billing-storage"));
    expect(second.status).toBe("rotated");
    // A consumer that did not follow is reported with its ID; the commit stands.
    expect(second.consumers).toEqual([expect.objectContaining({ id: site.id, status: ConsumerStatus.Lagging, versions: [first.version] })]);
    expect((await secretClientFor(kv, VAULT).getSecret("billing-storage")).properties.version).toBe(second.version);

    // Now the key the site still uses (first.version's) is the one a rotation would regenerate.
    const keys = account.keys();
    const blocked = await e.rotateSecret(request("billing-storage"));
    expect(blocked).toMatchObject({ status: "skipped", reason: SkipReason.ConsumerLagging, version: second.version });
    expect(blocked.consumers?.map((c) => c.id)).toEqual([site.id]);
    expect(account.keys()).toEqual(keys);
    expect((await secretClientFor(kv, VAULT).getSecret("billing-storage")).properties.version).toBe(second.version);
    const lagging = notifier.sent.at(-1)!;
    expect(lagging).toMatchObject({ type: NotificationType.ConsumerLagging, secret: "billing-storage", willRetry: true, owner: "payments-oncall@contoso.com" });
    expect(lagging.consumers?.[0]).toMatchObject({ id: site.id, status: ConsumerStatus.Lagging, versions: [first.version] });
    // What on-call sees from `keyturn rotate` (and the HTTP API's body carries).
    const cli = formatRotation(rotationResponse(blocked, "normal"));
    printed.push(cli, JSON.stringify(rotationResponse(second, "normal")), formatRotation(rotationResponse(second, "normal")));
    expect(cli).toContain("skipped");
    expect(cli).toContain(`consumer    ${site.id}: lagging at version ${first.version}`);
    const text = describeNotification(lagging).text;
    expect(text).toContain(site.id);
    expect(text).toContain(`resolves version ${first.version}`);

    // Another trigger while it still lags: skipped again, one notice each, no error thrown to redeliver.
    await expect(e.rotateSecret(request("billing-storage"))).resolves.toMatchObject({ reason: SkipReason.ConsumerLagging });

    // The site catches up (its refresh works again): the next trigger rotates.
    site.holdRefresh(false);
    const third = await e.rotateSecret(request("billing-storage"));
    expect(third.status).toBe("rotated");
    // The key the lagging site held (key2, of first.version) was regenerated only now.
    expect(account.keys().key2).not.toBe(keys.key2);
    expect(site.references()[0]?.activeVersion).toBe(third.version);
  });

  it("reports a Container App pinned to an old version as lagging without restarting it, and blocks the next regenerate", async () => {
    const account = storageAccount("stconsumers3");
    const v1 = await seedStorageSecret("ledger-storage", account, "");
    const app = arm.consumers.addContainerApp({ name: "ledger", secrets: [{ name: "storage", keyVaultUrl: `${kv.url(VAULT)}/secrets/ledger-storage/${v1}` }] });
    await app.ready;
    const client = secretClientFor(kv, VAULT);
    const latest = await client.getSecret("ledger-storage");
    await client.updateSecretProperties("ledger-storage", latest.properties.version!, { tags: { ...latest.properties.tags, Consumers: app.id } });
    const { engine: e } = engine();

    const rotated = await e.rotateSecret(request("ledger-storage"));
    expect(rotated.consumers).toEqual([expect.objectContaining({ id: app.id, status: ConsumerStatus.Lagging, versions: [v1] })]);
    expect(app.restarts()).toBe(0);
    const blocked = await e.rotateSecret(request("ledger-storage"));
    expect(blocked.reason).toBe(SkipReason.ConsumerLagging);
  });

  it("emergency mode does not wait for consumers: the leaked credential goes now", async () => {
    const account = storageAccount("stconsumers4");
    await seedStorageSecret("leaky-storage", account, `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Web/sites/app-leaky`);
    const site = arm.consumers.addSite({ name: "app-leaky", appSettings: { S: `@Microsoft.KeyVault(VaultName=${VAULT};SecretName=leaky-storage)` } });
    await site.ready;
    const { engine: e } = engine();
    await e.rotateSecret(request("leaky-storage"));
    site.holdRefresh(true);
    await e.rotateSecret(request("leaky-storage"));
    expect((await e.rotateSecret(request("leaky-storage"))).status).toBe("skipped");
    const emergency = await e.rotateSecret(request("leaky-storage", "emergency"));
    expect(emergency.status).toBe("rotated");
    expect(emergency.consumers?.[0]?.status).toBe(ConsumerStatus.Lagging);
  });
});

describe("the same safety check for cosmos-db-key (any dual kind, through the engine)", () => {
  it("does not regenerate a Cosmos DB key while a consumer pinned to the old version lags", async () => {
    const acct = arm.addCosmosAccount({ name: "cosmos-consumers" });
    const keys = acct.keys();
    seenValues.add(keys.primaryMasterKey).add(keys.secondaryMasterKey);
    const siteId = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Web/sites/app-catalog`;
    const client = secretClientFor(kv, VAULT);
    const v1 = (await client.setSecret("catalog-cosmos", keys.primaryMasterKey, { tags: { ValidityPeriodDays: "90", ProviderAddress: acct.id, CredentialId: "primary", Consumers: siteId } }))
      .properties.version!;
    const site = arm.consumers.addSite({ name: "app-catalog", appSettings: { Cosmos: `@Microsoft.KeyVault(VaultName=${VAULT};SecretName=catalog-cosmos;SecretVersion=${v1})` } });
    await site.ready;
    const { engine: e } = engine();

    const first = await e.rotateSecret(request("catalog-cosmos"));
    expect(first.status).toBe("rotated");
    expect(first.consumers?.[0]).toMatchObject({ id: site.id, status: ConsumerStatus.Lagging, versions: [v1] });
    const before = acct.keys();
    seenValues.add(before.secondaryMasterKey);
    const blocked = await e.rotateSecret(request("catalog-cosmos"));
    expect(blocked).toMatchObject({ status: "skipped", reason: SkipReason.ConsumerLagging });
    expect(acct.keys().primaryMasterKey).toBe(before.primaryMasterKey);
  });
});

describe("consumer failures (generated-secret, single)", () => {
  it("reports a consumer ARM refuses or does not find, with its ID, and keeps the committed version", async () => {
    const site = arm.consumers.addSite({ name: "app-denied", appSettings: { Key: `@Microsoft.KeyVault(VaultName=${VAULT};SecretName=api-key)` } });
    const missing = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Web/sites/app-gone`;
    const undo = arm.denyScope(site.id);
    const client = secretClientFor(kv, VAULT);
    const v1 = (await client.setSecret("api-key", "initial-api-key-value-0123456789", { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", Consumers: `${site.id},${missing}` } }))
      .properties.version!;
    const { engine: e, notifier, logs } = engine();

    const result = await e.rotateSecret(request("api-key"));
    undo();

    expect(result.status).toBe("rotated");
    expect(result.previousVersion).toBe(v1);
    expect((await client.getSecret("api-key")).properties.version).toBe(result.version);
    const [denied, gone] = result.consumers!;
    expect(denied).toMatchObject({ id: site.id, status: ConsumerStatus.Failed });
    expect(denied!.detail).toContain("AuthorizationFailed");
    expect(denied!.detail).toContain(CONSUMER_ROLE_NAME);
    expect(gone).toMatchObject({ id: missing, status: ConsumerStatus.Failed });
    expect(gone!.detail).toMatch(/tag Consumers: names a consumer that ARM does not find/);
    // Each detail names its own consumer (the two share a subscription, and so a pipeline).
    expect(denied!.detail).toContain(site.id);
    expect(gone!.detail).toContain(missing);
    const sent = notifier.sent.at(-1)!;
    expect(sent.type).toBe(NotificationType.SecretRotated);
    expect(describeNotification(sent).text).toContain(site.id);
    expect(logs.some((l) => l.includes(site.id) && l.includes("consumer does not resolve the version"))).toBe(true);
  });

  it("retries a throttled refresh as the Azure SDKs do, and reports a refresh that keeps failing as transient, with the commit standing", async () => {
    const siteId = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Web/sites/app-throttled`;
    const client = secretClientFor(kv, VAULT);
    await client.setSecret("throttled-key", "initial-throttled-value-0123456789", { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", Consumers: siteId } });
    const site = arm.consumers.addSite({ name: "app-throttled", appSettings: { K: `@Microsoft.KeyVault(VaultName=${VAULT};SecretName=throttled-key)` } });
    await site.ready;
    const { engine: e } = engine();
    const refresh = { service: "arm", operation: "Microsoft.Web/sites/config/Write", path: siteId };

    // Two 429s with Retry-After: the pipeline's retry policy waits them out.
    let remove = armFaults.add({ match: refresh, status: 429, retryAfterSeconds: 0, times: 2 });
    const ok = await e.rotateSecret(request("throttled-key"));
    remove();
    expect(ok.consumers?.[0]).toMatchObject({ status: ConsumerStatus.Current, versions: [ok.version] });

    // 503 on every attempt: failed, transient, and the new version is still the latest.
    remove = armFaults.add({ match: refresh, status: 503, times: 20 });
    const failing = await e.rotateSecret(request("throttled-key"));
    remove();
    expect(failing.status).toBe("rotated");
    expect(failing.consumers?.[0]).toMatchObject({ id: siteId, status: ConsumerStatus.Failed, transient: true });
    expect((await client.getSecret("throttled-key")).properties.version).toBe(failing.version);
  });

  it("refreshes a consumer right after a single kind commits", async () => {
    const siteId = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Web/sites/app-signing`;
    await secretClientFor(kv, VAULT).setSecret("signing-key", "initial-signing-value-0123456789", { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", Consumers: siteId } });
    const site = arm.consumers.addSite({ name: "app-signing", kind: "functionapp", appSettings: { Sign: `@Microsoft.KeyVault(VaultName=${VAULT};SecretName=signing-key)` } });
    await site.ready;
    const { engine: e } = engine();
    const result = await e.rotateSecret(request("signing-key"));
    expect(result.consumers?.[0]).toMatchObject({ status: ConsumerStatus.Current, versions: [result.version] });
    expect(site.references()[0]).toEqual({ setting: "Sign", status: "Resolved", activeVersion: result.version });
  });

  it("a malformed Consumers tag is a configuration error before anything changes", async () => {
    const client = secretClientFor(kv, VAULT);
    const v1 = (await client.setSecret("bad-consumers", "initial-bad-consumers-0123456789", { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", Consumers: "not-a-resource-id" } }))
      .properties.version!;
    const { engine: e } = engine();
    await expect(e.rotateSecret({ ...request("bad-consumers"), trigger: { kind: "http", id: "bad" } })).rejects.toMatchObject({ kind: "configuration", tag: "Consumers" });
    expect((await client.getSecret("bad-consumers")).properties.version).toBe(v1);
  });
});
