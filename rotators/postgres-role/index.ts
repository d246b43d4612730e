// postgres-role — the password of a PostgreSQL login role (an application's database
// user), on any PostgreSQL server: Azure Database for PostgreSQL flexible server, or a
// server addressed by host name.
//
// Model: single credential (CredentialModel.Single) in both of its modes, so the engine
// journals every new password in Key Vault before the server sees it.
//   Single user (no Logins tag): create generates a password; apply runs ALTER ROLE as
//     the administrator; verify logs in as the role with it (SELECT session_user). The
//     old password stops working at apply: consumers must re-read the secret.
//   Two logins (Logins=app_blue,app_green): each rotation changes the password of the
//     login that CredentialId does NOT name (nobody uses it now), verifies it, and
//     commits it with CredentialId switched; the previous login keeps working for a whole
//     rotation period. Why Single rather than Dual here: the kind declares one model, and
//     the single-user mode needs the journal. For two logins the journal costs one vault
//     write and buys a roll-forward with the same password after a crash; all provider
//     changes stay in apply, so create never touches the server in either mode.
//
// Tags (besides ValidityPeriodDays, Owner):
//   Rotator=postgres-role
//   ProviderAddress=postgres://db.contoso.com:5432/orders     (or a flexible server resource ID;
//                   then host <name>.postgres.database.azure.com, Port (5432), Database (postgres))
//   CredentialId=app_blue           the role whose password the current version holds (required)
//   AdminSecret=orders-db-admin     secret in the same vault holding the administrator:
//                                   {"username","password"} JSON or postgres://user:pass@host/db
//   Logins=app_blue,app_green       optional: two-login mode
//   CreateSecondLogin=true          optional: create the missing login of Logins from the other
//   SecretFormat=password|json|connection-string                  (default password)
//   SslMode=verify-full|require|disable                           (default verify-full)
// Role names are case-sensitive, letters, digits, _ $ . - only; anything else is refused.
//
// Azure role: none beyond keyturn's Key Vault Secrets Officer on the vault. Database: the
// administrator needs CREATEROLE and, from PostgreSQL 16, ADMIN OPTION on the rotated
// roles (it has it on roles it created; Azure's server administrator qualifies).
//
// Passwords: 32 letters and digits (190 bits), nothing to escape in a URL, a libpq
// key=value string or a shell. They reach the server as SCRAM-SHA-256 verifiers computed
// here (ALTER ROLE "x" PASSWORD 'SCRAM-SHA-256$…'), never as plaintext, so even
// log_statement=all or pgaudit records no password. Names are quoted with the driver's
// escapeIdentifier, values with escapeLiteral or bind parameters; no SQL string is built
// from raw tag values.
//
// Failure: checkCurrent refuses to act unless both the administrator and the current
// version's credential log in, and the target role exists and is alterable (nothing
// changes). A failure after the journal is written leaves it pending: the next trigger
// rolls forward with the same password (ALTER ROLE again, verify, commit), so the server
// and the vault cannot stay apart. Two logins: a failure before the commit leaves the
// current login untouched and working.
//
// Emergency mode (revoke): two logins — the previous login gets a fresh random password
// that nobody is told (it keeps LOGIN, so the next rotation can reuse it; NOLOGIN would
// make that rotation fail its verification), and its open sessions are terminated
// (best effort: needs pg_signal_backend or membership in that role). Single user —
// nothing more: the old password is already gone; open sessions are left alone, since
// they are indistinguishable from the application's own.
//
// CreateSecondLogin copies from the first login: role memberships (with their ADMIN,
// INHERIT and SET options), the INHERIT attribute and the connection limit. It does not
// copy object privileges, ownership, default privileges, per-role settings (ALTER ROLE
// … SET) or privileged attributes — and it refuses when the first login owns objects or
// holds direct privileges in the database, since the copy would then differ. Grant
// privileges to a group role and make both logins its members.
import { ConfigurationError, JournalError, KeyturnError, NotFoundError, ProviderError } from "../../core/errors.js";
import { generateSecret } from "../../core/generate.js";
import { CredentialModel, type CurrentSecret, type PendingCredential, type Rotator, type RotatorContext } from "../../core/rotator.js";
import { Tag, booleanTag, parseTag, tagValue } from "../../core/tags.js";
import * as z from "zod/mini";
import { transformed } from "../../core/schema.js";
import { PostgresTag, describeAddress, isValidRoleName, parseServerAddress, roleNameProblem, roleNameSchema, type ServerAddress } from "./address.js";
import { parseAdminCredential, parseSecretFormat, readCredential, renderSecret, type SecretFormat } from "./format.js";
import {
  cannotAlter,
  cloneObstacles,
  createLoginLike,
  isLoginRejected,
  pgError,
  roleInfo,
  setRolePassword,
  terminateSessions,
  tryLogin,
  verifyLogin,
  withConnection,
  type Login,
} from "./postgres.js";
import type { Client } from "pg";

