// sql-server-admin through the real engine: ARM calls through core/arm-rest.ts (the SDK pipeline and core-lro poller) against the
// ARM double (a PATCH long-running operation that applies the password only when it
// completes, and validates it as Azure SQL does), and the Key Vault double with its
// journal. The double's password() is the one password the server accepts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SqlManagementClient } from "@azure/arm-sql";
import { ArmProviderError, armCall, parseProviderAddress } from "../../core/arm.js";
import { ConfigurationError } from "../../core/errors.js";
import type { RotationRequest } from "../../core/engine.js";
import { journalName } from "../../core/journal.js";
import { FaultInjector } from "../../emulators/faults.js";
import { DEFAULT_RESOURCE_GROUP as RG, DEFAULT_SUBSCRIPTION_ID as SUB, startArmEmulator, testCredential, type ArmEmulator } from "../../emulators/arm/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { createRegistry } from "../../core/registry.js";
import { registry as defaultRegistry, rotators } from "../../rotators/index.js";
import { createSqlServerAdminRotator, generateSqlPassword, sqlPasswordProblem } from "../../rotators/sql-server-admin/index.js";
import { SQL_PASSWORD_SYMBOLS, readSqlValue } from "../../rotators/sql-server-admin/format.js";
import { failure, testEngine } from "../support/engine.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "sql-kv";
const registry = createRegistry({ ...rotators, "sql-server-admin": createSqlServerAdminRotator({ pollIntervalMs: 5, verifyDelaysMs: [0, 10] }) });
const INITIAL = "Initial#Passw0rd-2025";

let kv: KeyVaultEmulator;
let arm: ArmEmulator;
let armFaults: FaultInjector;
const servers: Array<{ passwordHistory(): string[] }> = [];

beforeAll(async () => {
  armFaults = new FaultInjector();
  [kv, arm] = await Promise.all([startKeyVaultEmulator({ vaults: [VAULT] }), startArmEmulator({ faults: armFaults, lroPolls: 1 })]);
});

afterAll(async () => {
  await Promise.all([kv?.stop(), arm?.stop()]);
});

afterEach(() => {
  arm.onPasswordChange = undefined;
  armFaults.clear();
});

function engine(reg = registry) {
  return testEngine(kv, { armEndpoint: arm.url, registry: reg });
}

function server(name: string, login = "sqladmin") {
  const s = arm.addSqlServer({ name, administratorLogin: login, password: INITIAL });
  servers.push(s);
  return s;
}

async function seed(name: string, value: string, tags: Record<string, string>) {
  const client = secretClientFor(kv, VAULT);
  const s = await client.setSecret(name, value, { tags: { ValidityPeriodDays: "60", Owner: "dba@contoso.com", ...tags } });
  return { client, version: s.properties.version! };
}

function request(secret: string, mode: RotationRequest["mode"] = "normal"): RotationRequest {
  return { vault: { name: VAULT, url: kv.url(VAULT) }, secret, mode, trigger: { kind: "event", id: `e-${secret}` } };
}

