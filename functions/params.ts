// Path parameters shared by the HTTP routes: `{vault}` is a vault NAME resolved against
// the allow-list (never a URL), `{name}` a Key Vault secret name. Checked in this order
// so that an unknown vault is a 404 whatever the secret name.
import type { HttpRequest } from "@azure/functions";
import type { KeyturnConfig } from "../core/config.js";
import { BadRequestError } from "../core/errors.js";
import { isJournalName } from "../core/journal.js";
import { SECRET_NAME, checkVaultName, type VaultRef } from "../core/vaults.js";

export function vaultOf(request: HttpRequest, config: KeyturnConfig): VaultRef {
  return config.vaults.byNameOrThrow(checkVaultName(request.params.vault ?? ""));
}

export function secretNameOf(request: HttpRequest): string {
  const name = request.params.name ?? "";
  if (!SECRET_NAME.test(name)) throw new BadRequestError("secret name must be 1-127 letters, digits and dashes");
  if (isJournalName(name)) throw new BadRequestError(`${name} is keyturn's own journal, not a managed secret; name the secret it belongs to`);
  return name;
}
