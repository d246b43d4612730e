// Key Vault data-plane test double: one HTTPS server per vault on 127.0.0.1, the secrets,
// keys and certificates REST APIs behind Key Vault's challenge authentication, fault
// injection, a virtual clock, and the vault's Event Grid system events delivered to
// webhook subscriptions.
//
// Pieces: store.ts (secret data and rules), http.ts (pipeline and route table),
// secrets.ts / keys.ts / certificates.ts (routes and, for keys and certificates, their
// stores), x509.ts (real key material and certificates), events.ts (Event Grid
// subscriptions and delivery), this file (wiring, clock, expiry scan). The double logs
// nothing, so it can never log a secret value.
//
// The virtual clock runs at real speed from a settable offset: `clock.advance(ms)` jumps
// it forward and runs the expiry scan at once; a real-time timer (`scanIntervalMs`) runs
// the same scan so that events also come due while time merely passes. The scan also does
// what the vault does by itself on the clock: rotates keys whose rotation policy's Rotate
// action came due, and renews certificates whose policy has an AutoRenew action.
import { randomBytes } from "node:crypto";
import { FaultInjector } from "../faults.js";
import { testTls, type TestTls } from "../tls.js";
import { CertificateStore, UNKNOWN_ISSUER, certificateRoutes, latestCompleted, type CertificateRecord, type WirePolicy } from "./certificates.js";
import { EventBus, KeyVaultEventTypes, objectEvent, type DeliveryRecord, type EventSchema, type KeyVaultObjectType } from "./events.js";
import { serveVault, type VaultContext } from "./http.js";
import { KeyStore, keyRoutes, type LifetimeActionState } from "./keys.js";
import { secretId, secretRoutes } from "./secrets.js";
import { DEFAULT_RECOVERY, SecretStore, type RecoveryPolicy } from "./store.js";
import type { HttpsDouble } from "../shared/http.js";

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
  /** GETs of a certificate's pending operation answered "inProgress" before a Self/CA operation completes; default 1. */
  certificateOperationPolls?: number;
  /**
   * Real milliseconds a secret's delete, recover or purge takes to become visible, as
   * on the real service (404s and 409s meanwhile); default 0 (at once). Also settable
   * later with setSettleMs().
   */
  settleMs?: number;
  /** Soft-delete retention (7..90 days, default 90) and purge protection (default off) of every vault. */
  softDelete?: { retentionDays?: number; purgeProtection?: boolean };
}

export interface SeedCertificateOptions {
  /** `Self` (default), `Unknown`, or the name of an issuer made with seedIssuer(). */
  issuer?: string;
  subject?: string;
  dnsNames?: string[];
  validityMonths?: number;
  notBefore?: Date;
  expiresOn?: Date;
  tags?: Record<string, string>;
  enabled?: boolean;
  /** application/x-pkcs12 (default) or application/x-pem-file. */
  contentType?: string;
  /** Policy lifetime actions; default the service's (AutoRenew at 80% for Self/CA, EmailContacts for Unknown). */
  lifetimeActions?: WirePolicy["lifetime_actions"];
}

export interface SeedKeyOptions {
  kty?: "RSA" | "RSA-HSM" | "EC" | "EC-HSM";
  keySize?: number;
  crv?: string;
  tags?: Record<string, string>;
  notBefore?: Date;
  expiresOn?: Date;
  enabled?: boolean;
  rotationPolicy?: { lifetimeActions: LifetimeActionState[]; expiryTime?: string };
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
  /** A completed certificate version with exactly this validity (real X.509, RSA), with its backing key and secret. */
  seedCertificate(vault: string, name: string, opts?: SeedCertificateOptions): { version: string; id: string };
  /** A certificate issuer (e.g. provider DigiCert or GlobalSign): certificates of its name complete like Self ones. */
  seedIssuer(vault: string, name: string, provider: string): void;
  /** A key version (real RSA/EC material), optionally with a rotation policy. */
  seedKey(vault: string, name: string, opts?: SeedKeyOptions): { version: string; id: string };
  /** Operation counters by vault, e.g. { kv1: { SetSecret: 3, GetSecret: 7, AuthChallenge: 1 } }. */
  stats(): Record<string, Record<string, number>>;
  resetStats(): void;
  /** How long delete, recover and purge of secrets take to settle from now on (0 = at once). */
  setSettleMs(ms: number): void;
  stop(): Promise<void>;
}

const DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000";
const DEFAULT_RESOURCE_GROUP = "keyturn-local";
const VAULT_NAME_PATTERN = /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const DAY_SECONDS = 86_400;

