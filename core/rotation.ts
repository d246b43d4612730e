// The request model of a secret rotation and its plan from tags: what every trigger asks
// of the engine (core/engine.ts) and what it answers. Pure: no I/O here.
import type { KeyVaultSecret } from "@azure/keyvault-secrets";
import { parseConsumers, type ConsumerOutcome, type ConsumerRef } from "./consumers.js";
import { ConfigurationError } from "./errors.js";
import { PreambleSkip, callerFields, type Trigger } from "./preamble.js";
import type { RotatorRegistry } from "./registry.js";
import type { CurrentSecret, RotationMode, Rotator } from "./rotator.js";
import { Tag, parseTag, resourceTypeOf, tagValue, validityDaysSchema, type Tags } from "./tags.js";
import type { VaultRef } from "./vaults.js";

export const Step = {
  Lock: "lock",
  Load: "load",
  Plan: "plan",
  /** Single-credential kinds: read the journal (a pending one is rolled forward). */
  ReadJournal: "read-journal",
  CheckCurrent: "check-current",
  Create: "create",
  /** Single-credential kinds: write the new value to the journal before the provider sees it. */
  Journal: "journal",
  Apply: "apply",
  Verify: "verify",
  Commit: "commit",
  Revoke: "revoke",
  /** Before a dual kind regenerates, and after every commit: the Consumers tag's apps (core/consumers.ts). */
  Consumers: "consumers",
  Notify: "notify",
} as const;
export type Step = (typeof Step)[keyof typeof Step];

export interface RotationRequest {
  readonly vault: VaultRef;
  readonly secret: string;
  /** The version an event is about: when it is no longer the latest, the rotation already happened. */
  readonly expectedVersion?: string;
  readonly mode: RotationMode;
  readonly trigger: Trigger;
  /** The sweep found a pending journal for this secret: read it whatever the kind (one an earlier keyturn left). */
  readonly pendingJournal?: boolean;
}

export const SkipReason = {
  StaleEvent: PreambleSkip.StaleEvent,
  Unmanaged: "unmanaged",
  Paused: PreambleSkip.Paused,
  RecentlyRotated: "recently-rotated",
  /** A journal left pending by a rotation that had in fact committed was marked; nothing else was due. */
  JournalFinished: "journal-finished",
  /** A dual kind: a consumer still resolves an older version; nothing regenerated, the owner was told, the next trigger retries. */
  ConsumerLagging: "consumer-lagging",
} as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

export interface RotationResult {
  readonly status: "rotated" | "skipped" | "planned";
  readonly vault: string;
  readonly secret: string;
  /** The new version (rotated) or the current one (skipped, planned). */
  readonly version: string;
  readonly previousVersion?: string;
  readonly credentialId?: string;
  readonly previousCredentialId?: string;
  readonly expiresOn?: string;
  readonly rotator?: string;
  readonly reason?: SkipReason;
  /** A journal left by an interrupted rotation was completed. */
  readonly rolledForward?: boolean;
  /** Dry run: the steps a real rotation would run. */
  readonly plan?: readonly Step[];
  /**
   * Emergency mode: whether the previous credential no longer works — replaced at the
   * provider (single-credential kinds) or revoked by the rotator (dual kinds). False
   * when the kind cannot revoke: the operator must do it at the provider.
   */
  readonly revoked?: boolean;
  /** The Consumers tag's apps: after a commit, whether each took the new version; when skipped for a lagging consumer, the ones that block. */
  readonly consumers?: readonly ConsumerOutcome[];
}

export interface RotationPlan {
  readonly rotator: Rotator<unknown, unknown>;
  readonly params: unknown;
  readonly validityDays: number;
  readonly owner: string | undefined;
  readonly consumers: readonly ConsumerRef[];
}

/** Resolve the rotator and its parameters from tags. Pure; throws ConfigurationError naming the tag. */
export function planFromTags(tags: Tags, registry: RotatorRegistry): RotationPlan {
  const kind = tagValue(tags, Tag.Rotator);
  let rotator: Rotator<unknown, unknown> | undefined;
  if (kind !== undefined) {
    rotator = registry.get(kind);
    if (!rotator) throw new ConfigurationError(`unknown rotator '${kind.slice(0, 64)}'; known: ${registry.kinds.join(", ")}`, Tag.Rotator);
  } else {
    const type = resourceTypeOf(tagValue(tags, Tag.ProviderAddress));
    rotator = type ? registry.byResourceType(type) : undefined;
    if (!rotator) {
      throw new ConfigurationError(
        type ? `no Rotator tag, and no rotator handles resource type ${type}` : "is missing, and ProviderAddress names no Azure resource that selects one",
        type ? Tag.ProviderAddress : Tag.Rotator,
      );
    }
  }
  const validityDays = parseTag(tags, Tag.ValidityPeriodDays, validityDaysSchema);
  const params = rotator.parse(tags);
  return { rotator, params, validityDays, owner: tagValue(tags, Tag.Owner), consumers: parseConsumers(tags) };
}

export function toCurrent(vault: VaultRef, secret: KeyVaultSecret): CurrentSecret {
  const p = secret.properties;
  return {
    vaultUrl: vault.url,
    name: secret.name,
    version: p.version ?? "",
    value: secret.value ?? "",
    tags: p.tags ?? {},
    ...(p.contentType !== undefined ? { contentType: p.contentType } : {}),
    ...(p.createdOn !== undefined ? { createdOn: p.createdOn } : {}),
    ...(p.expiresOn !== undefined ? { expiresOn: p.expiresOn } : {}),
  };
}

/** The fields every notification about this secret carries (the caller's, for a person's request). */
export function notice(req: RotationRequest, plan: RotationPlan, current: CurrentSecret) {
  return {
    vault: req.vault.name,
    vaultUrl: req.vault.url,
    secret: req.secret,
    version: current.version,
    rotator: plan.rotator.kind,
    trigger: req.trigger.kind,
    triggerId: req.trigger.id,
    ...callerFields(req.trigger),
    mode: req.mode,
    ...(plan.owner !== undefined ? { owner: plan.owner } : {}),
  };
}

/** A dry run's answer: the steps a real rotation of this kind would run. */
export function plannedSteps(rotator: Rotator<unknown, unknown>, journals: boolean): Step[] {
  const steps: Step[] = [Step.CheckCurrent, Step.Create];
  if (journals) steps.push(Step.Journal);
  if (rotator.apply) steps.push(Step.Apply);
  steps.push(Step.Verify, Step.Commit);
  return steps;
}
