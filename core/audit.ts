// Posture audit of one allow-listed vault: the checks a security review asks for, each
// with a finding and a fix. Served as `GET /api/vaults/{vault}/audit` (JSON, or the HTML
// report with `format=html`) and `keyturn audit <vault>` (table, --json, --html).
//
//   secrets       enabled without an expiry; without an Owner; rotation tags that do not
//                 plan; a validity (ValidityPeriodDays, or exp − nbf of the current
//                 version) longer than KEYTURN_AUDIT_MAX_VALIDITY_DAYS; enabled and past
//                 expiry;
//   certificates  expired, or expiring within the window (default 30 days) — and
//                 whether something renews them (keyturn for Self/CA issuers, Key Vault
//                 for an AutoRenew policy) or an owner must;
//   keys          without a rotation policy that rotates them;
//   the vault     soft delete, purge protection, permission model (Azure RBAC or access
//                 policies), read with @azure/arm-keyvault from the vault's resource ID in
//                 KEYTURN_VAULT_RESOURCE_IDS (a setting, rather than searching
//                 subscriptions: keyturn's identity needs Reader on the vault only, and no
//                 guessing which subscription a name lives in);
//   providers     the storage accounts and SQL servers that rotation tags (ProviderAddress)
//                 point at: encryption with platform-managed or customer-managed keys.
//
// Certificates' backing secrets and keys (`managed`) belong to the certificate and are
// audited there; keyturn's journals (`keyturn-journal-*`) are keyturn's own bookkeeping.
// Reads properties, policies and ARM resources only — never a value.
import type { TokenCredential } from "@azure/core-auth";
import type { CertificateClient } from "@azure/keyvault-certificates";
import type { KeyClient } from "@azure/keyvault-keys";
import type { SecretClient } from "@azure/keyvault-secrets";
import type { RotatorRegistry } from "./registry.js";
import { armClientOptions, cachedArmClient } from "./arm.js";
import { INTEGRATED_PROVIDERS, SELF_ISSUER, UNKNOWN_ISSUER } from "./certificates.js";
import type { KeyturnConfig } from "./config.js";
import { planFromTags } from "./engine.js";
import { KeyturnError, describeError } from "./errors.js";
import { isJournalName } from "./journal.js";
import { hasRotateAction, KeyTag } from "./keys.js";
import type { AzureClientOptions } from "./rotator.js";
import { withConcurrency } from "./sweep.js";
import { Tag, isManaged, tagValue } from "./tags.js";
import type { VaultRef } from "./vaults.js";

const DAY_MS = 86_400_000;
const CONCURRENCY = 8;

export const Severity = { High: "high", Medium: "medium", Low: "low", Info: "info" } as const;
export type Severity = (typeof Severity)[keyof typeof Severity];
export const SEVERITY_ORDER: readonly Severity[] = [Severity.High, Severity.Medium, Severity.Low, Severity.Info];

export const AuditCheck = {
  SecretNoExpiry: "secret-no-expiry",
  SecretNoOwner: "secret-no-owner",
  SecretBadTags: "secret-bad-tags",
  SecretValidityTooLong: "secret-validity-too-long",
  SecretExpired: "secret-expired",
  CertificateExpired: "certificate-expired",
  CertificateExpiring: "certificate-expiring",
  KeyNoRotationPolicy: "key-no-rotation-policy",
  VaultSoftDelete: "vault-soft-delete",
  VaultPurgeProtection: "vault-purge-protection",
  VaultRbac: "vault-rbac",
  VaultNotAudited: "vault-not-audited",
  ProviderPlatformManagedKey: "provider-platform-managed-key",
  ProviderNotAudited: "provider-not-audited",
} as const;
export type AuditCheck = (typeof AuditCheck)[keyof typeof AuditCheck];

