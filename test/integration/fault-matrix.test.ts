// The fault-injection matrix: dependency × step × event type → what the trigger sees.
//
// One set of servers for every case (the Key Vault, ARM and Graph doubles with their
// fault injectors, Azurite for the locks, a real PostgreSQL behind a TCP proxy), and the
// real trigger adapters: the Event Grid handler, the HTTP rotate function, the CLI's
// error mapping and the sweep. Each case injects one fault into one dependency at one
// step and asserts the outcome the trigger sees:
//   transient (503 on every retry, a connection reset, the lock store unreachable):
//     Event Grid → the handler throws (redelivery); HTTP → 503 with Retry-After;
//     CLI → exit 7; sweep → the item is tried again;
//   permanent (403, 400, the lock store refusing our key): Event Grid → acknowledged
//     (no throw) and reported once; HTTP → 4xx/5xx, no Retry-After; CLI → its exit code;
//   bad input (a malformed event): rejected, nothing changes, nobody is told.
import azureFunctions from "@azure/functions";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential } from "@azure/identity";
import { CertificateClient } from "@azure/keyvault-certificates";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toCliError } from "../../cli/backend.js";
import { ExitCode } from "../../cli/exit-codes.js";
import { BlobLeaseLock } from "../../core/blob-lock.js";
import { createCertificateService } from "../../core/certificates.js";
import { loadConfig } from "../../core/config.js";
import { createEngine, type RotationRequest } from "../../core/engine.js";
import { KeyturnError } from "../../core/errors.js";
import { createKeyService } from "../../core/keys.js";
import type { LockLease, RotationLock } from "../../core/lock.js";
import { createLogger } from "../../core/log.js";
import { isObjectNotification, type Notification, type Notifier } from "../../core/notify.js";
import type { AzureClientOptions } from "../../core/rotator.js";
import { runSweep, type SweepDeps } from "../../core/sweep.js";
import { FaultInjector, type FaultRule } from "../../emulators/faults.js";
import { startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { startGraphEmulator, type GraphEmulator } from "../../emulators/graph/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { testTls } from "../../emulators/tls.js";
import { handleKeyVaultEvent, type EventRuntime } from "../../functions/keyVaultEvents.js";
import { rotateSecret } from "../../functions/rotateSecret.js";
import { registry } from "../../rotators/index.js";
import { startTcpProxy, type TcpProxy } from "../chaos/tcp-proxy.js";
import { startAzurite, DEV_ACCOUNT, type Azurite } from "../support/azurite.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";

const { HttpRequest, InvocationContext } = azureFunctions;

const VAULT = "matrix-kv";
const DAY = 86_400_000;
const KEYTURN_CLIENT_ID = "0b7c2d1e-3f4a-4b5c-8d6e-7f8091a2b3c4";
const KEYTURN_SECRET = "keyturn-matrix-identity-secret-0123456789";
const TOPIC = `/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${VAULT}`;

const SecretEvents = ["SecretNearExpiry", "SecretExpired"] as const;
type EventType = (typeof SecretEvents)[number] | "CertificateNearExpiry" | "KeyNearExpiry";
type Dependency = "keyvault" | "lock-store" | "arm" | "graph" | "postgres";

class RecordingNotifier implements Notifier {
  readonly sent: Notification[] = [];
  async notify(n: Notification): Promise<void> {
    this.sent.push(n);
  }
}

/** The lock the runtime holds; each case points it at Azurite, an unreachable port, or Azurite with a wrong key. */
class SwitchableLock implements RotationLock {
  readonly retryAfterSeconds = 30;
  constructor(public current: RotationLock) {}
  tryAcquire(key: string): Promise<LockLease | undefined> {
    return this.current.tryAcquire(key);
  }
}

let kv: KeyVaultEmulator;
let arm: ArmEmulator;
let graph: GraphEmulator;
let pgs: TestPostgres;
let proxy: TcpProxy;
let azurite: Azurite;
const kvFaults = () => kv.faults;
const armFaults = new FaultInjector();
const graphFaults = new FaultInjector();
let runtime: EventRuntime;
let lock: SwitchableLock;
let locks: { up: RotationLock; unreachable: RotationLock; refused: RotationLock };
let notifier: RecordingNotifier;
let sweepDeps: SweepDeps;
/** Connections the proxy lets through before it resets every further one (Infinity: all through). */
let pgAllowed = Number.POSITIVE_INFINITY;
let counter = 0;

const vault = () => ({ name: VAULT, url: kv.url(VAULT) });
const context = (id: string) => new InvocationContext({ invocationId: id, functionName: "matrix" });

function eventOf(type: EventType, objectType: "Secret" | "Certificate" | "Key", name: string, version: string) {
  return {
    id: `evt-${++counter}`,
    topic: TOPIC,
    subject: name,
    eventType: `Microsoft.KeyVault.${type}`,
    eventTime: new Date().toISOString(),
    data: { VaultName: VAULT, ObjectType: objectType, ObjectName: name, Version: version },
    dataVersion: "1",
    metadataVersion: "1",
  };
}

// ---- the objects each dependency's cases rotate: a fresh one per case ---------------------

interface Target {
  readonly objectType: "Secret" | "Certificate" | "Key";
  readonly name: string;
  readonly version: string;
}

function generatedSecret(): Target {
  const name = `gen-${++counter}`;
  const { version } = kv.seedSecret(VAULT, name, `gen-initial-${counter}-${Math.random()}`, {
    tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "owner@contoso.com" },
    expiresOn: new Date(Date.now() + 10 * DAY),
  });
  return { objectType: "Secret", name, version };
}

