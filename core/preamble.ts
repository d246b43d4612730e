// The guarded preamble of every object keyturn acts on (secrets, certificates, keys):
//
//   lock → load → [skip if the event is stale] → [skip if paused] → work, with the
//   loop guard at hand for the work to apply where its kind needs it
//
// Written once so that the three services cannot drift apart: what "stale", "paused"
// and "too recent" mean, and who counts as an automatic trigger, live here alone.
import type { Caller } from "./auth.js";
import type { KeyturnConfig } from "./config.js";
import { acquireLock, lockKey, type LockLease, type RotationLock } from "./lock.js";
import type { Logger } from "./log.js";
import { isPaused, type Tags } from "./tags.js";
import type { VaultRef } from "./vaults.js";

export const TriggerKind = { Event: "event", Http: "http", Sweep: "sweep", Cli: "cli" } as const;
export type TriggerKind = (typeof TriggerKind)[keyof typeof TriggerKind];

export interface Trigger {
  readonly kind: TriggerKind;
  /** Event id, invocation id or request id: correlates logs and notifications. */
  readonly id: string;
  /** Event type, or the operator's reason. */
  readonly detail?: string;
  /** Manual rotations: who asked, as App Service Authentication vouches (functions/rotateSecret.ts). */
  readonly caller?: Caller;
  /**
   * Where the lines of this trigger's work go: inside a function, its invocation's logger
   * (functions/invocation.ts); otherwise the service's own.
   */
  readonly log?: Logger;
}

/** The caller as log, journal and notification fields (none when no caller is known). */
export function callerFields(trigger: Trigger): { callerName?: string; callerId?: string } {
  return {
    ...(trigger.caller?.name !== undefined ? { callerName: trigger.caller.name } : {}),
    ...(trigger.caller?.objectId !== undefined ? { callerId: trigger.caller.objectId } : {}),
  };
}

/** Events and the sweep act on their own; a person (HTTP, CLI) asked for this one. */
export function isAutomatic(trigger: Trigger): boolean {
  return trigger.kind === TriggerKind.Event || trigger.kind === TriggerKind.Sweep;
}

export const ObjectKind = { Secret: "secret", Certificate: "certificate", Key: "key" } as const;
export type ObjectKind = (typeof ObjectKind)[keyof typeof ObjectKind];

/** The preamble's own reasons to do nothing. */
export const PreambleSkip = { StaleEvent: "stale-event", Paused: "paused" } as const;
export type PreambleSkip = (typeof PreambleSkip)[keyof typeof PreambleSkip];

/** The outcome of a certificate or key left alone, and why (`version`: the one looked at, when there was one). */
export interface Skipped<Reason extends string> {
  readonly status: "skipped";
  readonly name: string;
  readonly version?: string;
  readonly reason: Reason;
}

export interface GuardedRequest {
  readonly vault: VaultRef;
  readonly name: string;
  /** The version an event is about: when it is no longer the one in service, the work was done. */
  readonly expectedVersion?: string | undefined;
  readonly trigger: Trigger;
}

/** What the preamble needs to know of a loaded object. */
export interface Loaded<O> {
  readonly object: O;
  readonly version: string;
  readonly tags: Tags;
}

export interface Guarded<O> {
  readonly log: Logger;
  readonly lease: LockLease;
  readonly loaded: Loaded<O>;
  /**
   * The loop guard: true when an automatic trigger finds a version younger than
   * KEYTURN_ROTATION_GUARD_MINUTES (a new version must not set off another rotation).
   */
  tooRecent(createdOn: Date | undefined): boolean;
}

export interface Preamble<O, R> {
  readonly what: ObjectKind;
  /** The message of RotationInProgressError when another invocation holds the lock. */
  readonly busy: string;
  /** Read the object; `{ outcome }` ends here (nothing to act on). */
  load(log: Logger): Promise<Loaded<O> | { readonly outcome: R }>;
  /** The outcome of a preamble skip. */
  skipped(reason: PreambleSkip, loaded: Loaded<O>): R;
  /** Checks of the kind's own between the stale-event and paused checks; an outcome ends here. */
  admit?(loaded: Loaded<O>, log: Logger): R | undefined;
  work(guarded: Guarded<O>): Promise<R>;
  /** Any failure under the lock, loading included: report it; what it returns is thrown. */
  failed?(error: unknown, log: Logger): Promise<unknown>;
}

/** What the preamble needs of a service's dependencies (the engine's, certificates', keys'). */
export interface PreambleDeps {
  readonly lock: RotationLock;
  readonly log: Logger;
  readonly config: Pick<KeyturnConfig, "rotationGuardMs">;
  now?(): Date;
}

// Object names cannot contain '/', so a certificate's or a key's lock never meets a secret's.
const LOCK_PREFIX: Record<ObjectKind, string> = { secret: "", certificate: "certificates/", key: "keys/" };

export async function guarded<O, R>(deps: PreambleDeps, req: GuardedRequest, p: Preamble<O, R>): Promise<R> {
  const log = (req.trigger.log ?? deps.log).child({ vault: req.vault.name, [p.what]: req.name, trigger: req.trigger.kind, invocationId: req.trigger.id, ...callerFields(req.trigger) });
  let lease: LockLease | undefined;
  try {
    // A lock store that fails (unreachable, 5xx, refusing) leaves classified, through
    // `failed` like any other failure, so that the trigger retries a transient one.
    lease = await acquireLock(deps.lock, lockKey(req.vault.url, `${LOCK_PREFIX[p.what]}${req.name}`), p.busy);
    const loaded = await p.load(log);
    if ("outcome" in loaded) return loaded.outcome;
    // Idempotency: an event about a version that is no longer the one in service was
    // already acted on (by us or by someone else).
    if (req.expectedVersion && req.expectedVersion !== loaded.version) {
      log.info("event is about an older version; nothing to do", { step: "load", version: req.expectedVersion });
      return p.skipped(PreambleSkip.StaleEvent, loaded);
    }
    const admitted = p.admit?.(loaded, log);
    if (admitted !== undefined) return admitted;
    if (isAutomatic(req.trigger) && isPaused(loaded.tags)) {
      log.info("paused by tag", { step: "load" });
      return p.skipped(PreambleSkip.Paused, loaded);
    }
    const tooRecent = (createdOn: Date | undefined) =>
      isAutomatic(req.trigger) && createdOn !== undefined && (deps.now?.() ?? new Date()).getTime() - createdOn.getTime() < deps.config.rotationGuardMs;
    return await p.work({ log, lease: lease, loaded, tooRecent });
  } catch (error) {
    throw p.failed ? await p.failed(error, log) : error;
  } finally {
    await lease?.release();
  }
}
