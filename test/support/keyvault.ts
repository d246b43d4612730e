// The real SecretClient, configured as keyturn configures it, pointed at the Key Vault double.
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { SecretClient } from "@azure/keyvault-secrets";
import { scaledVaultLimits, subscriptionLimits } from "../../core/keyvault-limits.js";
import type { ThrottleOptions } from "../../emulators/faults.js";
import type { KeyVaultEmulator } from "../../emulators/keyvault/index.js";

export const localToken: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({ token: "test", expiresOnTimestamp: Date.now() + 3600_000 }),
};

/** The settings that point keyturn's runtime at one vault of the double: emulator token, its CA, no loop guard. */
export function emulatorSettings(kv: KeyVaultEmulator, vault: string): Record<string, string> {
  return { KEYTURN_VAULTS: `${vault}=${kv.url(vault)}`, KEYTURN_CREDENTIAL: "local-emulator", KEYTURN_TLS_CA_FILE: kv.tls.caFile, KEYTURN_ROTATION_GUARD_MINUTES: "0" };
}

export function secretClientFor(kv: KeyVaultEmulator, vault: string): SecretClient {
  return new SecretClient(kv.url(vault), localToken, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: kv.tls.caPem },
    retryOptions: { maxRetries: 2, retryDelayInMs: 50 },
  });
}

export async function versionsOf(client: SecretClient, name: string) {
  const out = [];
  for await (const p of client.listPropertiesOfSecretVersions(name)) out.push(p);
  return out;
}

/** The double's throttle at Key Vault's published limits (core/keyvault-limits.ts) times `scale`, per vault and per subscription. */
export function keyVaultThrottle(scale = 1, extra: Pick<ThrottleOptions, "match" | "windowMs"> = {}): ThrottleOptions {
  const perVault = scaledVaultLimits(scale);
  return { perVault, subscription: subscriptionLimits(perVault), ...extra };
}