function storageSecret(): Target & { account: string } {
  const account = `stmatrix${++counter}`;
  const a = arm.addStorageAccount({ name: account });
  const name = `st-${counter}`;
  const { version } = kv.seedSecret(VAULT, name, a.keys().key1, {
    tags: { ProviderAddress: a.id, CredentialId: "key1", ValidityPeriodDays: "60", Owner: "storage@contoso.com" },
    expiresOn: new Date(Date.now() + 10 * DAY),
  });
  return { objectType: "Secret", name, version, account };
}

function entraSecret(): Target & { appId: string } {
  const app = graph.addApplication({ displayName: `matrix app ${++counter}` });
  const initial = app.addPassword({ displayName: "owner's" });
  const name = `entra-${counter}`;
  const { version } = kv.seedSecret(VAULT, name, initial.secretText, {
    tags: { Rotator: "entra-app-secret", ProviderAddress: app.id, TenantId: graph.tenantId, ClientId: app.appId, CredentialId: initial.keyId, ValidityPeriodDays: "90", Owner: "identity@contoso.com" },
    expiresOn: new Date(Date.now() + 10 * DAY),
  });
  return { objectType: "Secret", name, version, appId: app.id };
}

async function postgresSecret(): Promise<Target> {
  const role = `matrix_app_${++counter}`;
  const password = `Matrix-App-Pw-${counter}-x`;
  // Made by the administrator, which so holds ADMIN OPTION on it (PostgreSQL 16+), as on Azure.
  await pgs.queryAs("matrix_admin", "Matrix-Admin-Pw-1", `CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD ${pg.escapeLiteral(password)}`);
  const name = `pg-${counter}`;
  const { version } = kv.seedSecret(VAULT, name, password, {
    tags: {
      Rotator: "postgres-role",
      ProviderAddress: `postgres://127.0.0.1:${proxy.port}/postgres`,
      CredentialId: role,
      AdminSecret: "matrix-pg-admin",
      SslMode: "disable",
      ValidityPeriodDays: "60",
      Owner: "db@contoso.com",
    },
    expiresOn: new Date(Date.now() + 10 * DAY),
  });
  return { objectType: "Secret", name, version };
}

