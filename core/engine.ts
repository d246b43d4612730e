// The rotation engine: runs the protocol of ARCHITECTURE.md once, for every trigger
// (Event Grid, HTTP, sweep, CLI):
//
//   lock → load → [skip if stale, unmanaged or paused] (core/preamble.ts) → plan →
//   [read the journal; roll it forward] → [loop guard] → check current → create →
//   journal (single kinds that change a provider) → apply → verify → commit → [revoke] →
//   notify
//
// Invariant: at every instant the latest version of the secret holds a credential
// that works at the provider, or a pending journal holds the one that does. Each step
// checks whether it already happened and can run twice without harm.
import type { TokenCredential } from "@azure/core-auth";
import type { SecretClient } from "@azure/keyvault-secrets";
import type { KeyturnConfig } from "./config.js";
import {
  BadRequestError,
  ConfigurationError,
  ErrorKind,
  KeyturnError,
  NotFoundError,
  TransientError,
  classify,
  describeError,
} from "./errors.js";
import { blockingConsumers, bringConsumersToVersion, targetVersion, type ConsumerOutcome, type ConsumerTiming } from "./consumers.js";
import { commitJournal, isJournalName, settleJournal, writeJournal, JournalState, type JournalEntry } from "./journal.js";
import type { LockLease, RotationLock } from "./lock.js";
import type { Logger } from "./log.js";
import { NotificationType, type Notifier } from "./notify.js";
import { registerSecret } from "./redact.js";
import { CredentialModel, journals, type AzureClientOptions, type CurrentSecret, type PendingCredential, type RotatorContext } from "./rotator.js";
import { MAX_TAGS, Tag, isManaged, tagValue, withTag } from "./tags.js";
import { ObjectKind, callerFields, guarded, isAutomatic } from "./preamble.js";
import { SkipReason, Step, notice, planFromTags, plannedSteps, toCurrent, type RotationPlan, type RotationRequest, type RotationResult } from "./rotation.js";
import type { VaultRef } from "./vaults.js";
import type { RotatorRegistry } from "./registry.js";

export { TriggerKind, type Trigger } from "./preamble.js";
export { SkipReason, Step, planFromTags, type RotationPlan, type RotationRequest, type RotationResult } from "./rotation.js";

const DAY_MS = 86_400_000;

export interface EngineDeps {
  readonly config: KeyturnConfig;
  readonly registry: RotatorRegistry;
  readonly lock: RotationLock;
  readonly notifier: Notifier;
  readonly credential: TokenCredential;
  readonly clientOptions: AzureClientOptions;
  readonly log: Logger;
  secretClient(vaultUrl: string): Promise<SecretClient>;
  now?(): Date;
  /** How long consumers get to show a version after a refresh (default core/consumers.ts). */
  consumerTiming?: ConsumerTiming;
  /** Called as each step begins (tracing; crash tests stop the process here). */
  onStep?(step: Step, request: RotationRequest): void | Promise<void>;
}

export interface Engine {
  rotateSecret(request: RotationRequest): Promise<RotationResult>;
}

