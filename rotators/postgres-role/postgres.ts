// PostgreSQL access for the database rotators: short-lived connections, driver errors
// mapped to keyturn's error kinds (and scrubbed), and the few statements keyturn runs.
//
// SQL is never built from raw text: role names go through the driver's escapeIdentifier,
// values through escapeLiteral or bind parameters ($1). New passwords are sent as
// SCRAM-SHA-256 verifiers computed here, not as plaintext, so a server that logs every
// statement (log_statement=all, pgaudit) records a verifier, never the password.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import type { Client, ClientConfig } from "pg";
import { ProviderError, TransientError, VerificationError, describeError, isTransient, type KeyturnError } from "../../core/errors.js";
import { describeAddress, SslMode, type ServerAddress } from "./address.js";

const CONNECT_TIMEOUT_MS = 15_000;
const STATEMENT_TIMEOUT_MS = 30_000;

/** Authentication refused: wrong password, unknown role, NOLOGIN, expired (VALID UNTIL). */
export function isLoginRejected(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "28P01" || code === "28000";
}

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * A driver or socket error as a KeyturnError: transient when retrying may help, else a
 * ProviderError whose message names what was being done. Messages are scrubbed (every
 * registered password, and connection-string patterns) by KeyturnError itself.
 */
export function pgError(error: unknown, doing: string): KeyturnError {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : undefined;
  const detail = describeError(error);
  if (isTransient(error) || /timeout/i.test(typeof e.message === "string" ? e.message : "")) {
    return new TransientError(`${doing}: ${detail}`, { cause: error });
  }
  if ((code && TLS_CODES.has(code)) || /does not support SSL/i.test(typeof e.message === "string" ? e.message : "")) {
    return new ProviderError(`${doing}: ${detail} (check the SslMode tag: verify-full, require or disable)`, { cause: error });
  }
  if (code === "3D000") return new ProviderError(`${doing}: the database does not exist (${detail})`, { cause: error });
  if (code === "42501") return new ProviderError(`${doing}: the administrator lacks the privilege (${detail})`, { cause: error });
  return new ProviderError(`${doing}: ${detail}`, { cause: error });
}

export interface Login {
  readonly user: string;
  readonly password: string;
}

function sslOption(address: ServerAddress): ClientConfig["ssl"] {
  switch (address.sslMode) {
    case SslMode.Disable:
      return false;
    case SslMode.Require:
      // libpq's `require`: encrypted, certificate not checked.
      return { rejectUnauthorized: false };
    case SslMode.VerifyFull:
      // Node's CA bundle holds the roots Azure Database for PostgreSQL uses (DigiCert
      // Global Root G2, Microsoft RSA Root CA 2017); NODE_EXTRA_CA_CERTS adds others.
      return { rejectUnauthorized: true };
  }
}

