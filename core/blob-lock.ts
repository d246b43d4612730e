// The distributed lock: one blob per secret in the function app's own storage account
// (AzureWebJobsStorage), locked with a blob lease. Every instance of the app (the
// Functions host scales out), the HTTP API, the sweep and the CLI share it.
//
// - A lease lasts LEASE_SECONDS and is renewed every third of that while the rotation
//   runs, so a live holder never loses it and a dead one (killed process) loses it
//   within LEASE_SECONDS: the next trigger takes over and rolls the journal forward.
// - A renewal that fails marks the lease lost; the engine checks before each write
//   and stops, so two holders never write at once.
// - A holder that was frozen rather than dead (a starved or paused VM, a long GC) has
//   not sent its renewals, so none has failed yet when it wakes up, and it would write
//   right away — after another instance took the expired lease over. So the lease also
//   counts as lost once two thirds of its duration have passed since the last renewal
//   that Blob storage confirmed (timed from when that request was sent, on the
//   monotonic clock), leaving a third of the lease for a write already under way.
import { randomUUID } from "node:crypto";
import type { TokenCredential } from "@azure/core-auth";
import { blobRest, blobTargetFromConnectionString, type BlobRest } from "./blob-rest.js";
import type { AzureClientOptions } from "./rotator.js";
import type { LockLease, RotationLock } from "./lock.js";

export const LEASE_SECONDS = 30;
export const DEFAULT_LOCK_CONTAINER = "keyturn-locks";

export interface StorageConnection {
  /** A connection string (Azurite, or `UseDevelopmentStorage=true`), or */
  readonly connectionString?: string;
  /** the blob endpoint with the managed identity (AzureWebJobsStorage__blobServiceUri / __accountName). */
  readonly blobServiceUri?: string;
}

/** Read the Functions host's own storage setting, in either form. */
export function storageConnectionFromEnv(env: NodeJS.ProcessEnv = process.env): StorageConnection | undefined {
  const connectionString = env.AzureWebJobsStorage?.trim();
  if (connectionString) return { connectionString };
  const uri = env.AzureWebJobsStorage__blobServiceUri?.trim();
  if (uri) return { blobServiceUri: uri };
  const account = env.AzureWebJobsStorage__accountName?.trim();
  if (account) return { blobServiceUri: `https://${account}.blob.core.windows.net` };
  return undefined;
}

/** The blob that holds a key's lease, in the lock container. */
export function lockBlobName(key: string): string {
  return `${key}.lock`;
}

export class BlobLeaseLock implements RotationLock {
  readonly retryAfterSeconds = LEASE_SECONDS;
  private service: Promise<BlobRest> | undefined;

  constructor(
    private readonly connection: StorageConnection,
    private readonly credential: TokenCredential,
    private readonly options: AzureClientOptions,
    private readonly containerName = DEFAULT_LOCK_CONTAINER,
    private readonly leaseSeconds = LEASE_SECONDS,
  ) {}

  private getService(): Promise<BlobRest> {
    this.service ??= (async () => {
      const target = this.connection.connectionString
        ? blobTargetFromConnectionString(this.connection.connectionString)
        : { endpoint: this.connection.blobServiceUri!, auth: { credential: this.credential } };
      return blobRest(target, this.options);
    })().catch((error: unknown) => {
      this.service = undefined;
      throw error;
    });
    return this.service;
  }

  async tryAcquire(key: string): Promise<LockLease | undefined> {
    const service = await this.getService();
    const blobPath = `${this.containerName}/${lockBlobName(key)}`;
    const leaseCall = (action: "acquire" | "renew" | "release", headers: Record<string, string>, expected: readonly number[] = []) =>
      service.send("PUT", blobPath, { query: { comp: "lease" }, headers: { "x-ms-lease-action": action, ...headers }, expected });
    // Create the lock blob (and the container) only when the lease finds it missing: a
    // secret rotated before costs the lease calls alone.
    const createBlob = async () => {
      for (let attempt = 0; ; attempt++) {
        // Put Blob, empty, only where none exists: an existing blob (409 BlobAlreadyExists,
        // 412 when it is leased) is fine.
        const put = await service.send("PUT", blobPath, { headers: { "x-ms-blob-type": "BlockBlob", "content-length": "0", "if-none-match": "*" }, expected: [404, 409, 412] });
        if (put.status !== 404) return;
        if (attempt > 0) throw new Error(`the lock blob ${blobPath} could not be created: ${put.code ?? "404"}`);
        // ContainerNotFound: Create Container; 409 ContainerAlreadyExists when another instance was first.
        await service.send("PUT", this.containerName, { query: { restype: "container" }, expected: [409] });
      }
    };
    const leaseId = randomUUID();
    // The lease is surely ours until leaseSeconds after the request that took (or last
    // renewed) it was sent.
    let confirmedAt = performance.now();
    for (let attempt = 0; ; attempt++) {
      confirmedAt = performance.now();
      const acquired = await leaseCall("acquire", { "x-ms-lease-duration": String(this.leaseSeconds), "x-ms-proposed-lease-id": leaseId }, [404, 409]);
      if (acquired.status === 409) return undefined; // LeaseAlreadyPresent
      if (acquired.status !== 404) break;
      if (attempt > 0) throw new Error(`the lock blob ${blobPath} was not found after it was created: ${acquired.code ?? "404"}`);
      await createBlob(); // BlobNotFound or ContainerNotFound
    }
    const trustMs = (this.leaseSeconds * 1000 * 2) / 3;
    let lost = false;
    let released = false;
    const timer = setInterval(() => {
      const sentAt = performance.now();
      leaseCall("renew", { "x-ms-lease-id": leaseId }).then(
        () => {
          confirmedAt = Math.max(confirmedAt, sentAt);
        },
        () => {
          lost = true;
          clearInterval(timer);
        },
      );
    }, (this.leaseSeconds * 1000) / 3);
    timer.unref();
    return {
      get lost() {
        return lost || performance.now() - confirmedAt > trustMs;
      },
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        if (lost) return;
        await leaseCall("release", { "x-ms-lease-id": leaseId }).catch(() => undefined); // expiry frees it anyway
      },
    };
  }
}
