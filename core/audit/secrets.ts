// Audit of a vault's secrets: enabled without an expiry, without an Owner, rotation tags
// that do not plan, a validity longer than KEYTURN_AUDIT_MAX_VALIDITY_DAYS, enabled and
// past expiry. Certificates' backing secrets (`managed`) belong to the certificate, and
// keyturn's journals are keyturn's own bookkeeping: both are skipped. Reads properties
// only, never a value.
import { planFromTags } from "../engine.js";
import { KeyturnError, describeError } from "../errors.js";
import { isJournalName } from "../journal.js";
import { Tag, isManaged, tagValue } from "../tags.js";
import { AuditCheck, Severity, days, type AuditRun } from "./model.js";

/** A provider's resource ID (as a ProviderAddress tag names it) and the secrets that name it. */
export interface ProviderReference {
  readonly id: string;
  readonly secrets: string[];
}

/** Storage accounts and SQL servers: the providers whose encryption the audit reads. */
export const PROVIDER_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/(Microsoft\.Storage\/storageAccounts|Microsoft\.Sql\/servers)\/([^/]+)$/i;

export async function auditSecrets(run: AuditRun): Promise<{ count: number; providers: ProviderReference[] }> {
  const { deps, vault, now, maxValidityDays: maxValidity } = run;
  const add = run.add;
  const providerRefs = new Map<string, ProviderReference>();
  let secretCount = 0;
  const secrets = await deps.secretClient(vault.url);
  run.ran(AuditCheck.SecretNoExpiry, AuditCheck.SecretNoOwner, AuditCheck.SecretBadTags, AuditCheck.SecretValidityTooLong, AuditCheck.SecretExpired);
  for await (const p of secrets.listPropertiesOfSecrets()) {
    if (p.managed || isJournalName(p.name)) continue;
    secretCount++;
    const tags = p.tags ?? {};
    const managed = isManaged(tags);
    const enabled = p.enabled !== false;
    if (p.expiresOn) run.inventory({ objectType: "secret", name: p.name, expiresOn: p.expiresOn.toISOString(), renewal: managed ? "keyturn" : "none" });
    if (!enabled) continue; // a disabled secret serves no one: nothing to flag

    if (!p.expiresOn) {
      add({
        check: AuditCheck.SecretNoExpiry,
        severity: Severity.Medium,
        objectType: "secret",
        name: p.name,
        finding: "enabled, without an expiry date: nothing forces it ever to change",
        fix: managed
          ? "rotate it once (keyturn rotate) so that the new version gets an expiry from ValidityPeriodDays"
          : `give it rotation tags (Rotator, ValidityPeriodDays, Owner) so that keyturn rotates it, or at least an expiry (az keyvault secret set-attributes --vault-name ${vault.name} --name ${p.name} --expires <date>)`,
      });
    } else if (p.expiresOn.getTime() <= now.getTime()) {
      add({
        check: AuditCheck.SecretExpired,
        severity: Severity.High,
        objectType: "secret",
        name: p.name,
        finding: `enabled and expired ${days(now.getTime() - p.expiresOn.getTime())} day(s) ago (${p.expiresOn.toISOString().slice(0, 10)})`,
        fix: managed ? `rotate it now: keyturn rotate ${vault.name}/${p.name}` : `rotate it, or disable it if nothing uses it (az keyvault secret set-attributes --vault-name ${vault.name} --name ${p.name} --enabled false)`,
      });
    }
    if (tagValue(tags, Tag.Owner) === undefined) {
      add({
        check: AuditCheck.SecretNoOwner,
        severity: Severity.Low,
        objectType: "secret",
        name: p.name,
        finding: "no Owner tag: nobody is told about rotations, failures or expiry",
        fix: "tag it Owner=<team mailbox or on-call alias>",
      });
    }
    let validity: { days: number; source: string } | undefined;
    if (managed) {
      try {
        const plan = planFromTags(tags, deps.registry);
        validity = { days: plan.validityDays, source: "ValidityPeriodDays" };
      } catch (error) {
        add({
          check: AuditCheck.SecretBadTags,
          severity: Severity.High,
          objectType: "secret",
          name: p.name,
          finding: `rotation tags do not parse: ${error instanceof KeyturnError ? error.message : describeError(error)}; keyturn will not rotate it`,
          fix: "correct the tag named in the finding (docs/rotators.md lists each kind's tags); keyturn status shows the plan once it parses",
        });
      }
    }
    const raw = tagValue(tags, Tag.ValidityPeriodDays);
    if (!validity && raw !== undefined && /^\d{1,6}$/.test(raw)) validity = { days: Number(raw), source: "ValidityPeriodDays" };
    if (!validity && p.expiresOn) {
      const from = p.notBefore ?? p.createdOn;
      if (from) validity = { days: days(p.expiresOn.getTime() - from.getTime()), source: "the current version's nbf to exp" };
    }
    if (validity && validity.days > maxValidity) {
      add({
        check: AuditCheck.SecretValidityTooLong,
        severity: Severity.Medium,
        objectType: "secret",
        name: p.name,
        finding: `valid for ${validity.days} days (${validity.source}); the maximum is ${maxValidity}`,
        fix: validity.source === "ValidityPeriodDays" ? `set ValidityPeriodDays to ${maxValidity} or less` : `give new versions an expiry at most ${maxValidity} days after they start, or rotation tags with ValidityPeriodDays ≤ ${maxValidity}`,
      });
    }
    const address = tagValue(tags, Tag.ProviderAddress)?.replace(/\/+$/, "");
    if (address && PROVIDER_ID.test(address)) {
      const key = address.toLowerCase();
      const ref = providerRefs.get(key) ?? { id: address, secrets: [] };
      ref.secrets.push(p.name);
      providerRefs.set(key, ref);
    }
  }
  return { count: secretCount, providers: [...providerRefs.values()] };
}
