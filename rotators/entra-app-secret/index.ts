// entra-app-secret — a client secret (password credential) of a Microsoft Entra
// application registration, rotated through Microsoft Graph addPassword/removePassword.
//
// Model: dual by overlap. An application can hold several secrets at once, so the new
// one is added next to the one consumers use now; both work until the next rotation.
//   check current  GET the application: it exists, its appId is the ClientId tag (when
//                  given), the CredentialId keyId is among its passwords, and Graph's hint
//                  (the first three characters) matches the value in Key Vault. No token
//                  request with the current secret: an expired secret (the SecretExpired
//                  event) must still be rotatable.
//   create         1. cleanup: remove the passwords that keyturn created *for this secret*
//                     (displayName `keyturn <vault>/<secret> …`) other than the current
//                     CredentialId; 2. addPassword with endDateTime = the new version's exp.
//   verify         a client-credentials token request as the application with the new
//                  secret (a new ClientSecretCredential per attempt, no token cache),
//                  retried a bounded number of times: Entra takes seconds to replicate a
//                  new secret. If it never works, the new password is removed again.
//   commit         by the engine: CredentialId := the new keyId.
//   revoke         emergency mode only: remove the previous version's password.
//
// Why cleanup before adding is safe, and keeps exactly "current + new":
// - the current version's password is never touched: consumers use it now;
// - a keyturn password for this secret that is *newer* than the current one was made by
//   a rotation that failed before commit (verify failed, Key Vault write failed, crash):
//   its value never reached Key Vault, so nobody can hold it;
// - one that is *older* belongs to the version before the current one. Consumers have
//   had the whole life of the current version to move off it (a near-expiry rotation
//   comes ValidityPeriodDays-30 days after the last). Only back-to-back manual rotations
//   make that short, so such a password is kept while the current version is younger
//   than `minOverlapMs` (24 h by default) and removed by a later rotation; emergency mode
//   removes it at once.
// Passwords keyturn did not create (no `keyturn <vault>/<secret> ` displayName, including
// the one an owner made when onboarding the secret) are never removed by cleanup; they
// expire on their own. The one exception is emergency revoke, which removes exactly the
// password the previous version held, whoever made it: that is what the owner asks for.
// Cleanup is best effort (a failure is logged, the rotation goes on): a leftover
// password is clutter, a blocked rotation ends in an expired secret.
//
// Tags (besides ValidityPeriodDays, Owner):
//   Rotator=entra-app-secret
//   ProviderAddress=3f2b8c1e-5a4d-4e6f-9b7a-1c2d3e4f5a6b      the application's object id
//     (or https://graph.microsoft.com/v1.0/applications/<objectId>; its host must be the
//     KEYTURN_GRAPH_ENDPOINT: keyturn sends its Graph token to no host a tag names)
//   TenantId=72f988bf-86f1-41af-91ab-2d7cd011db47             or contoso.onmicrosoft.com
//   ClientId=9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d              optional: the appId; checked
//     against the application when given, read from it when not
//   CredentialId=0e2c5b1a-7d3f-4c8e-a9b6-5f4e3d2c1b0a          keyId of the current password
//   SecretFormat=secret | json      the bare secret (default), or
//     {"clientId","tenantId","clientSecret","keyId"} (contentType application/json)
// Permission: the Microsoft Graph *application* permission Application.ReadWrite.OwnedBy
// (admin-consented) for keyturn's identity, and that identity added as an owner of each
// application it rotates. That is the least privilege for addPassword/removePassword:
// it reaches only the applications keyturn owns, while Application.ReadWrite.All would let
// a compromised keyturn add secrets to every application in the tenant (and so act as
// any of them). A 403 from Graph says exactly this.
// Endpoints: KEYTURN_GRAPH_ENDPOINT and KEYTURN_AUTHORITY_HOST (sovereign clouds, doubles);
// MSAL's instance discovery stays on for Microsoft cloud login hosts and is turned off for
// any other authority host (token-check.ts says why).
// Failure: check current or create failing leaves Key Vault and the consumers' password
// untouched (a password added before a failure is removed by the next rotation's
// cleanup); verify failing (after its retries, whatever the cause) removes the new password
// and is a verification error, reported to the owner; a Key Vault commit failure leaves
// the previous version, whose password still works, as the latest. Graph 408/429/5xx are
// transient (the trigger retries); 400/401/403 are provider errors; a 404 application or
// a malformed tag is a configuration error naming the tag. No secret value ever appears
// in a message: Graph's answers are reduced to their error code and message.
import { ConfigurationError, VerificationError, describeError } from "../../core/errors.js";
import { CredentialModel, type CurrentSecret, type PendingCredential, type Rotator, type RotatorContext } from "../../core/rotator.js";
import * as z from "zod/mini";
import { transformed } from "../../core/schema.js";
import { Tag, choiceTag, parseTag } from "../../core/tags.js";
import { GraphApplicationClient, sameId, type ApplicationInfo, type PasswordCredentialInfo } from "./graph.js";
import { aadstsCode, acquireToken } from "./token-check.js";