export interface PostgresRoleParams {
  readonly address: ServerAddress;
  readonly adminSecret: string;
  readonly format: SecretFormat;
  /** CredentialId: the login the current version holds. */
  readonly role: string;
  /** Two-login mode: both logins; `role` is one of them. */
  readonly logins: readonly [string, string] | undefined;
  readonly createSecondLogin: boolean;
}

export const PASSWORD_LENGTH = 32;

/** Key Vault secret names: 1-127 letters, digits and hyphens. */
const secretNameSchema = z.string({ message: "is required" }).check(z.regex(/^[0-9A-Za-z-]{1,127}$/, { message: "must be a Key Vault secret name (letters, digits, hyphens)" }));

const loginsSchema = z.optional(transformed(z.string(), (raw, ctx): readonly [string, string] => {
  const names = raw.split(",").map((n) => n.trim());
  const problem =
    names.length !== 2
      ? "must name exactly two roles, comma-separated (e.g. app_blue,app_green)"
      : (names.map(roleNameProblem).find((p) => p !== undefined) ?? (names[0] === names[1] ? "must name two different roles" : undefined));
  if (problem) ctx.addIssue({ code: "custom", message: problem });
  return [names[0]!, names[1]!];
}));
const createSecondLoginSchema = z._default(booleanTag, false);

export function newPassword(): string {
  return generateSecret(PASSWORD_LENGTH, ["lower", "upper", "digit"]);
}

function otherLogin(p: PostgresRoleParams, login: string): string | undefined {
  return p.logins?.find((l) => l !== login);
}

/** The login this rotation sets: the current one (single user) or the other one (two logins). */
function targetLogin(p: PostgresRoleParams): string {
  return p.logins ? otherLogin(p, p.role)! : p.role;
}

/** The login a pending (possibly journaled) credential is for, checked against the tags again. */
function pendingLogin(p: PostgresRoleParams, pending: PendingCredential): string {
  const login = pending.credentialId;
  const allowed = p.logins ? [...p.logins] : [p.role];
  if (!isValidRoleName(login) || !allowed.includes(login)) {
    throw new JournalError(`the pending credential is for '${String(login).slice(0, 64)}', which this secret's tags do not name (${allowed.join(", ")}); an operator must check which password works`);
  }
  return login;
}

async function loadAdmin(ctx: RotatorContext, p: PostgresRoleParams): Promise<Login> {
  let value: string;
  try {
    value = await ctx.readSecret(p.adminSecret);
  } catch (error) {
    if (error instanceof NotFoundError) throw new ConfigurationError(`names secret ${p.adminSecret}, which does not exist in this vault`, PostgresTag.AdminSecret);
    throw error;
  }
  const admin = parseAdminCredential(value, p.adminSecret);
  ctx.registerSecret(admin.password);
  if (admin.username === p.role || p.logins?.includes(admin.username)) {
    throw new ConfigurationError(`holds the credential of ${admin.username}, a login this secret rotates; use a separate administrator`, PostgresTag.AdminSecret);
  }
  return { user: admin.username, password: admin.password };
}

/** Run `fn` as the administrator. A refused administrator or a driver error becomes a clear KeyturnError. */
async function asAdmin<T>(p: PostgresRoleParams, admin: Login, doing: string, fn: (c: Client) => Promise<T>): Promise<T> {
  try {
    return await withConnection(p.address, admin, fn);
  } catch (error) {
    if (error instanceof KeyturnError) throw error;
    if (isLoginRejected(error)) {
      throw new ProviderError(`the administrator credential in secret ${p.adminSecret} (user ${admin.user}) was refused by ${describeAddress(p.address)}`, { cause: error });
    }
    throw pgError(error, doing);
  }
}

