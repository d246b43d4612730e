// Audit of a vault's certificates: expired, or expiring within the window (default 30
// days), and whether something renews them (keyturn for Self and integrated-CA issuers,
// Key Vault for an AutoRenew policy) or an owner must. Reads properties, policies and
// issuers only.
import { INTEGRATED_PROVIDERS, SELF_ISSUER, UNKNOWN_ISSUER } from "../certificates.js";
import { describeError } from "../errors.js";
import { withConcurrency } from "../concurrency.js";
import { AuditCheck, CONCURRENCY, DAY_MS, Severity, days, type AuditRun, type Renewal } from "./model.js";

/** Returns how many certificates the vault holds. */
export async function auditCertificates(run: AuditRun): Promise<number> {
  const { deps, vault, now, withinDays } = run;
  const add = run.add;
  run.ran(AuditCheck.CertificateExpired);
  run.ran(AuditCheck.CertificateExpiring);
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
    run.inventory({ objectType: "certificate", name, expiresOn: expiresOn.toISOString(), renewal: renewalOf.get(name)?.renewal ?? "none" });
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
  return certificateNames.length;
}
