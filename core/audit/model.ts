// The posture audit's vocabulary: checks, severities, findings and the report, shared
// by the check modules (core/audit/*.ts), the audit runner (core/audit.ts) and the
// report formats (table, JSON, core/audit-html.ts).
import type { TokenCredential } from "@azure/core-auth";
import type { CertificateClient } from "@azure/keyvault-certificates";
import type { KeyClient } from "@azure/keyvault-keys";
import type { SecretClient } from "@azure/keyvault-secrets";
import type { RotatorRegistry } from "../registry.js";
import type { KeyturnConfig } from "../config.js";
import type { AzureClientOptions } from "../rotator.js";
import type { VaultRef } from "../vaults.js";

export const DAY_MS = 86_400_000;
/** Policy reads in flight at once, per check. */
export const CONCURRENCY = 8;

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

/** What a check module works with while the audit runs: the inputs, and where findings go. */
export interface AuditRun {
  readonly deps: AuditDeps;
  readonly vault: VaultRef;
  readonly now: Date;
  readonly withinDays: number;
  readonly maxValidityDays: number;
  add(finding: AuditFinding): void;
  /** Marks checks as run (a check that did not run is listed as such in the report). */
  ran(...checks: AuditCheck[]): void;
  inventory(item: InventoryItem): void;
}

export function days(ms: number): number {
  return Math.floor(ms / DAY_MS);
}
