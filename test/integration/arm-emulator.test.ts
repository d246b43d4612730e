// The ARM double (emulators/arm) against the real Azure SDK clients that keyturn's
// rotators use: management clients for ARM, BlobServiceClient with Shared Key for the
// blob data plane, and a Cosmos DB master-key request signed here, independently of
// the double, from Microsoft's documented algorithm.
import { createHmac } from "node:crypto";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyVaultManagementClient } from "@azure/arm-keyvault";
import { CosmosDBManagementClient } from "@azure/arm-cosmosdb";
import { PostgreSQLManagementFlexibleServerClient } from "@azure/arm-postgresql-flexible";
import { SqlManagementClient } from "@azure/arm-sql";
import { StorageManagementClient } from "@azure/arm-storage";
import { BlobServiceClient, StorageSharedKeyCredential, type StoragePipelineOptions } from "@azure/storage-blob";
import { FaultInjector } from "../../emulators/faults.js";
import { compareHeaderNames } from "../../emulators/arm/blob.js";
import {
  DEFAULT_RESOURCE_GROUP as RG,
  DEFAULT_SUBSCRIPTION_ID as SUB,
  startArmEmulator,
  testCredential,
  type ArmEmulator,
} from "../../emulators/arm/index.js";

const credential = testCredential();
const FAST_LRO = { updateIntervalInMs: 5 } as const;

let arm: ArmEmulator;
let faults: FaultInjector;

beforeAll(async () => {
  faults = new FaultInjector();
  arm = await startArmEmulator({ faults });
});

afterAll(async () => {
  await arm?.stop();
});

// ---- helpers -------------------------------------------------------------------

function storageClient(): StorageManagementClient {
  return new StorageManagementClient(credential, SUB, {
    endpoint: arm.url,
    credentials: { scopes: ["https://management.azure.com/.default"] },
    tlsOptions: { ca: arm.tls.caPem },
    retryOptions: { maxRetries: 2, retryDelayInMs: 5, maxRetryDelayInMs: 20 },
  });
}

function sqlClient(): SqlManagementClient {
  return new SqlManagementClient(credential, SUB, {
    endpoint: arm.url,
    credentialScopes: ["https://management.azure.com/.default"],
    tlsOptions: { ca: arm.tls.caPem },
  });
}

function cosmosClient(): CosmosDBManagementClient {
  return new CosmosDBManagementClient(credential, SUB, {
    endpoint: arm.url,
    credentialScopes: ["https://management.azure.com/.default"],
    tlsOptions: { ca: arm.tls.caPem },
  });
}

function postgresClient(): PostgreSQLManagementFlexibleServerClient {
  return new PostgreSQLManagementFlexibleServerClient(credential, SUB, {
    endpoint: arm.url,
    credentialScopes: ["https://management.azure.com/.default"],
    tlsOptions: { ca: arm.tls.caPem },
  });
}

/**
 * BlobServiceClient's options type has no tlsOptions, but the options object is handed
 * to core-rest-pipeline's createPipelineFromOptions, which adds the TLS policy from it.
 */
