// postgres-flexible-admin end to end: the real engine, the Key Vault double, the ARM double
// (the SDK pipeline and core-lro poller of core/arm-rest.ts, long-running PATCH) and a real PostgreSQL
// server standing in for the flexible server. The ARM double's onPasswordChange hook does
// what Azure does when the PATCH completes — changes the administrator's password on the
// server — so the rotator's verifying login is real.
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RotationRequest, RotationResult } from "../../core/engine.js";
import { ConfigurationError, ErrorKind, KeyturnError, ProviderError } from "../../core/errors.js";
import { JournalState, readJournal } from "../../core/journal.js";
import type { RotationMode } from "../../core/rotator.js";
import { startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { scramSha256Verifier } from "../../rotators/postgres-role/postgres.js";
import { testEngine, type TestEngine } from "../support/engine.js";
import { secretClientFor } from "../support/keyvault.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";

const VAULT = "kv-pgflex";
const ADMIN = "pgadmin";

let pgs: TestPostgres;
let kv: KeyVaultEmulator;
let arm: ArmEmulator;
/** When set, the next password change at the "service" fails, as a failed operation would. */
let failNextPasswordChange = false;
const knownPasswords = new Set<string>();

function request(secret: string, mode: RotationMode = "normal"): RotationRequest {
  return { vault: { name: VAULT, url: kv.url(VAULT) }, secret, mode, trigger: { kind: "http", id: `test-${secret}` } };
}

async function latest(name: string) {
  const s = await secretClientFor(kv, VAULT).getSecret(name);
  return { value: s.value ?? "", version: s.properties.version ?? "", tags: s.properties.tags ?? {}, contentType: s.properties.contentType };
}

function passwordOf(value: string): string {
  return value.startsWith("{") ? (JSON.parse(value) as { password: string }).password : value;
}

async function rotate(te: TestEngine, secret: string): Promise<RotationResult> {
  const result = await te.engine.rotateSecret(request(secret));
  knownPasswords.add(passwordOf((await latest(secret)).value));
  return result;
}

async function rotationError(te: TestEngine, secret: string): Promise<KeyturnError> {
  const error = await te.engine.rotateSecret(request(secret)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "the rotation should have failed").toBeInstanceOf(KeyturnError);
  return error as KeyturnError;
}

function expectNoPasswords(te: TestEngine, ...extra: string[]): void {
  const texts = [...te.logs, JSON.stringify(te.notifier.sent), ...extra];
  for (const password of knownPasswords) {
    for (const text of texts) expect(text.includes(password), `a password leaked into: ${text.slice(0, 200)}`).toBe(false);
  }
}

/** A flexible server in the ARM double whose administrator is a real (non-superuser, CREATEROLE) role on the test server. */
async function addServer(name: string, login: string, password: string) {
  knownPasswords.add(password);
  await pgs.query(`CREATE ROLE ${pg.escapeIdentifier(login)} LOGIN CREATEROLE PASSWORD ${pg.escapeLiteral(password)}`);
  return arm.addPostgresFlexibleServer({ name, administratorLogin: login, password, fullyQualifiedDomainName: "127.0.0.1" });
}

function flexTags(id: string, extra: Record<string, string> = {}): Record<string, string> {
  // No Rotator tag: the resource type in ProviderAddress selects postgres-flexible-admin.
  return { ProviderAddress: id, ValidityPeriodDays: "90", Port: String(pgs.port), SslMode: "disable", Owner: "dba@contoso.com", ...extra };
}

function canLogin(user: string, password: string): Promise<boolean> {
  return pgs.canLogin(user, password);
}

beforeAll(async () => {
  [pgs, kv, arm] = await Promise.all([startPostgres(), startKeyVaultEmulator({ vaults: [VAULT] }), startArmEmulator()]);
  arm.onPasswordChange = async (_resourceId, login, password) => {
    if (failNextPasswordChange) {
      failNextPasswordChange = false;
      throw new Error("simulated service failure");
    }
    await pgs.query(`ALTER ROLE ${pg.escapeIdentifier(login)} PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`);
  };
});

afterAll(async () => {
  await Promise.all([pgs?.stop(), kv?.stop(), arm?.stop()]);
});

afterEach(() => {
  kv.faults.clear();
  failNextPasswordChange = false;
});

describe("postgres-flexible-admin", () => {
  it("rotates the administrator password through the ARM PATCH and verifies it by a real login", async () => {
    const server = await addServer("kpg-main", ADMIN, "Initial-Admin-Pw-1");
    const before = kv.seedSecret(VAULT, "pg-main-admin", "Initial-Admin-Pw-1", { tags: flexTags(server.id, { SecretFormat: "json" }) }).version;
    const te = testEngine(kv, { armEndpoint: arm.url });
    arm.clearRequests();

    const result = await rotate(te, "pg-main-admin");

    expect(result).toMatchObject({ status: "rotated", rotator: "postgres-flexible-admin", credentialId: ADMIN, previousVersion: before, rolledForward: false });
    const now = await latest("pg-main-admin");
    const doc = JSON.parse(now.value) as Record<string, unknown>;
    expect(doc).toMatchObject({ username: ADMIN, host: "127.0.0.1", port: pgs.port, dbname: "postgres" });
    expect(doc.password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(now.tags.CredentialId).toBe(ADMIN);
    expect(now.contentType).toBe("application/json");
    // ARM has it, the server accepts it, the old one is refused.
    expect(server.password()).toBe(doc.password);
    expect(await canLogin(ADMIN, doc.password as string)).toBe(true);
    expect(await canLogin(ADMIN, "Initial-Admin-Pw-1")).toBe(false);
    const calls = arm.requests().filter((r) => r.service === "arm").map((r) => `${r.method} ${r.status}`);
    expect(calls[0]).toBe("GET 200"); // check-current reads the server
    expect(calls.filter((c) => c === "PATCH 202")).toHaveLength(1);
    expect((await readJournal(secretClientFor(kv, VAULT), "pg-main-admin"))?.state).toBe(JournalState.Committed);
    expect(te.notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.SecretRotated", rotator: "postgres-flexible-admin", owner: "dba@contoso.com" })]);
    expectNoPasswords(te);
  });

  it("its json secret serves as the AdminSecret of a postgres-role secret on the same server", async () => {
    const server = await addServer("kpg-chain", "chainadmin", "Chain-Admin-Pw-1");
    kv.seedSecret(VAULT, "pg-chain-admin", JSON.stringify({ username: "chainadmin", password: "Chain-Admin-Pw-1" }), {
      tags: flexTags(server.id, { SecretFormat: "json", CredentialId: "chainadmin" }),
    });
    const te = testEngine(kv, { armEndpoint: arm.url });
    await rotate(te, "pg-chain-admin");
    const admin = JSON.parse((await latest("pg-chain-admin")).value) as { password: string };

    await pgs.queryAs("chainadmin", admin.password, "CREATE ROLE chain_app LOGIN PASSWORD 'Chain-App-Pw-1'");
    knownPasswords.add("Chain-App-Pw-1");
    kv.seedSecret(VAULT, "pg-chain-app", "Chain-App-Pw-1", {
      tags: { Rotator: "postgres-role", ProviderAddress: `postgres://127.0.0.1:${pgs.port}/postgres`, CredentialId: "chain_app", AdminSecret: "pg-chain-admin", ValidityPeriodDays: "60", SslMode: "disable" },
    });
    await rotate(te, "pg-chain-app");
    const app = (await latest("pg-chain-app")).value;
    expect(await canLogin("chain_app", app)).toBe(true);
    expect(await canLogin("chain_app", "Chain-App-Pw-1")).toBe(false);
    expectNoPasswords(te);
  });

  it("rolls forward after a crash between the PATCH and the Key Vault write: the admin is never locked out", async () => {
    const server = await addServer("kpg-crash", "crashadmin", "Crash-Admin-Pw-1");
    const before = kv.seedSecret(VAULT, "pg-crash-admin", "Crash-Admin-Pw-1", { tags: flexTags(server.id) }).version;
    const te = testEngine(kv, { armEndpoint: arm.url });
    kv.faults.add({ match: { operation: "SetSecret", path: "/secrets/pg-crash-admin" }, status: 503, times: 20 });

    const error = await rotationError(te, "pg-crash-admin");
    expect(error.kind).toBe(ErrorKind.Transient);

    const journal = await readJournal(secretClientFor(kv, VAULT), "pg-crash-admin");
    expect(journal).toMatchObject({ state: JournalState.Pending, supersedes: before, pending: { credentialId: "crashadmin" } });
    const journaled = journal!.pending.secretValue;
    knownPasswords.add(journaled);
    expect((await latest("pg-crash-admin")).version).toBe(before);
    expect(server.password()).toBe(journaled);
    expect(await canLogin("crashadmin", journaled)).toBe(true);
    expect(await canLogin("crashadmin", "Crash-Admin-Pw-1")).toBe(false);

    kv.faults.clear();
    const result = await rotate(te, "pg-crash-admin");
    expect(result).toMatchObject({ rolledForward: true, credentialId: "crashadmin" });
    expect((await latest("pg-crash-admin")).value).toBe(journaled);
    // The roll-forward PATCHed the same password again (idempotent), not a new one.
    expect(server.passwordHistory()).toEqual(["Crash-Admin-Pw-1", journaled, journaled]);
    expect(await canLogin("crashadmin", journaled)).toBe(true);
    expectNoPasswords(te, error.message);
  });

  it("a failed PATCH operation leaves the journal pending; the next trigger completes it", async () => {
    const server = await addServer("kpg-opfail", "opfailadmin", "OpFail-Admin-Pw-1");
    const before = kv.seedSecret(VAULT, "pg-opfail-admin", "OpFail-Admin-Pw-1", { tags: flexTags(server.id) }).version;
    const te = testEngine(kv, { armEndpoint: arm.url });
    failNextPasswordChange = true;

    const error = await rotationError(te, "pg-opfail-admin");
    // The operation failed with InternalServerError: worth another try (Event Grid redelivers).
    expect(error.kind).toBe(ErrorKind.Transient);
    expect(error.message).toContain("setting the administrator password of flexible server kpg-opfail");
    expect(server.password()).toBe("OpFail-Admin-Pw-1");
    expect(await canLogin("opfailadmin", "OpFail-Admin-Pw-1")).toBe(true);
    expect((await latest("pg-opfail-admin")).version).toBe(before);
    const journal = await readJournal(secretClientFor(kv, VAULT), "pg-opfail-admin");
    expect(journal?.state).toBe(JournalState.Pending);
    knownPasswords.add(journal!.pending.secretValue);

    const result = await rotate(te, "pg-opfail-admin");
    expect(result.rolledForward).toBe(true);
    expect((await latest("pg-opfail-admin")).value).toBe(journal!.pending.secretValue);
    expect(await canLogin("opfailadmin", journal!.pending.secretValue)).toBe(true);
    expectNoPasswords(te, error.message);
  });

  it("Key Vault refusing the commit for good gives the server its previous password back, which logs in again", async () => {
    // No CredentialId tag: the previous version names no login; the restore must still know it.
    const server = await addServer("kpg-giveback", "givebackadmin", "GiveBack-Admin-Pw-1");
    const before = kv.seedSecret(VAULT, "pg-giveback-admin", "GiveBack-Admin-Pw-1", { tags: flexTags(server.id) }).version;
    const te = testEngine(kv, { armEndpoint: arm.url });
    // 403 is permanent (the identity lost its Key Vault role between the journal write and the commit).
    kv.faults.add({ match: { operation: "SetSecret", path: "/secrets/pg-giveback-admin" }, status: 403, errorCode: "Forbidden" });

    const error = await rotationError(te, "pg-giveback-admin");

    expect(error.transient).toBe(false);
    const journal = await readJournal(secretClientFor(kv, VAULT), "pg-giveback-admin");
    knownPasswords.add(passwordOf(journal!.pending.secretValue));
    const history = server.passwordHistory();
    expect(history).toEqual(["GiveBack-Admin-Pw-1", passwordOf(journal!.pending.secretValue), "GiveBack-Admin-Pw-1"]);
    // ARM holds the previous password again, and it logs in at the real server; the new one does not.
    expect(server.password()).toBe("GiveBack-Admin-Pw-1");
    expect(await canLogin("givebackadmin", "GiveBack-Admin-Pw-1")).toBe(true);
    expect(await canLogin("givebackadmin", passwordOf(journal!.pending.secretValue))).toBe(false);
    expect((await latest("pg-giveback-admin")).version).toBe(before);
    expect(journal?.state).toBe(JournalState.RolledBack);
    expect(te.notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "commit", rolledBack: true, willRetry: false })]);
    expectNoPasswords(te, error.message);
  });

  it("verification failing for good gives the previous password back (json format, CredentialId set)", async () => {
    const server = await addServer("kpg-noverify", "noverifyadmin", "NoVerify-Admin-Pw-1");
    const initial = JSON.stringify({ username: "noverifyadmin", password: "NoVerify-Admin-Pw-1" });
    kv.seedSecret(VAULT, "pg-noverify-admin", initial, { tags: flexTags(server.id, { SecretFormat: "json", CredentialId: "noverifyadmin" }) });
    const te = testEngine(kv, { armEndpoint: arm.url });
    // The service accepts the PATCH but the new password never reaches the server (ARM
    // reports success): the verifying login is refused, which is permanent.
    let changes = 0;
    const real = arm.onPasswordChange;
    arm.onPasswordChange = async (id, login, password) => {
      changes++;
      if (changes === 1) return;
      await real!(id, login, password);
    };
    try {
      const error = await rotationError(te, "pg-noverify-admin");
      expect(error.kind).toBe(ErrorKind.Verification);
    } finally {
      arm.onPasswordChange = real;
    }
    expect(server.password()).toBe("NoVerify-Admin-Pw-1");
    expect(await canLogin("noverifyadmin", "NoVerify-Admin-Pw-1")).toBe(true);
    expect((await latest("pg-noverify-admin")).value).toBe(initial);
    expect((await readJournal(secretClientFor(kv, VAULT), "pg-noverify-admin"))?.state).toBe(JournalState.RolledBack);
    expect(te.notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "verify", rolledBack: true })]);
    expectNoPasswords(te);
  }, 20_000);

  it("refuses without the ARM role, with the wrong CredentialId, or with a current value that does not log in; nothing changes", async () => {
    const server = await addServer("kpg-refuse", "refuseadmin", "Refuse-Admin-Pw-1");
    const te = testEngine(kv, { armEndpoint: arm.url });

    const undo = arm.denyScope(server.id);
    kv.seedSecret(VAULT, "pg-refuse-denied", "Refuse-Admin-Pw-1", { tags: flexTags(server.id) });
    const denied = await rotationError(te, "pg-refuse-denied");
    undo();
    expect(denied).toBeInstanceOf(ProviderError);
    expect(denied.message).toContain("lacks Microsoft.DBforPostgreSQL/flexibleServers read/write");

    kv.seedSecret(VAULT, "pg-refuse-login", "Refuse-Admin-Pw-1", { tags: flexTags(server.id, { CredentialId: "someone_else" }) });
    const wrongLogin = await rotationError(te, "pg-refuse-login");
    expect(wrongLogin).toBeInstanceOf(ConfigurationError);
    expect(wrongLogin.message).toBe("tag CredentialId: is someone_else, but the administrator of kpg-refuse is refuseadmin");

    knownPasswords.add("Stale-Admin-Pw-9");
    kv.seedSecret(VAULT, "pg-refuse-stale", "Stale-Admin-Pw-9", { tags: flexTags(server.id) });
    const stale = await rotationError(te, "pg-refuse-stale");
    expect(stale).toBeInstanceOf(ProviderError);
    expect(stale.message).toContain("does not log in as refuseadmin");

    kv.seedSecret(VAULT, "pg-refuse-url", "Refuse-Admin-Pw-1", {
      tags: { Rotator: "postgres-flexible-admin", ProviderAddress: `postgres://127.0.0.1:${pgs.port}/postgres`, ValidityPeriodDays: "90" },
    });
    const notArm = await rotationError(te, "pg-refuse-url");
    expect(notArm).toBeInstanceOf(ConfigurationError);
    expect((notArm as ConfigurationError).tag).toBe("ProviderAddress");

    expect(arm.requests().filter((r) => r.method === "PATCH" && r.path.includes("kpg-refuse"))).toHaveLength(0);
    expect(server.passwordHistory()).toEqual(["Refuse-Admin-Pw-1"]);
    expect(await canLogin("refuseadmin", "Refuse-Admin-Pw-1")).toBe(true);
    expectNoPasswords(te, denied.message, wrongLogin.message, stale.message);
  });
});
