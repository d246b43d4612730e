// Audit of the vault itself (ARM): soft delete, purge protection, permission model (Azure
// RBAC or access policies), read with @azure/arm-keyvault from the vault's resource ID in
// KEYTURN_VAULT_RESOURCE_IDS (a setting, rather than searching subscriptions: keyturn's
// identity needs Reader on the vault only, and no guessing which subscription a name
// lives in).
import { armClient } from "../arm.js";
import { describeError } from "../errors.js";
import { AuditCheck, Severity, type AuditReport, type AuditRun } from "./model.js";

export async function auditVault(run: AuditRun): Promise<AuditReport["vaultProperties"]> {
  const { deps, vault } = run;
  const add = run.add;
  const armCtx = { credential: deps.credential, armEndpoint: deps.config.armEndpoint, clientOptions: deps.clientOptions };
  let vaultProperties: AuditReport["vaultProperties"];
  const vaultId = deps.config.vaultResourceIds.get(vault.name.toLowerCase());
  run.ran(AuditCheck.VaultNotAudited);
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
      const client = await armClient(armCtx, "keyvault", m[1]!, async () => (await import("@azure/arm-keyvault")).KeyVaultManagementClient);
      const found = await client.vaults.get(m[2]!, vault.name);
      const props = found.properties;
      vaultProperties = {
        resourceId: vaultId,
        softDelete: props.enableSoftDelete !== false,
        purgeProtection: props.enablePurgeProtection === true,
        rbac: props.enableRbacAuthorization === true,
      };
      // Each property that is off is one finding.
      const findings = [
        {
          on: vaultProperties.softDelete,
          check: AuditCheck.VaultSoftDelete,
          severity: Severity.High,
          finding: "soft delete is off: a deleted secret, key or certificate is gone at once",
          fix: `az keyvault update --name ${vault.name} --enable-soft-delete true (then turn on purge protection too)`,
        },
        {
          on: vaultProperties.purgeProtection,
          check: AuditCheck.VaultPurgeProtection,
          severity: Severity.Medium,
          finding: "purge protection is off: anyone with purge rights can destroy deleted objects before their retention ends (customer-managed keys require it)",
          fix: `az keyvault update --name ${vault.name} --enable-purge-protection true (it cannot be turned off again)`,
        },
        {
          on: vaultProperties.rbac,
          check: AuditCheck.VaultRbac,
          severity: Severity.Medium,
          finding: "the vault uses access policies: permissions are per vault, not per object, and outside Azure RBAC's audit and PIM",
          fix: `assign the Key Vault roles (docs/access-model.md), then az keyvault update --name ${vault.name} --enable-rbac-authorization true`,
        },
      ];
      run.ran(...findings.map((f) => f.check));
      for (const { on, check, severity, finding, fix } of findings) {
        if (!on) add({ check, severity, objectType: "vault", name: vault.name, finding, fix });
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
  return vaultProperties;
}