async function canCreateRoles(c: Client): Promise<boolean> {
  const r = await c.query<{ ok: boolean }>("SELECT rolsuper OR rolcreaterole AS ok FROM pg_catalog.pg_roles WHERE rolname = current_user");
  return r.rows[0]?.ok === true;
}

/** What checkCurrent read: the administrator credential, for apply in the same rotation (never journaled). */
export interface PostgresRoleFacts {
  readonly admin: Login;
}

export const postgresRoleRotator = {
  kind: "postgres-role",
    access: { none: "talks to PostgreSQL with the administrator credential it reads from the vault (the engine's Key Vault role)", elsewhere: "PostgreSQL: the administrator needs CREATEROLE (and ADMIN OPTION on the rotated roles from PostgreSQL 16)" },
  model: CredentialModel.Single,
  description: "the password of a PostgreSQL login role, one login or two alternating logins",
  tags: [PostgresTag.AdminSecret, PostgresTag.Logins, PostgresTag.CreateSecondLogin, Tag.SecretFormat, PostgresTag.SslMode, PostgresTag.Database, PostgresTag.Port],

  parse(tags): PostgresRoleParams {
    const address = parseServerAddress(tags);
    const adminSecret = parseTag(tags, PostgresTag.AdminSecret, secretNameSchema);
    const format = parseSecretFormat(tags);
    const role = parseTag(tags, Tag.CredentialId, roleNameSchema);
    const logins = parseTag(tags, PostgresTag.Logins, loginsSchema);
    if (logins && !logins.includes(role)) throw new ConfigurationError(`must be one of the Logins (${logins.join(", ")})`, Tag.CredentialId);
    const createSecondLogin = parseTag(tags, PostgresTag.CreateSecondLogin, createSecondLoginSchema);
    if (createSecondLogin && !logins) throw new ConfigurationError("needs the Logins tag (two-login mode)", PostgresTag.CreateSecondLogin);
    return { address, adminSecret, format, role, logins, createSecondLogin };
  },

  // Read-only. Proves, before anything changes, that the administrator logs in, that the
  // roles are what the tags say and the administrator may alter them, and that the
  // current version's password logs in as CredentialId: never act on a target keyturn
  // cannot prove is the one this secret belongs to.
  async checkCurrent(ctx, p, current): Promise<PostgresRoleFacts> {
    const admin = await loadAdmin(ctx, p);
    const held = readCredential(current.value);
    ctx.registerSecret(held.password);
    if (held.username !== undefined && held.username !== p.role) {
      throw new ConfigurationError(`is ${p.role}, but the current value is a credential for ${held.username.slice(0, 64)}`, Tag.CredentialId);
    }
    const server = describeAddress(p.address);
    const target = targetLogin(p);

    await asAdmin(p, admin, `checking roles at ${server}`, async (c) => {
      const currentRole = await roleInfo(c, p.role);
      if (!currentRole) throw new ProviderError(`role ${p.role} (CredentialId) does not exist at ${server}`);
      const info = target === p.role ? currentRole : await roleInfo(c, target);
      if (!info) {
        if (!p.createSecondLogin) {
          throw new ProviderError(`role ${target} (Logins) does not exist at ${server}; create it with the same grants as ${p.role}, or set CreateSecondLogin=true`);
        }
        if (!(await canCreateRoles(c))) throw new ProviderError(`cannot create ${target}: the administrator has no CREATEROLE attribute`);
        const obstacles = await cloneObstacles(c, currentRole);
        if (obstacles.length > 0) {
          throw new ProviderError(
            `cannot create ${target} as a faithful copy of ${p.role}: ${obstacles.join("; ")}. Grant privileges to a group role that both logins are members of, or create ${target} by hand`,
          );
        }
        return;
      }
      if (!info.canLogin) throw new ProviderError(`role ${target} cannot log in (NOLOGIN) at ${server}`);
      const why = await cannotAlter(c, info);
      if (why) throw new ProviderError(`the administrator cannot change the password of ${target}: ${why}`);
    });

    const user = await tryLogin(p.address, { user: p.role, password: held.password });
    if (user === undefined) {
      throw new ProviderError(
        `the current version of the secret does not log in as ${p.role} at ${server}; refusing to rotate a credential keyturn cannot prove (fix the secret value or its CredentialId tag)`,
      );
    }
    ctx.log.info("current credential and administrator verified", { step: "check-current", login: p.role, server, target });
    return { admin };
  },

  // Generates only: the server is not touched here (the engine journals the value next).
  async create(ctx, p): Promise<PendingCredential> {
    const login = targetLogin(p);
    const password = newPassword();
    ctx.registerSecret(password);
    const { value, contentType } = renderSecret(p.format, { username: login, password, address: p.address });
    return { credentialId: login, secretValue: value, contentType, state: { login, format: p.format } };
  },

  // Idempotent: ALTER ROLE with the same password again is harmless; creating the second
  // login happens only when it does not exist yet (then with this password).
  async apply(ctx, p, pending, _current, facts) {
    const login = pendingLogin(p, pending);
    const { password } = readCredential(pending.secretValue);
    ctx.registerSecret(password);
    // The administrator checkCurrent read in this rotation (a Key Vault read less); a
    // roll-forward after a crash has none and reads it.
    const admin = facts?.admin ?? (await loadAdmin(ctx, p));
    const server = describeAddress(p.address);
    await asAdmin(p, admin, `changing the password of ${login} at ${server}`, async (c) => {
      const info = await roleInfo(c, login);
      if (!info) {
        const template = otherLogin(p, login);
        if (!p.createSecondLogin || template === undefined) throw new ProviderError(`role ${login} does not exist at ${server}`);
        const templateInfo = await roleInfo(c, template);
        if (!templateInfo) throw new ProviderError(`cannot create ${login}: role ${template} does not exist at ${server}`);
        const obstacles = await cloneObstacles(c, templateInfo);
        if (obstacles.length > 0) throw new ProviderError(`cannot create ${login} as a faithful copy of ${template}: ${obstacles.join("; ")}`);
        const groups = await createLoginLike(c, templateInfo, login, password, ctx.registerSecret);
        ctx.log.info("created the second login", { step: "apply", login, template, server, memberships: groups.join(",") });
        return;
      }
      const why = await cannotAlter(c, info);
      if (why) throw new ProviderError(`the administrator cannot change the password of ${login}: ${why}`);
      await setRolePassword(c, login, password, ctx.registerSecret);
    });
    ctx.log.info("password changed at the server", { step: "apply", login, server });
  },

  async verify(ctx, p, pending) {
    const login = pendingLogin(p, pending);
    const { password } = readCredential(pending.secretValue);
    ctx.registerSecret(password);
    await verifyLogin(p.address, { user: login, password });
  },

  async revoke(ctx, p, previous: CurrentSecret, committed) {
    const server = describeAddress(p.address);
    if (!p.logins) {
      ctx.log.info("single login: the previous password stopped working when the new one was set", { step: "revoke", login: p.role, server });
      return;
    }
    const previousLogin = tagValue(previous.tags, Tag.CredentialId);
    if (!isValidRoleName(previousLogin) || !p.logins.includes(previousLogin) || previousLogin === committed.credentialId) {
      throw new ProviderError(`cannot revoke: the previous version names login '${String(previousLogin).slice(0, 64)}'`);
    }
    const admin = await loadAdmin(ctx, p);
    // A password nobody is told: the login keeps LOGIN so the next rotation can set it again.
    const unknown = newPassword();
    ctx.registerSecret(unknown);
    let terminated = 0;
    await asAdmin(p, admin, `revoking the password of ${previousLogin} at ${server}`, async (c) => {
      await setRolePassword(c, previousLogin, unknown, ctx.registerSecret);
      try {
        terminated = await terminateSessions(c, previousLogin);
      } catch (error) {
        ctx.log.warn("could not terminate the previous login's sessions", { step: "revoke", login: previousLogin, error: pgError(error, "terminating sessions").message });
      }
    });
    ctx.log.warn("previous login's password replaced by an unknown one", { step: "revoke", login: previousLogin, server, terminatedSessions: terminated });
  },
} satisfies Rotator<PostgresRoleParams, PostgresRoleFacts> & { kind: "postgres-role" };
