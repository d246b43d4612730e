// Keys near expiry (KeyNearExpiry events and the sweep), and keys without a rotation
// policy. These are the customer-managed keys storage accounts, SQL servers and others
// encrypt with: a service that reads the key without a version picks up a new version
// by itself; one pinned to a version must be moved (the notification says so).
//
// - Near expiry: keyturn ROTATES the key (`rotateKey`: new key material, same name, same
//   tags). When the new version has no expiry (Key Vault takes it from the policy's
//   `expiryTime`, and there is none), keyturn gives it the lifetime the previous version
//   had (at least 90 days, so that it is not near expiry at once), so that the key keeps
//   coming round instead of silently never expiring.
// - No rotation policy with a `Rotate` action: Key Vault will never rotate the key by
//   itself. keyturn REPORTS it to the owner (`keyturn.KeyPolicyMissing`), once per key
//   version (the tag `KeyturnPolicyReported=<version>` records it), or — when the key's
//   tag `RotationPolicy=default` asks — SETS keyturn's default policy
//   (DEFAULT_KEY_ROTATION_POLICY) and says so (`keyturn.KeyPolicySet`).
//
// The default policy: each version expires one year after it is made (`expiryTime` P1Y);
// Key Vault rotates 90 days before that (`Rotate` at timeBeforeExpiry P90D), so a new
// version is made about every nine months and services pinned to a version have 90 days
// to move before the old one expires; `Notify` 30 days before expiry (Key Vault's
// KeyNearExpiry event, which reaches keyturn if the rotation did not happen).
//
// Keys that back a certificate (`managed`) are the certificate's: keyturn leaves them
// alone. `RotationPaused=true` on the key stops keyturn from acting on it.
import type { KeyClient, KeyRotationPolicyProperties, KeyVaultKey } from "@azure/keyvault-keys";
import { classify, classifyObjectRead, describeError, mustReport, type KeyturnError } from "./errors.js";
import type { Logger } from "./log.js";
import { NotificationType, type Notifier } from "./notify.js";
import { ObjectKind, PreambleSkip, guarded, type Guarded, type GuardedRequest, type PreambleDeps, type Skipped } from "./preamble.js";
import { MAX_TAGS, NEAR_EXPIRY_DAYS, Tag, choiceTag, parseTag, tagKey, tagValue, type Tags } from "./tags.js";
import * as z from "zod/mini";
import "./schema.js";

const DAY_MS = 86_400_000;
/** The shortest lifetime keyturn gives a rotated version that has no expiry from a policy (3 × the near-expiry window). */
export const MIN_KEY_LIFETIME_DAYS = 3 * NEAR_EXPIRY_DAYS;

export const KeyTag = {
  /** `default`: keyturn sets DEFAULT_KEY_ROTATION_POLICY when the key has no Rotate action. */
  RotationPolicy: "RotationPolicy",
  /** `<version>`: the version whose missing policy was reported. Written by keyturn. */
  PolicyReported: "KeyturnPolicyReported",
} as const;

export const DEFAULT_KEY_ROTATION_POLICY: Readonly<KeyRotationPolicyProperties> = {
  expiresIn: "P1Y",
  lifetimeActions: [
    { action: "Rotate", timeBeforeExpiry: "P90D" },
    { action: "Notify", timeBeforeExpiry: "P30D" },
  ],
};

/** The policy in one line, for notifications: `Rotate P90D before expiry, Notify P30D before expiry, versions expire after P1Y`. */
export function describeKeyPolicy(p: KeyRotationPolicyProperties): string {
  const actions = (p.lifetimeActions ?? []).map((a) =>
    a.timeAfterCreate ? `${a.action} ${a.timeAfterCreate} after creation` : `${a.action} ${a.timeBeforeExpiry ?? "?"} before expiry`,
  );
  return [...actions, ...(p.expiresIn ? [`versions expire after ${p.expiresIn}`] : [])].join(", ");
}

export function hasRotateAction(p: KeyRotationPolicyProperties | undefined): boolean {
  return (p?.lifetimeActions ?? []).some((a) => a.action?.toLowerCase() === "rotate");
}

export const KeySkip = {
  StaleEvent: PreambleSkip.StaleEvent,
  Paused: PreambleSkip.Paused,
  Disabled: "disabled",
  Managed: "managed",
  RecentlyRotated: "recently-rotated",
} as const;
export type KeySkip = (typeof KeySkip)[keyof typeof KeySkip];

export type PolicyState = "present" | "missing-reported" | "missing-already-reported" | "set-default";

export type KeyOutcome =
  | {
      readonly status: "rotated";
      readonly name: string;
      readonly version: string;
      readonly previousVersion: string;
      readonly expiresOn: string | null;
      readonly policy: PolicyState;
    }
  | { readonly status: "checked"; readonly name: string; readonly version: string; readonly policy: PolicyState }
  | Skipped<KeySkip>;

export type KeyRequest = GuardedRequest;

export interface KeyDeps extends PreambleDeps {
  readonly notifier: Notifier;
  keyClient(vaultUrl: string): Promise<KeyClient>;
}