interface VaultRuntime extends VaultContext {
  url: string;
  readonly topic: string;
  server?: HttpsDouble;
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
  const certificateOperationPolls = opts.certificateOperationPolls ?? 1;
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
    return publishObjectEvent(vault, "Secret", type, name, version, found);
  }

  function publishObjectEvent(
    vault: VaultRuntime,
    objectType: KeyVaultObjectType,
    type: string,
    name: string,
    version: string,
    found: { nbf?: number; exp?: number },
  ): Promise<void> {
    return bus.publish(
      vault.name,
      objectEvent({
        objectType,
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

  /**
   * Does what came due on the clock: the vault's own key rotations and certificate
   * renewals, then the near-expiry and expiry events; resolves after the events' first
   * delivery attempts.
   */
  function scan(): Promise<void> {
    const current = nowSeconds();
    const dispatched: Promise<void>[] = [];
    /** Only the current version announces expiry: older versions are superseded. */
    const announce = (
      vault: VaultRuntime,
      objectType: KeyVaultObjectType,
      name: string,
      latest: { version: string; enabled: boolean; nbf?: number; exp?: number; nearExpiryNotified: boolean; expiredNotified: boolean },
      lead: number,
    ) => {
      if (latest.exp === undefined) return;
      if (!latest.nearExpiryNotified && latest.enabled && current >= latest.exp - lead) {
        latest.nearExpiryNotified = true;
        dispatched.push(publishObjectEvent(vault, objectType, `Microsoft.KeyVault.${objectType}NearExpiry`, name, latest.version, latest));
      }
      if (!latest.expiredNotified && current >= latest.exp) {
        latest.expiredNotified = true;
        dispatched.push(publishObjectEvent(vault, objectType, `Microsoft.KeyVault.${objectType}Expired`, name, latest.version, latest));
      }
    };
    for (const vault of vaults.values()) {
      vault.secrets.purgeExpired();
      for (const record of vault.secrets.records()) {
        const latest = record.versions.at(-1)!;
        // A certificate's backing secret: the certificate announces its own expiry.
        if (latest.managed) continue;
        announce(vault, "Secret", record.name, latest, leadSeconds);
      }
      for (const record of vault.keys.records()) {
        if (record.managed) continue;
        if (vault.keys.rotationDue(record, current)) {
          const { version } = vault.keys.rotate(record.name);
          vault.keyVersionCreated(record.name, version.version);
        }
        announce(vault, "Key", record.name, record.versions.at(-1)!, vault.keys.notifyLeadSeconds(record, leadSeconds));
      }
      for (const record of vault.certificates.records()) {
        autoRenew(vault, record, current);
        // The version in service: a pending newer version has no certificate yet.
        const latest = latestCompleted(record);
        if (latest) announce(vault, "Certificate", record.name, latest, leadSeconds);
      }
    }
    return Promise.all(dispatched).then(() => undefined);
  }

  /** A policy's AutoRenew action (Self or a configured issuer): the vault makes the new version itself. */
  function autoRenew(vault: VaultRuntime, record: CertificateRecord, current: number): void {
    const latest = latestCompleted(record);
    if (!latest || record.operation?.status === "inProgress") return;
    if (record.policy.issuer.name.toLowerCase() === UNKNOWN_ISSUER.toLowerCase()) return;
    const due = record.policy.lifetime_actions.some((a) => {
      if (a.action.action_type !== "AutoRenew") return false;
      if (a.trigger.days_before_expiry !== undefined) return current >= latest.exp - a.trigger.days_before_expiry * DAY_SECONDS;
      const pct = a.trigger.lifetime_percentage ?? 80;
      return current >= latest.nbf + ((latest.exp - latest.nbf) * pct) / 100;
    });
    if (!due) return;
    vault.certificates.create(record.name, (latest.tags ? { tags: latest.tags } : {}));
    record.operation!.pollsRemaining = 0;
    const { completed } = vault.certificates.poll(record.name);
    if (completed) vault.certificateVersionCreated(record.name, completed.version);
  }

  let settleMs = opts.settleMs ?? 0;
  const backupKey = randomBytes(32);
  const recovery: RecoveryPolicy = {
    days: opts.softDelete?.retentionDays ?? DEFAULT_RECOVERY.days,
    purgeProtection: opts.softDelete?.purgeProtection ?? DEFAULT_RECOVERY.purgeProtection,
  };
  if (!Number.isInteger(recovery.days) || recovery.days < 7 || recovery.days > 90) throw new Error("softDelete.retentionDays must be 7 to 90.");
  try {
    for (const name of opts.vaults) {
      const secrets = new SecretStore(nowSeconds, () => settleMs, backupKey, recovery);
      const keys = new KeyStore(nowSeconds);
      const vault: VaultRuntime = {
        name,
        url: "",
        topic: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.KeyVault/vaults/${name}`,
        secrets,
        keys,
        recovery,
        certificates: new CertificateStore(nowSeconds, secrets, keys, certificateOperationPolls, () => vault.url),
        secretVersionCreated: (secretName, version) => {
          void publishSecretEvent(vault, KeyVaultEventTypes.SecretNewVersionCreated, secretName, version);
        },
        keyVersionCreated: (keyName, version) => {
          const found = vault.keys.get(keyName, version).version;
          void publishObjectEvent(vault, "Key", KeyVaultEventTypes.KeyNewVersionCreated, keyName, version, found);
        },
        certificateVersionCreated: (certificateName, version) => {
          const found = vault.certificates.get(certificateName, version).version;
          void publishObjectEvent(vault, "Certificate", KeyVaultEventTypes.CertificateNewVersionCreated, certificateName, version, found);
        },
      };
      counters.set(name, {});
      vault.server = await serveVault(opts.ports?.[name] ?? 0, {
        vault,
        routes: [...secretRoutes, ...certificateRoutes, ...keyRoutes],
        tls,
        faults,
        count: (operation) => {
          const perVault = counters.get(name)!;
          perVault[operation] = (perVault[operation] ?? 0) + 1;
        },
        preAuth: (req, url, res) => bus.handleValidationRequest(req, url, res),
      });
      vault.url = vault.server.url;
      vaults.set(name, vault);
    }
  } catch (error) {
    await Promise.all([...vaults.values()].flatMap((v) => (v.server ? [v.server.stop()] : [])));
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
    seedCertificate: (vaultName, name, seed = {}) => {
      const vault = vaultOf(vaultName);
      const { record, version } = vault.certificates.seed(name, {
        ...(seed.issuer === undefined ? {} : { issuer: seed.issuer }),
        ...(seed.subject === undefined ? {} : { subject: seed.subject }),
        ...(seed.dnsNames === undefined ? {} : { dnsNames: seed.dnsNames }),
        ...(seed.validityMonths === undefined ? {} : { validityMonths: seed.validityMonths }),
        ...(seed.notBefore === undefined ? {} : { notBefore: Math.floor(seed.notBefore.getTime() / 1000) }),
        ...(seed.expiresOn === undefined ? {} : { expiresOn: Math.floor(seed.expiresOn.getTime() / 1000) }),
        ...(seed.tags === undefined ? {} : { tags: seed.tags }),
        ...(seed.enabled === undefined ? {} : { enabled: seed.enabled }),
        ...(seed.contentType === undefined ? {} : { contentType: seed.contentType }),
        ...(seed.lifetimeActions === undefined ? {} : { lifetimeActions: seed.lifetimeActions }),
      });
      vault.certificateVersionCreated(record.name, version.version);
      return { version: version.version, id: `${vault.url}/certificates/${record.name}/${version.version}` };
    },
    seedIssuer: (vaultName, name, provider) => {
      vaultOf(vaultName).certificates.setIssuer(name, provider, undefined, true);
    },
    seedKey: (vaultName, name, seed = {}) => {
      const vault = vaultOf(vaultName);
      const kty = seed.kty ?? "RSA";
      const { record, version } = vault.keys.create(name, {
        kty,
        ...(seed.keySize === undefined ? {} : { keySize: seed.keySize }),
        ...(seed.crv === undefined ? {} : { crv: seed.crv }),
        ...(seed.tags === undefined ? {} : { tags: seed.tags }),
        ...(seed.enabled === undefined ? {} : { enabled: seed.enabled }),
        ...(seed.notBefore === undefined ? {} : { nbf: Math.floor(seed.notBefore.getTime() / 1000) }),
        ...(seed.expiresOn === undefined ? {} : { exp: Math.floor(seed.expiresOn.getTime() / 1000) }),
      });
      if (seed.rotationPolicy) vault.keys.setPolicy(record.name, seed.rotationPolicy);
      vault.keyVersionCreated(record.name, version.version);
      return { version: version.version, id: `${vault.url}/keys/${record.name}/${version.version}` };
    },
    stats: () => Object.fromEntries([...counters].map(([vault, ops]) => [vault, { ...ops }])),
    resetStats: () => {
      for (const vault of counters.keys()) counters.set(vault, {});
    },
    setSettleMs: (ms) => {
      settleMs = ms;
    },
    stop: () => {
      stopped ??= (async () => {
        clearInterval(scanTimer);
        await bus.stop();
        await Promise.all([...vaults.values()].flatMap((v) => (v.server ? [v.server.stop()] : [])));
      })();
      return stopped;
    },
  };
}
