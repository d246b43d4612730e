// Conformance of the ARM and Graph doubles for the operations keyturn calls: status
// codes, long-running-operation headers and bodies, error bodies. Each test names the
// published example, recorded session or documentation page it comes from.
import { ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_RESOURCE_GROUP as RG, DEFAULT_SUBSCRIPTION_ID as SUB, startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { startGraphEmulator, type GraphEmulator } from "../../emulators/graph/index.js";
import { SPECS, wire, type WireResponse } from "./wire.js";

const SQL_RECORDING = "Azure/azure-sdk-assets js/sdk/sql/arm-sql/recordings/node/sql_test/recording_servers_update_test.json";
const COSMOS_RECORDING = "Azure/azure-sdk-assets js/sdk/cosmosdb/arm-cosmosdb/recordings/node/cosmosdb_test/recording_mongodbresources_update_test.json";
const GRAPH_DOCS = "learn.microsoft.com/graph/api/application-addpassword and application-removepassword (v1.0)";

let arm: ArmEmulator;
const armCall = (path: string, init: Parameters<typeof wire>[2] = {}) => wire(`${arm.url}${path}`, arm.tls.caPem, init);

/** Polls an operation URL as core-lro does until it stops answering "in progress". */
async function pollStatus(url: string): Promise<WireResponse[]> {
  const answers: WireResponse[] = [];
  for (let i = 0; i < 10; i++) {
    const res = await wire(url, arm.tls.caPem);
    answers.push(res);
    if (res.json?.status === "Succeeded" || res.json?.status === "Failed") break;
  }
  return answers;
}

beforeAll(async () => {
  arm = await startArmEmulator({ lroPolls: 1, retryAfterSeconds: 0 });
});
afterAll(async () => arm?.stop());

describe("ARM: storage account keys", () => {
  it(`listKeys answers 200 with key1 and key2, permissions Full (${SPECS.storage}/StorageAccountListKeys.json)`, async () => {
    const acct = arm.addStorageAccount({ name: "stconform1" });
    const res = await armCall(`${acct.id}/listKeys?api-version=2025-08-01`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(res.json.keys.map((k: { keyName: string }) => k.keyName)).toEqual(["key1", "key2"]);
    for (const key of res.json.keys) expect(String(key.permissions).toLowerCase()).toBe("full");
  });

  it(`regenerateKey is synchronous: 200 with the whole key list, the named key new (${SPECS.storage}/StorageAccountRegenerateKey.json)`, async () => {
    const acct = arm.addStorageAccount({ name: "stconform2" });
    const before = acct.keys();
    const res = await armCall(`${acct.id}/regenerateKey?api-version=2025-08-01`, { method: "POST", body: { keyName: "key2" } });
    expect(res.status).toBe(200);
    expect(res.headers["azure-asyncoperation"]).toBeUndefined();
    const keys = Object.fromEntries(res.json.keys.map((k: { keyName: string; value: string }) => [k.keyName, k.value]));
    expect(keys.key1).toBe(before.key1);
    expect(keys.key2).not.toBe(before.key2);
  });

  it(`an unknown account answers 404 ResourceNotFound in ARM's error body (ARM's common error response, ${SPECS.storage})`, async () => {
    const res = await armCall(`/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Storage/storageAccounts/stnothere/listKeys?api-version=2025-08-01`, { method: "POST" });
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe("ResourceNotFound");
    expect(typeof res.json.error.message).toBe("string");
  });
});

describe("ARM: SQL server PATCH (long-running)", () => {
  it(`answers 202 with Azure-AsyncOperation and Location under the resource group, Retry-After and {operation, startTime}; polls {name, status, startTime}; the Location then answers 200 with the server (${SQL_RECORDING}; ${SPECS.sql}/ServerUpdate.json)`, async () => {
    const server = arm.addSqlServer({ name: "sqlconform", administratorLogin: "sqladmin", password: "Initial#Passw0rd" });
    const patch = await armCall(`${server.id}?api-version=2022-08-01-preview`, { method: "PATCH", body: { properties: { administratorLoginPassword: "Next#Passw0rd-123" } } });
    expect(patch.status).toBe(202);
    expect(patch.json).toEqual({ operation: "UpsertLogicalServer", startTime: expect.any(String) });
    const ops = `${arm.url}/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Sql/locations/`;
    expect(patch.headers["azure-asyncoperation"]).toMatch(new RegExp(`^${ops.replace(/[.]/g, "\\.")}[^/]+/serverAzureAsyncOperation/[0-9a-f-]{36}\\?api-version=2022-08-01-preview$`));
    expect(patch.headers.location).toMatch(new RegExp(`^${ops.replace(/[.]/g, "\\.")}[^/]+/serverOperationResults/[0-9a-f-]{36}\\?api-version=2022-08-01-preview$`));
    expect(patch.headers["retry-after"]).toBeDefined();

    const statuses = await pollStatus(patch.headers["azure-asyncoperation"] as string);
    expect(statuses[0]!.json).toEqual({ name: expect.any(String), status: "InProgress", startTime: expect.any(String) });
    expect(statuses[0]!.headers["retry-after"]).toBeDefined();
    expect(statuses.at(-1)!.json.status).toBe("Succeeded");
    const result = await wire(patch.headers.location as string, arm.tls.caPem);
    expect(result.status).toBe(200);
    expect(result.json.type).toBe("Microsoft.Sql/servers");
    expect(result.json.properties.state).toBe("Ready");
    expect(result.text).not.toContain("Next#Passw0rd-123");
    expect(server.password()).toBe("Next#Passw0rd-123");
  });
});

describe("ARM: SQL server PATCH with a weak password", () => {
  it(`the operation ends Failed with PasswordNotComplex and the service's message, and the password is unchanged (the service's failed-operation answer as published deployment logs quote it: {"status":"Failed","error":{…"code":"PasswordNotComplex"…}})`, async () => {
    const server = arm.addSqlServer({ name: "sqlweak", administratorLogin: "sqladmin", password: "Initial#Passw0rd" });
    const patch = await armCall(`${server.id}?api-version=2022-08-01-preview`, { method: "PATCH", body: { properties: { administratorLoginPassword: "weak" } } });
    expect(patch.status).toBe(202);
    const statuses = await pollStatus(patch.headers["azure-asyncoperation"] as string);
    expect(statuses.at(-1)!.json).toMatchObject({
      status: "Failed",
      error: { code: "PasswordNotComplex", message: "Password validation failed. The password does not meet policy requirements because it is not complex enough." },
    });
    expect(statuses.map((s) => s.text).join("")).not.toContain("weak\"");
    expect(server.password()).toBe("Initial#Passw0rd");
  });
});

describe("ARM: PostgreSQL flexible server PATCH (long-running)", () => {
  it(`answers 202 with Azure-AsyncOperation (azureAsyncOperation) and Location (operationResults) under the subscription (${SPECS.postgres}/ServersUpdate.json)`, async () => {
    const server = arm.addPostgresFlexibleServer({ name: "pgconform", administratorLogin: "pgadmin", password: "Initial#Passw0rd" });
    const patch = await armCall(`${server.id}?api-version=2025-08-01`, { method: "PATCH", body: { properties: { administratorLoginPassword: "Next#Passw0rd-456" } } });
    expect(patch.status).toBe(202);
    expect(patch.headers["azure-asyncoperation"]).toMatch(/\/subscriptions\/[^/]+\/providers\/Microsoft\.DBforPostgreSQL\/locations\/[^/]+\/azureAsyncOperation\/[0-9a-f-]{36}\?api-version=/);
    expect(patch.headers.location).toMatch(/\/subscriptions\/[^/]+\/providers\/Microsoft\.DBforPostgreSQL\/locations\/[^/]+\/operationResults\/[0-9a-f-]{36}\?api-version=/);
    const statuses = await pollStatus(patch.headers["azure-asyncoperation"] as string);
    expect(statuses.at(-1)!.json.status).toBe("Succeeded");
    expect(statuses.map((s) => s.text).join("")).not.toContain("Next#Passw0rd-456");
    expect(server.password()).toBe("Next#Passw0rd-456");
  });
});

describe("ARM: Cosmos DB regenerateKey (long-running)", () => {
  it(`answers 202 {"status":"Enqueued"} with Azure-AsyncOperation (operationsStatus) and Location, no Retry-After; the status reads Enqueued until it succeeds (${COSMOS_RECORDING})`, async () => {
    const acct = arm.addCosmosAccount({ name: "cosmosconform" });
    const before = acct.keys();
    const res = await armCall(`${acct.id}/regenerateKey?api-version=2025-10-15`, { method: "POST", body: { keyKind: "secondary" } });
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ status: "Enqueued" });
    expect(res.headers["azure-asyncoperation"]).toMatch(/\/providers\/Microsoft\.DocumentDB\/locations\/[^/]+\/operationsStatus\/[0-9a-f-]{36}\?api-version=2025-10-15$/);
    expect(res.headers.location).toBeDefined();
    expect(res.headers["retry-after"]).toBeUndefined();
    const statuses = await pollStatus(res.headers["azure-asyncoperation"] as string);
    expect(statuses[0]!.json).toEqual({ status: "Enqueued" });
    expect(statuses.at(-1)!.json).toEqual({ status: "Succeeded" });
    expect(acct.keys().secondaryMasterKey).not.toBe(before.secondaryMasterKey);
    expect(acct.keys().primaryMasterKey).toBe(before.primaryMasterKey);
  });
});