export function createEngine(deps: EngineDeps): Engine {
  const now = deps.now ?? (() => new Date());

  async function loadCurrent(client: SecretClient, vault: VaultRef, name: string): Promise<CurrentSecret> {
    try {
      const secret = await client.getSecret(name);
      registerSecret(secret.value);
      return toCurrent(vault, secret);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) throw new NotFoundError(`secret ${name} was not found in vault ${vault.name}`);
      throw error;
    }
  }

  async function rotateSecret(req: RotationRequest): Promise<RotationResult> {
    // keyturn's own journals are never rotation targets, whoever names them.
    if (isJournalName(req.secret)) {
      if (isAutomatic(req.trigger)) return { status: "skipped", reason: SkipReason.Unmanaged, vault: req.vault.name, secret: req.secret, version: req.expectedVersion ?? "" };
      throw new BadRequestError(`${req.secret} is keyturn's own journal; rotate the secret it belongs to`);
    }
    let step: Step = Step.Lock;
    // Every step boundary is announced: an observer may trace it (and the crash tests
    // kill the process right there).
    const enter = async (next: Step) => {
      step = next;
      await deps.onStep?.(next, req);
    };
    let client: SecretClient;
    let latest: CurrentSecret | undefined;
    let plan: RotationPlan | undefined;
    // Set once a single-credential kind may have changed the provider: a permanent
    // failure from then on gives the provider its previous credential back.
    let rollBack: (() => Promise<void>) | undefined;
    const skip = (reason: SkipReason, extra: { rotator?: string; consumers?: readonly ConsumerOutcome[] } = {}): RotationResult => ({
      status: "skipped",
      reason,
      ...extra,
      vault: req.vault.name,
      secret: req.secret,
      version: latest?.version ?? "",
    });

    // The vault's client loads (on a cold instance: its SDK) while the lock's calls travel.
    const clientReady = deps.secretClient(req.vault.url);
    clientReady.catch(() => undefined); // a failure surfaces in load(), once the lock is held

    return guarded<CurrentSecret, RotationResult>(deps, { ...req, name: req.secret }, {
      what: ObjectKind.Secret,
      busy: `a rotation of ${req.secret} is already in progress`,
      load: async () => {
        step = Step.Load;
        client = await clientReady;
        latest = await loadCurrent(client, req.vault, req.secret);
        return { object: latest, version: latest.version, tags: latest.tags };
      },
      skipped: (reason) => skip(reason),
      admit: ({ tags }, log) => {
        if (isManaged(tags)) return undefined;
        if (isAutomatic(req.trigger)) {
          log.debug("secret carries no rotation tags; not managed by keyturn", { step: Step.Load });
          return skip(SkipReason.Unmanaged);
        }
        throw new ConfigurationError("the secret has no rotation tags (Rotator, ValidityPeriodDays, ProviderAddress)");
      },
      failed,
      work: ({ log, lease, loaded, tooRecent }) => work(log, lease, loaded.object, tooRecent),
    });

    async function work(log: Logger, lease: LockLease, current: CurrentSecret, tooRecent: (createdOn: Date | undefined) => boolean): Promise<RotationResult> {
      // Before every write: a lease that could not be renewed may now be someone else's.
      const stillHeld = () => {
        if (lease.lost) throw new TransientError("the rotation lock was lost; stopped before the next write");
      };
      const base = { vault: req.vault.name, secret: req.secret, version: current.version };

      await enter(Step.Plan);
      plan = planFromTags(current.tags, deps.registry);
      const { rotator, params } = plan;
      const rlog = log.child({ rotator: rotator.kind });

      // A journal left by an interrupted rotation is finished first.
      let journal: JournalEntry | undefined;
      // A kind that changes no provider writes no journal, but one an earlier keyturn
      // left may still be pending: the sweep (which lists it) and a person's request
      // (HTTP, CLI: rare) look; events, the burst's bulk, do not spend the read.
      if (journals(rotator) || req.pendingJournal || !isAutomatic(req.trigger)) {
        await enter(Step.ReadJournal);
        const left = await settleJournal(client, req.secret, current, journals(rotator), rlog);
        journal = left.pending;
        // The sweep hands every pending journal to the engine, naming no version. One that
        // recorded a complete rotation (or a kind that changes no provider) leaves nothing
        // to do: rotating again would replace a version that is not due (the loop guard
        // does not help once it is hours old, as it is by the next daily sweep). A caller
        // naming the current version (an event) or a person still gets its rotation.
        if (left.marked && isAutomatic(req.trigger) && req.expectedVersion === undefined) {
          return skip(SkipReason.JournalFinished, { rotator: rotator.kind });
        }
      }
      const rollForward = journal !== undefined;

      // The loop guard; a journal to roll forward is finished whatever its age.
      if (!rollForward && tooRecent(current.createdOn)) {
        rlog.info("latest version is younger than the rotation guard; not rotating again", { step: Step.Plan });
        return skip(SkipReason.RecentlyRotated, { rotator: rotator.kind });
      }

      const started = now();
      const expiresOn = new Date(started.getTime() + plan.validityDays * DAY_MS);
      const ctx: RotatorContext = {
        mode: req.mode,
        now: started,
        expiresOn,
        log: rlog,
        credential: deps.credential,
        clientOptions: deps.clientOptions,
        armEndpoint: deps.config.armEndpoint,
        graphEndpoint: deps.config.graphEndpoint,
        authorityHost: deps.config.authorityHost,
        readSecret: async (name) => (await loadCurrent(client, req.vault, name)).value,
        registerSecret,
      };
      const previousCredentialId = tagValue(current.tags, Tag.CredentialId);

      if (req.mode === "dry-run") {
        await enter(Step.CheckCurrent);
        await rotator.checkCurrent?.(ctx, params, current);
        const steps = plannedSteps(rotator, journals(rotator));
        return {
          status: "planned",
          ...base,
          rotator: rotator.kind,
          expiresOn: expiresOn.toISOString(),
          ...(previousCredentialId !== undefined ? { credentialId: previousCredentialId } : {}),
          rolledForward: rollForward,
          plan: steps,
        };
      }

      let pending: PendingCredential;
      // What checkCurrent learned, for the later steps. Never journaled: a roll-forward
      // has none, and the rotator reads what it needs again.
      let facts: unknown;
      if (journal) {
        pending = journal.pending;
        rlog.warn("rolling forward a rotation that was interrupted", { step: Step.ReadJournal, version: journal.supersedes });
      } else {
        // Before changing anything, prove that the credential we hold works: never
        // act on a target we cannot prove is the one this secret belongs to.
        await enter(Step.CheckCurrent);
        facts = await rotator.checkCurrent?.(ctx, params, current);
        if (rotator.model === CredentialModel.Dual && req.mode === "normal" && plan.consumers.length > 0) {
          // The credential about to be regenerated is the one older versions hold: every
          // consumer must resolve the latest version first. A lagging one is reported
          // once per trigger and skipped (not failed), so Event Grid does not redeliver
          // in a storm; the daily sweep finds the secret still due and tries again.
          await enter(Step.Consumers);
          const blocking = blockingConsumers(await bringConsumersToVersion(ctx, plan.consumers, targetVersion(req.vault, req.secret, current), deps.consumerTiming));
          if (blocking.length > 0) {
            await deps.notifier.notify({
              ...notice(req, plan, current),
              type: NotificationType.ConsumerLagging,
              step: Step.Consumers,
              willRetry: true,
              consumers: blocking,
            }, req.trigger.log);
            return skip(SkipReason.ConsumerLagging, { rotator: rotator.kind, consumers: blocking });
          }
        }
        await enter(Step.Create);
        stillHeld();
        pending = await rotator.create(ctx, params, current, facts);
        registerSecret(pending.secretValue);
        if (journals(rotator)) {
          await enter(Step.Journal);
          stillHeld();
          const origin = { trigger: req.trigger.kind, mode: req.mode, ...callerFields(req.trigger) };
          const journalVersion = await writeJournal(client, req.secret, current.version, rotator.kind, pending, origin);
          journal = { journalVersion, secretName: req.secret, supersedes: current.version, rotator: rotator.kind, state: JournalState.Pending, pending, createdOn: started, ...origin };
        }
      }

      if (rotator.apply) {
        await enter(Step.Apply);
        stillHeld();
        const applied = journal!;
        const previous = current;
        const restore: PendingCredential = rotator.restoreCredential?.(params, previous, pending) ?? { credentialId: previousCredentialId, secretValue: previous.value };
        const known = facts;
        rollBack = async () => {
          const restored = (await rotator.apply!(ctx, params, restore, previous, known)) ?? known;
          await rotator.verify(ctx, params, restore, restored);
          await commitJournal(client, applied, JournalState.RolledBack);
        };
        // What the operation showed replaces what checkCurrent read.
        facts = (await rotator.apply(ctx, params, pending, current, facts)) ?? facts;
      }
      await enter(Step.Verify);
      await rotator.verify(ctx, params, pending, facts);

      await enter(Step.Commit);
      stillHeld();
      let tags: Record<string, string> = { ...current.tags };
      if (pending.credentialId !== undefined) tags = withTag(tags, Tag.CredentialId, pending.credentialId);
      if (Object.keys(tags).length > MAX_TAGS) throw new ConfigurationError(`the secret would carry more than ${MAX_TAGS} tags`);
      const contentType = pending.contentType ?? current.contentType;
      const committed = await client.setSecret(req.secret, pending.secretValue, {
        tags,
        ...(contentType !== undefined ? { contentType } : {}),
        notBefore: started,
        expiresOn,
      });
      const version = committed.properties.version ?? "";
      if (journal) await commitJournal(client, journal);
      // The new version is committed: from here on, giving the provider its previous
      // credential back would break the version that is now the latest (and, in an
      // emergency, restore the leaked one). A failed revoke is reported, not undone.
      rollBack = undefined;
      rlog.info("rotated", { step: Step.Commit, version, previousVersion: current.version, credentialId: pending.credentialId });

      let revoked: boolean | undefined;
      if (req.mode === "emergency") {
        if (rotator.revoke) {
          await enter(Step.Revoke);
          await rotator.revoke(ctx, params, current, pending);
          rlog.warn("previous credential revoked (emergency)", { step: Step.Revoke, version: current.version });
        } else if (rotator.model === CredentialModel.Dual) {
          rlog.warn("emergency rotation: this kind cannot revoke the previous credential; revoke it at the provider", { step: Step.Revoke, version: current.version });
        }
        revoked = rotator.revoke !== undefined || rotator.model === CredentialModel.Single;
      }

      // Consumers pick the new version up; their failures are reported, never undone.
      let consumers: ConsumerOutcome[] | undefined;
      if (plan.consumers.length > 0) {
        await enter(Step.Consumers);
        consumers = await bringConsumersToVersion(ctx, plan.consumers, targetVersion(req.vault, req.secret, { version, createdOn: committed.properties.createdOn ?? started }), deps.consumerTiming);
      }

      const result: RotationResult = {
        status: "rotated",
        vault: req.vault.name,
        secret: req.secret,
        version,
        previousVersion: current.version,
        ...(pending.credentialId !== undefined ? { credentialId: pending.credentialId } : {}),
        ...(previousCredentialId !== undefined ? { previousCredentialId } : {}),
        expiresOn: expiresOn.toISOString(),
        rotator: rotator.kind,
        rolledForward: rollForward,
        ...(revoked !== undefined ? { revoked } : {}),
        ...(consumers ? { consumers } : {}),
      };
      await enter(Step.Notify);
      await deps.notifier.notify({
        ...notice(req, plan, current),
        type: NotificationType.SecretRotated,
        version,
        previousVersion: current.version,
        ...(result.credentialId !== undefined ? { credentialId: result.credentialId } : {}),
        ...(previousCredentialId !== undefined ? { previousCredentialId } : {}),
        expiresOn: expiresOn.toISOString(),
        rolledForward: rollForward,
        ...(consumers ? { consumers } : {}),
      }, req.trigger.log);
      return result;
    }

    /** Any failure under the lock: tell the owner (and give the provider its previous credential back when it may hold the new one). */
    async function failed(raw: unknown, log: Logger): Promise<KeyturnError> {
      const error = classify(raw, step);
      const fields = { step, rotator: plan?.rotator.kind, errorKind: error.kind, error: describeError(error) };
      if (error.kind === ErrorKind.NotFound || error.kind === ErrorKind.Conflict || error.kind === ErrorKind.BadRequest) {
        // Nothing to tell an owner: no secret, someone else is rotating it, or bad input.
        log.warn("rotation not possible", fields);
      } else {
        let rolledBack: boolean | undefined;
        if (error.transient) {
          // The trigger retries (Event Grid redelivers; the sweep comes back). The owner
          // still hears of it, marked `willRetry`; repeated reports of one delivery
          // share its triggerId.
          log.warn("rotation failed with a transient error; the trigger will retry", fields);
        } else {
          log.error("rotation failed", fields);
        }
        if (rollBack && !error.transient) {
          // Verification (or the vault write) failed for good after the provider may
          // have taken the new credential: give it the previous one back, so that the
          // latest version works again. If that fails too, the pending journal still
          // holds the new credential for the next trigger to roll forward. (After a
          // transient failure the journal is rolled forward on the retry instead.)
          try {
            await rollBack();
            rolledBack = true;
            log.warn("provider given the previous credential back", { step, rotator: plan?.rotator.kind });
          } catch (rollBackError) {
            rolledBack = false;
            log.error("could not give the provider its previous credential back; the pending journal holds the new one", {
              step,
              error: describeError(rollBackError),
            });
          }
        }
        const owner = plan?.owner ?? (latest ? tagValue(latest.tags, Tag.Owner) : undefined);
        await deps.notifier.notify({
          type: NotificationType.RotationFailed,
          vault: req.vault.name,
          vaultUrl: req.vault.url,
          secret: req.secret,
          ...(latest ? { version: latest.version } : {}),
          ...(plan ? { rotator: plan.rotator.kind } : {}),
          trigger: req.trigger.kind,
          triggerId: req.trigger.id,
          ...callerFields(req.trigger),
          mode: req.mode,
          ...(owner !== undefined ? { owner } : {}),
          step,
          errorKind: error.kind,
          error: describeError(error),
          willRetry: error.transient,
          ...(rolledBack !== undefined ? { rolledBack } : {}),
        }, req.trigger.log);
      }
      return error;
    }
  }

  return { rotateSecret };
}