export const EntraAppSecretTag = { ClientId: "ClientId", TenantId: "TenantId" } as const;

export const EntraSecretFormat = { Secret: "secret", Json: "json" } as const;
export type EntraSecretFormat = (typeof EntraSecretFormat)[keyof typeof EntraSecretFormat];

export interface EntraAppSecretParams {
  /** The application's object id (Graph's `id`). */
  readonly objectId: string;
  /** Set when ProviderAddress was a Graph URL: its origin, checked against the Graph endpoint setting. */
  readonly graphOrigin: string | undefined;
  readonly tenantId: string;
  readonly clientId: string | undefined;
  /** keyId of the password the current version holds. */
  readonly credentialId: string;
  readonly format: EntraSecretFormat;
}

/** The JSON value written with SecretFormat=json. */
export interface EntraSecretJson {
  readonly clientId: string;
  readonly tenantId: string;
  readonly clientSecret: string;
  readonly keyId: string;
}

export interface EntraAppSecretOptions {
  /** Token requests with the new secret before verification gives up; default 8. */
  readonly verifyAttempts?: number;
  /** Delay before the second attempt, doubled each time up to `maxVerifyDelayMs`; default 2000. */
  readonly verifyDelayMs?: number;
  /** Default 15000: 8 attempts wait about 75 s in all, well within a function's timeout. */
  readonly maxVerifyDelayMs?: number;
  /** An older keyturn password is kept while the current version is younger than this; default 24 h. */
  readonly minOverlapMs?: number;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const GRAPH_APPLICATION_URL = /^(https:\/\/[^/?#\s]+)\/v1\.0\/applications\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/?$/i;
const TENANT_DOMAIN = /^(?=.{4,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;
const DISPLAY_PREFIX = "keyturn ";
const HOUR_MS = 3_600_000;

/** The application's object id, or its Graph URL (which also names the Graph endpoint). */
const providerAddressSchema = transformed(z.string({ message: "is required: the application's object id" }), (raw, ctx) => {
  const url = GRAPH_APPLICATION_URL.exec(raw);
  if (GUID.test(raw)) return { objectId: raw.toLowerCase(), graphOrigin: undefined };
  if (url) return { objectId: url[2]!.toLowerCase(), graphOrigin: url[1]!.toLowerCase() };
  ctx.addIssue({ code: "custom", message: "must be the application's object id (a GUID) or https://graph.microsoft.com/v1.0/applications/<objectId>" });
  return z.NEVER;
});

const guidTag = (what: string) => transformed(z.string({ message: `is required: ${what}` }).check(z.regex(GUID, { message: `must be ${what} (a GUID)` })), (v) => v.toLowerCase());

const tenantSchema = transformed(
  z
    .string({ message: "is required: the directory (tenant) id or its domain name" })
    .check(z.refine((v) => GUID.test(v) || TENANT_DOMAIN.test(v), { message: "must be the directory (tenant) id (a GUID) or a domain name such as contoso.onmicrosoft.com" })),
  (v) => v.toLowerCase(),
);

const clientIdSchema = z.optional(guidTag("the application (client) id"));
const credentialIdSchema = guidTag("the keyId of the password the current version holds");
const formatSchema = z._default(choiceTag(Object.values(EntraSecretFormat), `must be '${EntraSecretFormat.Secret}' or '${EntraSecretFormat.Json}'`), EntraSecretFormat.Secret);

/**
 * The client secret inside a secret value: the `clientSecret` of our JSON, or the whole
 * value. Read the same way whatever SecretFormat says now, so that an owner who switches
 * the format gets the new one with the next version instead of a failed check (a bare
 * Entra secret is never a JSON object).
 */
export function secretTextOf(value: string): string {
  if (value.startsWith("{")) {
    try {
      const parsed = JSON.parse(value) as Partial<EntraSecretJson> | null;
      if (parsed && typeof parsed.clientSecret === "string") return parsed.clientSecret;
    } catch {
      // not JSON: the bare secret
    }
  }
  return value;
}

function graphFor(ctx: RotatorContext): GraphApplicationClient {
  return new GraphApplicationClient(ctx.graphEndpoint, ctx.credential, ctx.clientOptions);
}

/** The object id, after checking that a URL-form ProviderAddress points at the configured Graph. */
function objectIdFor(ctx: RotatorContext, params: EntraAppSecretParams): string {
  if (params.graphOrigin !== undefined && params.graphOrigin !== new URL(ctx.graphEndpoint).origin.toLowerCase()) {
    throw new ConfigurationError(
      `points at ${params.graphOrigin}, but keyturn's Graph endpoint is ${ctx.graphEndpoint} (setting KEYTURN_GRAPH_ENDPOINT); ` +
        "keyturn sends its token to that endpoint only",
      Tag.ProviderAddress,
    );
  }
  return params.objectId;
}

function checkClientId(params: EntraAppSecretParams, app: ApplicationInfo): void {
  if (params.clientId !== undefined && !sameId(params.clientId, app.appId)) {
    throw new ConfigurationError(
      `is ${params.clientId}, but application ${app.id} has appId ${app.appId}: the tags name two different applications`,
      EntraAppSecretTag.ClientId,
    );
  }
}

/** `keyturn <vault>/<secret> `: the displayName prefix of the passwords keyturn made for this secret. */
export function ownedPrefix(current: Pick<CurrentSecret, "vaultUrl" | "name">): string {
  const url = new URL(current.vaultUrl);
  // A vault's name is the first label of its host; the local doubles serve on an IP.
  const vault = /^[\d.]+$|^\[/.test(url.hostname) ? url.host : (url.hostname.split(".")[0] ?? url.hostname);
  return `${DISPLAY_PREFIX}${vault}/${current.name} `;
}

/** Key Vault names and secret names are case-insensitive, so is the match. */
function isOwnedBy(prefix: string, password: PasswordCredentialInfo): boolean {
  return password.displayName.toLowerCase().startsWith(prefix.toLowerCase());
}

function startOf(password: PasswordCredentialInfo | undefined): number | undefined {
  const t = password?.startDateTime === undefined ? NaN : Date.parse(password.startDateTime);
  return Number.isNaN(t) ? undefined : t;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What checkCurrent read at Graph: the application, with its passwords. */
export interface EntraAppSecretFacts {
  readonly app: ApplicationInfo;
}

export function createEntraAppSecretRotator(options: EntraAppSecretOptions = {}) {
  const verifyAttempts = Math.max(1, options.verifyAttempts ?? 8);
  const verifyDelayMs = Math.max(0, options.verifyDelayMs ?? 2000);
  const maxVerifyDelayMs = Math.max(verifyDelayMs, options.maxVerifyDelayMs ?? 15_000);
  const minOverlapMs = Math.max(0, options.minOverlapMs ?? 24 * HOUR_MS);

  /** Remove this secret's keyturn passwords that nobody can be using (see the header). */
  async function cleanup(ctx: RotatorContext, graph: GraphApplicationClient, app: ApplicationInfo, params: EntraAppSecretParams, current: CurrentSecret): Promise<void> {
    const prefix = ownedPrefix(current);
    const currentPassword = app.passwordCredentials.find((c) => sameId(c.keyId, params.credentialId));
    const currentStart = startOf(currentPassword);
    const currentAgeMs = current.createdOn ? ctx.now.getTime() - current.createdOn.getTime() : Number.POSITIVE_INFINITY;
    for (const password of app.passwordCredentials) {
      if (sameId(password.keyId, params.credentialId) || !isOwnedBy(prefix, password)) continue;
      const start = startOf(password);
      const older = currentStart !== undefined && start !== undefined && start < currentStart;
      if (older && ctx.mode !== "emergency" && currentAgeMs < minOverlapMs) {
        ctx.log.info("keeping the previous version's password: the current version is too young for consumers to have moved off it", {
          step: "create",
          keyId: password.keyId,
        });
        continue;
      }
      try {
        const removed = await graph.removePassword(app.id, password.keyId);
        ctx.log.info(removed ? "removed an unused password keyturn created" : "an unused password was already gone", {
          step: "create",
          keyId: password.keyId,
          displayName: password.displayName,
        });
      } catch (error) {
        ctx.log.warn("could not remove an unused password keyturn created; the next rotation tries again", {
          step: "create",
          keyId: password.keyId,
          error: describeError(error),
        });
      }
    }
  }

  return {
    kind: "entra-app-secret",
    access: { none: "changes application credentials through Microsoft Graph, not Azure Resource Manager", elsewhere: "Microsoft Graph: keyturn's identity owns each application it rotates and holds the Application.ReadWrite.OwnedBy application permission" },
    model: CredentialModel.Dual,
    description: "a client secret of a Microsoft Entra application (Graph addPassword/removePassword)",
    tags: [EntraAppSecretTag.TenantId, EntraAppSecretTag.ClientId, Tag.SecretFormat],

    parse(tags): EntraAppSecretParams {
      const { objectId, graphOrigin } = parseTag(tags, Tag.ProviderAddress, providerAddressSchema);
      return {
        objectId,
        graphOrigin,
        tenantId: parseTag(tags, EntraAppSecretTag.TenantId, tenantSchema),
        clientId: parseTag(tags, EntraAppSecretTag.ClientId, clientIdSchema),
        credentialId: parseTag(tags, Tag.CredentialId, credentialIdSchema),
        format: parseTag(tags, Tag.SecretFormat, formatSchema),
      };
    },

    // Read-only: proves the tags name this application and the password Key Vault holds.
    // Returns the application it read, for create in the same rotation.
    async checkCurrent(ctx, params, current): Promise<EntraAppSecretFacts> {
      const objectId = objectIdFor(ctx, params);
      const app = await graphFor(ctx).getApplication(objectId);
      checkClientId(params, app);
      const secretText = secretTextOf(current.value);
      ctx.registerSecret(secretText);
      const password = app.passwordCredentials.find((c) => sameId(c.keyId, params.credentialId));
      const problem = !password
        ? `names password ${params.credentialId}, which application ${objectId} does not have`
        : password.hint && !secretText.startsWith(password.hint)
          ? `names password ${params.credentialId} of application ${objectId}, but the current secret value is not that password (Graph's hint does not match it)`
          : undefined;
      if (problem === undefined) return { app };
      // Emergency: the leaked password may already be gone or replaced by hand; the
      // application itself is confirmed above, so a new secret may still be made.
      if (ctx.mode === "emergency") {
        ctx.log.warn(`emergency rotation goes on although the CredentialId tag ${problem}`, { step: "check-current" });
        return { app };
      }
      throw new ConfigurationError(problem, Tag.CredentialId);
    },

    // Cleanup, then add. Running it twice is harmless: the second run removes the first
    // run's password (newer than the current one, never committed) and adds another.
    async create(ctx, params, current, checked): Promise<PendingCredential> {
      const objectId = objectIdFor(ctx, params);
      const graph = graphFor(ctx);
      // What checkCurrent just read in this rotation (a Graph GET less); otherwise read it now.
      const app = checked?.app ?? (await graph.getApplication(objectId));
      checkClientId(params, app);
      await cleanup(ctx, graph, app, params, current);

      const displayName = `${ownedPrefix(current)}${ctx.now.toISOString().slice(0, 19)}Z`;
      const added = await graph.addPassword(app.id, { displayName, endDateTime: ctx.expiresOn });
      ctx.registerSecret(added.secretText);
      ctx.log.info("added a password", { step: "create", keyId: added.keyId, displayName });

      const clientId = app.appId.toLowerCase();
      const secretValue =
        params.format === EntraSecretFormat.Json
          ? JSON.stringify({ clientId, tenantId: params.tenantId, clientSecret: added.secretText, keyId: added.keyId } satisfies EntraSecretJson)
          : added.secretText;
      const contentType =
        params.format === EntraSecretFormat.Json ? "application/json" : current.contentType === "application/json" ? "text/plain" : undefined;
      return {
        credentialId: added.keyId,
        secretValue,
        ...(contentType !== undefined ? { contentType } : {}),
        // Nothing secret: where the password lives and which one it is.
        state: { objectId: app.id, clientId, keyId: added.keyId },
      };
    },

    // Read-only but for one thing: a password that never worked is removed again.
    async verify(ctx, params, pending) {
      const secretText = secretTextOf(pending.secretValue);
      ctx.registerSecret(secretText);
      const clientId = pending.state?.["clientId"] ?? params.clientId;
      const keyId = pending.credentialId ?? "";
      if (clientId === undefined) throw new VerificationError("the new secret's application (client) id is unknown: no ClientId tag and no state from create");
      let last: unknown;
      let delay = verifyDelayMs;
      for (let attempt = 1; attempt <= verifyAttempts; attempt += 1) {
        try {
          await acquireToken({
            authorityHost: ctx.authorityHost,
            tenantId: params.tenantId,
            clientId,
            secretText,
            scope: `${ctx.graphEndpoint}/.default`,
            clientOptions: ctx.clientOptions,
          });
          ctx.log.info("the new secret gets a token", { step: "verify", keyId, attempt });
          return;
        } catch (error) {
          last = error;
          ctx.log.info("the new secret does not get a token yet", { step: "verify", keyId, attempt, code: aadstsCode(error) ?? describeError(error) });
        }
        if (attempt < verifyAttempts) {
          await sleep(delay);
          delay = Math.min(delay * 2, maxVerifyDelayMs);
        }
      }

      // Nobody can hold this password (it never reached Key Vault): take it away again.
      const objectId = pending.state?.["objectId"] ?? params.objectId;
      if (keyId) {
        await graphFor(ctx)
          .removePassword(objectId, keyId)
          .then(
            () => ctx.log.info("removed the password that failed verification", { step: "verify", keyId }),
            (error: unknown) => ctx.log.warn("could not remove the password that failed verification; the next rotation will", { step: "verify", keyId, error: describeError(error) }),
          );
      }
      // After the bounded retries this is a verification failure whatever the cause (a
      // refusal, AADSTS7000215, or no usable answer): the owner hears of it, and Key Vault
      // still holds the password consumers use.
      const code = aadstsCode(last);
      throw new VerificationError(
        `the new secret ${keyId} of application ${clientId} got no token after ${verifyAttempts} attempts: ${code ?? describeError(last)}`,
        { cause: last },
      );
    },

    // Emergency: the previous version's password goes, whoever created it (see header).
    async revoke(ctx, params, _previous, committed) {
      if (committed.credentialId !== undefined && sameId(committed.credentialId, params.credentialId)) return;
      const objectId = objectIdFor(ctx, params);
      const removed = await graphFor(ctx).removePassword(objectId, params.credentialId);
      ctx.log.warn(removed ? "removed the previous password (emergency)" : "the previous password was already gone (emergency)", {
        step: "revoke",
        keyId: params.credentialId,
      });
    },
  } satisfies Rotator<EntraAppSecretParams, EntraAppSecretFacts> & { kind: "entra-app-secret" };
}

export const entraAppSecretRotator = createEntraAppSecretRotator();
