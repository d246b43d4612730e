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
// Reads properties, policies and ARM resources only — never a value. Each group of checks
// is a module in core/audit/ (secrets, certificates, keys, vault, providers).
import { auditCertificates } from "./audit/certificates.js";
import { auditKeys } from "./audit/keys.js";
import { AuditCheck, CHECK_TITLES, SEVERITY_ORDER, type AuditDeps, type AuditFinding, type AuditOptions, type AuditReport, type AuditRun, type InventoryItem, type Severity } from "./audit/model.js";
import { auditProviders } from "./audit/providers.js";
import { auditSecrets } from "./audit/secrets.js";
import { auditVault } from "./audit/vault.js";
import type { VaultRef } from "./vaults.js";

export * from "./audit/model.js";

export async function runAudit(deps: AuditDeps, vault: VaultRef, options: AuditOptions = {}): Promise<AuditReport> {
  const now = (deps.now ?? (() => new Date()))();
  const findings: AuditFinding[] = [];
  const ran = new Set<AuditCheck>();
  const inventory: InventoryItem[] = [];
  const run: AuditRun = {
    deps,
    vault,
    now,
    withinDays: options.withinDays ?? 30,
    maxValidityDays: deps.config.auditMaxValidityDays,
    add: (finding) => findings.push(finding),
    ran: (...checks) => checks.forEach((check) => ran.add(check)),
    inventory: (item) => inventory.push(item),
  };

  const secrets = await auditSecrets(run);
  const certificateCount = await auditCertificates(run);
  const keyCount = await auditKeys(run);
  const vaultProperties = await auditVault(run);
  const providers = await auditProviders(run, secrets.providers);

  const rank = (s: Severity) => SEVERITY_ORDER.indexOf(s);
  findings.sort((a, b) => rank(a.severity) - rank(b.severity) || a.check.localeCompare(b.check) || a.name.localeCompare(b.name));
  inventory.sort((a, b) => a.expiresOn.localeCompare(b.expiresOn) || a.name.localeCompare(b.name));
  const bySeverity = Object.fromEntries(SEVERITY_ORDER.map((s) => [s, findings.filter((f) => f.severity === s).length])) as Record<Severity, number>;
  return {
    vault: vault.name,
    vaultUrl: vault.url,
    generatedAt: now.toISOString(),
    withinDays: run.withinDays,
    maxValidityDays: run.maxValidityDays,
    counts: { secrets: secrets.count, certificates: certificateCount, keys: keyCount, findings: findings.length, bySeverity },
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