function blobClient(account: string, key: string): BlobServiceClient {
  const options: StoragePipelineOptions & { tlsOptions: { ca: string } } = {
    tlsOptions: { ca: arm.tls.caPem },
    retryOptions: { maxTries: 1 },
  };
  return new BlobServiceClient(arm.blobUrl(account), new StorageSharedKeyCredential(account, key), options);
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function raw(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? "GET", headers: init.headers, ca: arm.tls.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

/** Cosmos DB master-key token, written from "Access control in the Azure Cosmos DB SQL API", not from the double. */
function cosmosMasterKeyToken(verb: string, resourceType: string, resourceLink: string, date: string, key: string): string {
  const payload = `${verb.toLowerCase()}\n${resourceType.toLowerCase()}\n${resourceLink}\n${date.toLowerCase()}\n\n`;
  const signature = createHmac("sha256", Buffer.from(key, "base64")).update(payload, "utf8").digest("base64");
  return encodeURIComponent(`type=master&ver=1.0&sig=${signature}`);
}

function cosmosGetAccount(documentEndpoint: string, key: string): Promise<RawResponse> {
  const date = new Date().toUTCString();
  return raw(documentEndpoint, {
    headers: {
      authorization: cosmosMasterKeyToken("GET", "", "", date, key),
      "x-ms-date": date,
      "x-ms-version": "2018-12-31",
    },
  });
}

async function rejection(promise: Promise<unknown>): Promise<{ statusCode?: number; code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { statusCode?: number; code?: string; message: string };
  }
  throw new Error("expected the call to fail");
}

function armPath(id: string, apiVersion: string): string {
  return `${arm.url}${id}?api-version=${apiVersion}`;
}

// ---- Microsoft.Storage + blob data plane ---------------------------------------

describe("storage accounts", () => {
  it("lists keys and describes the account with its blob endpoint", async () => {
    const account = arm.addStorageAccount({ name: "kstlist01" });
    const client = storageClient();

    const listed = await client.storageAccounts.listKeys(RG, "kstlist01");
    expect(listed.keys?.map((k) => [k.keyName, k.value, k.permissions])).toEqual([
      ["key1", account.keys().key1, "FULL"],
      ["key2", account.keys().key2, "FULL"],
    ]);
    expect(listed.keys?.[0]?.creationTime).toBeInstanceOf(Date);

    const props = await client.storageAccounts.getProperties(RG, "kstlist01");
    expect(props.id).toBe(account.id);
    expect(props.primaryEndpoints?.blob).toBe(arm.blobUrl("kstlist01"));
    expect(props.encryption?.keySource).toBe("Microsoft.Storage");
    expect(props.keyCreationTime?.key1).toBeInstanceOf(Date);
  });

  it("regenerates one key: the old value stops working on the blob endpoint, the new one and the other key work", async () => {
    const account = arm.addStorageAccount({ name: "kstregen01" });
    const client = storageClient();
    const before = account.keys();

    // Both current keys authenticate (Shared Key checked for real).
    const props = await blobClient("kstregen01", before.key2).getProperties();
    expect(props.hourMetrics?.enabled).toBe(true);
    const containers: string[] = [];
    for await (const c of blobClient("kstregen01", before.key1).listContainers()) containers.push(c.name);
    expect(containers).toEqual([]);

    const result = await client.storageAccounts.regenerateKey(RG, "kstregen01", { keyName: "key2" });
    const newKey2 = result.keys?.find((k) => k.keyName === "key2")?.value;
    expect(newKey2).toBeDefined();
    expect(newKey2).not.toBe(before.key2);
    expect(Buffer.from(newKey2!, "base64")).toHaveLength(64);
    expect(result.keys?.find((k) => k.keyName === "key1")?.value).toBe(before.key1);
    expect(account.keys()).toEqual({ key1: before.key1, key2: newKey2 });

    const stale = await rejection(blobClient("kstregen01", before.key2).getProperties());
    expect(stale.statusCode).toBe(403);
    expect(stale.code).toBe("AuthenticationFailed");

    await expect(blobClient("kstregen01", newKey2!).getProperties()).resolves.toBeDefined();
    await expect(blobClient("kstregen01", before.key1).getAccountInfo()).resolves.toMatchObject({ accountKind: "StorageV2" });
  });

  it("refuses a made-up key and an unknown keyName like ARM", async () => {
    arm.addStorageAccount({ name: "kstbad01" });
    const forged = Buffer.alloc(64, 7).toString("base64");
    expect((await rejection(blobClient("kstbad01", forged).getProperties())).statusCode).toBe(403);

    const bad = await rejection(storageClient().storageAccounts.regenerateKey(RG, "kstbad01", { keyName: "key3" }));
    expect(bad.statusCode).toBe(400);
    expect(bad.code).toBe("InvalidValuesForRequestParameters");
  });
});

describe("Shared Key canonicalisation", () => {
  it("orders x-ms-* headers as the Blob service does, not by code point", () => {
    // Hyphens are ignored first, '_' sorts before digits, and "abc" before "ab-c" before "a-bc"
    // (the order @azure/storage-common's comparator also produces for these names).
    const names = ["x-ms-version", "x-ms-meta-abc", "x-ms-meta-ab-c", "x-ms-meta-a_b", "x-ms-meta-a1", "x-ms-date", "x-ms-client-request-id", "x-ms-meta-a-bc"];
    expect([...names].sort(compareHeaderNames)).toEqual([
      "x-ms-client-request-id",
      "x-ms-date",
      "x-ms-meta-a_b",
      "x-ms-meta-a1",
      "x-ms-meta-abc",
      "x-ms-meta-ab-c",
      "x-ms-meta-a-bc",
      "x-ms-version",
    ]);
  });
});

describe("account-level switches", () => {
  it("refuses Shared Key on a storage account with allowSharedKeyAccess false, and master keys on a Cosmos account with local auth disabled", async () => {
    const storage = arm.addStorageAccount({ name: "kstnokey01", allowSharedKeyAccess: false });
    const refused = await rejection(blobClient("kstnokey01", storage.keys().key1).getProperties());
    expect(refused.statusCode).toBe(403);
    expect(refused.code).toBe("KeyBasedAuthenticationNotPermitted");
    expect((await storageClient().storageAccounts.getProperties(RG, "kstnokey01")).allowSharedKeyAccess).toBe(false);

    const cosmos = arm.addCosmosAccount({ name: "kcosmosaad01", disableLocalAuth: true });
    const forbidden = await cosmosGetAccount(cosmos.documentEndpoint, cosmos.keys().primaryMasterKey);
    expect(forbidden.status).toBe(403);
    expect((await cosmosClient().databaseAccounts.get(RG, "kcosmosaad01")).disableLocalAuth).toBe(true);
  });
});

// ---- Microsoft.Sql ---------------------------------------------------------------

describe("SQL servers", () => {
  it("applies a new admin password only when the polled operation succeeds, and never echoes it", async () => {
    const server = arm.addSqlServer({ name: "ksql01", administratorLogin: "sqladmin", password: "Initial#Passw0rd" });
    const changes: Array<[string, string, string]> = [];
    arm.onPasswordChange = (id, login, password) => {
      changes.push([id, login, password]);
    };
    arm.clearRequests();
    const newPassword = "N3w!Rotated-Passw0rd";
    try {
      const poller = await sqlClient().servers.beginUpdate(RG, "ksql01", { administratorLoginPassword: newPassword }, FAST_LRO);
      // Accepted and polled once ("InProgress"): nothing changed yet.
      expect(server.password()).toBe("Initial#Passw0rd");
      expect(changes).toEqual([]);

      const result = await poller.pollUntilDone();
      expect(result.administratorLogin).toBe("sqladmin");
      expect(result.fullyQualifiedDomainName).toBe("ksql01.database.windows.net");
      expect(result.administratorLoginPassword).toBeUndefined();
    } finally {
      arm.onPasswordChange = undefined;
    }
    expect(server.password()).toBe(newPassword);
    expect(server.passwordHistory()).toEqual(["Initial#Passw0rd", newPassword]);
    expect(changes).toEqual([[server.id, "sqladmin", newPassword]]);

    // The SDK really followed the protocol: 202, the Azure-AsyncOperation URL until
    // Succeeded, then the final body from the Location URL.
    const calls = arm.requests().map((r) => `${r.method} ${r.status} ${r.path.replace(/[0-9a-f-]{36}$/, "{id}")}`);
    // SQL announces its operations under the resource group (arm-sql's recorded servers update).
    const ops = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Sql/locations/westeurope`;
    expect(calls).toEqual([
      `PATCH 202 ${server.id}`,
      `GET 200 ${ops}/serverAzureAsyncOperation/{id}`,
      `GET 200 ${ops}/serverAzureAsyncOperation/{id}`,
      `GET 200 ${ops}/serverOperationResults/{id}`,
    ]);

    // No answer about the server carries the password.
    const token = { authorization: "Bearer t" };
    for (const path of [armPath(server.id, "2022-08-01-preview"), `${arm.url}${arm.requests()[3]!.path}?api-version=2022-08-01-preview`]) {
      const response = await raw(path, { headers: token });
      expect(response.status).toBe(200);
      expect(response.text).toContain("sqladmin");
      expect(response.text).not.toContain(newPassword);
      expect(response.text).not.toContain("administratorLoginPassword");
    }
  });

  it("fails the operation with PasswordNotComplex and keeps the old password", async () => {
    const server = arm.addSqlServer({ name: "ksql02", administratorLogin: "sqladmin", password: "Initial#Passw0rd" });
    const failure = await rejection(sqlClient().servers.beginUpdateAndWait(RG, "ksql02", { administratorLoginPassword: "password" }, FAST_LRO));
    // core-lro reports a failed operation as a plain Error: "The long-running operation has failed. <code>. <message>".
    expect(failure.message).toContain("has failed. PasswordNotComplex. Password validation failed.");
    expect(server.password()).toBe("Initial#Passw0rd");
  });
});

describe("long-running operations", () => {
  it("answers InProgress lroPolls times, and a failing onPasswordChange fails the operation without applying the password", async () => {
    const slow = await startArmEmulator({ lroPolls: 3 });
    try {
      const server = slow.addSqlServer({ name: "ksqlslow01", administratorLogin: "sqladmin", password: "Initial#Passw0rd" });
      const client = new SqlManagementClient(credential, SUB, {
        endpoint: slow.url,
        credentialScopes: ["https://management.azure.com/.default"],
        tlsOptions: { ca: slow.tls.caPem },
      });
      await client.servers.beginUpdateAndWait(RG, "ksqlslow01", { administratorLoginPassword: "Second#Passw0rd" }, FAST_LRO);
      expect(slow.requests().filter((r) => r.path.includes("/serverAzureAsyncOperation/"))).toHaveLength(4);
      expect(server.password()).toBe("Second#Passw0rd");

      slow.onPasswordChange = () => {
        throw new Error("ALTER ROLE failed");
      };
      const failure = await rejection(client.servers.beginUpdateAndWait(RG, "ksqlslow01", { administratorLoginPassword: "Third#Passw0rd" }, FAST_LRO));
      expect(failure.message).toContain("InternalServerError");
      expect(failure.message).toContain("ALTER ROLE failed");
      expect(server.passwordHistory()).toEqual(["Initial#Passw0rd", "Second#Passw0rd"]);
    } finally {
      await slow.stop();
    }
  });
});

// ---- Microsoft.DocumentDB + Cosmos data plane -------------------------------------

describe("Cosmos DB accounts", () => {
  it("lists keys, regenerates one through the long-running operation, and the data plane follows", async () => {
    const account = arm.addCosmosAccount({ name: "kcosmos01" });
    const client = cosmosClient();
    const before = account.keys();

    const listed = await client.databaseAccounts.listKeys(RG, "kcosmos01");
    expect(listed).toMatchObject(before);
    const readOnly = await client.databaseAccounts.listReadOnlyKeys(RG, "kcosmos01");
    expect(readOnly).toMatchObject({ primaryReadonlyMasterKey: before.primaryReadonlyMasterKey, secondaryReadonlyMasterKey: before.secondaryReadonlyMasterKey });
    const got = await client.databaseAccounts.get(RG, "kcosmos01");
    expect(got.documentEndpoint).toBe(account.documentEndpoint);

    const ok = await cosmosGetAccount(account.documentEndpoint, before.primaryMasterKey);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toMatchObject({ id: "kcosmos01" });

    arm.clearRequests();
    await client.databaseAccounts.beginRegenerateKeyAndWait(RG, "kcosmos01", { keyKind: "primary" }, FAST_LRO);
    const paths = arm.requests().map((r) => `${r.method} ${r.status} ${r.path.split("/").slice(-2, -1)[0]}`);
    expect(paths).toEqual(["POST 202 kcosmos01", "GET 200 operationsStatus", "GET 200 operationsStatus", "GET 204 operationResults"]);

    const after = (await client.databaseAccounts.listKeys(RG, "kcosmos01")).primaryMasterKey!;
    expect(after).not.toBe(before.primaryMasterKey);
    expect(after).toBe(account.keys().primaryMasterKey);
    expect(Buffer.from(after, "base64")).toHaveLength(64);

    expect((await cosmosGetAccount(account.documentEndpoint, after)).status).toBe(200);
    const stale = await cosmosGetAccount(account.documentEndpoint, before.primaryMasterKey);
    expect(stale.status).toBe(401);
    expect(JSON.parse(stale.text)).toMatchObject({ code: "Unauthorized" });
    // The secondary and the read-only keys were untouched and still read.
    expect((await cosmosGetAccount(account.documentEndpoint, before.secondaryMasterKey)).status).toBe(200);
    expect((await cosmosGetAccount(account.documentEndpoint, before.primaryReadonlyMasterKey)).status).toBe(200);
  });

  it("answers 401 to a wrong key, to a read-only key on a write, and to a missing token", async () => {
    const account = arm.addCosmosAccount({ name: "kcosmos02" });
    const wrong = Buffer.alloc(64, 1).toString("base64");
    expect((await cosmosGetAccount(account.documentEndpoint, wrong)).status).toBe(401);

    const date = new Date().toUTCString();
    const write = await raw(new URL("dbs", account.documentEndpoint).href, {
      method: "POST",
      headers: {
        authorization: cosmosMasterKeyToken("POST", "dbs", "", date, account.keys().primaryReadonlyMasterKey),
        "x-ms-date": date,
        "content-type": "application/json",
      },
      body: JSON.stringify({ id: "db1" }),
    });
    expect(write.status).toBe(401);

    expect((await raw(account.documentEndpoint, { headers: { "x-ms-date": date } })).status).toBe(401);
  });
});

// ---- Microsoft.DBforPostgreSQL ----------------------------------------------------

describe("PostgreSQL flexible servers", () => {
  it("sets a new admin password through the long-running PATCH", async () => {
    const server = arm.addPostgresFlexibleServer({
      name: "kpg01",
      administratorLogin: "pgadmin",
      password: "Initial#Passw0rd",
      fullyQualifiedDomainName: "127.0.0.1",
    });
    arm.clearRequests();
    const result = await postgresClient().servers.beginUpdateAndWait(RG, "kpg01", { administratorLoginPassword: "Pg!Rotated-2024x" }, FAST_LRO);
    expect(result.fullyQualifiedDomainName).toBe("127.0.0.1");
    expect(result.administratorLogin).toBe("pgadmin");
    expect(server.password()).toBe("Pg!Rotated-2024x");

    // This SDK takes the final state from the resource itself (resourceLocationConfig "azure-async-operation").
    const calls = arm.requests().map((r) => `${r.method} ${r.status} ${r.path.split("/").slice(-2).join("/")}`);
    expect(calls[0]).toBe("PATCH 202 flexibleServers/kpg01");
    expect(calls.filter((c) => c.includes("azureAsyncOperation/"))).toHaveLength(2);
    expect(calls.at(-1)).toBe("GET 200 flexibleServers/kpg01");
  });
});

// ---- Microsoft.KeyVault ------------------------------------------------------------

describe("Key Vault management", () => {
  it("reports soft delete, purge protection and the RBAC model of a vault", async () => {
    arm.addVault({ name: "kt-audit-vault", softDelete: true, purgeProtection: true, rbac: false });
    const client = new KeyVaultManagementClient(credential, SUB, {
      endpoint: arm.url,
      credentials: { scopes: ["https://management.azure.com/.default"] },
      tlsOptions: { ca: arm.tls.caPem },
    });
    const vault = await client.vaults.get(RG, "kt-audit-vault");
    expect(vault.properties).toMatchObject({
      enableSoftDelete: true,
      enablePurgeProtection: true,
      enableRbacAuthorization: false,
      vaultUri: "https://kt-audit-vault.vault.azure.net/",
    });
  });
});

// ---- ARM's error answers ----------------------------------------------------------

describe("ARM errors", () => {
  it("404 ResourceNotFound for an unknown account, ResourceGroupNotFound for an unknown group", async () => {
    const missing = await rejection(storageClient().storageAccounts.listKeys(RG, "nosuchaccount"));
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe("ResourceNotFound");

    const noGroup = await rejection(sqlClient().servers.get("no-such-rg", "ksql01"));
    expect(noGroup.statusCode).toBe(404);
    expect(noGroup.code).toBe("ResourceGroupNotFound");
  });

  it("403 AuthorizationFailed on a denied scope, until it is allowed again", async () => {
    const account = arm.addStorageAccount({ name: "kstdeny01" });
    const allow = arm.denyScope(account.id.toUpperCase());
    try {
      const denied = await rejection(storageClient().storageAccounts.listKeys(RG, "kstdeny01"));
      expect(denied.statusCode).toBe(403);
      expect(denied.code).toBe("AuthorizationFailed");
      expect(denied.message).toContain("Microsoft.Storage/storageAccounts/listkeys/action");
    } finally {
      allow();
    }
    await expect(storageClient().storageAccounts.listKeys(RG, "kstdeny01")).resolves.toBeDefined();
  });

  it("denies everything under a resource group prefix, existing or not", async () => {
    const allow = arm.denyScope(`/subscriptions/${SUB}/resourceGroups/${RG}`);
    try {
      expect((await rejection(sqlClient().servers.get(RG, "does-not-exist"))).code).toBe("AuthorizationFailed");
    } finally {
      allow();
    }
  });

  it("400 without or with an unknown api-version, 401 without a token; paths are case-insensitive", async () => {
    const account = arm.addStorageAccount({ name: "kstraw01" });
    const auth = { authorization: "Bearer any-token" };

    const missing = await raw(`${arm.url}${account.id}/listKeys`, { method: "POST", headers: auth });
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.text)).toMatchObject({ error: { code: "MissingApiVersionParameter" } });

    const unknown = await raw(`${armPath(account.id, "2099-01-01")}`, { headers: auth });
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.text)).toMatchObject({ error: { code: "InvalidApiVersionParameter" } });

    const anonymous = await raw(armPath(account.id, "2025-08-01"));
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.text)).toMatchObject({ error: { code: "AuthenticationFailed" } });
    expect(anonymous.headers["www-authenticate"]).toMatch(/^Bearer /);

    const shouted = await raw(armPath(account.id.toUpperCase(), "2025-08-01"), { headers: auth });
    expect(shouted.status).toBe(200);
    expect(JSON.parse(shouted.text)).toMatchObject({ id: account.id });
    expect(shouted.headers["x-ms-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

// ---- fault injection ----------------------------------------------------------------

describe("fault injection", () => {
  it("an injected 500 reaches the client, whose retry policy then succeeds", async () => {
    arm.addStorageAccount({ name: "kstfault01" });
    arm.clearRequests();
    faults.add({ match: { service: "arm", operation: "Microsoft.Storage/storageAccounts/listkeys/action" }, status: 500, times: 1 });
    const keys = await storageClient().storageAccounts.listKeys(RG, "kstfault01");
    expect(keys.keys).toHaveLength(2);
    expect(arm.requests().map((r) => r.status)).toEqual([500, 200]);
  });
});
