// Settings keyturn reads, all in one place (local.settings.sample.json lists each).
// No setting holds a secret: credentials come from managed identity and Key Vault.
import { parseSchedule } from "./ncrontab.js";
import { VaultAllowList } from "./vaults.js";

export const CredentialMode = {
  /** DefaultAzureCredential: managed identity in Azure, developer sign-in locally. */
  Default: "default",
  /** A fixed token for the local HTTPS test doubles, which accept any bearer token. */
  LocalEmulator: "local-emulator",
} as const;
export type CredentialMode = (typeof CredentialMode)[keyof typeof CredentialMode];

/** Daily at 03:00 UTC. */
export const DEFAULT_SWEEP_SCHEDULE = "0 0 3 * * *";
/** The audit flags validity periods longer than this (one year, as common policies ask). */
export const DEFAULT_AUDIT_MAX_VALIDITY_DAYS = 365;

export interface KeyturnConfig {
  readonly vaults: VaultAllowList;
  /** NCRONTAB schedule of the sweep timer (KEYTURN_SWEEP_SCHEDULE). */
  readonly sweepSchedule: string;
  /**
   * ARM resource IDs of allow-listed vaults, by lower-cased vault name
   * (KEYTURN_VAULT_RESOURCE_IDS): the audit reads soft delete, purge protection and the
   * permission model there. A vault without one is audited without those checks.
   */
  readonly vaultResourceIds: ReadonlyMap<string, string>;
  /** The audit flags secrets whose validity is longer than this many days. */
  readonly auditMaxValidityDays: number;
  readonly notifyTopicEndpoint: string | undefined;
  readonly armEndpoint: string;
  /** Microsoft Graph (public cloud by default; sovereign clouds and test doubles override it). */
  readonly graphEndpoint: string;
  /** Microsoft Entra authority host for token requests made with a rotated credential. */
  readonly authorityHost: string;
  readonly credentialMode: CredentialMode;
  /** Extra CA (PEM file) trusted by every Azure SDK client: only for local test doubles. */
  readonly tlsCaFile: string | undefined;
  /** A version younger than this is not rotated again by an event or the sweep. */
  readonly rotationGuardMs: number;
  /** Blob container for the per-secret lease locks, in the function app's storage account. */
  readonly lockContainer: string;
  /** Teams/Slack-compatible incoming webhook for owner notifications (its URL is a credential: set it as a Key Vault reference). */
  readonly notifyWebhookUrl: string | undefined;
  /** Azure Communication Services endpoint and sender address for owner e-mail (both or neither). */
  readonly emailEndpoint: string | undefined;
  readonly emailSender: string | undefined;
  /** HTTP routes check app roles from App Service Authentication's `x-ms-client-principal`. */
  readonly requireAppRoles: boolean;
  /**
   * This process's share of each vault's request limits (core/pacing.ts): 1 = all of
   * Key Vault's 300 writes and 4,000 other calls per 10 s; 0 = no pacing.
   */
  readonly keyVaultLimitScale: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): KeyturnConfig {
  const mode = (env.KEYTURN_CREDENTIAL ?? "").trim() || CredentialMode.Default;
  if (mode !== CredentialMode.Default && mode !== CredentialMode.LocalEmulator) {
    throw new Error(`KEYTURN_CREDENTIAL must be '${CredentialMode.Default}' or '${CredentialMode.LocalEmulator}'`);
  }
  const guardMinutes = Number((env.KEYTURN_ROTATION_GUARD_MINUTES ?? "").trim() || "60");
  if (!Number.isFinite(guardMinutes) || guardMinutes < 0) throw new Error("KEYTURN_ROTATION_GUARD_MINUTES must be a number of minutes >= 0");
  const armEndpoint = (env.KEYTURN_ARM_ENDPOINT ?? "").trim() || "https://management.azure.com";
  if (!armEndpoint.startsWith("https://")) throw new Error("KEYTURN_ARM_ENDPOINT must be an https URL");
  const graphEndpoint = (env.KEYTURN_GRAPH_ENDPOINT ?? "").trim() || "https://graph.microsoft.com";
  if (!graphEndpoint.startsWith("https://")) throw new Error("KEYTURN_GRAPH_ENDPOINT must be an https URL");
  const authorityHost = (env.KEYTURN_AUTHORITY_HOST ?? "").trim() || "https://login.microsoftonline.com";
  if (!authorityHost.startsWith("https://")) throw new Error("KEYTURN_AUTHORITY_HOST must be an https URL");
  const notifyWebhookUrl = (env.KEYTURN_NOTIFY_WEBHOOK_URL ?? "").trim() || undefined;
  // The URL itself is the webhook's credential: never echo it in an error.
  if (notifyWebhookUrl !== undefined && !/^https:\/\/[^\s]+$/i.test(notifyWebhookUrl)) throw new Error("KEYTURN_NOTIFY_WEBHOOK_URL must be an https URL");
  const emailEndpoint = (env.KEYTURN_EMAIL_ENDPOINT ?? "").trim().replace(/\/+$/, "") || undefined;
  const emailSender = (env.KEYTURN_EMAIL_SENDER ?? "").trim() || undefined;
  if ((emailEndpoint === undefined) !== (emailSender === undefined)) throw new Error("KEYTURN_EMAIL_ENDPOINT and KEYTURN_EMAIL_SENDER must be set together");
  if (emailEndpoint !== undefined && !emailEndpoint.startsWith("https://")) throw new Error("KEYTURN_EMAIL_ENDPOINT must be an https URL");
  if (emailSender !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(emailSender)) throw new Error("KEYTURN_EMAIL_SENDER must be an e-mail address");
  const requireAppRoles = (env.KEYTURN_REQUIRE_APP_ROLES ?? "").trim().toLowerCase();
  if (!["", "true", "false"].includes(requireAppRoles)) throw new Error("KEYTURN_REQUIRE_APP_ROLES must be true or false");
  checkAppRolesTrustworthy(requireAppRoles === "true", env);
  const limitScale = Number((env.KEYTURN_KEYVAULT_LIMIT_SCALE ?? "").trim() || "1");
  if (!Number.isFinite(limitScale) || limitScale < 0) throw new Error("KEYTURN_KEYVAULT_LIMIT_SCALE must be a number >= 0 (1 = Key Vault's full limits, 0 = no pacing)");
  const vaults = VaultAllowList.parse(env.KEYTURN_VAULTS);
  const sweepSchedule = (env.KEYTURN_SWEEP_SCHEDULE ?? "").trim() || DEFAULT_SWEEP_SCHEDULE;
  try {
    parseSchedule(sweepSchedule);
  } catch (error) {
    throw new Error(`KEYTURN_SWEEP_SCHEDULE: ${(error as Error).message}`);
  }
  const maxValidity = Number((env.KEYTURN_AUDIT_MAX_VALIDITY_DAYS ?? "").trim() || String(DEFAULT_AUDIT_MAX_VALIDITY_DAYS));
  if (!Number.isInteger(maxValidity) || maxValidity < 1 || maxValidity > 3650) throw new Error("KEYTURN_AUDIT_MAX_VALIDITY_DAYS must be a whole number of days from 1 to 3650");
  return {
    vaults,
    sweepSchedule,
    vaultResourceIds: parseVaultResourceIds(env.KEYTURN_VAULT_RESOURCE_IDS, vaults),
    auditMaxValidityDays: maxValidity,
    notifyTopicEndpoint: (env.KEYTURN_NOTIFY_TOPIC_ENDPOINT ?? "").trim() || undefined,
    armEndpoint: armEndpoint.replace(/\/+$/, ""),
    graphEndpoint: graphEndpoint.replace(/\/+$/, ""),
    authorityHost: authorityHost.replace(/\/+$/, ""),
    credentialMode: mode,
    tlsCaFile: (env.KEYTURN_TLS_CA_FILE ?? "").trim() || undefined,
    rotationGuardMs: guardMinutes * 60_000,
    lockContainer: (env.KEYTURN_LOCK_CONTAINER ?? "").trim() || "keyturn-locks",
    notifyWebhookUrl,
    emailEndpoint,
    emailSender,
    requireAppRoles: requireAppRoles === "true",
    keyVaultLimitScale: limitScale,
  };
}

