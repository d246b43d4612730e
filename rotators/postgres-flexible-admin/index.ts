// postgres-flexible-admin — the administrator password of an Azure Database for
// PostgreSQL flexible server, set through Azure Resource Manager (the server PATCH
// long-running operation), not through SQL: it is the one password ARM owns.
//
// Model: single credential. create generates the password (the engine journals it in
// Key Vault next); apply PATCHes `administratorLoginPassword` and waits for the
// operation; verify logs in to the server as the administrator with the new password.
//
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/…/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/orders-pg
//   Rotator=postgres-flexible-admin      optional: the resource type selects this kind
//   CredentialId=pgadmin                 optional: checked against the server's administratorLogin; written on commit
//   SecretFormat=password|json|connection-string    (default password; json or
//                                        connection-string makes the secret usable as a
//                                        postgres-role AdminSecret)
//   Database=postgres  Port=5432  SslMode=verify-full   (for the verifying login; Port=6432 for PgBouncer)
// The host is the server's fullyQualifiedDomainName as ARM reports it (so private DNS
// names work).
//
// Azure role: the custom role of access.ts on the server (flexibleServers/read and /write
// and the operation results; no narrower built-in role than Contributor exists). The server must have password authentication enabled.
//
// Passwords: 32 letters and digits, which meets Azure's rule (8-128 characters, three of
// upper, lower, digits, symbols, not containing the login name). The password travels
// to ARM in the PATCH body over TLS; the SDK pipeline (core/arm-rest.ts) does not log request bodies.
//
// Failure: checkCurrent refuses to act unless ARM knows the server, password
// authentication is on, and the current version logs in as the administrator (nothing
// changes). From the journal write on, a failure (PATCH refused, operation failed,
// process gone) leaves the journal pending: the next trigger PATCHes the same password
// again (idempotent), verifies and commits, so the admin is never locked out. The
// verifying login is retried briefly, since the service may take a moment to accept it.
// Emergency mode: nothing beyond the rotation itself — the old password is gone.
import { armAnswer, armRest } from "../../core/arm-rest.js";
import { ConfigurationError, KeyturnError, ProviderError, TransientError, VerificationError, describeError, isTransient } from "../../core/errors.js";
import { generateSecret } from "../../core/generate.js";
import { CredentialModel, type PendingCredential, type Rotator, type RotatorContext } from "../../core/rotator.js";
import { Tag, parseTag } from "../../core/tags.js";
import * as z from "zod/mini";
import "../../core/schema.js";
import { PostgresTag, describeAddress, isValidHostName, isValidRoleName, parseServerAddress, roleNameSchema, type FlexibleServerRef, type ServerAddress } from "../postgres-role/address.js";
import { parseSecretFormat, readCredential, renderSecret, type SecretFormat } from "../postgres-role/format.js";
import { tryLogin } from "../postgres-role/postgres.js";
import { postgresFlexibleAdminAccess } from "./access.js";

export interface FlexibleAdminParams {
  readonly server: FlexibleServerRef;
  /** Port, database and SslMode for the verifying login; the host comes from ARM. */
  readonly address: ServerAddress;
  readonly format: SecretFormat;
  /** CredentialId, when the tag is set: must equal the server's administratorLogin. */
  readonly login: string | undefined;
}

export const ADMIN_PASSWORD_LENGTH = 32;
/** Delays between attempts of the verifying login. */
export const VERIFY_RETRY_DELAYS_MS = [1_000, 3_000] as const;

/** The server facts checkCurrent read and checked; create reads them itself when absent (a roll-forward, or create alone). */
export interface ServerFacts {
  readonly login: string;
  readonly host: string;
}

// The server's GET and PATCH go through core/arm-rest.ts (the SDK's pipeline and core-lro
// poller, one per process and subscription) rather than @azure/arm-postgresql-flexible,
// whose models a host would compile and keep for two calls. The version that SDK (9.0.0)
// sends, which emulators/arm/api-versions.ts lists first.
const ARM_API_VERSION = "2025-08-01";

/** CredentialId: the administrator login the current version holds, when the tags say. */
const loginSchema = z.optional(roleNameSchema);