async function journalState(client: ReturnType<typeof secretClientFor>, secret: string): Promise<string | undefined> {
  try {
    return (await client.getSecret(journalName(secret))).properties.tags?.KeyturnJournalState;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

describe("sql-server-admin rotation", () => {
  it("journals, PATCHes the password through the long-running operation, verifies and commits: the server takes exactly the committed value", async () => {
    const s = server("sqlrot01");
    const { client, version } = await seed("sql-admin", INITIAL, { Rotator: "sql-server-admin", ProviderAddress: s.id, CredentialId: "sqladmin" });
    const { engine: e, notifier, logs } = engine();
    arm.clearRequests();
    const result = await e.rotateSecret(request("sql-admin"));
    expect(result).toMatchObject({ status: "rotated", rotator: "sql-server-admin", credentialId: "sqladmin", previousVersion: version, rolledForward: false });
    const latest = await client.getSecret("sql-admin");
    expect(latest.value).toBe(s.password());
    expect(s.passwordHistory()).toEqual([INITIAL, latest.value]);
    expect(sqlPasswordProblem(latest.value!, "sqladmin")).toBeUndefined();
    expect(latest.value).toHaveLength(32);
    expect(latest.properties.tags).toMatchObject({ CredentialId: "sqladmin" });
    expect(await journalState(client, "sql-admin")).toBe("committed");
    // check (GET), apply (PATCH, two polls, final GET: Ready, which verify uses).
    expect(arm.requests().map((r) => `${r.method} ${r.status} ${(r.operation ?? "").replace(/^Microsoft\.Sql\//, "")}`)).toEqual([
      "GET 200 servers/read",
      "PATCH 202 servers/write",
      "GET 200 locations/serverAzureAsyncOperation/read",
      "GET 200 locations/serverAzureAsyncOperation/read",
      "GET 200 locations/serverOperationResults/read",
    ]);
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.SecretRotated", owner: "dba@contoso.com", credentialId: "sqladmin" })]);
    assertNoPasswords(logs, notifier.sent);
  });

  it("writes an ADO.NET connection string with the server's FQDN, login and Database when SecretFormat asks", async () => {
    const s = server("sqlrot02", "orders_admin");
    const { client } = await seed("sql-conn", INITIAL, { ProviderAddress: s.id, SecretFormat: "connection-string", Database: "orders" });
    const { engine: e, notifier, logs } = engine();
    await e.rotateSecret(request("sql-conn"));
    const value = (await client.getSecret("sql-conn")).value!;
    expect(value).toBe(
      `Server=tcp:sqlrot02.database.windows.net,1433;Initial Catalog=orders;Persist Security Info=False;User ID=orders_admin;Password=${s.password()};` +
        "MultipleActiveResultSets=False;Encrypt=True;TrustServerCertificate=False;Connection Timeout=30;",
    );
    expect((await client.getSecret("sql-conn")).properties.tags).toMatchObject({ CredentialId: "orders_admin" });
    // The next rotation reads the current value as a connection string for this server.
    await e.rotateSecret(request("sql-conn"));
    expect(readSqlValue((await client.getSecret("sql-conn")).value!).password).toBe(s.password());
    expect(s.passwordHistory()).toHaveLength(3);
    assertNoPasswords(logs, notifier.sent);
  });

  it("is selected by ProviderAddress alone (no Rotator tag), through the default registry", async () => {
    const s = server("sqlrot03");
    await seed("sql-bytype", INITIAL, { ProviderAddress: s.id });
    const planned = await engine(defaultRegistry).engine.rotateSecret({ ...request("sql-bytype"), mode: "dry-run" });
    expect(planned).toMatchObject({ status: "planned", rotator: "sql-server-admin", plan: ["check-current", "create", "journal", "apply", "verify", "commit"] });
    expect(s.passwordHistory()).toEqual([INITIAL]);
  });

  it("emergency mode: the old password stops working with the rotation itself", async () => {
    const s = server("sqlrot04");
    const { client } = await seed("sql-leak", INITIAL, { ProviderAddress: s.id });
    const result = await engine().engine.rotateSecret(request("sql-leak", "emergency"));
    expect(result).toMatchObject({ status: "rotated", revoked: true });
    expect(s.password()).not.toBe(INITIAL);
    expect((await client.getSecret("sql-leak")).value).toBe(s.password());
  });
});

describe("sql-server-admin interrupted and failed rotations", () => {
  it("a crash between apply and commit (Key Vault write failing) is rolled forward with the journaled password", async () => {
    const s = server("sqlfail01");
    const { client, version } = await seed("sql-crash", INITIAL, { ProviderAddress: s.id });
    const { engine: e, notifier, logs } = engine();
    const remove = kv.faults.add({ match: { operation: "SetSecret", path: /\/secrets\/sql-crash$/ }, status: 500, times: 3 });
    const err = await failure(e.rotateSecret({ ...request("sql-crash"), expectedVersion: version }));
    remove();
    expect(err).toMatchObject({ kind: "transient" });
    // The server has the new password; Key Vault's latest version has the old one; the
    // pending journal holds the one that works.
    const applied = s.password();
    expect(applied).not.toBe(INITIAL);
    expect((await client.getSecret("sql-crash")).value).toBe(INITIAL);
    expect(await journalState(client, "sql-crash")).toBe("pending");
    expect(JSON.parse((await client.getSecret(journalName("sql-crash"))).value!).secretValue).toBe(applied);
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "commit", willRetry: true })]);
    expect(notifier.sent[0]!.rolledBack).toBeUndefined(); // transient: no give-back, the journal rolls forward

    // Event Grid redelivers the same event.
    const result = await e.rotateSecret({ ...request("sql-crash"), expectedVersion: version });
    expect(result).toMatchObject({ status: "rotated", rolledForward: true });
    expect((await client.getSecret("sql-crash")).value).toBe(s.password());
    expect(s.password()).toBe(applied);
    expect(s.passwordHistory()).toEqual([INITIAL, applied, applied]); // the same password applied again
    expect(await journalState(client, "sql-crash")).toBe("committed");
    assertNoPasswords(logs, notifier.sent);
  });

  it("ARM 500 on the PATCH: transient, the server keeps the password Key Vault holds; the next trigger applies the journaled one", async () => {
    const s = server("sqlfail02");
    const { client } = await seed("sql-500", INITIAL, { ProviderAddress: s.id });
    const { engine: e, notifier } = engine();
    const remove = armFaults.add({ match: { service: "arm", operation: "Microsoft.Sql/servers/write" }, status: 500, times: 10 });
    expect(await failure(e.rotateSecret(request("sql-500")))).toMatchObject({ kind: "transient" });
    remove();
    expect(s.password()).toBe(INITIAL);
    expect((await client.getSecret("sql-500")).value).toBe(INITIAL);
    expect(await journalState(client, "sql-500")).toBe("pending");
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "apply", errorKind: "transient", willRetry: true })]);
    await expect(e.rotateSecret(request("sql-500"))).resolves.toMatchObject({ status: "rotated", rolledForward: true });
    expect((await client.getSecret("sql-500")).value).toBe(s.password());
  });

  it("the operation failing on the server (InternalServerError in the LRO) is transient and rolled forward later", async () => {
    const s = server("sqlfail03");
    const { client } = await seed("sql-lro", INITIAL, { ProviderAddress: s.id });
    const { engine: e } = engine();
    arm.onPasswordChange = () => {
      arm.onPasswordChange = undefined;
      throw new Error("the server could not apply the password");
    };
    expect(await failure(e.rotateSecret(request("sql-lro")))).toMatchObject({ kind: "transient" });
    expect(s.password()).toBe(INITIAL);
    await expect(e.rotateSecret(request("sql-lro"))).resolves.toMatchObject({ status: "rotated", rolledForward: true });
    expect((await client.getSecret("sql-lro")).value).toBe(s.password());
  });

  it("ARM refusing the password (PasswordNotComplex) is a ProviderError with ARM's code; the previous password is given back", async () => {
    const s = server("sqlfail04");
    const { client } = await seed("sql-weak", INITIAL, { ProviderAddress: s.id });
    const { engine: e, notifier } = engine();
    armFaults.add({
      match: { service: "arm", operation: "Microsoft.Sql/servers/write" },
      status: 400,
      errorCode: "PasswordNotComplex",
      errorMessage: "Password validation failed. The password does not meet policy requirements because it is not complex enough.",
      times: 1,
    });
    const err = await failure(e.rotateSecret(request("sql-weak")));
    expect(err).toBeInstanceOf(ArmProviderError);
    expect(err.code).toBe("PasswordNotComplex");
    expect(s.password()).toBe(INITIAL);
    expect((await client.getSecret("sql-weak")).value).toBe(INITIAL);
    expect(await journalState(client, "sql-weak")).toBe("rolled-back");
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "apply", errorKind: "provider", rolledBack: true })]);
    expect(notifier.sent[0]!.error).toContain("PasswordNotComplex");
  });

  it("verification failing for good after the PATCH gives the server its previous password back", async () => {
    const s = server("sqlfail05");
    const { client } = await seed("sql-verify", INITIAL, { ProviderAddress: s.id });
    const { engine: e, notifier, logs } = engine();
    // With the new password the server does not come back Ready; with the previous one it does.
    let changes = 0;
    arm.onPasswordChange = () => {
      changes++;
      s.setState(changes === 1 ? "Disabled" : "Ready");
      if (changes === 2) arm.onPasswordChange = undefined;
    };
    const err = await failure(e.rotateSecret(request("sql-verify")));
    expect(err).toMatchObject({ kind: "verification" });
    expect(err.message).toMatch(/did not return to Ready after the password change \(state Disabled\)/);
    const history = s.passwordHistory();
    expect(history).toHaveLength(3);
    expect(history[0]).toBe(INITIAL);
    expect(history[2]).toBe(INITIAL); // given back
    expect(s.password()).toBe(INITIAL);
    expect((await client.getSecret("sql-verify")).value).toBe(INITIAL);
    expect(await journalState(client, "sql-verify")).toBe("rolled-back");
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "verify", rolledBack: true })]);
    assertNoPasswords(logs, notifier.sent);
  });

  it("Key Vault refusing the commit for good gives the server its previous password back", async () => {
    const s = server("sqlfail06");
    const { client } = await seed("sql-commit", INITIAL, { ProviderAddress: s.id });
    const { engine: e, notifier } = engine();
    kv.faults.add({ match: { operation: "SetSecret", path: /\/secrets\/sql-commit$/ }, status: 403, errorCode: "Forbidden", times: 1 });
    expect(await failure(e.rotateSecret(request("sql-commit")))).toMatchObject({ kind: "provider" });
    expect(s.password()).toBe(INITIAL);
    expect(s.passwordHistory()).toHaveLength(3);
    expect((await client.getSecret("sql-commit")).value).toBe(INITIAL);
    expect(await versionsOf(client, "sql-commit")).toHaveLength(1);
    expect(await journalState(client, "sql-commit")).toBe("rolled-back");
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "commit", rolledBack: true })]);
  });

  it("403 from ARM names the SQL password role, before anything changes", async () => {
    const s = server("sqlfail07");
    const { client } = await seed("sql-denied", INITIAL, { ProviderAddress: s.id });
    const allow = arm.denyScope(s.id);
    const { engine: e, notifier } = engine();
    try {
      const err = await failure(e.rotateSecret(request("sql-denied")));
      expect(err).toBeInstanceOf(ArmProviderError);
      expect(err.message).toContain("'keyturn SQL Server Admin Password Rotator' role");
    } finally {
      allow();
    }
    expect(s.password()).toBe(INITIAL);
    expect(await journalState(client, "sql-denied")).toBeUndefined();
    expect(notifier.sent[0]).toMatchObject({ type: "keyturn.RotationFailed", step: "check-current" });
  });
});