describe("Microsoft Graph: application passwords", () => {
  let graph: GraphEmulator;
  let token: string;

  beforeAll(async () => {
    graph = await startGraphEmulator({ trustedClients: { "keyturn-conformance": "conformance-secret" } });
    const credential = new ClientSecretCredential(graph.tenantId, "keyturn-conformance", "conformance-secret", {
      authorityHost: graph.url,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: graph.tls.caPem },
    });
    token = (await credential.getToken("https://graph.microsoft.com/.default")).token;
  });
  afterAll(async () => graph?.stop());

  const post = (path: string, body: unknown) => wire(`${graph.url}/v1.0${path}`, graph.tls.caPem, { method: "POST", body, token });

  it(`addPassword answers 200 with the new passwordCredential, secretText only here (${GRAPH_DOCS})`, async () => {
    const app = graph.addApplication({ displayName: "conformance-app" });
    const end = new Date(Date.now() + 90 * 86_400_000).toISOString();
    const res = await post(`/applications/${app.id}/addPassword`, { passwordCredential: { displayName: "keyturn", endDateTime: end } });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ displayName: "keyturn", keyId: expect.stringMatching(/^[0-9a-f-]{36}$/), secretText: expect.any(String), hint: expect.any(String) });
    expect(new Date(res.json.endDateTime).getTime()).toBe(new Date(end).getTime());
    expect(app.passwords().map((p) => p.keyId)).toContain(res.json.keyId);
  });

  it(`removePassword answers 204 No Content and the password is gone (${GRAPH_DOCS})`, async () => {
    const app = graph.addApplication({ displayName: "conformance-app-2" });
    const seeded = app.addPassword({ displayName: "old" });
    const res = await post(`/applications/${app.id}/removePassword`, { keyId: seeded.keyId });
    expect(res.status).toBe(204);
    expect(res.text).toBe("");
    expect(app.passwords().map((p) => p.keyId)).not.toContain(seeded.keyId);
  });

  it(`an unknown application answers 404 Request_ResourceNotFound in Graph's error body with innerError request ids (learn.microsoft.com/graph/errors)`, async () => {
    const res = await post(`/applications/00000000-0000-0000-0000-0000000000aa/addPassword`, { passwordCredential: {} });
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe("Request_ResourceNotFound");
    expect(res.json.error.innerError).toMatchObject({ "request-id": expect.any(String), date: expect.any(String) });
  });
});
