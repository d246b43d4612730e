// The contract between the engine and a rotator.
//
// A rotator only supplies steps; the engine runs them once, in order, under the lock:
// plan (parse tags) → check current → create → [journal] → apply → verify → commit →
// [revoke] → notify. Rotators never write to Key Vault and never see triggers: the
// engine writes the journal and the new version, so a failed vault write can never
// leave the provider ahead of the vault without a journal to roll forward from.
import type { TokenCredential } from "@azure/core-auth";
import type { KindAccess } from "./access.js";
import type { Logger } from "./log.js";

/** How a kind holds its credential at the provider. */
export const CredentialModel = {
  /** One credential: the new value replaces the old at the provider (journal first). */
  Single: "single",
  /** Two credentials (key1/key2, blue/green logins): rotate the one nobody uses now. */
  Dual: "dual",
} as const;
export type CredentialModel = (typeof CredentialModel)[keyof typeof CredentialModel];

export type RotationMode = "normal" | "dry-run" | "emergency";

/**
 * Whether a kind writes the journal before touching the provider: only a single-credential
 * kind that changes a provider (`apply`). A kind whose credential is the vault's version
 * alone (generated-secret) changes nothing before the commit, so a crash loses nothing
 * and a journal would only cost a secret CREATE.
 */
export function journals(rotator: { readonly model: CredentialModel; readonly apply?: unknown }): boolean {
  return rotator.model === CredentialModel.Single && rotator.apply !== undefined;
}

/** The current (latest) secret version as the engine read it. */
export interface CurrentSecret {
  readonly vaultUrl: string;
  readonly name: string;
  readonly version: string;
  readonly value: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly contentType?: string;
  readonly createdOn?: Date;
  readonly expiresOn?: Date;
}

/**
 * A new credential, made by `create`. `secretValue` is what the engine writes as the
 * new secret version; `credentialId` becomes its `CredentialId` tag. `state` is
 * rotator-private, JSON-serialisable, and travels in the journal so that `apply` and
 * `verify` can run again after a crash in another process.
 */
export interface PendingCredential {
  readonly credentialId: string | undefined;
  readonly secretValue: string;
  readonly contentType?: string;
  readonly state?: Readonly<Record<string, string>>;
}

/** What a rotator may use. Read-only Key Vault access: rotators never write to it. */
export interface RotatorContext {
  readonly mode: RotationMode;
  readonly now: Date;
  /** `exp` of the version that will be committed. */
  readonly expiresOn: Date;
  readonly log: Logger;
  /** The token credential keyturn runs as (managed identity in Azure). */
  readonly credential: TokenCredential;
  /** Options for every Azure SDK client (retry policy, TLS for local doubles). */
  readonly clientOptions: AzureClientOptions;
  /** The ARM endpoint (public cloud by default). */
  readonly armEndpoint: string;
  /** Microsoft Graph endpoint, no trailing slash (public cloud by default). */
  readonly graphEndpoint: string;
  /** Microsoft Entra authority host, no trailing slash (public cloud by default). */
  readonly authorityHost: string;
  /** Read another secret of the same vault (e.g. an administrator credential). */
  readSecret(name: string): Promise<string>;
  /**
   * Register a value as secret so that the logger and every error message scrub it.
   * Rotators call it on every credential they generate or read.
   */
  registerSecret(value: string): void;
}

export interface AzureClientOptions {
  readonly retryOptions?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number };
  readonly tlsOptions?: { ca?: string };
  readonly additionalPolicies?: never[];
}

/**
 * A kind's steps. `F` is what `checkCurrent` learned at the provider (an account's
 * endpoints, a server's administrator login): the engine hands it to the later steps of
 * the same rotation so that they need not ask again. Facts are never journaled: a
 * roll-forward after a crash skips `checkCurrent`, so the later steps get `undefined`
 * and read what they need themselves. Kinds with nothing to pass keep `F = void`.
 */
export interface Rotator<P = unknown, F = void> {
  readonly kind: string;
  readonly model: CredentialModel;
  /** One line for operators: what it rotates. */
  readonly description: string;
  /** ARM resource types (lower case, e.g. `microsoft.storage/storageaccounts`) that select this kind when the `Rotator` tag is absent. */
  readonly resourceTypes?: readonly string[];
  /** Tags this kind reads besides the common ones (documentation and the audit). */
  readonly tags: readonly string[];
  /**
   * What the kind calls in Azure (a `rotators/<kind>/access.ts` constant), or why it needs
   * no role of its own. Every registered kind declares it (test/infra/roles.test.ts); the
   * deployed custom roles are generated from it (scripts/roles.ts).
   */
  readonly access?: KindAccess;

  /** Parse and validate the kind's parameters from tags; throw ConfigurationError naming the tag. Pure. */
  parse(tags: Readonly<Record<string, string>>): P;

  /**
   * Prove the current credential still works at the provider before changing
   * anything: guards against rotating the wrong target. Read-only. Optional. Returns
   * the facts it read, for the later steps of this rotation.
   */
  checkCurrent?(ctx: RotatorContext, params: P, current: CurrentSecret): Promise<F>;

  /**
   * Make the new credential. Single-credential kinds only generate it (no provider
   * change; the engine journals it next). Dual-credential kinds regenerate the inactive
   * credential at the provider; doing that twice is harmless because nobody uses it.
   */
  create(ctx: RotatorContext, params: P, current: CurrentSecret, facts: F | undefined): Promise<PendingCredential>;

  /**
   * Single-credential kinds: set the new credential at the provider. Must be idempotent.
   * May return facts the operation showed (e.g. the resource's state after it), which
   * `verify` then gets instead of `checkCurrent`'s.
   */
  apply?(ctx: RotatorContext, params: P, pending: PendingCredential, current: CurrentSecret, facts: F | undefined): Promise<F | void>;

  /**
   * Single-credential kinds: the credential `apply` (then `verify`) takes to give the
   * provider back what `previous` holds, after a permanent failure once `applied` may be
   * set. Default: the previous value with its CredentialId tag. A kind whose `apply` needs
   * more (its `state`: which login, which host) supplies it here.
   */
  restoreCredential?(params: P, previous: CurrentSecret, applied: PendingCredential): PendingCredential;

  /** Prove that the new credential works. Throw VerificationError if not. */
  verify(ctx: RotatorContext, params: P, pending: PendingCredential, facts: F | undefined): Promise<void>;

  /** Emergency mode: invalidate the previous credential after the commit. */
  revoke?(ctx: RotatorContext, params: P, previous: CurrentSecret, committed: PendingCredential): Promise<void>;
}

/**
 * A rotator of any parameters and facts, as a table of kinds holds it (method
 * parameters are checked bivariantly, so every Rotator<P, F> is one).
 */
export type AnyRotator = Rotator<any, any>;
