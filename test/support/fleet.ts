// Every double keyturn rotates against, started together with one TLS authority, plus a
// real PostgreSQL server: the Key Vault double, the ARM double (storage accounts, SQL
// servers, Cosmos DB accounts, PostgreSQL flexible servers and their data planes), the
// Graph double (applications and the token endpoint), and optionally Azurite (locks) and
// the local Event Grid topic (notifications).
//
// `addSecret(kind, …)` makes a provider-side credential of any rotator kind and a Key
// Vault secret that holds it, tagged for keyturn. `works(secret, value, credentialId)`
// asks the provider itself whether a value is a working credential — a Shared Key blob
// request, a Cosmos DB master-key signature, a token request to the identity platform, a
// PostgreSQL login, the SQL double's one accepted password, the generated-secret policy —
// never keyturn's own verify code. `invariantOf` checks the guarantee of
// docs/guarantees.md for one secret: the latest version works, or a pending journal holds
// a value that does.
//
// Nothing here writes a plaintext password to the PostgreSQL server's log: roles are
// made with SCRAM verifiers.
import { createHmac } from "node:crypto";
import { request as httpsRequest } from "node:https";
import type { TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential } from "@azure/identity";
import type { SecretClient } from "@azure/keyvault-secrets";
import { BlobServiceClient, StorageSharedKeyCredential, type StoragePipelineOptions } from "@azure/storage-blob";
import pg from "pg";
import { CharacterClass, generateSecret } from "../../core/generate.js";
import { JournalState, readJournal } from "../../core/journal.js";
import type { RotationLock } from "../../core/lock.js";
import { startArmEmulator, type ArmEmulator, type FaultsLike } from "../../emulators/arm/index.js";
import { startEventGridTopic, type EventGridTopicEmulator } from "../../emulators/eventgrid-topic/index.js";
import type { FaultInjector } from "../../emulators/faults.js";
import { startGraphEmulator, type EmulatedApplication, type FaultApplier, type GraphEmulator } from "../../emulators/graph/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { testTls, type TestTls } from "../../emulators/tls.js";
import { readCosmosValue } from "../../rotators/cosmos-db-key/format.js";
import { RotatorKinds, type RotatorKind } from "../../rotators/index.js";
import { scramSha256Verifier } from "../../rotators/postgres-role/postgres.js";
import type { RotatorRegistry } from "../../core/registry.js";
import { readSqlValue } from "../../rotators/sql-server-admin/format.js";
import { keyFromValue } from "../../rotators/storage-account-key/format.js";
import { addAccessKeySecret, type AccessKeyFixture } from "./access-keys.js";
import { startAzurite, type Azurite } from "./azurite.js";
import { graphAwareCredential, KEYTURN_TEST_CLIENT_ID, KEYTURN_TEST_CLIENT_SECRET } from "./credential.js";
import { testEngine, type TestEngine } from "./engine.js";
import { secretClientFor } from "./keyvault.js";
import { startPostgres, type TestPostgres } from "./postgres.js";

/** Every registered kind: a new one must be added to the fleet (addSecret, works) to compile. */
export const ALL_KINDS: readonly RotatorKind[] = RotatorKinds;
export type Kind = RotatorKind;

const DAY_MS = 86_400_000;
/** The PostgreSQL database the role secrets log in to, and its CREATEROLE (not superuser) administrator, as on Azure. */
export const PG_DATABASE = "appdb";
export const PG_ADMIN = "keyturn_admin";
const PG_ADMIN_PASSWORD = "Fleet-Admin-Pw-7Qm2x9";
/** The secret (in every vault) that holds the PostgreSQL administrator for postgres-role. */
export const PG_ADMIN_SECRET = "pg-admin";

export interface FleetOptions {
  readonly vaults: readonly string[];
  readonly kvFaults?: FaultInjector;
  readonly armFaults?: FaultsLike;
  readonly graphFaults?: FaultApplier;
  readonly azurite?: boolean;
  readonly topic?: boolean;
}

