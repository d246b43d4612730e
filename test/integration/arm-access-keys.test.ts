// The ARM access-key family through the real engine: every kind's descriptor, with the
// real ARM pipeline and poller (@azure/core-rest-pipeline, @azure/core-lro), against the
// ARM double's providers (emulators/arm/access-keys.ts) and the Key Vault double. Whether
// a key works is asked of the double's provider state (or of the Azure OpenAI data plane),
// never of keyturn's own verify code.
//
// The double's shapes are those of azure-rest-api-specs' examples:
//   cognitiveservices stable/2024-10-01/examples/ListKeys.json, RegenerateKey.json ({key1,key2}; body {keyName})
//   servicebus stable/2021-11-01 …AuthorizationRuleListKey.json, …RegenerateKey.json (AccessKeys; body {keyType})
//   eventhub stable/2024-01-01 (the same AccessKeys)
//   redis stable/2024-11-01/examples/RedisCacheRegenerateKey.json ({primaryKey,secondaryKey}; body {keyType})
//   search stable/2025-05-01/examples/SearchRegenerateAdminKey.json (keyKind in the path)
//   appconfiguration stable/2024-06-01/examples/ConfigurationStoresRegenerateKey.json (body {id}; answer one ApiKey, same id)
//   eventgrid stable/2025-02-15/examples/Topics_RegenerateKey.json (200 or 202: long-running)
//   containerregistry stable/2023-07-01/examples/RegistryGenerateCredentials.json (202 + Location; passwords)
import { createHash, createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateClient } from "@azure/keyvault-certificates";
import { KeyClient } from "@azure/keyvault-keys";
import { ArmProviderError } from "../../core/arm.js";
import { AuditCheck, runAudit } from "../../core/audit.js";
import { LocalEmulatorCredential } from "../../core/azure.js";
import { ConfigurationError, ProviderError } from "../../core/errors.js";
import type { RotationRequest } from "../../core/engine.js";
import { startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { testTls } from "../../emulators/tls.js";
import { actionsOf, createAccessKeyRotator, type AccessKeyRotator } from "../../rotators/arm-access-key/family.js";
import { rotators } from "../../rotators/index.js";
import { createRegistry } from "../../core/registry.js";
import { ACCESS_KEY_KINDS, addAccessKeySecret, type AccessKeyKind } from "../support/access-keys.js";
import { failure, testEngine } from "../support/engine.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "access-keys-kv";
const fast = Object.fromEntries(
  ACCESS_KEY_KINDS.map((k) => [k, createAccessKeyRotator((rotators[k] as unknown as AccessKeyRotator).service, { verifyDelaysMs: [0, 10], pollIntervalMs: 5 })]),
);
const registry = createRegistry({ ...rotators, ...fast });

let kv: KeyVaultEmulator;
let arm: ArmEmulator;

beforeAll(async () => {
  const tls = testTls();
  [kv, arm] = await Promise.all([startKeyVaultEmulator({ vaults: [VAULT], tls }), startArmEmulator({ tls })]);
});
afterAll(async () => {
  await Promise.all([kv?.stop(), arm?.stop()]);
});

const engine = () => testEngine(kv, { armEndpoint: arm.url, registry });
const request = (secret: string, mode: RotationRequest["mode"] = "normal"): RotationRequest => ({
  vault: { name: VAULT, url: kv.url(VAULT) },
  secret,
  mode,
  trigger: { kind: "http", id: `t-${secret}-${mode}` },
});

async function seed(kind: AccessKeyKind, name: string, variant = 0, extraTags: Record<string, string> = {}) {
  const f = addAccessKeySecret(arm, kind, name, variant);
  const client = secretClientFor(kv, VAULT);
  const tags: Record<string, string> = { ValidityPeriodDays: "60", Owner: "team@contoso.com", ...f.tags, ...extraTags };
  const s = await client.setSecret(name, f.value, { tags });
  return { ...f, tags, client, version: s.properties.version! };
}

/** Every variant of each kind: formats, entity-level rules, pairs, topics and domains. */
const VARIANTS: Record<string, number> = {
  "cognitive-services-key": 2,
  "service-bus-key": 3,
  "event-hubs-key": 2,
  "redis-cache-key": 2,
  "search-admin-key": 1,
  "app-configuration-key": 3,
  "event-grid-key": 2,
  "container-registry-token": 2,
};
const cases = ACCESS_KEY_KINDS.flatMap((kind) => Array.from({ length: VARIANTS[kind] ?? 1 }, (_, v) => [kind, v] as const));

describe("every access-key kind rotates the key nobody uses, through the engine", () => {
  it("registers all eight services through the one family", () => {
    expect([...ACCESS_KEY_KINDS].sort()).toEqual(
      ["app-configuration-key", "cognitive-services-key", "container-registry-token", "event-grid-key", "event-hubs-key", "redis-cache-key", "search-admin-key", "service-bus-key"].sort(),
    );
    for (const kind of ACCESS_KEY_KINDS) {
      const service = (rotators[kind] as unknown as AccessKeyRotator).service;
      // Least privilege: only list/read/regenerate actions of the service's own namespace.
      const namespace = service.addresses[0]!.split("/")[0]!;
      expect(actionsOf(service).length, kind).toBeGreaterThan(0);
      for (const a of actionsOf(service)) expect(a.startsWith(`${namespace}/`) && /\/(read|list\w*\/action|regenerate\w*\/action|generateCredentials\/action)$/i.test(a), `${kind}: ${a}`).toBe(true);
    }
  });

  it.each(cases)("%s (variant %i): rotated, the new key works, the old one still does, nothing leaks", async (kind, variant) => {
    const name = `${kind}-v${variant}`;
    const s = await seed(kind, name, variant);
    const slot = s.tags.CredentialId!;
    const before = s.handle.keys();
    arm.clearRequests();
    const te = engine();
    const result = await te.engine.rotateSecret(request(name));
    expect(result).toMatchObject({ status: "rotated", rotator: kind, previousCredentialId: slot });
    expect(result.credentialId).not.toBe(slot);
    const latest = await s.client.getSecret(name);
    expect(latest.properties.tags?.CredentialId).toBe(result.credentialId);
    expect(s.works(latest.value!), "the new value works at the provider").toBe(true);
    expect(s.works(s.value), "the previous value still works").toBe(true);
    expect(latest.value).not.toBe(s.value);
    // The value keeps its format: a connection string stays one, JSON stays JSON.
    if (/;|,password=/.test(s.value)) expect(latest.value).toMatch(/;|,password=/);
    if (s.value.startsWith("{")) expect(JSON.parse(latest.value!)).toMatchObject({ username: "ci-pull" });
    // Only the unused key changed at the provider.
    const after = s.handle.keys();
    for (const k of Object.keys(before)) expect(after[k] === before[k], `${kind}: ${k}`).toBe(k !== result.credentialId);
    // Nothing carries a key: logs and notifications.
    const text = JSON.stringify(te.notifier.sent) + te.logs.join("\n");
    for (const k of s.handle.history()) expect(text.includes(k), `${kind}: a key in a log line or notification`).toBe(false);
    // Every ARM call is one the descriptor declares (the least-privilege role covers it).
    const service = (rotators[kind] as unknown as AccessKeyRotator).service;
    const declared = new Set(actionsOf(service).map((a) => a.toLowerCase()));
    for (const r of arm.requests().filter((x) => x.service === "arm" && x.operation && !/\/(operationsStatus|operationResults|operationStatuses)\/read$/i.test(x.operation))) {
      expect(declared.has(r.operation!.toLowerCase()), `${kind}: ${r.operation} is not in the descriptor's actions`).toBe(true);
    }
  });

  it.each(ACCESS_KEY_KINDS.map((k) => [k]))("%s: emergency mode regenerates the previous key too", async (kind) => {
    const name = `${kind}-emergency`;
    const s = await seed(kind, name);
    const result = await engine().engine.rotateSecret(request(name, "emergency"));
    expect(result).toMatchObject({ status: "rotated", revoked: true });
    expect(s.works((await s.client.getSecret(name)).value!)).toBe(true);
    expect(s.works(s.value), "the leaked key no longer works").toBe(false);
  });

  it.each(ACCESS_KEY_KINDS.filter((k) => k !== "container-registry-token").map((k) => [k]))("%s: a value that is no key of the resource is refused before anything changes", async (kind) => {
    const name = `${kind}-foreign`;
    const s = await seed(kind, name);
    await s.client.setSecret(name, "bm90LWEta2V5LW9mLXRoaXMtcmVzb3VyY2U=", { tags: s.tags });
    const before = s.handle.keys();
    const error = await failure(engine().engine.rotateSecret(request(name)));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toMatch(/none of the keys/);
    expect(s.handle.keys()).toEqual(before);
    expect(await versionsOf(s.client, name)).toHaveLength(2);
  });

  it.each(ACCESS_KEY_KINDS.filter((k) => k !== "container-registry-token").map((k) => [k]))("%s: a CredentialId naming the other key is a configuration error", async (kind) => {
    const name = `${kind}-mismatch`;
    const s = await seed(kind, name);
    const service = (rotators[kind] as unknown as AccessKeyRotator).service;
    const other = service.pairs[0]![1];
    await s.client.setSecret(name, s.value, { tags: { ...s.tags, CredentialId: other } });
    const before = s.handle.keys();
    const error = await failure(engine().engine.rotateSecret(request(name)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as unknown as ConfigurationError).tag).toBe("CredentialId");
    expect(s.handle.keys()).toEqual(before);
  });

  it.each(ACCESS_KEY_KINDS.map((k) => [k]))("%s: without the role, ARM's 403 names the role and nothing changes", async (kind) => {
    const name = `${kind}-denied`;
    const s = await seed(kind, name);
    const undo = arm.denyScope(s.handle.id);
    try {
      const before = s.handle.keys();
      const error = await failure(engine().engine.rotateSecret(request(name)));
      expect(error).toBeInstanceOf(ArmProviderError);
      expect(error.message).toContain("AuthorizationFailed");
      // The custom role keyturn is deployed with (its access, derived from the descriptor).
      expect(error.message).toContain((rotators[kind] as unknown as AccessKeyRotator).access.roleName);
      expect(s.handle.keys()).toEqual(before);
    } finally {
      undo();
    }
  });

  it.each(ACCESS_KEY_KINDS.map((k) => [k]))("%s: a ProviderAddress naming nothing is a configuration error (ARM 404)", async (kind) => {
    const name = `${kind}-missing`;
    const s = await seed(kind, name);
    await s.client.setSecret(name, s.value, { tags: { ...s.tags, ProviderAddress: s.handle.id.replace(/\/([^/]+)$/, "/nosuch$1") } });
    const error = await failure(engine().engine.rotateSecret(request(name)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as unknown as ConfigurationError).tag).toBe("ProviderAddress");
  });
});

describe("what each kind does that the others do not", () => {
  it("cognitive-services-key proves the new key with the Azure OpenAI data plane; other account kinds by listing again", async () => {
    const openai = await seed("cognitive-services-key", "oai-dataplane", 0);
    arm.clearRequests();
    await engine().engine.rotateSecret(request("oai-dataplane"));
    const calls = arm.requests();
    expect(calls.filter((r) => r.service === "openai" && r.status === 200)).toHaveLength(1);
    expect(calls.filter((r) => r.operation?.endsWith("/listKeys/action"))).toHaveLength(1);
    // The data plane refuses a key that is none of the account's (what verify relies on).
    const denied = await fetchStatus(`${arm.accessKeys.cognitiveEndpoint(openai.handle.id.split("/").at(-1)!)}openai/models?api-version=2024-10-21`, { "api-key": "0".repeat(32) });
    expect(denied).toBe(401);

    await seed("cognitive-services-key", "lang-relist", 1);
    arm.clearRequests();
    await engine().engine.rotateSecret(request("lang-relist"));
    expect(arm.requests().filter((r) => r.service === "openai")).toHaveLength(0);
    expect(arm.requests().filter((r) => r.operation?.endsWith("/listKeys/action"))).toHaveLength(2);
  });

  it("cognitive-services-key refuses an account with local authentication disabled", async () => {
    const h = arm.accessKeys.addCognitiveAccount({ name: "oai-noloc", disableLocalAuth: true });
    const client = secretClientFor(kv, VAULT);
    await client.setSecret("oai-noloc", h.keys().Key1!, { tags: { ValidityPeriodDays: "60", ProviderAddress: h.id, CredentialId: "Key1" } });
    const before = h.keys();
    const error = await failure(engine().engine.rotateSecret(request("oai-noloc")));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toMatch(/local \(key\) authentication disabled/);
    expect(h.keys()).toEqual(before);
  });

  it("search-admin-key proves the new admin key with the service statistics, which only admin keys may read", async () => {
    const s = await seed("search-admin-key", "srch-dataplane");
    arm.clearRequests();
    await engine().engine.rotateSecret(request("srch-dataplane"));
    expect(arm.requests().filter((r) => r.operation === "search/servicestats/read" && r.status === 200)).toHaveLength(1);
    const endpoint = `${arm.accessKeys.cognitiveEndpoint(s.handle.id.split("/").at(-1)!)}servicestats?api-version=2024-07-01`;
    expect(await fetchStatus(endpoint, { "api-key": s.handle.keys().secondary! })).toBe(200);
    expect(await fetchStatus(endpoint, { "api-key": "X".repeat(52) })).toBe(403);
  });

  it("a dry run reads and checks, and changes nothing", async () => {
    const s = await seed("redis-cache-key", "redis-dry", 1);
    const before = s.handle.keys();
    const result = await engine().engine.rotateSecret(request("redis-dry", "dry-run"));
    expect(result).toMatchObject({ status: "planned", rotator: "redis-cache-key", credentialId: "Primary", plan: ["check-current", "create", "verify", "commit"] });
    expect(s.handle.keys()).toEqual(before);
    expect(await versionsOf(s.client, "redis-dry")).toHaveLength(1);
  });

  it("event-grid-key polls the long-running regenerateKey to its end", async () => {
    await seed("event-grid-key", "egt-lro");
    arm.clearRequests();
    await engine().engine.rotateSecret(request("egt-lro"));
    const ops = arm.requests().map((r) => `${r.method} ${r.status} ${r.operation ?? r.path}`);
    expect(ops).toContainEqual(expect.stringMatching(/^POST 202 Microsoft\.EventGrid\/topics\/regenerateKey\/action$/));
    expect(ops.filter((o) => o.endsWith('operationsStatus/read')).length).toBeGreaterThanOrEqual(1);
    expect(ops.filter((o) => /^GET 200 .*operationResults\/read$/.test(o))).toHaveLength(1);
  });

  it("container-registry-token needs CredentialId, polls generateCredentials and gives the new password the version's expiry", async () => {
    const s = await seed("container-registry-token", "cr-expiry");
    await s.client.setSecret("cr-expiry", s.value, { tags: { ...s.tags, CredentialId: "" } });
    const missing = await failure(engine().engine.rotateSecret(request("cr-expiry")));
    expect(missing).toBeInstanceOf(ConfigurationError);
    expect((missing as unknown as ConfigurationError).tag).toBe("CredentialId");

    await s.client.setSecret("cr-expiry", s.value, { tags: s.tags });
    arm.clearRequests();
    const result = await engine().engine.rotateSecret(request("cr-expiry"));
    expect(result).toMatchObject({ status: "rotated", credentialId: "password2" });
    const ops = arm.requests().map((r) => `${r.method} ${r.status} ${r.operation}`);
    expect(ops).toContainEqual("POST 202 Microsoft.ContainerRegistry/registries/generateCredentials/action");
    expect(ops).toContainEqual("GET 200 Microsoft.ContainerRegistry/registries/operationStatuses/read");
    const token = await armGet(s.handle.id);
    const p2 = (token as { properties: { credentials: { passwords: Array<{ name: string; expiry?: string }> } } }).properties.credentials.passwords.find((p) => p.name === "password2");
    expect(p2?.expiry).toBe(result.expiresOn);
    // Key Vault keeps exp in whole seconds.
    const latest = await s.client.getSecret("cr-expiry");
    expect(Math.floor(latest.properties.expiresOn!.getTime() / 1000)).toBe(Math.floor(Date.parse(result.expiresOn!) / 1000));
  });

  it("service-bus-key keeps the entity's EntityPath in the connection string Service Bus hands out", async () => {
    const s = await seed("service-bus-key", "sb-entity", 4); // a queue's rule, connection-string format
    await engine().engine.rotateSecret(request("sb-entity"));
    const value = (await s.client.getSecret("sb-entity")).value!;
    expect(value).toMatch(/^Endpoint=sb:\/\/[^;]+\/;SharedAccessKeyName=app-send;SharedAccessKey=[^;]+;EntityPath=orders$/);
    expect(value).toContain(s.handle.keys().SecondaryKey!);
  });

  it("app-configuration-key rotates within the read-only pair and proves the key with an HMAC-signed read of the store", async () => {
    const s = await seed("app-configuration-key", "appcs-ro", 2);
    arm.clearRequests();
    const result = await engine().engine.rotateSecret(request("appcs-ro"));
    expect(result).toMatchObject({ previousCredentialId: "Primary Read Only", credentialId: "Secondary Read Only" });
    const value = (await s.client.getSecret("appcs-ro")).value!;
    expect(value).toContain(`Secret=${s.handle.keys()["Secondary Read Only"]}`);
    expect(arm.requests().filter((r) => r.operation === "appconfig/kv/read" && r.status === 200)).toHaveLength(1);
    expect(arm.requests().filter((r) => r.operation?.endsWith("/ListKeys/action"))).toHaveLength(1);
    // The data plane checks the signature (independently of keyturn's signing code).
    const fields = new Map(value.split(";").map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
    const url = new URL(`${fields.get("Endpoint")}/kv?api-version=1.0`);
    const sign = (secret: string) => {
      const date = new Date().toUTCString();
      const hash = createHash("sha256").update("").digest("base64");
      const sig = createHmac("sha256", Buffer.from(secret, "base64")).update(`GET\n${url.pathname}${url.search}\n${date};${url.host};${hash}`).digest("base64");
      return { "x-ms-date": date, "x-ms-content-sha256": hash, authorization: `HMAC-SHA256 Credential=${fields.get("Id")}&SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${sig}` };
    };
    expect(await fetchStatus(url.toString(), sign(fields.get("Secret")!))).toBe(200);
    expect(await fetchStatus(url.toString(), sign(Buffer.from("not the secret").toString("base64")))).toBe(401);
  });

  it("bad tags are refused at plan: a SecretFormat the kind lacks, a ProviderAddress of another shape", async () => {
    for (const [kind, tags, tag] of [
      ["search-admin-key", { SecretFormat: "connection-string" }, "SecretFormat"],
      ["service-bus-key", { ProviderAddress: "/subscriptions/7e57c0de-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/ns" }, "ProviderAddress"],
      ["container-registry-token", { ProviderAddress: "/subscriptions/7e57c0de-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/cr" }, "ProviderAddress"],
    ] as const) {
      const name = `${kind}-badtag-${tag}`;
      const s = await seed(kind, name, 0, tags);
      const before = s.handle.keys();
      const error = await failure(engine().engine.rotateSecret(request(name)));
      expect(error, name).toBeInstanceOf(ConfigurationError);
      expect((error as unknown as ConfigurationError).tag, name).toBe(tag);
      expect(s.handle.keys()).toEqual(before);
    }
  });
});

describe("the double answers as the published specs say", () => {
  const call = async (method: string, path: string, o: { body?: unknown; token?: boolean; apiVersion?: string | null } = {}) => {
    const { request: httpsRequest } = await import("node:https");
    const version = o.apiVersion === undefined ? "" : o.apiVersion === null ? "" : `?api-version=${o.apiVersion}`;
    return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }>((resolve, reject) => {
      const req = httpsRequest(`${arm.url}${path}${version}`, { method, headers: { ...(o.token === false ? {} : { authorization: "Bearer t" }), "content-type": "application/json" }, ca: arm.tls.caPem }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
      });
      req.on("error", reject);
      req.end(o.body === undefined ? undefined : JSON.stringify(o.body));
    });
  };

  it("authentication, api-version and existence come first, with ARM's codes", async () => {
    const redis = arm.accessKeys.addRedisCache({ name: "redis-conformance" });
    expect((await call("POST", `${redis.id}/listKeys`, { token: false, apiVersion: "2024-11-01" })).body.error.code).toBe("AuthenticationFailed");
    expect((await call("POST", `${redis.id}/listKeys`, { apiVersion: null })).body.error.code).toBe("MissingApiVersionParameter");
    expect((await call("POST", `${redis.id}/listKeys`, { apiVersion: "2015-01-01" })).body.error.code).toBe("InvalidApiVersionParameter");
    const missing = await call("POST", `${redis.id.replace(/redis-conformance$/, "nosuch")}/listKeys`, { apiVersion: "2024-11-01" });
    expect([missing.status, missing.body.error.code]).toEqual([404, "ResourceNotFound"]);
    const badEnum = await call("POST", `${redis.id}/regenerateKey`, { apiVersion: "2024-11-01", body: { keyType: "Tertiary" } });
    expect(badEnum.status).toBe(400);
    // RedisCacheRegenerateKey.json: synchronous, 200 with both keys.
    const regen = await call("POST", `${redis.id}/regenerateKey`, { apiVersion: "2024-11-01", body: { keyType: "Primary" } });
    expect(regen.status).toBe(200);
    expect(Object.keys(regen.body).sort()).toEqual(["primaryKey", "secondaryKey"]);
    expect(regen.body.primaryKey).toBe(redis.keys().Primary);
  });

  it("Service Bus answers AccessKeys with connection strings; Event Grid and Container Registry regenerate as long-running operations", async () => {
    const rule = arm.accessKeys.addAuthorizationRule({ provider: "servicebus", namespace: "sb-conf", entity: { type: "topics", name: "orders" }, rule: "listen" });
    const keys = await call("POST", `${rule.id}/listKeys`, { apiVersion: "2021-11-01" });
    expect(Object.keys(keys.body).sort()).toEqual(["keyName", "primaryConnectionString", "primaryKey", "secondaryConnectionString", "secondaryKey"]);
    expect(keys.body.primaryConnectionString).toBe(`Endpoint=sb://sb-conf.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=${rule.keys().PrimaryKey};EntityPath=orders`);

    const topic = arm.accessKeys.addEventGridTopic({ name: "egt-conf" });
    const eg = await call("POST", `${topic.id}/regenerateKey`, { apiVersion: "2025-02-15", body: { keyName: "key2" } });
    expect(eg.status).toBe(202);
    expect(eg.headers["azure-asyncoperation"]).toMatch(/\/providers\/Microsoft\.EventGrid\/locations\/[^/]+\/operationsStatus\//);
    expect(eg.headers.location).toMatch(/\/operationResults\//);
    expect(topic.keys().key2, "the key changes only when the operation completes").toBe(topic.history()[1]);

    const token = arm.accessKeys.addContainerRegistryToken({ registry: "crconf", token: "push" });
    const registry = token.id.replace(/\/tokens\/push$/, "");
    const acr = await call("POST", `${registry}/generateCredentials`, { apiVersion: "2023-07-01", body: { tokenId: token.id, name: "password2" } });
    expect(acr.status).toBe(202);
    expect(acr.headers["azure-asyncoperation"]).toBeUndefined();
    expect(acr.headers.location).toMatch(/\/registries\/crconf\/operationStatuses\/registries-/);
    const unknownToken = await call("POST", `${registry}/generateCredentials`, { apiVersion: "2023-07-01", body: { tokenId: `${registry}/tokens/nosuch` } });
    expect(unknownToken.status).toBe(400);
    // A token's GET shows password names and times, never values.
    const got = await call("GET", token.id, { apiVersion: "2023-07-01" });
    expect(JSON.stringify(got.body)).not.toContain(token.keys().password1);
  });
});

describe("the posture audit covers the family", () => {
  it("flags access-key secrets whose tags do not plan, and passes those that do", async () => {
    const auditVault = "access-keys-audit-kv";
    const auditKv = await startKeyVaultEmulator({ vaults: [auditVault], tls: arm.tls });
    try {
      const owner = { Owner: "team@contoso.com", ValidityPeriodDays: "60" };
      const exp = new Date(Date.now() + 40 * 86_400_000);
      const good = addAccessKeySecret(arm, "event-hubs-key", "audit-good");
      const token = addAccessKeySecret(arm, "container-registry-token", "audit-token");
      const redis = addAccessKeySecret(arm, "redis-cache-key", "audit-redis");
      auditKv.seedSecret(auditVault, "eh-good", good.value, { tags: { ...owner, ...good.tags }, expiresOn: exp });
      auditKv.seedSecret(auditVault, "acr-no-credential-id", token.value, { tags: { ...owner, ProviderAddress: token.tags.ProviderAddress! }, expiresOn: exp });
      auditKv.seedSecret(auditVault, "redis-bad-format", redis.value, { tags: { ...owner, ...redis.tags, SecretFormat: "json" }, expiresOn: exp });
      const credential = new LocalEmulatorCredential();
      const report = await runAudit(
        {
          config: { vaultResourceIds: new Map(), auditMaxValidityDays: 365, armEndpoint: arm.url },
          registry,
          secretClient: async () => secretClientFor(auditKv, auditVault),
          certificateClient: async (url) => new CertificateClient(url, credential, { disableChallengeResourceVerification: true, tlsOptions: { ca: arm.tls.caPem } }),
          keyClient: async (url) => new KeyClient(url, credential, { disableChallengeResourceVerification: true, tlsOptions: { ca: arm.tls.caPem } }),
          credential,
          clientOptions: { retryOptions: { maxRetries: 0 }, tlsOptions: { ca: arm.tls.caPem } },
        },
        { name: auditVault, url: auditKv.url(auditVault) },
      );
      const badTags = report.findings.filter((f) => f.check === AuditCheck.SecretBadTags).map((f) => `${f.name}: ${f.finding}`);
      expect(badTags).toHaveLength(2);
      expect(badTags.find((f) => f.startsWith("acr-no-credential-id"))).toMatch(/CredentialId/);
      expect(badTags.find((f) => f.startsWith("redis-bad-format"))).toMatch(/SecretFormat/);
      expect(report.findings.filter((f) => f.name === "eh-good")).toEqual([]);
      // No finding carries a key.
      const text = JSON.stringify(report);
      for (const k of [...good.handle.history(), ...token.handle.history(), ...redis.handle.history()]) expect(text.includes(k)).toBe(false);
    } finally {
      await auditKv.stop();
    }
  });
});

async function fetchStatus(url: string, headers: Record<string, string>): Promise<number> {
  const { request: httpsRequest } = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { headers, ca: arm.tls.caPem }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

async function armGet(id: string): Promise<unknown> {
  const { request: httpsRequest } = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${arm.url}${id}?api-version=2023-07-01`, { headers: { authorization: "Bearer t" }, ca: arm.tls.caPem }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve(JSON.parse(text)));
    });
    req.on("error", reject);
    req.end();
  });
}
