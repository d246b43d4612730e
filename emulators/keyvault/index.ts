// Key Vault data-plane test double: one HTTPS server per vault on 127.0.0.1, the secrets
// REST API behind Key Vault's challenge authentication, fault injection, a virtual clock,
// and the vault's Event Grid system events delivered to webhook subscriptions.
//
// Pieces: store.ts (data and rules), http.ts (pipeline and route table), secrets.ts
// (secret routes), events.ts (Event Grid subscriptions and delivery), this file (wiring,
// clock, expiry scan). The double logs nothing, so it can never log a secret value.
//
// The virtual clock runs at real speed from a settable offset: `clock.advance(ms)` jumps
// it forward and runs the expiry scan at once; a real-time timer (`scanIntervalMs`) runs
// the same scan so that events also come due while time merely passes.
import { FaultInjector } from "../faults.js";
import { testTls, type TestTls } from "../tls.js";
import { EventBus, KeyVaultEventTypes, secretEvent, type DeliveryRecord, type EventSchema } from "./events.js";
import { createVaultHandler, listenVault, type VaultContext } from "./http.js";
import { secretId, secretRoutes } from "./secrets.js";
import { SecretStore } from "./store.js";
import type { Server } from "node:https";

export { KeyVaultEventTypes, type DeliveryRecord, type EventSchema } from "./events.js";
export { SUPPORTED_API_VERSIONS } from "./http.js";
export { KeyVaultHttpError } from "./errors.js";

export interface KeyVaultEmulatorOptions {
  /** Vault names; each vault is served by its own HTTPS server on 127.0.0.1 and its own port. */
  vaults: string[];
  tls?: TestTls;
  /** Fixed ports per vault name (e.g. for the local host); default 0 = a free port. */
  ports?: Record<string, number>;
  /** Days before `exp` that SecretNearExpiry is sent; default 30 (Key Vault's). */
  nearExpiryLeadDays?: number;
  /** Real-time period of the expiry scan; default 250. */
  scanIntervalMs?: number;
  /** Webhook redelivery delays; default [250, 1000, 4000, 10000]. */
  deliveryRetryDelaysMs?: number[];
  /** How long subscribe() waits for a GET of the validationUrl when the endpoint did not echo the code; default 5000. */
  validationTimeoutMs?: number;
  faults?: FaultInjector;
  /** For event topics; default 00000000-0000-0000-0000-000000000000. */
  subscriptionId?: string;
  /** For event topics; default keyturn-local. */
  resourceGroup?: string;
}

export interface SeedSecretOptions {
  tags?: Record<string, string>;
  contentType?: string;
  expiresOn?: Date;
  notBefore?: Date;
  enabled?: boolean;
}

export interface EventSubscriptionRequest {
  vault: string;
  endpoint: string;
  schema: EventSchema;
  eventTypes?: string[];
}

export interface KeyVaultEmulator {
  /** "https://127.0.0.1:PORT" (no trailing slash); throws for an unknown vault. */
  url(vault: string): string;
  readonly vaultNames: string[];
  readonly tls: TestTls;
  /** Virtual clock; advance() moves it, runs the expiry scan and resolves after the due events' first delivery attempts. */
  readonly clock: { now(): Date; advance(ms: number): Promise<void> };
  /** Validates the endpoint with the schema's handshake, then delivers the vault's events to it. */
  subscribe(sub: EventSubscriptionRequest): Promise<{ id: string; unsubscribe(): void }>;
  /** Every delivery attempt, in the order they completed. */
  readonly deliveries: ReadonlyArray<DeliveryRecord>;
  readonly faults: FaultInjector;
  /** Direct seeding without HTTP (for big seeds); emits SecretNewVersionCreated like a real set. */
  seedSecret(vault: string, name: string, value: string, opts?: SeedSecretOptions): { version: string; id: string };
  /** Operation counters by vault, e.g. { kv1: { SetSecret: 3, GetSecret: 7, AuthChallenge: 1 } }. */
  stats(): Record<string, Record<string, number>>;
  resetStats(): void;
  stop(): Promise<void>;
}

const DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000";
const DEFAULT_RESOURCE_GROUP = "keyturn-local";
const VAULT_NAME_PATTERN = /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const DAY_SECONDS = 86_400;

interface VaultRuntime extends VaultContext {
  url: string;
  readonly topic: string;
  server?: Server;
}

