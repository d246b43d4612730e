// The distributed lock against a real Blob service (Azurite): two instances share it,
// a dead holder's lease expires and is taken over, and the engine stops before writing
// once its lease is lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