/** What each check looks at, for the report's list of checks. */
export const CHECK_TITLES: Readonly<Record<AuditCheck, string>> = {
  [AuditCheck.SecretNoExpiry]: "Enabled secrets have an expiry",
  [AuditCheck.SecretNoOwner]: "Enabled secrets name an Owner",
  [AuditCheck.SecretBadTags]: "Rotation tags parse",
  [AuditCheck.SecretValidityTooLong]: "Secret validity within the maximum",
  [AuditCheck.SecretExpired]: "No enabled secret is past expiry",
  [AuditCheck.CertificateExpired]: "No enabled certificate is past expiry",
  [AuditCheck.CertificateExpiring]: "Certificates expiring soon are renewed",
  [AuditCheck.KeyNoRotationPolicy]: "Keys have a rotation policy",
  [AuditCheck.VaultSoftDelete]: "Soft delete on",
  [AuditCheck.VaultPurgeProtection]: "Purge protection on",
  [AuditCheck.VaultRbac]: "Azure RBAC permission model",
  [AuditCheck.VaultNotAudited]: "Vault properties readable",
  [AuditCheck.ProviderPlatformManagedKey]: "Providers encrypt with customer-managed keys",
  [AuditCheck.ProviderNotAudited]: "Providers readable",
};

export type AuditObjectType = "secret" | "certificate" | "key" | "vault" | "storage-account" | "sql-server";

export interface AuditFinding {
  readonly check: AuditCheck;
  readonly severity: Severity;
  readonly objectType: AuditObjectType;
  /** Object name, or the resource ID of a vault or provider. */
  readonly name: string;
  readonly finding: string;
  readonly fix: string;
}

/** Who renews or rotates an object before it expires. */
export type Renewal = "keyturn" | "key-vault" | "owner" | "none";

/** Everything with an expiry, for the timeline. */
export interface InventoryItem {
  readonly objectType: "secret" | "certificate" | "key";
  readonly name: string;
  readonly expiresOn: string;
  readonly renewal: Renewal;
}

export interface ProviderEncryption {
  readonly resourceId: string;
  readonly type: "storage-account" | "sql-server";
  readonly encryption: "platform-managed" | "customer-managed" | "unknown";
  /** Customer-managed: the key it uses (Key Vault key URI). */
  readonly key?: string;
  /** The secrets whose ProviderAddress names it. */
  readonly referencedBy: readonly string[];
}

export interface AuditReport {
  readonly vault: string;
  readonly vaultUrl: string;
  readonly generatedAt: string;
  /** Certificates expiring within this many days are listed. */
  readonly withinDays: number;
  readonly maxValidityDays: number;
  readonly counts: { readonly secrets: number; readonly certificates: number; readonly keys: number; readonly findings: number; readonly bySeverity: Readonly<Record<Severity, number>> };
  /** Every check, whether it ran, and how many findings it made. */
  readonly checks: ReadonlyArray<{ readonly check: AuditCheck; readonly title: string; readonly ran: boolean; readonly findings: number }>;
  /** Most severe first. */
  readonly findings: readonly AuditFinding[];
  readonly vaultProperties?: { readonly resourceId: string; readonly softDelete: boolean; readonly purgeProtection: boolean; readonly rbac: boolean };
  readonly providers: readonly ProviderEncryption[];
  /** Soonest expiry first. */
  readonly inventory: readonly InventoryItem[];
}

export interface AuditDeps {
  readonly config: Pick<KeyturnConfig, "vaultResourceIds" | "auditMaxValidityDays" | "armEndpoint">;
  readonly registry: RotatorRegistry;
  secretClient(vaultUrl: string): Promise<SecretClient>;
  certificateClient(vaultUrl: string): Promise<CertificateClient>;
  keyClient(vaultUrl: string): Promise<KeyClient>;
  /** For the vault and provider checks (ARM). */
  readonly credential: TokenCredential;
  readonly clientOptions: AzureClientOptions;
  now?(): Date;
}

export interface AuditOptions {
  /** Certificates expiring within this many days are findings; default 30. */
  readonly withinDays?: number;
}

const PROVIDER_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/(Microsoft\.Storage\/storageAccounts|Microsoft\.Sql\/servers)\/([^/]+)$/i;