// ---- app roles need App Service Authentication in front (kept apart from the per-setting parsing) ----

/**
 * KEYTURN_REQUIRE_APP_ROLES=true trusts `x-ms-client-principal`, which only App Service
 * Authentication can vouch for: without it in front, any function-key holder could
 * claim Rotation.Operator. App Service sets WEBSITE_AUTH_ENABLED=True when its
 * authentication is on (Microsoft.Identity.Web's AppServicesAuthenticationInformation
 * reads the same variable); without it, refuse to start.
 */
export function checkAppRolesTrustworthy(requireAppRoles: boolean, env: NodeJS.ProcessEnv): void {
  if (!requireAppRoles) return;
  if ((env.WEBSITE_AUTH_ENABLED ?? "").trim().toLowerCase() === "true") return;
  throw new Error(
    "KEYTURN_REQUIRE_APP_ROLES=true, but App Service Authentication is not on (WEBSITE_AUTH_ENABLED is not True): " +
      "the x-ms-client-principal header could be forged by any caller with a function key. Turn App Service Authentication on, or set KEYTURN_REQUIRE_APP_ROLES=false",
  );
}

const VAULT_RESOURCE_ID = /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/([a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9])$/i;

/** KEYTURN_VAULT_RESOURCE_IDS: vault resource IDs separated by commas or white space, each naming an allow-listed vault. */
export function parseVaultResourceIds(setting: string | undefined, vaults: VaultAllowList): ReadonlyMap<string, string> {
  const ids = new Map<string, string>();
  for (const raw of (setting ?? "").split(/[\s,;]+/).filter((e) => e.length > 0)) {
    const id = raw.replace(/\/+$/, "");
    const m = VAULT_RESOURCE_ID.exec(id);
    if (!m) throw new Error(`KEYTURN_VAULT_RESOURCE_IDS: '${id.slice(0, 200)}' is not a Key Vault resource ID (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>)`);
    const name = m[1]!.toLowerCase();
    if (!vaults.find(name)) throw new Error(`KEYTURN_VAULT_RESOURCE_IDS names vault ${m[1]}, which is not on the allow-list (KEYTURN_VAULTS)`);
    if (ids.has(name)) throw new Error(`KEYTURN_VAULT_RESOURCE_IDS names vault ${m[1]} twice`);
    ids.set(name, id);
  }
  return ids;
}