describe("sql-server-admin configuration errors name the tag and change nothing", () => {
  const cases: Array<[string, (id: string) => Record<string, string>, string, string?]> = [
    ["not a resource ID", () => ({ Rotator: "sql-server-admin", ProviderAddress: "sqlbad.database.windows.net" }), "ProviderAddress"],
    [
      "a storage account's ID",
      () => ({ Rotator: "sql-server-admin", ProviderAddress: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Storage/storageAccounts/sqlbad` }),
      "ProviderAddress",
    ],
    ["a server that does not exist", () => ({ ProviderAddress: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Sql/servers/no-such-server` }), "ProviderAddress"],
    ["CredentialId that is not the server's login", (id) => ({ ProviderAddress: id, CredentialId: "someoneelse" }), "CredentialId"],
    ["an unknown SecretFormat", (id) => ({ ProviderAddress: id, SecretFormat: "odbc" }), "SecretFormat"],
    ["a SecretLength below 16", (id) => ({ ProviderAddress: id, SecretLength: "8" }), "SecretLength"],
    ["a Database with a semicolon", (id) => ({ ProviderAddress: id, SecretFormat: "connection-string", Database: "a;b" }), "Database"],
    [
      "a connection string for another server",
      (id) => ({ ProviderAddress: id, SecretFormat: "connection-string" }),
      "ProviderAddress",
      `Server=tcp:other.database.windows.net,1433;User ID=sqladmin;Password=${INITIAL};`,
    ],
  ];

  it.each(cases)("%s", async (label, tags, tag, value) => {
    const name = `sql-bad-${cases.findIndex((c) => c[0] === label)}`;
    const s = server(`sqlbad${cases.findIndex((c) => c[0] === label)}`);
    const { client } = await seed(name, value ?? INITIAL, tags(s.id));
    const { engine: e, notifier } = engine();
    const err = await failure(e.rotateSecret(request(name)));
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as unknown as ConfigurationError).tag).toBe(tag);
    expect(s.passwordHistory()).toEqual([INITIAL]);
    expect(await versionsOf(client, name)).toHaveLength(1);
    expect(await journalState(client, name)).toBeUndefined();
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", errorKind: "configuration", owner: "dba@contoso.com" })]);
  });
});