function days(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

export async function runAudit(deps: AuditDeps, vault: VaultRef, options: AuditOptions = {}): Promise<AuditReport> {
  const now = (deps.now ?? (() => new Date()))();
  const withinDays = options.withinDays ?? 30;
  const maxValidity = deps.config.auditMaxValidityDays;
  const findings: AuditFinding[] = [];
  const ran = new Set<AuditCheck>();
  const inventory: InventoryItem[] = [];
  const add = (f: AuditFinding) => findings.push(f);
  const armCtx = { credential: deps.credential, armEndpoint: deps.config.armEndpoint, clientOptions: deps.clientOptions };

  // ---- secrets ------------------------------------------------------------------------
  const providerRefs = new Map<string, { id: string; secrets: string[] }>();
  let secretCount = 0;
  const secrets = await deps.secretClient(vault.url);
  for (const check of [AuditCheck.SecretNoExpiry, AuditCheck.SecretNoOwner, AuditCheck.SecretBadTags, AuditCheck.SecretValidityTooLong, AuditCheck.SecretExpired]) ran.add(check);
  for await (const p of secrets.listPropertiesOfSecrets()) {
    if (p.managed || isJournalName(p.name)) continue;
    secretCount++;
    const tags = p.tags ?? {};
    const managed = isManaged(tags);
    const enabled = p.enabled !== false;
    if (p.expiresOn) inventory.push({ objectType: "secret", name: p.name, expiresOn: p.expiresOn.toISOString(), renewal: managed ? "keyturn" : "none" });
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

  // ---- certificates -------------------------------------------------------------------
  ran.add(AuditCheck.CertificateExpired);
  ran.add(AuditCheck.CertificateExpiring);
  const certificates = await deps.certificateClient(vault.url);
  const expiring: Array<{ name: string; expiresOn: Date }> = [];
  const certificateNames: string[] = [];
  const inService: Array<{ name: string; expiresOn: Date }> = [];
  for await (const p of certificates.listPropertiesOfCertificates()) {
    if (!p.name) continue;
    certificateNames.push(p.name);
    if (p.enabled === false || !p.expiresOn) continue;
    inService.push({ name: p.name, expiresOn: p.expiresOn });
    if (p.expiresOn.getTime() - now.getTime() <= withinDays * DAY_MS) expiring.push({ name: p.name, expiresOn: p.expiresOn });
  }
  // Who renews each certificate: needs its policy (and the issuer's provider).
  const renewalOf = new Map<string, { renewal: Renewal; issuer: string; why: string }>();
  const issuerProviders = new Map<string, string | undefined>();
  await withConcurrency(certificateNames, CONCURRENCY, async (name) => {
    try {
      const policy = await certificates.getCertificatePolicy(name);
      const issuer = policy.issuerName ?? UNKNOWN_ISSUER;
      const autoRenew = (policy.lifetimeActions ?? []).some((a) => a.action === "AutoRenew");
      let renewable = issuer.toLowerCase() === SELF_ISSUER.toLowerCase();
      if (!renewable && issuer.toLowerCase() !== UNKNOWN_ISSUER.toLowerCase()) {
        if (!issuerProviders.has(issuer.toLowerCase())) {
          issuerProviders.set(issuer.toLowerCase(), await certificates.getIssuer(issuer).then((i) => i.provider, () => undefined));
        }
        const provider = issuerProviders.get(issuer.toLowerCase());
        renewable = INTEGRATED_PROVIDERS.some((p) => p.toLowerCase() === provider?.toLowerCase());
      }
      renewalOf.set(name, {
        issuer,
        renewal: autoRenew && renewable ? "key-vault" : renewable ? "keyturn" : "owner",
        why: autoRenew && renewable ? "its policy's AutoRenew action renews it" : renewable ? `keyturn renews it (issuer ${issuer})` : `issuer ${issuer}: neither Key Vault nor keyturn can renew it; keyturn reminds the owner`,
      });
    } catch (error) {
      renewalOf.set(name, { issuer: "?", renewal: "none", why: `its policy could not be read (${describeError(error)})` });
    }
  });
  for (const { name, expiresOn } of inService) {
    inventory.push({ objectType: "certificate", name, expiresOn: expiresOn.toISOString(), renewal: renewalOf.get(name)?.renewal ?? "none" });
  }
  for (const { name, expiresOn } of expiring) {
    const r = renewalOf.get(name)!;
    const left = expiresOn.getTime() - now.getTime();
    if (left <= 0) {
      add({
        check: AuditCheck.CertificateExpired,
        severity: Severity.High,
        objectType: "certificate",
        name,
        finding: `expired ${days(-left)} day(s) ago (${expiresOn.toISOString().slice(0, 10)}); ${r.why}`,
        fix: r.renewal === "owner" ? "renew it with the CA and merge or import the new certificate" : `renew it now (az keyvault certificate create --vault-name ${vault.name} --name ${name} --policy "$(az keyvault certificate get-default-policy)" or from its own policy)`,
      });
    } else {
      add({
        check: AuditCheck.CertificateExpiring,
        severity: r.renewal === "owner" || r.renewal === "none" ? Severity.High : Severity.Low,
        objectType: "certificate",
        name,
        finding: `expires in ${days(left)} day(s) (${expiresOn.toISOString().slice(0, 10)}); ${r.why}`,
        fix:
          r.renewal === "owner" || r.renewal === "none"
            ? "renew it with the CA now: create a new version, have the CSR signed, merge the certificate"
            : "none needed if the renewal succeeds; watch for keyturn.CertificateRenewed (or a failure) in the notifications",
      });
    }
  }

  // ---- keys ---------------------------------------------------------------------------
  ran.add(AuditCheck.KeyNoRotationPolicy);
  const keys = await deps.keyClient(vault.url);
  const keyList: Array<{ name: string; expiresOn?: Date }> = [];
  for await (const p of keys.listPropertiesOfKeys()) {
    if (p.managed || p.enabled === false) continue;
    keyList.push({ name: p.name, ...(p.expiresOn ? { expiresOn: p.expiresOn } : {}) });
  }
  const keyPolicies = new Map<string, boolean | Error>();
  await withConcurrency(keyList, CONCURRENCY, async ({ name }) => {
    try {
      keyPolicies.set(name, hasRotateAction(await keys.getKeyRotationPolicy(name)));
    } catch (error) {
      keyPolicies.set(name, error as Error);
    }
  });
  for (const { name, expiresOn } of keyList) {
    const policy = keyPolicies.get(name);
    if (expiresOn) inventory.push({ objectType: "key", name, expiresOn: expiresOn.toISOString(), renewal: policy === true ? "key-vault" : "keyturn" });
    if (policy === true) continue;
    add({
      check: AuditCheck.KeyNoRotationPolicy,
      severity: Severity.Medium,
      objectType: "key",
      name,
      finding:
        policy instanceof Error
          ? `its rotation policy could not be read (${describeError(policy)})`
          : "no rotation policy with a Rotate action: Key Vault never rotates it (keyturn rotates it only when it comes near expiry)",
      fix: `set one (az keyvault key rotation-policy update --vault-name ${vault.name} --name ${name} --value @policy.json), or tag it ${KeyTag.RotationPolicy}=default for keyturn's`,
    });
  }

  // ---- the vault (ARM) ----------------------------------------------------------------
  let vaultProperties: AuditReport["vaultProperties"];
  const vaultId = deps.config.vaultResourceIds.get(vault.name.toLowerCase());
  ran.add(AuditCheck.VaultNotAudited);
  if (!vaultId) {
    add({
      check: AuditCheck.VaultNotAudited,
      severity: Severity.Info,
      objectType: "vault",
      name: vault.name,
      finding: "soft delete, purge protection and the permission model were not checked: keyturn does not know the vault's resource ID",
      fix: "add /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name> to KEYTURN_VAULT_RESOURCE_IDS",
    });
  } else {
    const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\//i.exec(vaultId)!;
    try {
      const client = await cachedArmClient(armCtx, "keyvault", m[1]!, async () => {
        const { KeyVaultManagementClient } = await import("@azure/arm-keyvault");
        return new KeyVaultManagementClient(deps.credential, m[1]!, armClientOptions(armCtx));
      });
      const found = await client.vaults.get(m[2]!, vault.name);
      const props = found.properties;
      vaultProperties = {
        resourceId: vaultId,
        softDelete: props.enableSoftDelete !== false,
        purgeProtection: props.enablePurgeProtection === true,
        rbac: props.enableRbacAuthorization === true,
      };
      for (const check of [AuditCheck.VaultSoftDelete, AuditCheck.VaultPurgeProtection, AuditCheck.VaultRbac]) ran.add(check);
      if (!vaultProperties.softDelete) {
        add({
          check: AuditCheck.VaultSoftDelete,
          severity: Severity.High,
          objectType: "vault",
          name: vault.name,
          finding: "soft delete is off: a deleted secret, key or certificate is gone at once",
          fix: `az keyvault update --name ${vault.name} --enable-soft-delete true (then turn on purge protection too)`,
        });
      }
      if (!vaultProperties.purgeProtection) {
        add({
          check: AuditCheck.VaultPurgeProtection,
          severity: Severity.Medium,
          objectType: "vault",
          name: vault.name,
          finding: "purge protection is off: anyone with purge rights can destroy deleted objects before their retention ends (customer-managed keys require it)",
          fix: `az keyvault update --name ${vault.name} --enable-purge-protection true (it cannot be turned off again)`,
        });
      }
      if (!vaultProperties.rbac) {
        add({
          check: AuditCheck.VaultRbac,
          severity: Severity.Medium,
          objectType: "vault",
          name: vault.name,
          finding: "the vault uses access policies: permissions are per vault, not per object, and outside Azure RBAC's audit and PIM",
          fix: `assign the Key Vault roles (docs/access-model.md), then az keyvault update --name ${vault.name} --enable-rbac-authorization true`,
        });
      }
    } catch (error) {
      add({
        check: AuditCheck.VaultNotAudited,
        severity: Severity.Info,
        objectType: "vault",
        name: vault.name,
        finding: `the vault's properties could not be read: ${describeError(error)}`,
        fix: "give keyturn's identity the Reader role on the vault, and check KEYTURN_VAULT_RESOURCE_IDS",
      });
    }
  }

  // ---- providers (ARM) ----------------------------------------------------------------
  const providers: ProviderEncryption[] = [];
  if (providerRefs.size > 0) {
    ran.add(AuditCheck.ProviderPlatformManagedKey);
    ran.add(AuditCheck.ProviderNotAudited);
  }
  await withConcurrency([...providerRefs.values()], CONCURRENCY, async ({ id, secrets: referencedBy }) => {
    const [, subscriptionId, resourceGroup, type, name] = PROVIDER_ID.exec(id)! as unknown as [string, string, string, string, string];
    const storage = type.toLowerCase() === "microsoft.storage/storageaccounts";
    const objectType = storage ? "storage-account" : "sql-server";
    try {
      let encryption: ProviderEncryption["encryption"];
      let key: string | undefined;
      if (storage) {
        const client = await cachedArmClient(armCtx, "storage", subscriptionId, async () => {
          const { StorageManagementClient } = await import("@azure/arm-storage");
          return new StorageManagementClient(deps.credential, subscriptionId, armClientOptions(armCtx));
        });
        const account = await client.storageAccounts.getProperties(resourceGroup, name);
        const source = account.encryption?.keySource?.toLowerCase();
        encryption = source === "microsoft.keyvault" ? "customer-managed" : source === "microsoft.storage" ? "platform-managed" : "unknown";
        const kv = account.encryption?.keyVaultProperties;
        if (kv?.keyVaultUri && kv.keyName) key = `${kv.keyVaultUri.replace(/\/+$/, "")}/keys/${kv.keyName}${kv.keyVersion ? `/${kv.keyVersion}` : ""}`;
      } else {
        const client = await cachedArmClient(armCtx, "sql", subscriptionId, async () => {
          const { SqlManagementClient } = await import("@azure/arm-sql");
          return new SqlManagementClient(deps.credential, subscriptionId, armClientOptions(armCtx));
        });
        const protector = await client.encryptionProtectors.get(resourceGroup, name, "current");
        encryption = protector.serverKeyType === "AzureKeyVault" ? "customer-managed" : protector.serverKeyType === "ServiceManaged" ? "platform-managed" : "unknown";
        if (protector.uri) key = protector.uri;
      }
      providers.push({ resourceId: id, type: objectType, encryption, ...(key ? { key } : {}), referencedBy });
      if (encryption === "platform-managed") {
        add({
          check: AuditCheck.ProviderPlatformManagedKey,
          severity: Severity.Low,
          objectType,
          name: id,
          finding: `${storage ? "the storage account" : "the SQL server (TDE)"} encrypts with platform-managed keys (referenced by ${referencedBy.join(", ")})`,
          fix: storage
            ? "if your policy asks for customer-managed keys: a key in Key Vault (with a rotation policy) and az storage account update --encryption-key-source Microsoft.Keyvault --encryption-key-vault <uri> --encryption-key-name <key>"
            : "if your policy asks for customer-managed keys: a key in Key Vault (with a rotation policy) and az sql server tde-key set --server-key-type AzureKeyVault --kid <key id>",
        });
      }
    } catch (error) {
      providers.push({ resourceId: id, type: objectType, encryption: "unknown", referencedBy });
      add({
        check: AuditCheck.ProviderNotAudited,
        severity: Severity.Info,
        objectType,
        name: id,
        finding: `its encryption could not be read: ${describeError(error)}`,
        fix: "give keyturn's identity the Reader role on it (or correct the ProviderAddress tag)",
      });
    }
  });
  providers.sort((a, b) => a.resourceId.localeCompare(b.resourceId));

  const rank = (s: Severity) => SEVERITY_ORDER.indexOf(s);
  findings.sort((a, b) => rank(a.severity) - rank(b.severity) || a.check.localeCompare(b.check) || a.name.localeCompare(b.name));
  inventory.sort((a, b) => a.expiresOn.localeCompare(b.expiresOn) || a.name.localeCompare(b.name));
  const bySeverity = Object.fromEntries(SEVERITY_ORDER.map((s) => [s, findings.filter((f) => f.severity === s).length])) as Record<Severity, number>;
  return {
    vault: vault.name,
    vaultUrl: vault.url,
    generatedAt: now.toISOString(),
    withinDays,
    maxValidityDays: maxValidity,
    counts: { secrets: secretCount, certificates: certificateNames.length, keys: keyList.length, findings: findings.length, bySeverity },
    checks: (Object.values(AuditCheck) as AuditCheck[]).map((check) => ({
      check,
      title: CHECK_TITLES[check],
      ran: ran.has(check),
      findings: findings.filter((f) => f.check === check).length,
    })),
    findings,
    ...(vaultProperties ? { vaultProperties } : {}),
    providers,
    inventory,
  };
}

/** The report as a plain-text table (the CLI's default output). */
export function formatAuditTable(report: AuditReport): string {
  const lines: string[] = [];
  const c = report.counts;
  lines.push(`audit of vault ${report.vault} (${report.vaultUrl}) at ${report.generatedAt}`);
  lines.push(`${c.secrets} secrets, ${c.certificates} certificates, ${c.keys} keys; ${c.findings} findings (${SEVERITY_ORDER.map((s) => `${c.bySeverity[s]} ${s}`).join(", ")})`);
  if (report.findings.length === 0) {
    lines.push("no findings");
  } else {
    const rows = report.findings.map((f) => [f.severity.toUpperCase(), f.check, `${f.objectType} ${f.name}`, f.finding, f.fix]);
    const head = ["SEVERITY", "CHECK", "OBJECT", "FINDING", "FIX"];
    const width = (i: number, max: number) => Math.min(max, Math.max(head[i]!.length, ...rows.map((r) => r[i]!.length)));
    const widths = [width(0, 8), width(1, 30), width(2, 48)];
    const cell = (text: string, w: number) => (text.length > w ? `${text.slice(0, w - 1)}…` : text.padEnd(w));
    lines.push("");
    lines.push(`${cell(head[0]!, widths[0]!)}  ${cell(head[1]!, widths[1]!)}  ${cell(head[2]!, widths[2]!)}  ${head[3]}`);
    for (const r of rows) {
      lines.push(`${cell(r[0]!, widths[0]!)}  ${cell(r[1]!, widths[1]!)}  ${cell(r[2]!, widths[2]!)}  ${r[3]}`);
      lines.push(`${" ".repeat(widths[0]! + widths[1]! + widths[2]! + 6)}fix: ${r[4]}`);
    }
  }
  const skipped = report.checks.filter((k) => !k.ran).map((k) => k.check);
  if (skipped.length > 0) lines.push("", `not run: ${skipped.join(", ")}`);
  return lines.join("\n");
}