/** What keyturn reads of a Microsoft.DBforPostgreSQL/flexibleServers resource. */
const serverSchema = z.object({
  properties: z.nullish(
    z.object({
      state: z.nullish(z.string()),
      administratorLogin: z.nullish(z.string()),
      fullyQualifiedDomainName: z.nullish(z.string()),
      authConfig: z.nullish(z.object({ passwordAuth: z.nullish(z.string()) })),
    }),
  ),
});

/** A long-running operation that failed with one of these codes may succeed when run again. */
const TRANSIENT_OPERATION_FAILURE = /long-running operation has failed\. (InternalServerError|ServiceUnavailable|GatewayTimeout|TooManyRequests|ServerBusy)\b/;

function armFailure(error: unknown, doing: string): KeyturnError {
  if (error instanceof KeyturnError) return error;
  const status = (error as { statusCode?: unknown }).statusCode;
  if (isTransient(error) || TRANSIENT_OPERATION_FAILURE.test(messageOf(error))) {
    return new TransientError(`${doing}: ${describeError(error)}`, { cause: error });
  }
  if (status === 403) return new ProviderError(`${doing}: keyturn's identity lacks Microsoft.DBforPostgreSQL/flexibleServers read/write on the server (${describeError(error)})`, { cause: error });
  if (status === 404) return new ProviderError(`${doing}: the server was not found (${describeError(error)})`, { cause: error });
  return new ProviderError(`${doing}: ${describeError(error)}`, { cause: error });
}

/** The administrator login and host name, from ARM, checked before they are used. */
async function serverFacts(ctx: RotatorContext, p: FlexibleAdminParams): Promise<ServerFacts> {
  let body: unknown;
  try {
    body = await (await armRest(ctx, p.server.subscriptionId)).send("GET", p.server.id, ARM_API_VERSION);
  } catch (error) {
    throw armFailure(error, `reading flexible server ${p.server.name}`);
  }
  const server = armAnswer(serverSchema, body, `reading flexible server ${p.server.name}`).properties ?? {};
  const state = server.state ?? undefined;
  if (state !== undefined && state !== "Ready") {
    if (/^(Updating|Starting|Provisioning|Restarting)$/i.test(state)) throw new TransientError(`flexible server ${p.server.name} is ${state}`);
    throw new ProviderError(`flexible server ${p.server.name} is ${state}, not Ready`);
  }
  if (server.authConfig?.passwordAuth === "Disabled") throw new ProviderError(`flexible server ${p.server.name} has password authentication disabled`);
  const login = server.administratorLogin ?? undefined;
  const host = server.fullyQualifiedDomainName;
  if (!isValidRoleName(login)) throw new ProviderError(`flexible server ${p.server.name} reports no usable administratorLogin`);
  if (!host || !isValidHostName(host)) throw new ProviderError(`flexible server ${p.server.name} reports no usable fullyQualifiedDomainName`);
  if (p.login !== undefined && p.login !== login) {
    throw new ConfigurationError(`is ${p.login}, but the administrator of ${p.server.name} is ${login}`, Tag.CredentialId);
  }
  return { login, host };
}

function atHost(p: FlexibleAdminParams, host: string): ServerAddress {
  return { ...p.address, host };
}

export function newAdminPassword(login: string): string {
  // Azure refuses a password that contains the login name; with 32 random characters
  // that is vanishingly rare, but cheap to rule out.
  for (;;) {
    const password = generateSecret(ADMIN_PASSWORD_LENGTH, ["lower", "upper", "digit"]);
    if (!password.toLowerCase().includes(login.toLowerCase())) return password;
  }
}

