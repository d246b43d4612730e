// Settings keyturn reads, all in one schema (local.settings.sample.json lists each; infra/
// sets them on the function app). No setting holds a secret: credentials come from
// managed identity and Key Vault. A setting that does not parse fails loading with a
// ConfigError naming it; blank counts as unset (app settings are emptied more often than
// removed).
import * as z from "zod";
import { ErrorKind, KeyturnError } from "./errors.js";
import { parseSchedule } from "./schedule.js";
import { VaultAllowList } from "./vaults.js";

// zod compiles a fast path (new Function) for an object schema on its first parse: worth
// it for a schema parsed thousands of times, a loss for keyturn's, parsed once per cold
// start (settings) or once per rotation (tags, bodies). Set for the whole process here,
// the module every entry point loads first.
z.config({ jitless: true });

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

/**
 * A setting that is missing, malformed or inconsistent with another; `setting` names it.
 * Internal, not Configuration (a secret's bad tags, the owner's to fix): a caller cannot
 * fix the app's settings, so HTTP answers 500 and nothing retries it as transient.
 */
export class ConfigError extends KeyturnError {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(ErrorKind.Internal, message.startsWith(setting) ? message : `${setting}: ${message}`);
    this.name = "ConfigError";
    this.setting = setting;
  }
}

const blankAsUnset = (value: unknown) => (typeof value !== "string" ? value : value.trim() === "" ? undefined : value.trim());

/** A setting read from text: blank or unset gives `fallback` (absent: stays undefined). */
function setting<T extends z.ZodType>(schema: T) {
  return z.preprocess(blankAsUnset, schema);
}

function httpsUrl(fallback: string) {
  return setting(z.string().regex(/^https:\/\/\S+$/i, "must be an https URL").transform((u) => u.replace(/\/+$/, "")).default(fallback));
}

function numberAtLeast(min: number, message: string, fallback: number) {
  return setting(
    z
      .string()
      .refine((v) => v !== "" && Number.isFinite(Number(v)) && Number(v) >= min, message)
      .transform(Number)
      .default(fallback),
  );
}

/** A parser that throws (the vault list, the schedule) as a schema step: its message becomes the issue. */
function parsedBy<I, T>(parse: (text: I) => T) {
  return (text: I, ctx: z.RefinementCtx): T => {
    try {
      return parse(text);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  };
}

/**
 * One entry per setting, raw text in, typed value out. A new setting is one entry here
 * (and one in local.settings.sample.json and infra/); a rule between settings is one
 * entry in CROSS_CHECKS.
 */
export const settingsSchema = z.object({
  KEYTURN_VAULTS: z.string().optional().transform(parsedBy((text: string | undefined) => VaultAllowList.parse(text))),
  KEYTURN_SWEEP_SCHEDULE: setting(
    z
      .string()
      .default(DEFAULT_SWEEP_SCHEDULE)
      .transform(parsedBy((text: string) => parseSchedule(text).expression)),
  ),
  KEYTURN_VAULT_RESOURCE_IDS: setting(z.string().optional()),
  KEYTURN_AUDIT_MAX_VALIDITY_DAYS: setting(
    z
      .string()
      .refine((v) => /^\d{1,4}$/.test(v) && Number(v) >= 1 && Number(v) <= 3650, "must be a whole number of days from 1 to 3650")
      .transform(Number)
      .default(DEFAULT_AUDIT_MAX_VALIDITY_DAYS),
  ),
  KEYTURN_NOTIFY_TOPIC_ENDPOINT: setting(z.string().optional()),
  KEYTURN_ARM_ENDPOINT: httpsUrl("https://management.azure.com"),
  KEYTURN_GRAPH_ENDPOINT: httpsUrl("https://graph.microsoft.com"),
  KEYTURN_AUTHORITY_HOST: httpsUrl("https://login.microsoftonline.com"),
  KEYTURN_CREDENTIAL: setting(
    z.enum([CredentialMode.Default, CredentialMode.LocalEmulator], `must be '${CredentialMode.Default}' or '${CredentialMode.LocalEmulator}'`).default(CredentialMode.Default),
  ),
  KEYTURN_TLS_CA_FILE: setting(z.string().optional()),
  KEYTURN_ROTATION_GUARD_MINUTES: numberAtLeast(0, "must be a number of minutes >= 0", 60),
  KEYTURN_LOCK_CONTAINER: setting(z.string().default("keyturn-locks")),
  // The URL itself is the webhook's credential: the message never echoes it.
  KEYTURN_NOTIFY_WEBHOOK_URL: setting(z.string().regex(/^https:\/\/\S+$/i, "must be an https URL").optional()),
  KEYTURN_EMAIL_ENDPOINT: setting(z.string().regex(/^https:\/\//i, "must be an https URL").transform((u) => u.replace(/\/+$/, "")).optional()),
  KEYTURN_EMAIL_SENDER: setting(z.string().regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, "must be an e-mail address").optional()),
  KEYTURN_REQUIRE_APP_ROLES: setting(
    z
      .string()
      .transform((v) => v.toLowerCase())
      .pipe(z.enum(["true", "false"], "must be true or false"))
      .transform((v) => v === "true")
      .default(false),
  ),
  KEYTURN_KEYVAULT_LIMIT_SCALE: numberAtLeast(0, "must be a number >= 0 (1 = Key Vault's full limits, 0 = no pacing)", 1),
});

export type Settings = z.output<typeof settingsSchema>;

/** Rules between settings: each names the setting to fix, or passes. */
const CROSS_CHECKS: ReadonlyArray<(s: Settings) => ConfigError | undefined> = [
  (s) =>
    (s.KEYTURN_EMAIL_ENDPOINT === undefined) !== (s.KEYTURN_EMAIL_SENDER === undefined)
      ? new ConfigError(s.KEYTURN_EMAIL_ENDPOINT === undefined ? "KEYTURN_EMAIL_ENDPOINT" : "KEYTURN_EMAIL_SENDER", "KEYTURN_EMAIL_ENDPOINT and KEYTURN_EMAIL_SENDER must be set together")
      : undefined,
];

/** Parse every setting; throws ConfigError naming the first one that does not parse. */
export function parseSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? "settings"), issue.message);
  }
  for (const check of CROSS_CHECKS) {
    const error = check(parsed.data);
    if (error) throw error;
  }
  return parsed.data;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): KeyturnConfig {
  const s = parseSettings(env);
  checkAppRolesTrustworthy(s.KEYTURN_REQUIRE_APP_ROLES, env);
  return {
    vaults: s.KEYTURN_VAULTS,
    sweepSchedule: s.KEYTURN_SWEEP_SCHEDULE,
    vaultResourceIds: parseVaultResourceIds(s.KEYTURN_VAULT_RESOURCE_IDS, s.KEYTURN_VAULTS),
    auditMaxValidityDays: s.KEYTURN_AUDIT_MAX_VALIDITY_DAYS,
    notifyTopicEndpoint: s.KEYTURN_NOTIFY_TOPIC_ENDPOINT,
    armEndpoint: s.KEYTURN_ARM_ENDPOINT,
    graphEndpoint: s.KEYTURN_GRAPH_ENDPOINT,
    authorityHost: s.KEYTURN_AUTHORITY_HOST,
    credentialMode: s.KEYTURN_CREDENTIAL,
    tlsCaFile: s.KEYTURN_TLS_CA_FILE,
    rotationGuardMs: s.KEYTURN_ROTATION_GUARD_MINUTES * 60_000,
    lockContainer: s.KEYTURN_LOCK_CONTAINER,
    notifyWebhookUrl: s.KEYTURN_NOTIFY_WEBHOOK_URL,
    emailEndpoint: s.KEYTURN_EMAIL_ENDPOINT,
    emailSender: s.KEYTURN_EMAIL_SENDER,
    requireAppRoles: s.KEYTURN_REQUIRE_APP_ROLES,
    keyVaultLimitScale: s.KEYTURN_KEYVAULT_LIMIT_SCALE,
  };
}