export interface ManagedSecret {
  readonly vault: string;
  readonly name: string;
  readonly kind: Kind;
  /** The version seeded (the one a near-expiry event is about). */
  readonly version: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Every credential value the provider side was given by this fixture (for leak scans). */
  readonly initialValues: readonly string[];
}

export interface Invariant {
  readonly latestVersion: string;
  readonly latestWorks: boolean;
  readonly journalState?: string;
  /** Whether the pending journal's value works (only for a pending journal). */
  readonly journalWorks?: boolean;
  readonly pendingValue?: string;
  /** The guarantee: the latest version works, or a pending journal holds one that does. */
  readonly holds: boolean;
}

export interface Fleet {
  readonly tls: TestTls;
  readonly kv: KeyVaultEmulator;
  readonly arm: ArmEmulator;
  readonly graph: GraphEmulator;
  readonly pg: TestPostgres;
  readonly azurite?: Azurite;
  readonly topic?: EventGridTopicEmulator;
  /** keyturn's own identity: Graph tokens from the Graph double, the local token elsewhere. */
  readonly credential: TokenCredential;
  client(vault: string): SecretClient;
  /** Environment for a child process (rotate-child, chaos worker) rotating in `vault`. */
  env(vault: string): Record<string, string>;
  /** The real engine in this process, against every double. */
  engine(opts?: { registry?: RotatorRegistry; lock?: RotationLock; now?: () => Date; env?: Record<string, string> }): TestEngine;
  /**
   * A provider-side credential of `kind` and a secret holding it. `pgPort` puts another
   * port (a proxy) in the PostgreSQL address tags; `variant` picks formats and modes
   * (0, 1, 2, …: each kind cycles through its own).
   */
  addSecret(kind: Kind, vault: string, name: string, o?: { variant?: number; pgPort?: number; tags?: Record<string, string>; expiresOn?: Date }): Promise<ManagedSecret>;
  /** Does `value` work at the provider of `secret` now? `credentialId` names the login for postgres-role. */
  works(secret: ManagedSecret, value: string, credentialId?: string): Promise<boolean>;
  invariantOf(secret: ManagedSecret): Promise<Invariant>;
  /** Every credential the providers hold or held (keys, passwords, client secrets), for leak scans. */
  providerSecrets(): string[];
  stop(): Promise<void>;
}