export async function startKeyVaultEmulator(opts: KeyVaultEmulatorOptions): Promise<KeyVaultEmulator> {
  if (opts.vaults.length === 0) throw new Error("startKeyVaultEmulator needs at least one vault name.");
  for (const name of opts.vaults) {
    if (!VAULT_NAME_PATTERN.test(name)) throw new Error(`Invalid vault name '${name}': 3-24 letters, digits and hyphens.`);
  }
  if (new Set(opts.vaults.map((v) => v.toLowerCase())).size !== opts.vaults.length) {
    throw new Error("Vault names must be unique.");
  }

  const tls = opts.tls ?? testTls();
  const faults = opts.faults ?? new FaultInjector();
  const leadSeconds = (opts.nearExpiryLeadDays ?? 30) * DAY_SECONDS;
  const subscriptionId = opts.subscriptionId ?? DEFAULT_SUBSCRIPTION;
  const resourceGroup = opts.resourceGroup ?? DEFAULT_RESOURCE_GROUP;

  let offsetMs = 0;
  const now = (): Date => new Date(Date.now() + offsetMs);
  const nowSeconds = (): number => Math.floor(now().getTime() / 1000);

  const bus = new EventBus({
    tls,
    retryDelaysMs: opts.deliveryRetryDelaysMs ?? [250, 1000, 4000, 10000],
    now,
    validationTimeoutMs: opts.validationTimeoutMs ?? 5000,
  });
  const counters = new Map<string, Record<string, number>>();
  const vaults = new Map<string, VaultRuntime>();

  function publishSecretEvent(vault: VaultRuntime, type: string, name: string, version: string): Promise<void> {
    const found = vault.secrets.get(name, version).version;
    return bus.publish(
      vault.name,
      secretEvent({
        type,
        topic: vault.topic,
        vaultName: vault.name,
        vaultUrl: vault.url,
        name,
        version,
        ...(found.nbf === undefined ? {} : { nbf: found.nbf }),
        ...(found.exp === undefined ? {} : { exp: found.exp }),
        time: now(),
      }),
    );
  }

  /** Sends the near-expiry and expiry events that came due; resolves after their first attempts. */
  function scan(): Promise<void> {
    const current = nowSeconds();
    const dispatched: Promise<void>[] = [];
    for (const vault of vaults.values()) {
      vault.secrets.purgeExpired();
      for (const record of vault.secrets.records()) {
        // Only the current version announces expiry: older versions are superseded.
        const latest = record.versions.at(-1)!;
        if (latest.exp === undefined) continue;
        if (!latest.nearExpiryNotified && latest.enabled && current >= latest.exp - leadSeconds) {
          latest.nearExpiryNotified = true;
          dispatched.push(publishSecretEvent(vault, KeyVaultEventTypes.SecretNearExpiry, record.name, latest.version));
        }
        if (!latest.expiredNotified && current >= latest.exp) {
          latest.expiredNotified = true;
          dispatched.push(publishSecretEvent(vault, KeyVaultEventTypes.SecretExpired, record.name, latest.version));
        }
      }
    }
    return Promise.all(dispatched).then(() => undefined);
  }

  try {
    for (const name of opts.vaults) {
      const vault: VaultRuntime = {
        name,
        url: "",
        topic: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.KeyVault/vaults/${name}`,
        secrets: new SecretStore(nowSeconds),
        secretVersionCreated: (secretName, version) => {
          void publishSecretEvent(vault, KeyVaultEventTypes.SecretNewVersionCreated, secretName, version);
        },
      };
      counters.set(name, {});
      const handler = createVaultHandler({
        vault,
        routes: secretRoutes,
        tls,
        faults,
        count: (operation) => {
          const perVault = counters.get(name)!;
          perVault[operation] = (perVault[operation] ?? 0) + 1;
        },
        preAuth: (req, url, res) => bus.handleValidationRequest(req, url, res),
      });
      const { server, port } = await listenVault(opts.ports?.[name] ?? 0, tls, handler);
      vault.server = server;
      vault.url = `https://127.0.0.1:${port}`;
      vaults.set(name, vault);
    }
  } catch (error) {
    await Promise.all([...vaults.values()].map((v) => closeServer(v.server)));
    throw error;
  }

  const scanTimer = setInterval(() => void scan(), opts.scanIntervalMs ?? 250);
  scanTimer.unref();

  function vaultOf(name: string): VaultRuntime {
    const vault = vaults.get(name);
    if (!vault) throw new Error(`Unknown vault '${name}'; the emulator serves: ${[...vaults.keys()].join(", ")}.`);
    return vault;
  }

  let stopped: Promise<void> | undefined;

  return {
    url: (vault) => vaultOf(vault).url,
    vaultNames: [...opts.vaults],
    tls,
    faults,
    clock: {
      now,
      advance: async (ms) => {
        if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`clock.advance needs a non-negative number of ms, got ${ms}`);
        offsetMs += ms;
        await scan();
      },
    },
    subscribe: async (sub) => {
      const vault = vaultOf(sub.vault);
      return bus.subscribe({
        vault: vault.name,
        topic: vault.topic,
        validationBaseUrl: vault.url,
        endpoint: sub.endpoint,
        schema: sub.schema,
        ...(sub.eventTypes ? { eventTypes: sub.eventTypes } : {}),
      });
    },
    get deliveries() {
      return bus.deliveries;
    },
    seedSecret: (vaultName, name, value, seed = {}) => {
      const vault = vaultOf(vaultName);
      const { record, version } = vault.secrets.set(name, {
        value,
        ...(seed.contentType === undefined ? {} : { contentType: seed.contentType }),
        ...(seed.tags === undefined ? {} : { tags: seed.tags }),
        ...(seed.enabled === undefined ? {} : { enabled: seed.enabled }),
        ...(seed.notBefore === undefined ? {} : { nbf: Math.floor(seed.notBefore.getTime() / 1000) }),
        ...(seed.expiresOn === undefined ? {} : { exp: Math.floor(seed.expiresOn.getTime() / 1000) }),
      });
      vault.secretVersionCreated(record.name, version.version);
      return { version: version.version, id: secretId(vault, record.name, version.version) };
    },
    stats: () => Object.fromEntries([...counters].map(([vault, ops]) => [vault, { ...ops }])),
    resetStats: () => {
      for (const vault of counters.keys()) counters.set(vault, {});
    },
    stop: () => {
      stopped ??= (async () => {
        clearInterval(scanTimer);
        await bus.stop();
        await Promise.all([...vaults.values()].map((v) => closeServer(v.server)));
      })();
      return stopped;
    },
  };
}

function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