function certificate(): Target {
  const name = `cert-${++counter}`;
  const { version } = kv.seedCertificate(VAULT, name, { expiresOn: new Date(Date.now() + 12 * DAY), tags: { Owner: "tls@contoso.com" } });
  return { objectType: "Certificate", name, version };
}

function key(): Target {
  const name = `key-${++counter}`;
  const { version } = kv.seedKey(VAULT, name, { expiresOn: new Date(Date.now() + 9 * DAY), tags: { Owner: "crypto@contoso.com" } });
  return { objectType: "Key", name, version };
}

// ---- the matrix ---------------------------------------------------------------------------

interface Case {
  readonly dependency: Dependency;
  readonly step: string;
  readonly events: readonly EventType[];
  readonly target: () => Target | Promise<Target>;
  /** Injects the fault for `target`; returns what undoes it. */
  readonly inject: (target: Target) => () => void;
  /** What the error says: proof that the fault struck at this step. */
  readonly says?: RegExp;
}

const unavailable = (match: FaultRule["match"]): FaultRule => ({ match, status: 503, retryAfterSeconds: 0 });
const kvFault = (rule: FaultRule) => () => kvFaults().add(rule);
const useLock = (which: keyof typeof locks) => () => {
  lock.current = locks[which];
  return () => void (lock.current = locks.up);
};
const pgDropAfter = (allowed: number) => () => {
  pgAllowed = proxy.stats.connections + allowed;
  return () => void (pgAllowed = Number.POSITIVE_INFINITY);
};