/** The password inside a value: a bare password, {"password"|"clientSecret"} JSON, or a postgres:// URL. */
export function passwordOf(value: string): string {
  if (value.startsWith("{")) {
    const j = JSON.parse(value) as { password?: string; clientSecret?: string };
    return j.password ?? j.clientSecret ?? "";
  }
  if (/^postgres(ql)?:\/\//.test(value)) return decodeURIComponent(new URL(value).password);
  return value;
}

function nameFor(prefix: string, name: string, max: number, alnumOnly = false): string {
  const cleaned = `${prefix}${name}`.toLowerCase().replace(alnumOnly ? /[^a-z0-9]/g : /[^a-z0-9-]/g, "");
  return cleaned.slice(0, max);
}

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const tls = testTls();
  const [kv, arm, graph, pgs, azurite, topic] = await Promise.all([
    startKeyVaultEmulator({ vaults: [...o.vaults], tls, ...(o.kvFaults ? { faults: o.kvFaults } : {}) }),
    startArmEmulator({ tls, ...(o.armFaults ? { faults: o.armFaults } : {}) }),
    startGraphEmulator({ tls, trustedClients: { [KEYTURN_TEST_CLIENT_ID]: KEYTURN_TEST_CLIENT_SECRET }, ...(o.graphFaults ? { faults: o.graphFaults } : {}) }),
    startPostgres(),
    o.azurite ? startAzurite() : Promise.resolve(undefined),
    o.topic ? startEventGridTopic({ tls }) : Promise.resolve(undefined),
  ]);
  const ident = pg.escapeIdentifier;
  const verifier = (password: string) => pg.escapeLiteral(scramSha256Verifier(password));
  await pgs.query(`CREATE ROLE ${ident(PG_ADMIN)} LOGIN CREATEROLE PASSWORD ${verifier(PG_ADMIN_PASSWORD)}`);
  await pgs.query(`CREATE DATABASE ${ident(PG_DATABASE)}`);
  for (const vault of o.vaults) kv.seedSecret(vault, PG_ADMIN_SECRET, JSON.stringify({ username: PG_ADMIN, password: PG_ADMIN_PASSWORD }));

  // What Azure does when a flexible server's PATCH completes: the administrator's
  // password changes on the server. (SQL servers only keep it in the double.)
  const flexLogins = new Set<string>();
  arm.onPasswordChange = async (resourceId, login, password) => {
    if (!/\/Microsoft\.DBforPostgreSQL\//i.test(resourceId) || !flexLogins.has(login)) return;
    await pgs.query(`ALTER ROLE ${ident(login)} PASSWORD ${verifier(password)}`);
  };

  const credential = graphAwareCredential({ graphUrl: graph.url, tenantId: graph.tenantId, caPem: tls.caPem });
  const clients = new Map<string, SecretClient>();
  const client = (vault: string) => {
    let c = clients.get(vault);
    if (!c) clients.set(vault, (c = secretClientFor(kv, vault)));
    return c;
  };
  const sqlServers = new Map<string, { password(): string; passwordHistory(): string[] }>();
  const providerSecrets: Array<() => string[]> = [];
  const storage = new Map<string, string>();
  const cosmos = new Map<string, string>();
  const apps = new Map<string, EmulatedApplication>();
  const accessKeys = new Map<string, AccessKeyFixture>();

  function graphEnv(): Record<string, string> {
    return { KEYTURN_GRAPH_ENDPOINT: graph.url, KEYTURN_AUTHORITY_HOST: graph.url, KEYTURN_TEST_GRAPH_TENANT: graph.tenantId };
  }

  async function storageKeyWorks(account: string, key: string): Promise<boolean> {
    const options: StoragePipelineOptions & { tlsOptions: { ca: string } } = { tlsOptions: { ca: tls.caPem }, retryOptions: { maxTries: 1 } };
    try {
      await new BlobServiceClient(arm.blobUrl(account), new StorageSharedKeyCredential(account, key), options).getProperties();
      return true;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 403) return false;
      throw error;
    }
  }

  /** A database-account read signed with `key` by the documented master-key scheme (not keyturn's code). */
  function cosmosKeyWorks(documentEndpoint: string, key: string): Promise<boolean> {
    const date = new Date().toUTCString();
    const sig = createHmac("sha256", Buffer.from(key, "base64")).update(`get\n\n\n${date.toLowerCase()}\n\n`).digest("base64");
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        documentEndpoint,
        { headers: { authorization: encodeURIComponent(`type=master&ver=1.0&sig=${sig}`), "x-ms-date": date, "x-ms-version": "2018-12-31" }, ca: tls.caPem },
        (res) => {
          res.resume();
          res.on("end", () => (res.statusCode === 200 ? resolve(true) : res.statusCode === 401 ? resolve(false) : reject(new Error(`Cosmos DB answered ${res.statusCode}`))));
        },
      );
      req.on("error", reject);
      req.end();
    });
  }

  async function tokenWorks(app: EmulatedApplication, secret: string): Promise<boolean> {
    const c = new ClientSecretCredential(graph.tenantId, app.appId, secret, {
      authorityHost: graph.url,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: tls.caPem },
      retryOptions: { maxRetries: 0 },
    });
    return c.getToken(`${graph.url}/.default`).then(
      () => true,
      (e: Error) => {
        if (/AADSTS7000215|AADSTS7000222/.test(e.message)) return false;
        throw e;
      },
    );
  }

  function generatedPolicyHolds(tags: Readonly<Record<string, string>>, value: string): boolean {
    const length = Number(tags.SecretLength ?? "32");
    const classes = (tags.SecretCharacters ?? "lower,upper,digit,symbol").split(",") as CharacterClass[];
    const alphabet = classes.map((c) => CharacterClass[c]).join("");
    return value.length === length && classes.every((c) => [...value].some((ch) => CharacterClass[c].includes(ch))) && [...value].every((ch) => alphabet.includes(ch));
  }

  async function works(s: ManagedSecret, value: string, credentialId?: string): Promise<boolean> {
    switch (s.kind) {
      // The access-key family: the provider's own key state (what its data plane accepts).
      case "cognitive-services-key":
      case "service-bus-key":
      case "event-hubs-key":
      case "redis-cache-key":
      case "search-admin-key":
      case "app-configuration-key":
      case "event-grid-key":
      case "container-registry-token":
        return accessKeys.get(`${s.vault}/${s.name}`)!.works(value);
      case "generated-secret":
        return generatedPolicyHolds(s.tags, value);
      case "storage-account-key": {
        const account = storage.get(s.name)!;
        const { key, accountName } = keyFromValue(value);
        if (accountName !== undefined && accountName !== account) return false;
        return storageKeyWorks(account, key);
      }
      case "sql-server-admin":
        return readSqlValue(value).password === sqlServers.get(s.name)!.password();
      case "cosmos-db-key": {
        const endpoint = cosmos.get(s.name)!;
        const { key, endpoint: named } = readCosmosValue(value);
        if (named !== undefined && named.replace(/\/$/, "") !== endpoint.replace(/\/$/, "")) return false;
        return cosmosKeyWorks(endpoint, key);
      }
      case "entra-app-secret":
        return tokenWorks(apps.get(s.name)!, passwordOf(value));
      case "postgres-role":
        return pgs.canLogin(credentialId ?? s.tags.CredentialId!, passwordOf(value), PG_DATABASE);
      case "postgres-flexible-admin":
        return pgs.canLogin(s.tags.CredentialId!, passwordOf(value));
    }
  }

  async function invariantOf(s: ManagedSecret): Promise<Invariant> {
    const c = client(s.vault);
    const latest = await c.getSecret(s.name);
    const latestWorks = await works(s, latest.value ?? "", latest.properties.tags?.CredentialId);
    const journal = await readJournal(c, s.name);
    if (journal?.state !== JournalState.Pending) {
      return { latestVersion: latest.properties.version!, latestWorks, ...(journal ? { journalState: journal.state } : {}), holds: latestWorks };
    }
    const journalWorks = await works(s, journal.pending.secretValue, journal.pending.credentialId ?? latest.properties.tags?.CredentialId);
    return {
      latestVersion: latest.properties.version!,
      latestWorks,
      journalState: journal.state,
      journalWorks,
      pendingValue: journal.pending.secretValue,
      holds: latestWorks || journalWorks,
    };
  }

  async function addSecret(kind: Kind, vault: string, name: string, opt: { variant?: number; pgPort?: number; tags?: Record<string, string>; expiresOn?: Date } = {}): Promise<ManagedSecret> {
    const variant = opt.variant ?? 0;
    const pgPort = opt.pgPort ?? pgs.port;
    const base = { ValidityPeriodDays: "60", Owner: `${kind}-owners@contoso.com` };
    let value: string;
    let tags: Record<string, string>;
    const initialValues: string[] = [];
    switch (kind) {
      case "cognitive-services-key":
      case "service-bus-key":
      case "event-hubs-key":
      case "redis-cache-key":
      case "search-admin-key":
      case "app-configuration-key":
      case "event-grid-key":
      case "container-registry-token": {
        const f = addAccessKeySecret(arm, kind, `${vault}-${name}`, variant);
        accessKeys.set(`${vault}/${name}`, f);
        providerSecrets.push(() => f.handle.history());
        initialValues.push(...Object.values(f.handle.keys()));
        tags = { ...base, ...f.tags };
        value = f.value;
        break;
      }
      case "generated-secret": {
        const policies = [{}, { SecretLength: "48", SecretCharacters: "lower,upper,digit" }, { SecretLength: "24", SecretCharacters: "upper,digit,symbol" }];
        const policy: { SecretLength?: string; SecretCharacters?: string } = policies[variant % policies.length]!;
        tags = { ...base, Rotator: kind, ...policy };
        // The owner's first value already meets the policy (it is what `works` checks).
        value = generateSecret(Number(policy.SecretLength ?? "32"), (policy.SecretCharacters ?? "lower,upper,digit,symbol").split(",") as CharacterClass[]);
        break;
      }
      case "storage-account-key": {
        const account = nameFor("st", name, 24, true);
        const a = arm.addStorageAccount({ name: account });
        storage.set(name, account);
        const keys = a.keys();
        providerSecrets.push(() => Object.values(a.keys()));
        initialValues.push(keys.key1, keys.key2);
        const connection = variant % 2 === 1;
        tags = { ...base, ProviderAddress: a.id, CredentialId: "key1", ...(connection ? { SecretFormat: "connection-string" } : {}) };
        value = keys.key1;
        break;
      }
      case "sql-server-admin": {
        const server = nameFor("sql-", name, 63);
        const initial = `Initial#Passw0rd-${variant}x${name.length}`;
        const s = arm.addSqlServer({ name: server, administratorLogin: "sqladmin", password: initial });
        sqlServers.set(name, s);
        providerSecrets.push(() => s.passwordHistory());
        initialValues.push(initial);
        tags = { ...base, Rotator: kind, ProviderAddress: s.id, CredentialId: "sqladmin", ...(variant % 2 === 1 ? { SecretFormat: "connection-string", Database: "orders" } : {}) };
        value = initial;
        break;
      }
      case "cosmos-db-key": {
        const account = nameFor("cosmos-", name, 44);
        const a = arm.addCosmosAccount({ name: account });
        cosmos.set(name, a.documentEndpoint);
        const keys = a.keys();
        providerSecrets.push(() => Object.values(a.keys()));
        initialValues.push(...Object.values(keys));
        const readonly = variant % 3 === 2;
        tags = {
          ...base,
          ProviderAddress: a.id,
          CredentialId: readonly ? "primaryReadonly" : "primary",
          ...(variant % 3 === 1 ? { SecretFormat: "connection-string" } : {}),
        };
        value = readonly ? keys.primaryReadonlyMasterKey : keys.primaryMasterKey;
        break;
      }
      case "entra-app-secret": {
        const app = graph.addApplication({ displayName: `app ${name}` });
        apps.set(name, app);
        providerSecrets.push(() => app.secretTexts());
        const initial = app.addPassword({ displayName: "made by the owner in the portal" });
        initialValues.push(initial.secretText);
        tags = {
          ...base,
          Rotator: kind,
          ProviderAddress: app.id,
          TenantId: graph.tenantId,
          ClientId: app.appId,
          CredentialId: initial.keyId,
          ...(variant % 2 === 1 ? { SecretFormat: "json" } : {}),
        };
        value = initial.secretText;
        break;
      }
      case "postgres-role": {
        const role = nameFor("r_", name.replace(/-/g, "_"), 40).replace(/-/g, "_");
        const password = `Role-${role}-Pw-${variant}9x`;
        const asAdmin = (sql: string) => pgs.queryAs(PG_ADMIN, PG_ADMIN_PASSWORD, sql, [], PG_DATABASE);
        await asAdmin(`CREATE ROLE ${ident(role)} LOGIN PASSWORD ${verifier(password)}`);
        initialValues.push(password);
        const twoLogins = variant % 2 === 1;
        if (twoLogins) await asAdmin(`CREATE ROLE ${ident(`${role}_g`)} LOGIN PASSWORD ${verifier(`${password}-green`)}`);
        tags = {
          ...base,
          Rotator: kind,
          ProviderAddress: `postgres://127.0.0.1:${pgPort}/${PG_DATABASE}`,
          CredentialId: role,
          AdminSecret: PG_ADMIN_SECRET,
          SslMode: "disable",
          ...(twoLogins ? { Logins: `${role},${role}_g` } : {}),
          ...(variant % 3 === 2 ? { SecretFormat: "json" } : {}),
        };
        value = password;
        break;
      }
      case "postgres-flexible-admin": {
        const login = nameFor("fa_", name.replace(/-/g, "_"), 40).replace(/-/g, "_");
        const password = `Flex-${login}-Pw-${variant}7q`;
        await pgs.query(`CREATE ROLE ${ident(login)} LOGIN PASSWORD ${verifier(password)}`);
        flexLogins.add(login);
        initialValues.push(password);
        const s = arm.addPostgresFlexibleServer({ name: nameFor("pgflex-", name, 63), administratorLogin: login, password, fullyQualifiedDomainName: "127.0.0.1" });
        providerSecrets.push(() => s.passwordHistory());
        // No Rotator tag: the resource type in ProviderAddress selects the kind.
        tags = { ...base, ProviderAddress: s.id, CredentialId: login, Port: String(pgPort), SslMode: "disable", ...(variant % 2 === 1 ? { SecretFormat: "json" } : {}) };
        value = variant % 2 === 1 ? JSON.stringify({ username: login, password }) : password;
        break;
      }
    }
    tags = { ...tags, ...opt.tags };
    const seeded = kv.seedSecret(vault, name, value, { tags, expiresOn: opt.expiresOn ?? new Date(kv.clock.now().getTime() + 10 * DAY_MS) });
    initialValues.push(value);
    return { vault, name, kind, version: seeded.version, tags, initialValues };
  }

  return {
    tls,
    kv,
    arm,
    graph,
    pg: pgs,
    ...(azurite ? { azurite } : {}),
    ...(topic ? { topic } : {}),
    credential,
    client,
    env: (vault) => ({
      KEYTURN_VAULTS: o.vaults.map((v) => `${v}=${kv.url(v)}`).join(","),
      KEYTURN_CREDENTIAL: "local-emulator",
      KEYTURN_TLS_CA_FILE: tls.caFile,
      KEYTURN_ARM_ENDPOINT: arm.url,
      ...graphEnv(),
      KEYTURN_ROTATION_GUARD_MINUTES: "0",
      AzureWebJobsStorage: azurite?.connectionString ?? "",
      ...(topic ? { KEYTURN_NOTIFY_TOPIC_ENDPOINT: topic.endpoint } : {}),
      ROTATE_VAULT: vault,
    }),
    engine: (e = {}) =>
      testEngine(kv, {
        armEndpoint: arm.url,
        credential,
        env: { KEYTURN_GRAPH_ENDPOINT: graph.url, KEYTURN_AUTHORITY_HOST: graph.url, ...e.env },
        ...(e.registry ? { registry: e.registry } : {}),
        ...(e.lock ? { lock: e.lock } : {}),
        ...(e.now ? { now: e.now } : {}),
      }),
    addSecret,
    works,
    invariantOf,
    providerSecrets: () => [PG_ADMIN_PASSWORD, KEYTURN_TEST_CLIENT_SECRET, ...providerSecrets.flatMap((f) => f())],
    async stop() {
      await Promise.all([kv.stop(), arm.stop(), graph.stop(), pgs.stop(), azurite?.stop(), topic?.stop()]);
    },
  };
}
