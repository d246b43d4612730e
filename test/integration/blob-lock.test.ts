// The distributed lock against a real Blob service (Azurite): two instances share it,
// a dead holder's lease expires and is taken over, and the engine stops before writing
// once its lease is lost.
import type { IncomingMessage } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BLOB_API_VERSION, blobTargetFromConnectionString } from "../../core/blob-rest.js";
import { ConfigurationError } from "../../core/errors.js";
import { testTls } from "../../emulators/tls.js";
import { LocalEmulatorCredential } from "../../core/azure.js";
import { BlobLeaseLock, storageConnectionFromEnv } from "../../core/blob-lock.js";
import { RotationInProgressError } from "../../core/errors.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { startAzurite, type Azurite } from "../support/azurite.js";
import { testEngine } from "../support/engine.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

describe("blob lease lock", () => {
  let azurite: Azurite;
  let kv: KeyVaultEmulator;
  const lockFor = (leaseSeconds = 30) => new BlobLeaseLock({ connectionString: azurite.connectionString }, new LocalEmulatorCredential(), {}, "keyturn-locks", leaseSeconds);

  beforeAll(async () => {
    azurite = await startAzurite();
    kv = await startKeyVaultEmulator({ vaults: ["lock-kv"] });
  });
  afterAll(async () => {
    await kv?.stop();
    await azurite?.stop();
  });

  it("reads the Functions host's storage setting in both forms", () => {
    expect(storageConnectionFromEnv({ AzureWebJobsStorage: "UseDevelopmentStorage=true" })).toEqual({ connectionString: "UseDevelopmentStorage=true" });
    expect(storageConnectionFromEnv({ AzureWebJobsStorage__accountName: "keyturnfn" })).toEqual({ blobServiceUri: "https://keyturnfn.blob.core.windows.net" });
    expect(storageConnectionFromEnv({})).toBeUndefined();
  });

  it("lets one holder in at a time, across lock instances, and frees on release", async () => {
    const a = lockFor();
    const b = lockFor();
    const held = await a.tryAcquire("vault/secret-1");
    expect(held).toBeDefined();
    expect(await b.tryAcquire("vault/secret-1")).toBeUndefined();
    expect(await b.tryAcquire("vault/secret-2")).toBeDefined();
    await held!.release();
    const again = await b.tryAcquire("vault/secret-1");
    expect(again).toBeDefined();
    await again!.release();
  });

  it("a dead holder's lease expires and another instance takes over", async () => {
    const survivor = lockFor(15);
    // A holder that died mid-rotation: its lease was taken (15 s, the shortest Azure
    // allows) and is never renewed or released.
    const first = await survivor.tryAcquire("vault/orphan");
    await first!.release(); // creates the lock blob
    const { BlobServiceClient } = await import("@azure/storage-blob");
    const blob = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("keyturn-locks").getBlockBlobClient("vault/orphan.lock");
    await blob.getBlobLeaseClient().acquireLease(15);
    const diedAt = Date.now();

    expect(await survivor.tryAcquire("vault/orphan")).toBeUndefined();
    let taken;
    while (!taken && Date.now() - diedAt < 40_000) {
      await new Promise((r) => setTimeout(r, 1000));
      taken = await survivor.tryAcquire("vault/orphan");
    }
    expect(taken).toBeDefined();
    if (!taken) throw new Error("no engine took the lock over");
    expect(Date.now() - diedAt).toBeGreaterThanOrEqual(14_000);
    await taken.release();
  }, 60_000);

  it("two engines (two instances) rotating the same secret at once produce one rotation", async () => {
    const client = secretClientFor(kv, "lock-kv");
    await client.setSecret("shared", "first-value-123", { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60" } });
    const one = testEngine(kv, { lock: lockFor() });
    const two = testEngine(kv, { lock: lockFor() });
    const vault = { name: "lock-kv", url: kv.url("lock-kv") };
    const results = await Promise.allSettled(
      [one, two, one, two].map((e, i) => e.engine.rotateSecret({ vault, secret: "shared", mode: "normal", trigger: { kind: "http", id: String(i) } })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(RotationInProgressError);
    expect(await versionsOf(client, "shared")).toHaveLength(2);
  });
});

describe("blob lease lock with the managed identity", () => {
  it("sends every call with a bearer token for Storage, and the lease headers of the Blob REST reference", async () => {
    // prepare: an HTTPS Blob endpoint that records requests and answers as the Lease Blob
    // and Put Blob references state (learn.microsoft.com/rest/api/storageservices/lease-blob,
    // .../put-blob): the first acquire finds no blob (404 BlobNotFound), Put Blob with
    // If-None-Match: * makes it (201), the acquire then answers 201 with x-ms-lease-id,
    // and release answers 200.
    const tls = testTls();
    const seen: Array<{ method: string; url: string; headers: IncomingMessage["headers"] }> = [];
    let blobExists = false;
    const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers });
      const lease = req.headers["x-ms-lease-action"];
      if (req.method === "PUT" && req.url!.endsWith("?comp=lease") && lease === "acquire") {
        if (!blobExists) {
          res.writeHead(404, { "x-ms-error-code": "BlobNotFound" }).end();
          return;
        }
        res.writeHead(201, { "x-ms-lease-id": String(req.headers["x-ms-proposed-lease-id"]) }).end();
      } else if (req.method === "PUT" && req.url!.endsWith("?comp=lease") && lease === "release") {
        res.writeHead(200).end();
      } else if (req.method === "PUT" && !req.url!.includes("?")) {
        blobExists = true;
        res.writeHead(201).end();
      } else {
        res.writeHead(400, { "x-ms-error-code": "UnexpectedRequest" }).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const scopes: string[] = [];
    const credential: TokenCredential = {
      async getToken(scope: string | string[], _o?: GetTokenOptions): Promise<AccessToken> {
        scopes.push(...(Array.isArray(scope) ? scope : [scope]));
        return { token: "identity-token", expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const lock = new BlobLeaseLock({ blobServiceUri: endpoint }, credential, { tlsOptions: { ca: tls.caPem } });
    try {
      // act
      const held = await lock.tryAcquire("vault/secret/app-db");
      await held!.release();
      // assess
      expect(scopes.every((s) => s === "https://storage.azure.com/.default")).toBe(true);
      expect(seen.map((r) => `${r.method} ${r.url} ${String(r.headers["x-ms-lease-action"] ?? "")}`.trim())).toEqual([
        "PUT /keyturn-locks/vault/secret/app-db.lock?comp=lease acquire",
        "PUT /keyturn-locks/vault/secret/app-db.lock",
        "PUT /keyturn-locks/vault/secret/app-db.lock?comp=lease acquire",
        "PUT /keyturn-locks/vault/secret/app-db.lock?comp=lease release",
      ]);
      for (const r of seen) {
        expect(r.headers.authorization).toBe("Bearer identity-token");
        expect(r.headers["x-ms-version"]).toBe(BLOB_API_VERSION);
      }
      const [firstAcquire, put, acquire, release] = seen;
      expect(firstAcquire!.headers["x-ms-lease-duration"]).toBe("30");
      expect(put!.headers["x-ms-blob-type"]).toBe("BlockBlob");
      expect(put!.headers["if-none-match"]).toBe("*");
      expect(release!.headers["x-ms-lease-id"]).toBe(acquire!.headers["x-ms-proposed-lease-id"]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("a storage connection string's blob endpoint", () => {
  it("is its BlobEndpoint, or made of its protocol, account and suffix; the emulator's for UseDevelopmentStorage", () => {
    const key = Buffer.from("not-a-real-key").toString("base64");
    expect(blobTargetFromConnectionString(`DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=${key};EndpointSuffix=core.chinacloudapi.cn`)).toEqual({
      endpoint: "https://acct1.blob.core.chinacloudapi.cn",
      auth: { sharedKey: { accountName: "acct1", accountKey: key } },
    });
    expect(blobTargetFromConnectionString(`AccountName=acct1;AccountKey=${key}`).endpoint).toBe("https://acct1.blob.core.windows.net");
    expect(blobTargetFromConnectionString(`AccountName=devstoreaccount1;AccountKey=${key};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;`).endpoint).toBe(
      "http://127.0.0.1:10000/devstoreaccount1",
    );
    // The emulator's published account (learn.microsoft.com/azure/storage/common/storage-use-azurite).
    expect(blobTargetFromConnectionString("UseDevelopmentStorage=true")).toMatchObject({ endpoint: "http://127.0.0.1:10000/devstoreaccount1", auth: { sharedKey: { accountName: "devstoreaccount1" } } });
    expect(() => blobTargetFromConnectionString("AccountName=acct1")).toThrow(ConfigurationError);
  });
});