describe("ARM's answers as keyturn errors, from the real SDK", () => {
  it("a password refused inside the long-running operation becomes a ProviderError carrying ARM's code, without the password", async () => {
    const s = server("sqlmap01");
    const client = new SqlManagementClient(testCredential(), SUB, { endpoint: arm.url, credentialScopes: ["x/.default"], tlsOptions: { ca: arm.tls.caPem } });
    const resource = parseProviderAddress({ ProviderAddress: s.id }, "microsoft.sql/servers", "-");
    const weak = "weakpassword";
    const err = await failure(
      armCall({ action: "set the administrator password of", resource, role: "SQL Server Contributor" }, () =>
        client.servers.beginUpdateAndWait(RG, "sqlmap01", { administratorLoginPassword: weak }, { updateIntervalInMs: 5 }),
      ),
    );
    expect(err).toBeInstanceOf(ArmProviderError);
    expect(err).toMatchObject({ code: "PasswordNotComplex", kind: "provider" });
    expect(err.message).toContain("Password validation failed");
    expect(err.message).not.toContain(weak);
    expect(s.password()).toBe(INITIAL);
  });
});

describe("sql-server-admin passwords (pure)", () => {
  it("meet Azure SQL's policy, avoid every three-character part of the login, and use only connection-string-safe symbols", () => {
    const allowed = new RegExp(`^[A-Za-z0-9${SQL_PASSWORD_SYMBOLS.replace(/[-.*]/g, "\\$&")}]+$`);
    for (let i = 0; i < 500; i++) {
      const p = generateSqlPassword(16, "abcdefghijklmnopqrstuvwxyz");
      expect(sqlPasswordProblem(p, "abcdefghijklmnopqrstuvwxyz")).toBeUndefined();
      expect(p).toMatch(allowed);
      for (const re of [/[a-z]/, /[A-Z]/, /[0-9]/, /[!*\-._~]/]) expect(p).toMatch(re);
    }
    expect(sqlPasswordProblem("xxSQLAdm!n-12", "sqladmin")).toBe("it contains part of the login name");
    expect(sqlPasswordProblem("alllowercase1", "x")).toMatch(/three of/);
    expect(sqlPasswordProblem("Sh0rt!", "x")).toMatch(/8 to 128/);
    expect(readSqlValue("Server=tcp:a.database.windows.net,1433;User ID=u;Password=p!*-._~;")).toEqual({ password: "p!*-._~", host: "a.database.windows.net", login: "u" });
    expect(readSqlValue("plain-Passw0rd")).toEqual({ password: "plain-Passw0rd" });
  });
});

function assertNoPasswords(logs: string[], sent: unknown[]): void {
  const text = `${logs.join("\n")}\n${JSON.stringify(sent)}`;
  for (const s of servers) for (const p of s.passwordHistory()) expect(text).not.toContain(p);
  expect(text).not.toMatch(/Password=(?!\[REDACTED\])/);
}
