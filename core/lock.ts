// Per-secret mutual exclusion. A second trigger for a secret that is being rotated is
// not a second rotation: it gets RotationInProgressError (HTTP 409 with Retry-After).
//
// This in-process lock serves a single host; the distributed lock (a blob lease in
// the function app's storage account) implements the same interface.
import { ErrorKind, RotationInProgressError, classify } from "./errors.js";
export interface LockLease {
  /** True once the lock could not be kept (renewal failed): stop before the next write. */
  readonly lost?: boolean;
  release(): Promise<void>;
}

export interface RotationLock {
  /** Take the lock for `key`, or return undefined at once when someone holds it. */
  tryAcquire(key: string): Promise<LockLease | undefined>;
  /** Seconds a loser should wait before trying again. */
  readonly retryAfterSeconds: number;
}

export class InProcessLock implements RotationLock {
  private readonly held = new Set<string>();
  readonly retryAfterSeconds = 30;

  async tryAcquire(key: string): Promise<LockLease | undefined> {
    if (this.held.has(key)) return undefined;
    this.held.add(key);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        this.held.delete(key);
      },
    };
  }
}

export function lockKey(vaultUrl: string, secretName: string): string {
  return `${new URL(vaultUrl).host.toLowerCase()}/${secretName.toLowerCase()}`;
}

/**
 * Take the lock for `key`, as every object kind does before acting: RotationInProgressError
 * (`busy`) when another invocation holds it, and a failing lock store (storage unreachable,
 * 5xx, refused) as a classified KeyturnError, so that the trigger retries a transient one.
 */
export async function acquireLock(lock: RotationLock, key: string, busy: string): Promise<LockLease> {
  let lease: LockLease | undefined;
  try {
    lease = await lock.tryAcquire(key);
  } catch (error) {
    throw classify(error, "taking the lock in the function app's storage (AzureWebJobsStorage)", ErrorKind.Internal);
  }
  if (!lease) throw new RotationInProgressError(busy, lock.retryAfterSeconds);
  return lease;
}
