// Azure SDK plumbing shared by the engine and rotators: one credential and one set of
// client options per process, and one client per endpoint, reused across invocations.
//
// Retries are the SDKs' own (exponential backoff that honours Retry-After on 429 and
// 503): we configure them here instead of writing another retry loop.
import { readFileSync } from "node:fs";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { CertificateClient } from "@azure/keyvault-certificates";
import type { KeyClient } from "@azure/keyvault-keys";
import type { SecretClient } from "@azure/keyvault-secrets";
import { CredentialMode, type KeyturnConfig } from "./config.js";
import { processPacer } from "./pacing.js";
import type { AzureClientOptions } from "./rotator.js";

export const RETRY_OPTIONS = { maxRetries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 30_000 } as const;

/**
 * The token keyturn sends to the local HTTPS test doubles, which accept any bearer
 * token. Chosen only by KEYTURN_CREDENTIAL=local-emulator; real Azure rejects it.
 */
export class LocalEmulatorCredential implements TokenCredential {
  async getToken(): Promise<AccessToken> {
    return { token: "keyturn-local-emulator", expiresOnTimestamp: Date.now() + 3600_000 };
  }
}

const credentials = new Map<string, Promise<TokenCredential>>();

export function getCredential(config: KeyturnConfig): Promise<TokenCredential> {
  let c = credentials.get(config.credentialMode);
  if (!c) {
    c =
      config.credentialMode === CredentialMode.LocalEmulator
        ? Promise.resolve(new LocalEmulatorCredential())
        : // Loaded on first use: @azure/identity is heavy and cold start matters.
          // AZURE_CLIENT_ID selects the user-assigned managed identity.
          import("@azure/identity").then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
    credentials.set(config.credentialMode, c);
  }
  return c;
}

// One TLS options object per CA file: the SDKs' HTTP clients keep one agent (and its
// kept-alive connections) per TLS options object, so a fresh object per call opened new ones.
const tlsByCaFile = new Map<string, { readonly ca: string }>();

export function clientOptions(config: KeyturnConfig): AzureClientOptions {
  if (!config.tlsCaFile) return { retryOptions: { ...RETRY_OPTIONS } };
  let tlsOptions = tlsByCaFile.get(config.tlsCaFile);
  if (tlsOptions === undefined) {
    tlsOptions = { ca: readFileSync(config.tlsCaFile, "utf8") };
    tlsByCaFile.set(config.tlsCaFile, tlsOptions);
  }
  return { retryOptions: { ...RETRY_OPTIONS }, tlsOptions };
}

const secretClients = new Map<string, Promise<SecretClient>>();

/**
 * One SecretClient per vault URL and credential mode, for the life of the process. Its
 * calls are paced to the vault's limits (core/pacing.ts), shared by every client of the
 * vault in this process, unless KEYTURN_KEYVAULT_LIMIT_SCALE=0.
 */
export function getSecretClient(config: KeyturnConfig, vaultUrl: string): Promise<SecretClient> {
  const key = `${config.credentialMode}|${config.tlsCaFile ?? ""}|${config.keyVaultLimitScale}|${vaultUrl}`;
  let client = secretClients.get(key);
  if (!client) {
    client = (async () => {
      const [{ SecretClient }, credential] = await Promise.all([import("@azure/keyvault-secrets"), getCredential(config)]);
      const pacing = config.keyVaultLimitScale > 0 ? processPacer(config.keyVaultLimitScale) : undefined;
      return new SecretClient(vaultUrl, credential, {
        ...clientOptions(config),
        // perRetry: every attempt, retries included, waits for its turn.
        ...(pacing ? { additionalPolicies: [{ policy: pacing.policy(), position: "perRetry" as const }] } : {}),
        // The local doubles answer the challenge with resource https://vault.azure.net
        // from 127.0.0.1; real vaults are verified as usual.
        disableChallengeResourceVerification: config.credentialMode === CredentialMode.LocalEmulator,
      });
    })();
    secretClients.set(key, client);
  }
  return client;
}

const certificateClients = new Map<string, Promise<CertificateClient>>();
const keyClients = new Map<string, Promise<KeyClient>>();

/** Options every Key Vault data-plane client gets: retries, TLS, the vault's pacing, the local doubles' challenge. */
function keyVaultClientOptions(config: KeyturnConfig) {
  const pacing = config.keyVaultLimitScale > 0 ? processPacer(config.keyVaultLimitScale) : undefined;
  return {
    ...clientOptions(config),
    ...(pacing ? { additionalPolicies: [{ policy: pacing.policy(), position: "perRetry" as const }] } : {}),
    disableChallengeResourceVerification: config.credentialMode === CredentialMode.LocalEmulator,
  };
}

/** One CertificateClient per vault URL, like getSecretClient (loaded on first use: the sweep and certificate events need it). */
export function getCertificateClient(config: KeyturnConfig, vaultUrl: string): Promise<CertificateClient> {
  const key = `${config.credentialMode}|${config.tlsCaFile ?? ""}|${config.keyVaultLimitScale}|${vaultUrl}`;
  let client = certificateClients.get(key);
  if (!client) {
    client = (async () => {
      const [{ CertificateClient }, credential] = await Promise.all([import("@azure/keyvault-certificates"), getCredential(config)]);
      return new CertificateClient(vaultUrl, credential, keyVaultClientOptions(config));
    })();
    certificateClients.set(key, client);
  }
  return client;
}

/** One KeyClient per vault URL, like getSecretClient. */
export function getKeyClient(config: KeyturnConfig, vaultUrl: string): Promise<KeyClient> {
  const key = `${config.credentialMode}|${config.tlsCaFile ?? ""}|${config.keyVaultLimitScale}|${vaultUrl}`;
  let client = keyClients.get(key);
  if (!client) {
    client = (async () => {
      const [{ KeyClient }, credential] = await Promise.all([import("@azure/keyvault-keys"), getCredential(config)]);
      return new KeyClient(vaultUrl, credential, keyVaultClientOptions(config));
    })();
    keyClients.set(key, client);
  }
  return client;
}
