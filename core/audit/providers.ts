// Audit of the providers that rotation tags (ProviderAddress) point at, storage accounts
// and SQL servers: encryption with platform-managed or customer-managed keys (ARM).
import { armClient } from "../arm.js";
import { describeError } from "../errors.js";
import { withConcurrency } from "../concurrency.js";
import { AuditCheck, CONCURRENCY, Severity, type AuditRun, type ProviderEncryption } from "./model.js";
import { PROVIDER_ID, type ProviderReference } from "./secrets.js";

export async function auditProviders(run: AuditRun, references: readonly ProviderReference[]): Promise<ProviderEncryption[]> {
  const { deps } = run;
  const add = run.add;
  const armCtx = { credential: deps.credential, armEndpoint: deps.config.armEndpoint, clientOptions: deps.clientOptions };
  const providers: ProviderEncryption[] = [];
  if (references.length > 0) run.ran(AuditCheck.ProviderPlatformManagedKey, AuditCheck.ProviderNotAudited);
  await withConcurrency(references, CONCURRENCY, async ({ id, secrets: referencedBy }) => {
    const [, subscriptionId, resourceGroup, type, name] = PROVIDER_ID.exec(id)! as unknown as [string, string, string, string, string];
    const storage = type.toLowerCase() === "microsoft.storage/storageaccounts";
    const objectType = storage ? "storage-account" : "sql-server";
    try {
      let encryption: ProviderEncryption["encryption"];
      let key: string | undefined;
      if (storage) {
        const client = await armClient(armCtx, "storage", subscriptionId, async () => (await import("@azure/arm-storage")).StorageManagementClient);
        const account = await client.storageAccounts.getProperties(resourceGroup, name);
        const source = account.encryption?.keySource?.toLowerCase();
        encryption = source === "microsoft.keyvault" ? "customer-managed" : source === "microsoft.storage" ? "platform-managed" : "unknown";
        const kv = account.encryption?.keyVaultProperties;
        if (kv?.keyVaultUri && kv.keyName) key = `${kv.keyVaultUri.replace(/\/+$/, "")}/keys/${kv.keyName}${kv.keyVersion ? `/${kv.keyVersion}` : ""}`;
      } else {
        const client = await armClient(armCtx, "sql", subscriptionId, async () => (await import("@azure/arm-sql")).SqlManagementClient);
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
  return providers;
}