/** Open a connection, run `fn`, always close. Connection failures are thrown raw (callers map them). */
export async function withConnection<T>(address: ServerAddress, login: Login, fn: (client: Client) => Promise<T>): Promise<T> {
  // Loaded on first use: cold start matters, and most invocations rotate other kinds.
  const { default: pg } = await import("pg");
  const client = new pg.Client({
    host: address.host.replace(/^\[(.*)\]$/, "$1"),
    port: address.port,
    database: address.database,
    user: login.user,
    password: login.password,
    ssl: sslOption(address),
    application_name: "keyturn",
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: STATEMENT_TIMEOUT_MS + 5_000,
  });
  // A connection that drops while idle emits 'error'; without a listener it would crash the host.
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Log in as `login` and return the session user, or undefined when the server refuses
 * the credential. Anything else (network, TLS, missing database) throws a mapped error.
 */
export async function tryLogin(address: ServerAddress, login: Login): Promise<string | undefined> {
  try {
    return await withConnection(address, login, async (c) => {
      const r = await c.query<{ user: string }>("SELECT session_user AS user");
      return r.rows[0]?.user ?? "";
    });
  } catch (error) {
    if (isLoginRejected(error)) return undefined;
    throw pgError(error, `logging in to ${describeAddress(address)} as ${login.user}`);
  }
}

/** Log in with a new credential and prove the session is that role; VerificationError otherwise. */
export async function verifyLogin(address: ServerAddress, login: Login): Promise<void> {
  const user = await tryLogin(address, login);
  if (user === undefined) throw new VerificationError(`the new password for ${login.user} was refused by ${describeAddress(address)}`);
  if (user !== login.user) throw new VerificationError(`logged in to ${describeAddress(address)} as ${login.user} but the session user is ${user}`);
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, PostgreSQL's
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`). PostgreSQL stores a
 * verifier given to ALTER ROLE … PASSWORD as is. Only for ASCII passwords: for those,
 * SASLprep (which the server applies at login) changes nothing.
 */
export function scramSha256Verifier(password: string, iterations = 4096): string {
  if (!/^[\x21-\x7e]+$/.test(password)) throw new Error("scramSha256Verifier: only printable ASCII passwords are pre-hashed");
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

export interface RoleInfo {
  readonly name: string;
  readonly canLogin: boolean;
  readonly superuser: boolean;
  readonly inherit: boolean;
  readonly connectionLimit: number;
  /** CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS or SUPERUSER: attributes keyturn never copies. */
  readonly privilegedAttributes: readonly string[];
}

export async function roleInfo(client: Client, name: string): Promise<RoleInfo | undefined> {
  const r = await client.query<{
    rolname: string;
    rolcanlogin: boolean;
    rolsuper: boolean;
    rolinherit: boolean;
    rolconnlimit: number;
    rolcreaterole: boolean;
    rolcreatedb: boolean;
    rolreplication: boolean;
    rolbypassrls: boolean;
  }>(
    "SELECT rolname, rolcanlogin, rolsuper, rolinherit, rolconnlimit, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = $1",
    [name],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const privileged = (
    [
      ["SUPERUSER", row.rolsuper],
      ["CREATEROLE", row.rolcreaterole],
      ["CREATEDB", row.rolcreatedb],
      ["REPLICATION", row.rolreplication],
      ["BYPASSRLS", row.rolbypassrls],
    ] as const
  )
    .filter(([, on]) => on)
    .map(([attr]) => attr);
  return {
    name: row.rolname,
    canLogin: row.rolcanlogin,
    superuser: row.rolsuper,
    inherit: row.rolinherit,
    connectionLimit: row.rolconnlimit,
    privilegedAttributes: privileged,
  };
}

async function serverVersion(client: Client): Promise<number> {
  const r = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Number(r.rows[0]?.v ?? 0);
}

/**
 * Why the connected administrator cannot change `target`'s password, or undefined when it
 * can: a superuser can; otherwise CREATEROLE is needed, a superuser target is out of
 * reach, and from PostgreSQL 16 the administrator also needs ADMIN OPTION on the target
 * (which it has on roles it created itself, as Azure's administrator does).
 */
export async function cannotAlter(client: Client, target: RoleInfo): Promise<string | undefined> {
  const r = await client.query<{ rolsuper: boolean; rolcreaterole: boolean; admin: boolean }>(
    "SELECT rolsuper, rolcreaterole, pg_catalog.pg_has_role(current_user, $1, 'MEMBER WITH ADMIN OPTION') AS admin FROM pg_catalog.pg_roles WHERE rolname = current_user",
    [target.name],
  );
  const me = r.rows[0];
  if (!me) return "the administrator role was not found in pg_roles";
  if (me.rolsuper) return undefined;
  if (target.superuser) return `${target.name} is a superuser and the administrator is not`;
  if (!me.rolcreaterole) return "the administrator has no CREATEROLE attribute";
  if ((await serverVersion(client)) >= 160000 && !me.admin) return `the administrator has no ADMIN OPTION on ${target.name} (PostgreSQL 16 and later require it)`;
  return undefined;
}

/** ALTER ROLE … PASSWORD with a SCRAM verifier. Idempotent: setting the same password twice is harmless. */
export async function setRolePassword(client: Client, role: string, password: string, registerSecret: (v: string) => void): Promise<void> {
  const verifier = scramSha256Verifier(password);
  // A verifier is not a password, but it is what the server keeps: treat it as secret too.
  registerSecret(verifier);
  await client.query(`ALTER ROLE ${client.escapeIdentifier(role)} PASSWORD ${client.escapeLiteral(verifier)}`);
}

/** What stands in the way of making a faithful copy of `template` by memberships alone. */
export async function cloneObstacles(client: Client, template: RoleInfo): Promise<string[]> {
  const problems: string[] = [];
  if (template.privilegedAttributes.length > 0) problems.push(`it has ${template.privilegedAttributes.join(", ")}, which keyturn does not copy`);
  // pg_shdepend records, per role, the objects it owns ('o') and the ACL entries that
  // name it ('a'), in this database and on shared objects (dbid 0).
  const r = await client.query<{ owned: string; granted: string }>(
    `SELECT count(*) FILTER (WHERE d.deptype = 'o') AS owned, count(*) FILTER (WHERE d.deptype = 'a') AS granted
       FROM pg_catalog.pg_shdepend d
      WHERE d.refclassid = 'pg_catalog.pg_authid'::regclass
        AND d.refobjid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)
        AND d.dbid IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))`,
    [template.name],
  );
  const owned = Number(r.rows[0]?.owned ?? 0);
  const granted = Number(r.rows[0]?.granted ?? 0);
  if (owned > 0) problems.push(`it owns ${owned} object(s)`);
  if (granted > 0) problems.push(`it holds ${granted} direct privilege(s) on objects`);
  return problems;
}

interface Membership {
  group: string;
  admin: boolean;
  inherit: boolean | null;
  set: boolean | null;
}

/**
 * CREATE ROLE `login` LOGIN with the same role memberships (and their ADMIN/INHERIT/SET
 * options), INHERIT attribute and connection limit as `template`, in one transaction: a
 * failed GRANT leaves no half-made role behind.
 */
export async function createLoginLike(client: Client, template: RoleInfo, login: string, password: string, registerSecret: (v: string) => void): Promise<string[]> {
  const pg16 = (await serverVersion(client)) >= 160000;
  const memberships = await client.query<Membership>(
    pg16
      ? `SELECT g.rolname AS "group", bool_or(m.admin_option) AS admin, bool_or(m.inherit_option) AS inherit, bool_or(m.set_option) AS set
           FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
          WHERE m.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1) GROUP BY g.rolname ORDER BY g.rolname`
      : `SELECT g.rolname AS "group", bool_or(m.admin_option) AS admin, NULL::boolean AS inherit, NULL::boolean AS set
           FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
          WHERE m.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1) GROUP BY g.rolname ORDER BY g.rolname`,
    [template.name],
  );
  const verifier = scramSha256Verifier(password);
  registerSecret(verifier);
  const id = (name: string) => client.escapeIdentifier(name);
  await client.query("BEGIN");
  try {
    await client.query(
      `CREATE ROLE ${id(login)} LOGIN ${template.inherit ? "INHERIT" : "NOINHERIT"} CONNECTION LIMIT ${Math.trunc(template.connectionLimit)} PASSWORD ${client.escapeLiteral(verifier)}`,
    );
    for (const m of memberships.rows) {
      const options = pg16 ? ` WITH ADMIN ${m.admin ? "TRUE" : "FALSE"}, INHERIT ${m.inherit ? "TRUE" : "FALSE"}, SET ${m.set ? "TRUE" : "FALSE"}` : m.admin ? " WITH ADMIN OPTION" : "";
      await client.query(`GRANT ${id(m.group)} TO ${id(login)}${options}`);
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
  return memberships.rows.map((m) => m.group);
}

/** Close every session of `role` but our own. Returns how many were terminated. */
export async function terminateSessions(client: Client, role: string): Promise<number> {
  const r = await client.query<{ n: string }>(
    "SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid)) AS n FROM pg_catalog.pg_stat_activity WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()",
    [role],
  );
  return Number(r.rows[0]?.n ?? 0);
}