export interface KeyService {
  /** KeyNearExpiry: rotate the key (and see to its policy). */
  rotateNearExpiry(request: KeyRequest): Promise<KeyOutcome>;
  /** The sweep, for keys not near expiry: report or set a missing rotation policy. */
  checkPolicy(request: KeyRequest): Promise<KeyOutcome>;
}

const requestedPolicySchema = z.optional(choiceTag(["default" as const], `must be 'default' (keyturn's rotation policy: ${describeKeyPolicy(DEFAULT_KEY_ROTATION_POLICY)})`));

/** The RotationPolicy tag: `default`, or absent. Anything else is a configuration error naming the tag. */
export function requestedPolicy(tags: Tags): "default" | undefined {
  return parseTag(tags, KeyTag.RotationPolicy, requestedPolicySchema);
}

export function createKeyService(deps: KeyDeps): KeyService {
  const now = deps.now ?? (() => new Date());
  /** Failures rotateNearExpiry already reported to the owner: underGuard must not report them again. */
  const reported = new WeakSet<KeyturnError>();

  function notice(req: KeyRequest, key: KeyVaultKey, owner: string | undefined) {
    return {
      objectType: "key" as const,
      vault: req.vault.name,
      vaultUrl: req.vault.url,
      name: req.name,
      trigger: req.trigger.kind,
      triggerId: req.trigger.id,
      ...(owner !== undefined ? { owner } : {}),
      ...(key.properties.version ? { version: key.properties.version } : {}),
      ...(key.properties.expiresOn ? { expiresOn: key.properties.expiresOn.toISOString() } : {}),
    };
  }

  /**
   * See to the key's rotation policy: nothing when it has a Rotate action; set the
   * default when the tag asks; else report it once for `reportOn`'s version. Returns
   * the tags `reportOn` should carry afterwards (undefined: unchanged).
   */
  async function seeToPolicy(client: KeyClient, req: KeyRequest, key: KeyVaultKey, log: Logger): Promise<{ state: PolicyState; applied?: string }> {
    const tags = key.properties.tags ?? {};
    const owner = tagValue(tags, Tag.Owner);
    const policy = await client.getKeyRotationPolicy(req.name);
    if (hasRotateAction(policy)) return { state: "present" };
    let wanted: "default" | undefined;
    try {
      wanted = requestedPolicy(tags);
    } catch (error) {
      log.warn("RotationPolicy tag not understood; treating the policy as missing", { step: "policy", error: describeError(error) });
    }
    if (wanted === "default") {
      await client.updateKeyRotationPolicy(req.name, DEFAULT_KEY_ROTATION_POLICY);
      const applied = describeKeyPolicy(DEFAULT_KEY_ROTATION_POLICY);
      log.info("default rotation policy set", { step: "policy", policy: applied });
      return { state: "set-default", applied };
    }
    const version = key.properties.version ?? "";
    if (tagValue(tags, KeyTag.PolicyReported) === version) return { state: "missing-already-reported" };
    // Record first (per version), then report: at most once per version.
    const next = { ...tags, [tagKey(tags, KeyTag.PolicyReported) ?? KeyTag.PolicyReported]: version };
    if (Object.keys(next).length <= MAX_TAGS) await client.updateKeyProperties(req.name, version, { tags: next });
    else log.warn(`the key carries ${MAX_TAGS} tags: the report cannot be recorded and will be sent again`, { step: "policy", version });
    await deps.notifier.notify({
      ...notice(req, key, owner),
      type: NotificationType.KeyPolicyMissing,
      action: `Give it a rotation policy (az keyvault key rotation-policy update --vault-name ${req.vault.name} --name ${req.name} --value @policy.json), or tag it RotationPolicy=default for keyturn's (${describeKeyPolicy(DEFAULT_KEY_ROTATION_POLICY)}).`,
    }, req.trigger.log);
    log.warn("key has no rotation policy; owner told", { step: "policy", version });
    return { state: "missing-reported" };
  }

  /**
   * The preamble (core/preamble.ts) around `work`; managed and disabled keys are left
   * alone. Every failure, the lock's and loading's included, leaves as a classified
   * KeyturnError (the trigger asks it whether to retry); a permanent one that `work` did
   * not report yet is reported here, once.
   */
  function underGuard(req: KeyRequest, work: (g: Guarded<KeyVaultKey>, client: KeyClient) => Promise<KeyOutcome>): Promise<KeyOutcome> {
    let client: KeyClient;
    return guarded<KeyVaultKey, KeyOutcome>(deps, req, {
      failed: async (raw, log) => {
        const error = classifyObjectRead(raw, "key load");
        if (mustReport(error) && !reported.has(error)) {
          log.error("key handling failed", { step: "load", errorKind: error.kind, error: describeError(error) });
          await deps.notifier.notify({
            objectType: "key",
            vault: req.vault.name,
            vaultUrl: req.vault.url,
            name: req.name,
            trigger: req.trigger.kind,
            triggerId: req.trigger.id,
            type: NotificationType.KeyRotationFailed,
            step: "load",
            error: describeError(error),
          }, req.trigger.log);
        } else if (error.transient) {
          log.warn("key handling failed with a transient error; the trigger will retry", { error: describeError(error) });
        }
        return error;
      },
      what: ObjectKind.Key,
      busy: `key ${req.name} is being handled by another invocation`,
      load: async () => {
        client = await deps.keyClient(req.vault.url);
        const key = await client.getKey(req.name);
        const version = key.properties.version ?? "";
        // A key backing a certificate: its lifetime is the certificate's, which Key Vault manages.
        if (key.properties.managed) return { outcome: { status: "skipped", name: req.name, version, reason: KeySkip.Managed } };
        return { object: key, version, tags: key.properties.tags ?? {} };
      },
      skipped: (reason, { version }) => ({ status: "skipped", name: req.name, version, reason }),
      work: async (g) => {
        if (g.loaded.object.properties.enabled === false) return { status: "skipped", name: req.name, version: g.loaded.version, reason: KeySkip.Disabled };
        return work(g, client);
      },
    });
  }

  async function rotateNearExpiry(req: KeyRequest): Promise<KeyOutcome> {
    return underGuard(req, async ({ loaded: { object: key }, log, tooRecent }, client) => {
      const previousVersion = key.properties.version ?? "";
      const tags = key.properties.tags ?? {};
      const owner = tagValue(tags, Tag.Owner);
      if (tooRecent(key.properties.createdOn)) {
        log.info("the latest version is younger than the rotation guard; not rotating again", { step: "load", version: previousVersion });
        return { status: "skipped", name: req.name, version: previousVersion, reason: KeySkip.RecentlyRotated };
      }
      let step = "policy";
      try {
        // Before rotating: a policy set now gives the new version its expiry.
        const policy = await seeToPolicy(client, req, key, log);
        step = "rotate";
        const rotated = await client.rotateKey(req.name);
        const version = rotated.properties.version ?? "";
        let expiresOn = rotated.properties.expiresOn;
        step = "update";
        const patch: { expiresOn?: Date; tags?: Record<string, string> } = {};
        if (!expiresOn && key.properties.expiresOn && key.properties.createdOn) {
          // No expiryTime in the policy: keep the lifetime the previous version had, but
          // never so short that the new version is near expiry at once (a rotation loop).
          const lifetime = Math.max(key.properties.expiresOn.getTime() - key.properties.createdOn.getTime(), MIN_KEY_LIFETIME_DAYS * DAY_MS);
          expiresOn = new Date(now().getTime() + lifetime);
          patch.expiresOn = expiresOn;
        }
        if (policy.state === "missing-reported" || policy.state === "missing-already-reported") {
          // The missing policy was reported in this cycle: the new version does not need another report.
          patch.tags = { ...rotated.properties.tags, [tagKey(rotated.properties.tags ?? {}, KeyTag.PolicyReported) ?? KeyTag.PolicyReported]: version };
        }
        if (patch.expiresOn || patch.tags) await client.updateKeyProperties(req.name, version, patch);
        log.info("key rotated", { step: "rotate", version, previousVersion, policy: policy.state });
        await deps.notifier.notify({
          ...notice(req, key, owner),
          type: NotificationType.KeyRotated,
          version,
          previousVersion,
          ...(expiresOn ? { expiresOn: expiresOn.toISOString() } : {}),
          ...(policy.applied ? { policyApplied: policy.applied } : {}),
        }, req.trigger.log);
        return { status: "rotated", name: req.name, version, previousVersion, expiresOn: expiresOn?.toISOString() ?? null, policy: policy.state };
      } catch (raw) {
        const error = classify(raw, `key ${step}`);
        if (mustReport(error)) {
          log.error("key rotation failed", { step, error: describeError(error) });
          await deps.notifier.notify({ ...notice(req, key, owner), type: NotificationType.KeyRotationFailed, step, error: describeError(error) }, req.trigger.log);
          reported.add(error);
        }
        throw error;
      }
    });
  }

  async function checkPolicy(req: KeyRequest): Promise<KeyOutcome> {
    return underGuard(req, async ({ loaded: { object: loaded }, log }, client) => {
      const policy = await seeToPolicy(client, req, loaded, log);
      if (policy.state === "set-default") {
        await deps.notifier.notify({
          ...notice(req, loaded, tagValue(loaded.properties.tags ?? {}, Tag.Owner)),
          type: NotificationType.KeyPolicySet,
          policyApplied: policy.applied!,
        }, req.trigger.log);
      }
      return { status: "checked", name: req.name, version: loaded.properties.version ?? "", policy: policy.state };
    });
  }

  return { rotateNearExpiry, checkPolicy };
}

/** Whether a key (list properties) is within Key Vault's near-expiry window or expired. */
export function keyNearExpiry(expiresOn: Date | undefined, now: Date): boolean {
  return expiresOn !== undefined && expiresOn.getTime() - now.getTime() <= NEAR_EXPIRY_DAYS * DAY_MS;
}
