// Audit of a vault's keys: each enabled key should have a rotation policy with a Rotate
// action (or keyturn rotates it only when it comes near expiry).
import { describeError } from "../errors.js";
import { hasRotateAction, KeyTag } from "../keys.js";
import { withConcurrency } from "../concurrency.js";
import { AuditCheck, CONCURRENCY, Severity, type AuditRun } from "./model.js";

/** Returns how many enabled keys the vault holds. */
export async function auditKeys(run: AuditRun): Promise<number> {
  const { deps, vault } = run;
  const add = run.add;
  run.ran(AuditCheck.KeyNoRotationPolicy);
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
    if (expiresOn) run.inventory({ objectType: "key", name, expiresOn: expiresOn.toISOString(), renewal: policy === true ? "key-vault" : "keyturn" });
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
  return keyList.length;
}