/** Host and login of a pending credential: from the journal's state, checked again. */
function pendingFacts(pending: PendingCredential): ServerFacts {
  const login = pending.state?.login;
  const host = pending.state?.host;
  if (!isValidRoleName(login) || login !== pending.credentialId || !host || !isValidHostName(host)) {
    throw new ProviderError("the pending credential does not say which server login it is for");
  }
  return { login, host };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const postgresFlexibleAdminRotator = {
  kind: "postgres-flexible-admin",
    access: postgresFlexibleAdminAccess,
  model: CredentialModel.Single,
  description: "the administrator password of an Azure Database for PostgreSQL flexible server (ARM)",
  resourceTypes: ["microsoft.dbforpostgresql/flexibleservers"],
  tags: [Tag.SecretFormat, PostgresTag.Database, PostgresTag.Port, PostgresTag.SslMode],

  parse(tags): FlexibleAdminParams {
    const address = parseServerAddress(tags);
    if (!address.server) throw new ConfigurationError("must be an Azure Database for PostgreSQL flexible server resource ID", Tag.ProviderAddress);
    const login = parseTag(tags, Tag.CredentialId, loginSchema);
    return { server: address.server, address, format: parseSecretFormat(tags), login };
  },

  // Read-only: ARM GET, then a login as the administrator with the current version.
  async checkCurrent(ctx, p, current) {
    const facts = await serverFacts(ctx, p);
    const held = readCredential(current.value);
    ctx.registerSecret(held.password);
    if (held.username !== undefined && held.username !== facts.login) {
      throw new ConfigurationError(`the current value is a credential for ${held.username.slice(0, 64)}, but the administrator of ${p.server.name} is ${facts.login}`);
    }
    const address = atHost(p, facts.host);
    const user = await tryLogin(address, { user: facts.login, password: held.password });
    if (user === undefined) {
      throw new ProviderError(
        `the current version of the secret does not log in as ${facts.login} at ${describeAddress(address)}; refusing to rotate a credential keyturn cannot prove`,
      );
    }
    ctx.log.info("current administrator credential verified", { step: "check-current", login: facts.login, server: describeAddress(address) });
    return facts;
  },

  // Generates only (and reads ARM for the login and host, which travel in the journal).
  async create(ctx, p, _current, checked): Promise<PendingCredential> {
    // The facts checkCurrent just read and checked in this rotation; otherwise read them now.
    const facts = checked ?? (await serverFacts(ctx, p));
    const password = newAdminPassword(facts.login);
    ctx.registerSecret(password);
    const { value, contentType } = renderSecret(p.format, { username: facts.login, password, address: atHost(p, facts.host) });
    return { credentialId: facts.login, secretValue: value, contentType, state: { login: facts.login, host: facts.host } };
  },

  // The previous password belongs to the same administrator on the same server as the
  // one applied: it carries the applied credential's login and host, which apply and
  // verify check (the CredentialId tag is optional, so the previous version may name none).
  restoreCredential(_p, previous, applied): PendingCredential {
    return { credentialId: applied.credentialId, secretValue: previous.value, ...(applied.state ? { state: applied.state } : {}) };
  },

  // Idempotent: PATCHing the same password again is harmless.
  async apply(ctx, p, pending) {
    pendingFacts(pending);
    const { password } = readCredential(pending.secretValue);
    ctx.registerSecret(password);
    try {
      // The final state as @azure/arm-postgresql-flexible's beginUpdateAndWait reads it.
      await (await armRest(ctx, p.server.subscriptionId)).sendAndWait("PATCH", p.server.id, ARM_API_VERSION, { properties: { administratorLoginPassword: password } }, { finalStateVia: "azure-async-operation" });
    } catch (error) {
      throw armFailure(error, `setting the administrator password of flexible server ${p.server.name}`);
    }
    ctx.log.info("administrator password changed through ARM", { step: "apply", server: p.server.name });
  },

  async verify(ctx, p, pending) {
    const facts = pendingFacts(pending);
    const { password } = readCredential(pending.secretValue);
    ctx.registerSecret(password);
    const address = atHost(p, facts.host);
    for (let attempt = 0; ; attempt++) {
      const user = await tryLogin(address, { user: facts.login, password });
      if (user === facts.login) return;
      if (user !== undefined) throw new VerificationError(`logged in as ${facts.login} but the session user is ${user}`);
      const delay = VERIFY_RETRY_DELAYS_MS[attempt];
      if (delay === undefined) throw new VerificationError(`the new administrator password was refused by ${describeAddress(address)}`);
      ctx.log.info("new administrator password not accepted yet; retrying", { step: "verify", attempt: attempt + 1 });
      await sleep(delay);
    }
  },
} satisfies Rotator<FlexibleAdminParams, ServerFacts> & { kind: "postgres-flexible-admin" };

function messageOf(error: unknown): string {
  const message = (error as { message?: unknown }).message;
  return typeof message === "string" ? message : "";
}