const transientCases: Case[] = [
  // Key Vault, at each step it serves.
  { dependency: "keyvault", step: "load (503)", events: SecretEvents, target: generatedSecret, inject: (t) => kvFault(unavailable({ operation: "GetSecret", path: `/secrets/${t.name}` }))(), says: /^load failed: RestError 503/ },
  { dependency: "keyvault", step: "load (connection reset)", events: SecretEvents, target: generatedSecret, inject: (t) => kvFault({ match: { operation: "GetSecret", path: `/secrets/${t.name}` }, drop: true })(), says: /^load failed: RestError ECONNRESET/ },
  // The journal: written by kinds that change a provider (generated-secret writes none).
  { dependency: "keyvault", step: "journal", events: SecretEvents, target: postgresSecret, inject: (t) => kvFault(unavailable({ operation: "SetSecret", path: `/secrets/keyturn-journal-${t.name}` }))(), says: /^journal failed: RestError 503/ },
  { dependency: "keyvault", step: "commit (429)", events: SecretEvents, target: generatedSecret, inject: (t) => kvFault({ match: { operation: "SetSecret", path: `/secrets/${t.name}` }, status: 429, retryAfterSeconds: 0 })(), says: /^commit failed: RestError 429/ },
  { dependency: "keyvault", step: "load", events: ["CertificateNearExpiry"], target: certificate, inject: (t) => kvFault(unavailable({ operation: "GetCertificate", path: `/certificates/${t.name}` }))(), says: /^certificate load failed: RestError 503/ },
  { dependency: "keyvault", step: "renew", events: ["CertificateNearExpiry"], target: certificate, inject: (t) => kvFault(unavailable({ operation: "CreateCertificate", path: `/certificates/${t.name}` }))(), says: /^certificate create failed: RestError 503/ },
  { dependency: "keyvault", step: "load", events: ["KeyNearExpiry"], target: key, inject: (t) => kvFault(unavailable({ operation: "GetKey", path: `/keys/${t.name}` }))(), says: /^key load failed: RestError 503/ },
  { dependency: "keyvault", step: "rotate", events: ["KeyNearExpiry"], target: key, inject: (t) => kvFault(unavailable({ operation: "RotateKey", path: `/keys/${t.name}` }))(), says: /^key rotate failed: RestError 503/ },
  // The lock store (AzureWebJobsStorage) unreachable, for every object kind.
  { dependency: "lock-store", step: "lock", events: SecretEvents, target: generatedSecret, inject: useLock("unreachable"), says: /AzureWebJobsStorage\) failed: RestError ECONNREFUSED/ },
  { dependency: "lock-store", step: "lock", events: ["CertificateNearExpiry"], target: certificate, inject: useLock("unreachable"), says: /AzureWebJobsStorage\) failed: RestError ECONNREFUSED/ },
  { dependency: "lock-store", step: "lock", events: ["KeyNearExpiry"], target: key, inject: useLock("unreachable"), says: /AzureWebJobsStorage\) failed: RestError ECONNREFUSED/ },
  // ARM (storage account keys): the read that proves the current key, and the regeneration.
  { dependency: "arm", step: "check-current", events: SecretEvents, target: storageSecret, inject: () => armFaults.add(unavailable({ service: "arm", operation: "Microsoft.Storage/storageAccounts/listkeys/action" })), says: /could not list the keys .*503/ },
  { dependency: "arm", step: "create", events: SecretEvents, target: storageSecret, inject: () => armFaults.add(unavailable({ service: "arm", operation: "Microsoft.Storage/storageAccounts/regeneratekey/action" })), says: /could not regenerate key2 .*503/ },
  // Microsoft Graph (Entra application secrets).
  { dependency: "graph", step: "check-current", events: SecretEvents, target: entraSecret, inject: (t) => graphFaults.add(unavailable({ path: new RegExp((t as { appId?: string }).appId ?? "-") })), says: /Graph getApplication .* 503/ },
  { dependency: "graph", step: "create (connection reset)", events: SecretEvents, target: entraSecret, inject: () => graphFaults.add({ match: { method: "POST", path: /addPassword$/ }, drop: true }), says: /^create failed: RestError ECONNRESET/ },
  // PostgreSQL behind the proxy: connections reset at the check, at the ALTER ROLE, at the verifying login.
  { dependency: "postgres", step: "check-current", events: SecretEvents, target: postgresSecret, inject: pgDropAfter(0), says: /^checking roles at .*ECONNRESET/ },
  { dependency: "postgres", step: "apply", events: SecretEvents, target: postgresSecret, inject: pgDropAfter(2), says: /^changing the password of .*ECONNRESET/ },
  { dependency: "postgres", step: "verify", events: SecretEvents, target: postgresSecret, inject: pgDropAfter(3), says: /^logging in to .* as matrix_app_\d+: .*ECONNRESET/ },
];

const permanentCases: Array<Case & { readonly httpStatus: number; readonly exitCode: number; readonly reported: number }> = [
  { dependency: "keyvault", step: "load (403)", events: ["SecretNearExpiry"], target: generatedSecret, inject: (t) => kvFault({ match: { operation: "GetSecret", path: `/secrets/${t.name}` }, status: 403, errorCode: "Forbidden" })(), httpStatus: 502, exitCode: ExitCode.Denied, reported: 1 },
  { dependency: "keyvault", step: "load (403)", events: ["CertificateNearExpiry"], target: certificate, inject: (t) => kvFault({ match: { operation: "GetCertificate", path: `/certificates/${t.name}` }, status: 403, errorCode: "Forbidden" })(), httpStatus: 0, exitCode: 0, reported: 1 },
  { dependency: "keyvault", step: "rotate (403)", events: ["KeyNearExpiry"], target: key, inject: (t) => kvFault({ match: { operation: "RotateKey", path: `/keys/${t.name}` }, status: 403, errorCode: "Forbidden" })(), httpStatus: 0, exitCode: 0, reported: 1 },
  { dependency: "lock-store", step: "lock (key refused)", events: ["SecretNearExpiry"], target: generatedSecret, inject: useLock("refused"), httpStatus: 500, exitCode: ExitCode.Denied, reported: 1 },
  { dependency: "arm", step: "create (400)", events: ["SecretNearExpiry"], target: storageSecret, inject: () => armFaults.add({ match: { service: "arm", operation: "Microsoft.Storage/storageAccounts/regeneratekey/action" }, status: 400, errorCode: "InvalidRequest" }), httpStatus: 502, exitCode: ExitCode.Failed, reported: 1 },
];