// ---- app roles need App Service Authentication in front (a platform fact, not a setting) ----

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
  throw new ConfigError(
    "KEYTURN_REQUIRE_APP_ROLES",
    "KEYTURN_REQUIRE_APP_ROLES=true, but App Service Authentication is not on (WEBSITE_AUTH_ENABLED is not True): " +
      "the x-ms-client-principal header could be forged by any caller with a function key. Turn App Service Authentication on, or set KEYTURN_REQUIRE_APP_ROLES=false",
  );
}

/**
 * A `%NAME%` reference resolved as the Functions host resolves one in a binding (the
 * timer's schedule): the app setting's value, here with the setting's default when it is
 * unset (infra/ sets every setting in Azure; locally, unset is common).
 */
export function resolveSettingReference(text: string, env: NodeJS.ProcessEnv = process.env): string {
  const m = /^%(\w+)%$/.exec(text);
  if (!m) return text;
  const name = m[1]!;
  const raw = blankAsUnset(env[name]);
  if (typeof raw === "string") return raw;
  const entry = (settingsSchema.shape as Record<string, z.ZodType | undefined>)[name];
  const fallback = entry?.safeParse(undefined);
  if (fallback?.success && typeof fallback.data === "string") return fallback.data;
  throw new ConfigError(name, "is not set");
}

const VAULT_RESOURCE_ID = /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/([a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9])$/i;

/** KEYTURN_VAULT_RESOURCE_IDS: vault resource IDs separated by commas or white space, each naming an allow-listed vault. */
export function parseVaultResourceIds(setting: string | undefined, vaults: VaultAllowList): ReadonlyMap<string, string> {
  const ids = new Map<string, string>();
  for (const raw of (setting ?? "").split(/[\s,;]+/).filter((e) => e.length > 0)) {
    const id = raw.replace(/\/+$/, "");
    const m = VAULT_RESOURCE_ID.exec(id);
    if (!m) throw new ConfigError("KEYTURN_VAULT_RESOURCE_IDS", `'${id.slice(0, 200)}' is not a Key Vault resource ID (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>)`);
    const name = m[1]!.toLowerCase();
    if (!vaults.find(name)) throw new ConfigError("KEYTURN_VAULT_RESOURCE_IDS", `KEYTURN_VAULT_RESOURCE_IDS names vault ${m[1]}, which is not on the allow-list (KEYTURN_VAULTS)`);
    if (ids.has(name)) throw new ConfigError("KEYTURN_VAULT_RESOURCE_IDS", `KEYTURN_VAULT_RESOURCE_IDS names vault ${m[1]} twice`);
    ids.set(name, id);
  }
  return ids;
}
