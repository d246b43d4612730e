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
import type { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
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
  private container: Promise<ContainerClient> | undefined;

  constructor(
    private readonly connection: StorageConnection,
    private readonly credential: TokenCredential,
    private readonly options: AzureClientOptions,
    private readonly containerName = DEFAULT_LOCK_CONTAINER,
    private readonly leaseSeconds = LEASE_SECONDS,
  ) {}

  private getContainer(): Promise<ContainerClient> {
    this.container ??= (async () => {
      const storage = await import("@azure/storage-blob");
      const options = this.options as unknown as ConstructorParameters<typeof storage.BlobServiceClient>[2];
      const service: BlobServiceClient = this.connection.connectionString
        ? storage.BlobServiceClient.fromConnectionString(this.connection.connectionString, options)
        : new storage.BlobServiceClient(this.connection.blobServiceUri!, this.credential, options);
      // The container is made when a lock blob first finds it missing (tryAcquire), not
      // checked on every start: it exists after the app's first rotation ever.
      return service.getContainerClient(this.containerName);
    })().catch((error: unknown) => {
      this.container = undefined;
      throw error;
    });
    return this.container;
  }

  async tryAcquire(key: string): Promise<LockLease | undefined> {
    const container = await this.getContainer();
    const blob = container.getBlockBlobClient(lockBlobName(key));
    const statusOf = (error: unknown) => (error as { statusCode?: number }).statusCode;
    // Create the lock blob (and the container) only when the lease finds it missing: a
    // secret rotated before costs the lease calls alone. An existing blob (412/409) is fine.
    const createBlob = async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          await blob.upload("", 0, { conditions: { ifNoneMatch: "*" } });
          return;
        } catch (error) {
          const status = statusOf(error);
          if (status === 409 || status === 412) return;
          if (status !== 404 || attempt > 0) throw error;
          await container.createIfNotExists(); // ContainerNotFound
        }
      }
    };
    const lease = blob.getBlobLeaseClient(randomUUID());
    // The lease is surely ours until leaseSeconds after the request that took (or last
    // renewed) it was sent.
    let confirmedAt = performance.now();
    for (let attempt = 0; ; attempt++) {
      try {
        confirmedAt = performance.now();
        await lease.acquireLease(this.leaseSeconds);
        break;
      } catch (error) {
        const status = statusOf(error);
        if (status === 409) return undefined; // LeaseAlreadyPresent
        if (status !== 404 || attempt > 0) throw error;
        await createBlob(); // BlobNotFound or ContainerNotFound
      }
    }
    const trustMs = (this.leaseSeconds * 1000 * 2) / 3;
    let lost = false;
    let released = false;
    const timer = setInterval(() => {
      const sentAt = performance.now();
      lease.renewLease().then(
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
        await lease.releaseLease().catch(() => undefined); // expiry frees it anyway
      },
    };
  }
}