// ---- servers, once --------------------------------------------------------------------------

beforeAll(async () => {
  const tls = testTls();
  [kv, arm, graph, pgs, azurite] = await Promise.all([
    startKeyVaultEmulator({ vaults: [VAULT], tls }),
    startArmEmulator({ tls, faults: armFaults }),
    startGraphEmulator({ tls, faults: graphFaults, trustedClients: { [KEYTURN_CLIENT_ID]: KEYTURN_SECRET } }),
    startPostgres(),
    startAzurite(),
  ]);
  // Connections through the proxy: every one after the first pgAllowed is reset at connect
  // (both of the proxy's draws for a connection give the same answer: 0 drops, 1 passes).
  proxy = await startTcpProxy({ host: pgs.host, port: pgs.port }, { random: () => (proxy.stats.connections > pgAllowed ? 0 : 1) });
  proxy.setDrops(0.5, 0.5);
  await pgs.query(`CREATE ROLE matrix_admin LOGIN CREATEROLE PASSWORD 'Matrix-Admin-Pw-1'`);
  kv.seedSecret(VAULT, "matrix-pg-admin", JSON.stringify({ username: "matrix_admin", password: "Matrix-Admin-Pw-1" }));

  const fast = { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 40 };
  const clientOptions: AzureClientOptions = { retryOptions: fast, tlsOptions: { ca: tls.caPem } };
  const fixed: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token: "matrix", expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const graphCredential = new ClientSecretCredential(graph.tenantId, KEYTURN_CLIENT_ID, KEYTURN_SECRET, {
    authorityHost: graph.url,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: tls.caPem },
    retryOptions: { maxRetries: 0 },
  });
  // keyturn's one identity, as Entra would serve it: Graph tokens from the Graph double's identity platform, the rest fixed.
  const credential: TokenCredential = {
    getToken: (scopes, options) => ((Array.isArray(scopes) ? scopes : [scopes]).some((s) => s.startsWith(graph.url)) ? graphCredential.getToken(scopes, options) : fixed.getToken(scopes, options)),
  };
  const config = loadConfig({
    KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`,
    KEYTURN_CREDENTIAL: "local-emulator",
    KEYTURN_ARM_ENDPOINT: arm.url,
    KEYTURN_GRAPH_ENDPOINT: graph.url,
    KEYTURN_AUTHORITY_HOST: graph.url,
    KEYTURN_ROTATION_GUARD_MINUTES: "0",
  });
  const storage = (connectionString: string) => new BlobLeaseLock({ connectionString }, fixed, { retryOptions: fast }, "matrix-locks");
  locks = {
    up: storage(azurite.connectionString),
    // Nothing listens there: every request is refused at connect.
    unreachable: storage(`DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${Buffer.from("k").toString("base64")};BlobEndpoint=http://127.0.0.1:9/${DEV_ACCOUNT};`),
    // Azurite answers, but not to this key: 403 AuthorizationFailure, a permanent refusal.
    refused: storage(azurite.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${Buffer.from("not the account key").toString("base64")}`)),
  };
  lock = new SwitchableLock(locks.up);
  notifier = new RecordingNotifier();
  const log = createLogger({}, () => undefined);
  const secretClient = new SecretClient(kv.url(VAULT), fixed, { disableChallengeResourceVerification: true, tlsOptions: { ca: tls.caPem }, retryOptions: fast });
  const certificateClient = new CertificateClient(kv.url(VAULT), fixed, { disableChallengeResourceVerification: true, tlsOptions: { ca: tls.caPem }, retryOptions: fast });
  const keyClient = new KeyClient(kv.url(VAULT), fixed, { disableChallengeResourceVerification: true, tlsOptions: { ca: tls.caPem }, retryOptions: fast });
  const engine = createEngine({ config, registry, lock, notifier, credential, clientOptions, log, secretClient: async () => secretClient });
  const certificates = createCertificateService({ config, lock, notifier, log, certificateClient: async () => certificateClient, pollIntervalMs: 5 });
  const keys = createKeyService({ config, lock, notifier, log, keyClient: async () => keyClient });
  runtime = { config, engine, certificates, keys };
  sweepDeps = {
    config,
    engine,
    certificates,
    keys,
    registry,
    log,
    secretClient: async () => secretClient,
    certificateClient: async () => certificateClient,
    keyClient: async () => keyClient,
    retryDelaysMs: [5],
  };
}, 120_000);

afterAll(async () => {
  await Promise.all([kv?.stop(), arm?.stop(), graph?.stop(), pgs?.stop(), azurite?.stop(), proxy?.close()]);
});

// ---- what each trigger sees ------------------------------------------------------------------

async function eventOutcome(type: EventType, t: Target): Promise<{ threw: KeyturnError | undefined; status?: string }> {
  try {
    const outcome = await handleKeyVaultEvent(eventOf(type, t.objectType, t.name, t.version), context(`evt-${t.name}`), runtime);
    return { threw: undefined, status: outcome.status };
  } catch (error) {
    expect(error, "the handler throws only classified errors").toBeInstanceOf(KeyturnError);
    return { threw: error as KeyturnError };
  }
}

async function httpOutcome(t: Target) {
  const request = new HttpRequest({
    method: "POST",
    url: `http://localhost/api/vaults/${VAULT}/secrets/${t.name}/rotate`,
    headers: { "content-type": "application/json" },
    params: { vault: VAULT, name: t.name },
    body: { string: JSON.stringify({ reason: "matrix" }) },
  });
  const res = await rotateSecret(request, context(`http-${t.name}`), runtime);
  return { status: res.status, retryAfter: new Headers(res.headers).get("retry-after") };
}

async function cliExitCode(t: Target): Promise<number> {
  const req: RotationRequest = { vault: vault(), secret: t.name, mode: "normal", trigger: { kind: "cli", id: `cli-${t.name}` } };
  return runtime.engine.rotateSecret(req).then(
    () => ExitCode.Ok,
    (error: unknown) => toCliError(error).exitCode,
  );
}

const failureNotices = (name: string) =>
  notifier.sent.filter((n) => (isObjectNotification(n) ? n.name === name : n.secret === name) && n.type.endsWith('Failed') && !("willRetry" in n && n.willRetry));

describe("the fault-injection matrix: dependency × step × event type → what the trigger sees", () => {
  const rows = transientCases.flatMap((c) => c.events.map((type) => [c.dependency, c.step, type, c] as const));
  it.each(rows)("%s unavailable at %s, %s: every trigger retries", async (_dependency, _step, type, c) => {
    const target = await c.target();
    const undo = c.inject(target);
    try {
      const event = await eventOutcome(type, target);
      expect(event.threw, `Event Grid must redeliver (the handler returned ${event.status})`).toBeDefined();
      expect(event.threw!.transient).toBe(true);
      expect(event.threw!.message).toMatch(c.says!);
      if (target.objectType === "Secret") {
        const http = await httpOutcome(target);
        expect(http.status).toBe(503);
        expect(Number(http.retryAfter)).toBeGreaterThan(0);
        expect(await cliExitCode(target)).toBe(ExitCode.Unavailable);
      }
    } finally {
      undo();
    }
    // Nobody was told to act on a transient failure; once the dependency is back, the
    // redelivered event completes the work.
    expect(failureNotices(target.name)).toEqual([]);
    const redelivered = await eventOutcome(type, target);
    expect(redelivered.threw).toBeUndefined();
    expect(redelivered.status).toMatch(target.objectType === "Certificate" ? /^renewed$/ : /^rotated$/);
  });

  it.each(permanentCases.map((c) => [c.dependency, c.step, c.events[0]!, c] as const))(
    "%s refusing at %s, %s: acknowledged, reported once, never retried",
    async (_dependency, _step, type, c) => {
      const target = await c.target();
      const undo = c.inject(target);
      try {
        const event = await eventOutcome(type, target);
        expect(event.threw, "a permanent failure must not be redelivered").toBeUndefined();
        expect(event.status).toBe("failed");
        expect(failureNotices(target.name)).toHaveLength(c.reported);
        if (target.objectType === "Secret") {
          const http = await httpOutcome(target);
          expect(http.status).toBe(c.httpStatus);
          expect(http.retryAfter).toBeNull();
          expect(await cliExitCode(target)).toBe(c.exitCode);
        }
      } finally {
        undo();
      }
    },
  );

  it("bad input: a malformed event is rejected, changes nothing and tells nobody", async () => {
    const before = notifier.sent.length;
    const outcome = await handleKeyVaultEvent({ ...eventOf("SecretNearExpiry", "Secret", "gen-x", "v"), data: { VaultName: VAULT, ObjectType: "Secret", ObjectName: "bad/name" } }, context("bad"), runtime);
    expect(outcome.status).toBe("rejected");
    expect(notifier.sent.length).toBe(before);
  });

  it("the sweep retries what failed transiently (listing, lock store, Key Vault, ARM) and counts only what still fails", async () => {
    // Settle what earlier cases left due, so that only the four below are.
    await runSweep({ ...sweepDeps, retryDelaysMs: [] }, { id: "matrix-sweep-0" });
    const fresh = [generatedSecret(), certificate(), key(), storageSecret()];
    // One transient failure each on the first try (and on listing the vault's secrets);
    // the sweep's retry succeeds.
    const undo = [
      kvFaults().add({ match: { operation: "GetSecrets" }, status: 503, retryAfterSeconds: 0, times: 3 }),
      kvFaults().add({ match: { operation: "GetSecret", path: `/secrets/${fresh[0]!.name}` }, status: 503, retryAfterSeconds: 0, times: 3 }),
      kvFaults().add({ match: { operation: "GetCertificate", path: `/certificates/${fresh[1]!.name}` }, status: 503, retryAfterSeconds: 0, times: 3 }),
      kvFaults().add({ match: { operation: "GetKey", path: `/keys/${fresh[2]!.name}` }, drop: true, times: 3 }),
      armFaults.add({ match: { service: "arm", operation: "Microsoft.Storage/storageAccounts/listkeys/action" }, status: 503, retryAfterSeconds: 0, times: 3 }),
    ];
    try {
      const summary = await runSweep(sweepDeps, { id: "matrix-sweep-1" });
      expect(summary.retried).toBe(5);
      expect(summary.failures).toEqual([]);
      expect(summary.secrets.rotated).toBe(2);
      expect(summary.certificates.renewed).toBe(1);
      expect(summary.keys.rotated).toBe(1);
    } finally {
      for (const u of undo) u();
    }

    // The lock store unreachable for the whole sweep: every item is tried again, then
    // counted as failed (the next sweep or an event comes back); nobody is told to act.
    const more = [generatedSecret(), key()];
    lock.current = locks.unreachable;
    try {
      const summary = await runSweep(sweepDeps, { id: "matrix-sweep-2" });
      expect(summary.retried).toBeGreaterThanOrEqual(more.length);
      expect(summary.failures.map((f) => f.name).sort()).toEqual(expect.arrayContaining(more.map((m) => m.name)));
      for (const m of more) expect(failureNotices(m.name)).toEqual([]);
    } finally {
      lock.current = locks.up;
    }
  });
});
