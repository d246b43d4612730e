// The entra-app-secret rotator through the real engine, with the real clients keyturn
// uses — SecretClient against the Key Vault double, a core-rest-pipeline pipeline with
// keyturn's own ClientSecretCredential against the Graph double, and a fresh
// ClientSecretCredential (MSAL) per token check against the double's token endpoint.
//
// Whether a secret works is always decided the way a consumer finds out: a token request
// with a new credential (MSAL caches tokens per credential instance).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config.js";
import { createEngine, type Engine, type RotationResult } from "../../core/engine.js";
import { ConfigurationError, KeyturnError, ProviderError, VerificationError, describeError } from "../../core/errors.js";
import { InProcessLock } from "../../core/lock.js";
import { createLogger, setDefaultLogSink } from "../../core/log.js";
import type { Notifier, RotationNotification } from "../../core/notify.js";
import type { AzureClientOptions, RotationMode } from "../../core/rotator.js";
import { FaultInjector } from "../../emulators/faults.js";
import { startGraphEmulator, type EmulatedApplication, type FaultApplier, type FaultDescriptor, type GraphEmulator } from "../../emulators/graph/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { testTls } from "../../emulators/tls.js";
import { GraphApplicationClient } from "../../rotators/entra-app-secret/graph.js";
import { createEntraAppSecretRotator, entraAppSecretRotator, ownedPrefix } from "../../rotators/entra-app-secret/index.js";
import { registry as productionRegistry } from "../../rotators/index.js";
import { createRegistry } from "../../core/registry.js";

const VAULT = "kv-entra";
const DAY_MS = 86_400_000;
const KEYTURN_CLIENT_ID = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const KEYTURN_SECRET = "keyturn-own-identity-secret-0123456789";

class RecordingNotifier implements Notifier {
  readonly sent: RotationNotification[] = [];
  async notify(n: RotationNotification): Promise<void> {
    this.sent.push(n);
  }
}

/**
 * The Graph double's fault hook, wrapped: faults come from a FaultInjector, and every
 * addPassword answer is tapped so the test knows every secretText Graph ever issued —
 * including those of passwords that were added and removed within one rotation.
 */
class TappingFaults implements FaultApplier {
  readonly injector = new FaultInjector();
  readonly issuedSecrets = new Set<string>();
  /** Every Graph operation asked for, in order. */
  readonly operations: string[] = [];
  async apply(req: IncomingMessage, res: ServerResponse, descriptor: FaultDescriptor, options?: { headers?: Record<string, string> }): Promise<boolean> {
    if (descriptor.operation) this.operations.push(descriptor.operation);
    if (descriptor.operation === "addPassword") {
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      (res as { end: unknown }).end = (...args: unknown[]) => {
        const chunk = args[0];
        if (typeof chunk === "string" || Buffer.isBuffer(chunk)) {
          try {
            const secret = (JSON.parse(chunk.toString()) as { secretText?: unknown }).secretText;
            if (typeof secret === "string") this.issuedSecrets.add(secret);
          } catch {
            // an error answer
          }
        }
        return end(...args);
      };
    }
    return this.injector.apply(req, res, descriptor, options);
  }
}

let tls: ReturnType<typeof testTls>;
let graph: GraphEmulator;
let kv: KeyVaultEmulator;
let graphFaults: TappingFaults;
let secrets: SecretClient;
let keyturnCredential: ClientSecretCredential;
let clientOptions: AzureClientOptions;
const logs: string[] = [];
const errors: unknown[] = [];
const notifiers: RecordingNotifier[] = [];
/** Secrets seeded directly in the double (the owner's onboarding passwords). */
const seededSecrets = new Set<string>();

const vaultCredential: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({ token: "kv-local", expiresOnTimestamp: Date.now() + 3600_000 }),
};

interface TestEngine {
  engine: Engine;
  notifier: RecordingNotifier;
}

/** The real engine; by default with the real registry's rotator, or a fast-verifying one. */
function makeEngine(o: { production?: boolean; minOverlapMs?: number; verifyAttempts?: number } = {}): TestEngine {
  const notifier = new RecordingNotifier();
  notifiers.push(notifier);
  const registry = o.production
    ? productionRegistry
    : createRegistry({
        "entra-app-secret": createEntraAppSecretRotator({
          verifyAttempts: o.verifyAttempts ?? 3,
          verifyDelayMs: 10,
          maxVerifyDelayMs: 20,
          minOverlapMs: o.minOverlapMs ?? 0,
        }),
      });
  const engine = createEngine({
    config: loadConfig({
      KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`,
      KEYTURN_GRAPH_ENDPOINT: graph.url,
      KEYTURN_AUTHORITY_HOST: graph.url,
      KEYTURN_ROTATION_GUARD_MINUTES: "0",
    }),
    registry,
    lock: new InProcessLock(),
    notifier,
    credential: keyturnCredential,
    clientOptions,
    log: createLogger({}),
    secretClient: async () => secrets,
  });
  return { engine, notifier };
}

let fast: TestEngine;

async function rotate(t: TestEngine, secret: string, mode: RotationMode = "normal"): Promise<RotationResult> {
  return t.engine.rotateSecret({ vault: { name: VAULT, url: kv.url(VAULT) }, secret, mode, trigger: { kind: "http", id: `test-${secret}-${mode}` } });
}

async function rotateFails(t: TestEngine, secret: string, mode: RotationMode = "normal"): Promise<KeyturnError> {
  const error = await rotate(t, secret, mode).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "the rotation should have failed").toBeInstanceOf(KeyturnError);
  errors.push(error);
  return error as KeyturnError;
}

/** Does this secret get a token for the application? A fresh credential, as a consumer would. */
async function tokenWorks(app: EmulatedApplication, secret: string): Promise<boolean> {
  const credential = new ClientSecretCredential(graph.tenantId, app.appId, secret, {
    authorityHost: graph.url,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: tls.caPem },
    retryOptions: { maxRetries: 0 },
  });
  return credential.getToken(`${graph.url}/.default`).then(
    () => true,
    (e: Error) => {
      // Only a refusal of the secret counts as "does not work".
      expect(e.message).toMatch(/AADSTS7000215|AADSTS7000222/);
      return false;
    },
  );
}

interface Onboarded {
  app: EmulatedApplication;
  initial: { keyId: string; secretText: string };
  version: string;
}

let counter = 0;
/** An application with one owner-made password, and a Key Vault secret holding it, tagged for keyturn. */
function onboard(name: string, tags: Record<string, string> = {}, o: { value?: string; contentType?: string } = {}): Onboarded {
  counter += 1;
  const app = graph.addApplication({ displayName: `app ${name} ${counter}` });
  const initial = app.addPassword({ displayName: "made by the owner in the portal" });
  seededSecrets.add(initial.secretText);
  const { version } = kv.seedSecret(VAULT, name, o.value ?? initial.secretText, {
    tags: {
      Rotator: "entra-app-secret",
      ProviderAddress: app.id,
      TenantId: graph.tenantId,
      ClientId: app.appId,
      CredentialId: initial.keyId,
      ValidityPeriodDays: "90",
      Owner: "identity-team@contoso.com",
      ...tags,
    },
    expiresOn: new Date(Date.now() + 20 * DAY_MS),
    ...(o.contentType ? { contentType: o.contentType } : {}),
  });
  return { app, initial, version };
}

async function latest(name: string) {
  return secrets.getSecret(name);
}

function keyIds(app: EmulatedApplication): string[] {
  return app.passwords().map((p) => p.keyId);
}

beforeAll(async () => {
  tls = testTls();
  graphFaults = new TappingFaults();
  [graph, kv] = await Promise.all([
    startGraphEmulator({ tls, faults: graphFaults, trustedClients: { [KEYTURN_CLIENT_ID]: KEYTURN_SECRET } }),
    startKeyVaultEmulator({ vaults: [VAULT], tls }),
  ]);
  setDefaultLogSink((_level, line) => logs.push(line));
  clientOptions = { retryOptions: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 50 }, tlsOptions: { ca: tls.caPem } };
  secrets = new SecretClient(kv.url(VAULT), vaultCredential, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: tls.caPem },
    retryOptions: { maxRetries: 1, retryDelayInMs: 10 },
  });
  // keyturn's own identity, as in Azure: one long-lived credential whose Graph token MSAL
  // caches. Warm it, so that faults on the token endpoint hit only the rotated secrets.
  keyturnCredential = new ClientSecretCredential(graph.tenantId, KEYTURN_CLIENT_ID, KEYTURN_SECRET, {
    authorityHost: graph.url,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: tls.caPem },
    retryOptions: { maxRetries: 0 },
  });
  await keyturnCredential.getToken(`${graph.url}/.default`);
  fast = makeEngine();
});

afterEach(() => {
  graphFaults.injector.clear();
  kv.faults.clear();
});

afterAll(async () => {
  setDefaultLogSink(undefined);
  await Promise.all([graph?.stop(), kv?.stop()]);
});

describe("entra-app-secret: rotation", () => {
  it("is registered under its kind in the production registry", () => {
    expect(productionRegistry.get("entra-app-secret")).toBe(entraAppSecretRotator);
    expect(entraAppSecretRotator.model).toBe("dual");
  });

  it("adds a password that gets a token, writes it with the new keyId, and the previous one keeps working", async () => {
    const prod = makeEngine({ production: true });
    const { app, initial, version } = onboard("orders-api-secret");
    const started = Date.now();
    const operationsBefore = graphFaults.operations.length;

    const result = await rotate(prod, "orders-api-secret");

    const committed = await latest("orders-api-secret");
    const added = app.passwords().find((p) => p.keyId !== initial.keyId)!;
    expect(result).toMatchObject({ status: "rotated", previousVersion: version, credentialId: added.keyId, previousCredentialId: initial.keyId, rotator: "entra-app-secret" });
    expect(committed.properties.version).toBe(result.version);
    expect(committed.properties.tags?.["CredentialId"]).toBe(added.keyId);
    expect(committed.value).not.toBe(initial.secretText);
    expect(app.secretTexts()).toContain(committed.value);
    // Graph's password expires with the version that holds it.
    const exp = committed.properties.expiresOn!.getTime();
    expect(exp).toBeGreaterThanOrEqual(started + 90 * DAY_MS - 5000);
    expect(Math.abs(Date.parse(added.endDateTime) - exp)).toBeLessThan(1000);
    expect(added.displayName.startsWith(`keyturn 127.0.0.1:${new URL(kv.url(VAULT)).port}/orders-api-secret `)).toBe(true);
    // Graph: one read of the application (create takes what checkCurrent read), one addPassword.
    const graphOperations = new Set(["getApplication", "addPassword", "removePassword"]);
    expect(graphFaults.operations.slice(operationsBefore).filter((op) => graphOperations.has(op))).toEqual(["getApplication", "addPassword"]);
    // Verification really asked the token endpoint as the application.
    expect(graph.tokensIssued()).toContainEqual({ clientId: app.appId, scope: `${graph.url}/.default` });
    expect(keyIds(app)).toEqual([initial.keyId, added.keyId]);
    expect(await tokenWorks(app, committed.value!)).toBe(true);
    expect(await tokenWorks(app, initial.secretText)).toBe(true);
    expect(prod.notifier.sent).toEqual([
      expect.objectContaining({ type: "keyturn.SecretRotated", secret: "orders-api-secret", credentialId: added.keyId, previousCredentialId: initial.keyId, owner: "identity-team@contoso.com" }),
    ]);
  });

  it("on later rotations keeps current + new, removes the older keyturn password, and never touches others' passwords", async () => {
    const { app, initial } = onboard("billing-secret");
    // Passwords keyturn must leave alone: one it made for another secret of the same
    // application, and one whose name merely starts like ours.
    const otherSecrets = app.addPassword({ displayName: `${ownedPrefix({ vaultUrl: kv.url(VAULT), name: "billing-secret-reader" })}2024-01-01T00:00:00Z` });
    const lookalike = app.addPassword({ displayName: "keyturn-like tool billing-secret" });
    seededSecrets.add(otherSecrets.secretText).add(lookalike.secretText);

    await rotate(fast, "billing-secret");
    const first = await latest("billing-secret");
    await rotate(fast, "billing-secret");
    const second = await latest("billing-secret");
    // After the second rotation: the first keyturn password is the overlap, still there.
    expect(keyIds(app)).toEqual([initial.keyId, otherSecrets.keyId, lookalike.keyId, first.properties.tags!["CredentialId"], second.properties.tags!["CredentialId"]]);
    expect(await tokenWorks(app, first.value!)).toBe(true);

    await rotate(fast, "billing-secret");
    const third = await latest("billing-secret");

    expect(keyIds(app)).toEqual([initial.keyId, otherSecrets.keyId, lookalike.keyId, second.properties.tags!["CredentialId"], third.properties.tags!["CredentialId"]]);
    expect(await tokenWorks(app, first.value!)).toBe(false);
    expect(await tokenWorks(app, second.value!)).toBe(true);
    expect(await tokenWorks(app, third.value!)).toBe(true);
    expect(await tokenWorks(app, initial.secretText)).toBe(true);
    expect(await tokenWorks(app, otherSecrets.secretText)).toBe(true);
    expect(logs.some((l) => l.includes("removed an unused password keyturn created") && l.includes(first.properties.tags!["CredentialId"]!))).toBe(true);
  });

  it("keeps the previous version's password while the current version is younger than the overlap (back-to-back rotations)", async () => {
    const guarded = makeEngine({ minOverlapMs: 3_600_000 });
    const { app } = onboard("reports-secret");
    await rotate(guarded, "reports-secret");
    const first = await latest("reports-secret");
    await rotate(guarded, "reports-secret");

    await rotate(guarded, "reports-secret");

    expect(keyIds(app)).toHaveLength(4);
    expect(await tokenWorks(app, first.value!)).toBe(true);
    expect(logs.some((l) => l.includes("keeping the previous version's password") && l.includes(first.properties.tags!["CredentialId"]!))).toBe(true);
    // A rotation once the current version is old enough removes both older ones.
    const later = createEngine({
      config: loadConfig({ KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`, KEYTURN_GRAPH_ENDPOINT: graph.url, KEYTURN_AUTHORITY_HOST: graph.url, KEYTURN_ROTATION_GUARD_MINUTES: "0" }),
      registry: createRegistry({ "entra-app-secret": createEntraAppSecretRotator({ minOverlapMs: 3_600_000, verifyDelayMs: 10 }) }),
      lock: new InProcessLock(),
      notifier: new RecordingNotifier(),
      credential: keyturnCredential,
      clientOptions,
      log: createLogger({}),
      secretClient: async () => secrets,
      now: () => new Date(Date.now() + 2 * 3_600_000),
    });
    await later.rotateSecret({ vault: { name: VAULT, url: kv.url(VAULT) }, secret: "reports-secret", mode: "normal", trigger: { kind: "http", id: "later" } });
    expect(keyIds(app)).toHaveLength(3);
    expect(await tokenWorks(app, first.value!)).toBe(false);
  });

  it("writes {clientId, tenantId, clientSecret, keyId} with SecretFormat=json, and rotates again from that value", async () => {
    const { app } = onboard("json-secret", { SecretFormat: "json" });

    await rotate(fast, "json-secret");
    const first = await latest("json-secret");
    await rotate(fast, "json-secret");
    const second = await latest("json-secret");

    for (const version of [first, second]) {
      const value = JSON.parse(version.value!) as Record<string, string>;
      expect(Object.keys(value).sort()).toEqual(["clientId", "clientSecret", "keyId", "tenantId"]);
      expect(value).toMatchObject({ clientId: app.appId, tenantId: graph.tenantId, keyId: version.properties.tags!["CredentialId"] });
      expect(version.properties.contentType).toBe("application/json");
      expect(await tokenWorks(app, value["clientSecret"]!)).toBe(true);
    }

    // Back to the bare secret: the next version follows the tag.
    await secrets.setSecret("json-secret", second.value!, {
      tags: { ...second.properties.tags, SecretFormat: "secret" },
      contentType: "application/json",
      expiresOn: second.properties.expiresOn!,
    });
    await rotate(fast, "json-secret");
    const bare = await latest("json-secret");
    expect(bare.value!.startsWith("{")).toBe(false);
    expect(bare.properties.contentType).toBe("text/plain");
    expect(await tokenWorks(app, bare.value!)).toBe(true);
  });

  it("accepts ProviderAddress as the Graph URL of the application, and works without a ClientId tag", async () => {
    const { app, initial } = onboard("url-secret");
    // Re-tag: URL form, and no ClientId (read from Graph).
    const seeded = await latest("url-secret");
    const tags = { ...seeded.properties.tags, ProviderAddress: `${graph.url}/v1.0/applications/${app.id}` } as Record<string, string>;
    delete tags["ClientId"];
    await secrets.setSecret("url-secret", initial.secretText, { tags, expiresOn: new Date(Date.now() + 20 * DAY_MS) });

    const result = await rotate(fast, "url-secret");

    expect(result.status).toBe("rotated");
    expect(await tokenWorks(app, (await latest("url-secret")).value!)).toBe(true);
  });

  it("retries verification while the new secret is not yet accepted (Entra replication) and then commits", async () => {
    const { app } = onboard("replicating-secret");
    // The first two token requests with the new secret are refused, as Entra does for a
    // few seconds after addPassword.
    graphFaults.injector.add({
      match: { service: "identity", operation: "token" },
      status: 401,
      errorCode: "invalid_client",
      errorMessage: "AADSTS7000215: Invalid client secret provided.",
      times: 2,
    });

    const result = await rotate(fast, "replicating-secret");

    expect(result.status).toBe("rotated");
    expect(await tokenWorks(app, (await latest("replicating-secret")).value!)).toBe(true);
    const attempts = logs.filter((l) => l.includes('"secret":"replicating-secret"') && l.includes('"step":"verify"'));
    expect(attempts.filter((l) => l.includes("does not get a token yet"))).toHaveLength(2);
    expect(attempts.some((l) => l.includes("the new secret gets a token") && l.includes('"attempt":3'))).toBe(true);
  });

  it("dry run checks the application and the current password and changes nothing", async () => {
    const { app, initial, version } = onboard("dry-secret");

    const result = await rotate(fast, "dry-secret", "dry-run");

    expect(result).toMatchObject({ status: "planned", version, credentialId: initial.keyId });
    expect(result.plan).toEqual(["check-current", "create", "verify", "commit"]);
    expect(keyIds(app)).toEqual([initial.keyId]);
  });
});

describe("entra-app-secret: failures leave Key Vault holding a password that works", () => {
  async function expectUnchanged(name: string, o: Onboarded): Promise<void> {
    const now = await latest(name);
    expect(now.properties.version).toBe(o.version);
    expect(now.value).toBe(o.initial.secretText);
    expect(await tokenWorks(o.app, o.initial.secretText)).toBe(true);
  }

  it("Graph 500 on addPassword: retried by the pipeline; when it persists, a transient failure (the trigger retries), nothing added", async () => {
    const blip = onboard("flaky-secret");
    graphFaults.injector.add({ match: { service: "graph", operation: "addPassword" }, status: 500, times: 1 });
    expect((await rotate(fast, "flaky-secret")).status).toBe("rotated");
    expect(keyIds(blip.app)).toHaveLength(2);

    const o = onboard("graph-down-secret");
    const before = fast.notifier.sent.length;
    graphFaults.injector.add({ match: { service: "graph", operation: "addPassword" }, status: 500 });

    const error = await rotateFails(fast, "graph-down-secret");

    expect(error.kind).toBe("transient");
    expect(error.message).toContain("500 InternalServerError");
    expect(keyIds(o.app)).toEqual([o.initial.keyId]);
    await expectUnchanged("graph-down-secret", o);
    // A transient failure goes back to the trigger for redelivery (ARCHITECTURE.md);
    // the owner hears of it, marked as one that will be retried.
    expect(fast.notifier.sent.slice(before)).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", secret: "graph-down-secret", step: "create", willRetry: true })]);
    expect(logs.some((l) => l.includes("transient") && l.includes('"secret":"graph-down-secret"') && l.includes('"step":"create"'))).toBe(true);
  });

  it("Graph 403 (keyturn not an owner): a provider error naming the permission, reported to the owner", async () => {
    const o = onboard("denied-secret");
    graphFaults.injector.add({ match: { service: "graph", operation: "addPassword" }, status: 403, errorCode: "Authorization_RequestDenied", errorMessage: "Insufficient privileges to complete the operation." });

    const error = await rotateFails(fast, "denied-secret");

    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toContain("Authorization_RequestDenied");
    expect(error.message).toContain("Application.ReadWrite.OwnedBy");
    expect(error.message).toContain("owner");
    await expectUnchanged("denied-secret", o);
    expect(fast.notifier.sent.at(-1)).toMatchObject({ type: "keyturn.RotationFailed", secret: "denied-secret", step: "create", errorKind: "provider", owner: "identity-team@contoso.com" });

    // Denied on every call (the double's deny): refused already when checking the current password.
    const undo = graph.denyApplication(o.app.id);
    try {
      const denied = await rotateFails(fast, "denied-secret");
      expect(denied.message).toContain("Application.ReadWrite.OwnedBy");
      expect(fast.notifier.sent.at(-1)).toMatchObject({ type: "keyturn.RotationFailed", step: "check-current" });
    } finally {
      undo();
    }
    await expectUnchanged("denied-secret", o);
  });

  it("verification fails: a verification error reported to the owner, the new password removed again", async () => {
    const o = onboard("unverifiable-secret");
    graphFaults.injector.add({
      match: { service: "identity", operation: "token" },
      status: 401,
      errorCode: "invalid_client",
      errorMessage: "AADSTS7000215: Invalid client secret provided.",
    });
    const issuedBefore = graphFaults.issuedSecrets.size;

    const error = await rotateFails(fast, "unverifiable-secret");
    graphFaults.injector.clear();

    expect(error).toBeInstanceOf(VerificationError);
    expect(error.message).toContain("after 3 attempts");
    // A password was added, and taken away again: nobody can hold it.
    expect(graphFaults.issuedSecrets.size).toBe(issuedBefore + 1);
    expect(keyIds(o.app)).toEqual([o.initial.keyId]);
    await expectUnchanged("unverifiable-secret", o);
    expect(fast.notifier.sent.at(-1)).toMatchObject({ type: "keyturn.RotationFailed", secret: "unverifiable-secret", step: "verify", errorKind: "verification" });
  });

  it.each([
    { status: 500, kind: "transient", notified: true },
    { status: 403, kind: "provider", notified: true },
  ])("Key Vault SetSecret answers $status: the previous version stays latest and works; the next rotation removes the orphan", async ({ status, kind, notified }) => {
    const name = `commit-${status}-secret`;
    const o = onboard(name);
    const before = fast.notifier.sent.length;
    kv.faults.add({ match: { service: "keyvault", operation: "SetSecret" }, status });

    const error = await rotateFails(fast, name);
    kv.faults.clear();

    expect(error.kind).toBe(kind);
    await expectUnchanged(name, o);
    const orphan = keyIds(o.app).find((k) => k !== o.initial.keyId);
    expect(orphan).toBeDefined();
    expect(fast.notifier.sent.slice(before)).toEqual(
      notified ? [expect.objectContaining({ type: "keyturn.RotationFailed", secret: name, step: "commit", willRetry: kind === "transient" })] : [],
    );

    await rotate(fast, name);

    const committed = await latest(name);
    expect(keyIds(o.app)).toEqual([o.initial.keyId, committed.properties.tags!["CredentialId"]]);
    expect(keyIds(o.app)).not.toContain(orphan);
    expect(await tokenWorks(o.app, committed.value!)).toBe(true);
  });
});

describe("entra-app-secret: bad tags are configuration errors naming the tag", () => {
  const cases: Array<{ title: string; tag: string; tags: (o: { appId: string; keyId: string; otherKeyId: string }) => Record<string, string> }> = [
    { title: "ProviderAddress that is not an object id", tag: "ProviderAddress", tags: () => ({ ProviderAddress: "my-app" }) },
    { title: "ProviderAddress of an application that does not exist", tag: "ProviderAddress", tags: () => ({ ProviderAddress: "0b7e4a10-9c1d-4f55-8f0e-3a2b1c0d9e8f" }) },
    { title: "ProviderAddress URL on another host than the Graph endpoint", tag: "ProviderAddress", tags: () => ({ ProviderAddress: "https://graph.example.net/v1.0/applications/0b7e4a10-9c1d-4f55-8f0e-3a2b1c0d9e8f" }) },
    { title: "CredentialId that is not a keyId", tag: "CredentialId", tags: () => ({ CredentialId: "key1" }) },
    { title: "CredentialId the application does not have", tag: "CredentialId", tags: () => ({ CredentialId: "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a" }) },
    { title: "CredentialId of another password than the value in Key Vault", tag: "CredentialId", tags: (o) => ({ CredentialId: o.otherKeyId }) },
    { title: "ClientId of another application", tag: "ClientId", tags: () => ({ ClientId: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d" }) },
    { title: "TenantId missing", tag: "TenantId", tags: () => ({ TenantId: "" }) },
    { title: "SecretFormat unknown", tag: "SecretFormat", tags: () => ({ SecretFormat: "connection-string" }) },
  ];

  it.each(cases)("$title", async ({ tag, tags }) => {
    counter += 1;
    const name = `bad-tag-${counter}`;
    // A second password whose hint differs from the value's (regenerate until it does).
    const o = onboard(name);
    let other = o.app.addPassword({ displayName: "another owner password" });
    while (other.hint === o.initial.secretText.slice(0, 3)) other = o.app.addPassword({ displayName: "another owner password" });
    seededSecrets.add(other.secretText);
    const seeded = await latest(name);
    await secrets.setSecret(name, o.initial.secretText, {
      tags: { ...seeded.properties.tags, ...tags({ appId: o.app.appId, keyId: o.initial.keyId, otherKeyId: other.keyId }) },
      expiresOn: new Date(Date.now() + 20 * DAY_MS),
    });
    const before = keyIds(o.app);

    const error = await rotateFails(fast, name);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).tag).toBe(tag);
    expect(error.message.startsWith(`tag ${tag}:`)).toBe(true);
    expect(keyIds(o.app)).toEqual(before);
    expect(fast.notifier.sent.at(-1)).toMatchObject({ type: "keyturn.RotationFailed", secret: name, errorKind: "configuration" });
  });
});

describe("entra-app-secret: emergency", () => {
  it("removes the previous password after the commit: its token request now fails, the new one works", async () => {
    const { app, initial } = onboard("leaked-secret");
    await rotate(fast, "leaked-secret");
    const leaked = await latest("leaked-secret");

    const result = await rotate(fast, "leaked-secret", "emergency");

    const fresh = await latest("leaked-secret");
    expect(result).toMatchObject({ status: "rotated", previousCredentialId: leaked.properties.tags!["CredentialId"], revoked: true });
    expect(await tokenWorks(app, leaked.value!)).toBe(false);
    expect(await tokenWorks(app, fresh.value!)).toBe(true);
    expect(keyIds(app)).toEqual([initial.keyId, fresh.properties.tags!["CredentialId"]]);
    expect(fast.notifier.sent.at(-1)).toMatchObject({ type: "keyturn.SecretRotated", secret: "leaked-secret", mode: "emergency" });
  });

  it("revokes the owner's onboarding password when that is the one the secret held", async () => {
    const { app, initial } = onboard("leaked-on-day-one");

    await rotate(fast, "leaked-on-day-one", "emergency");

    const fresh = await latest("leaked-on-day-one");
    expect(keyIds(app)).toEqual([fresh.properties.tags!["CredentialId"]]);
    expect(await tokenWorks(app, initial.secretText)).toBe(false);
    expect(await tokenWorks(app, fresh.value!)).toBe(true);
  });

  it("goes on when the leaked password was already removed by hand (a normal rotation refuses)", async () => {
    const { app, initial } = onboard("removed-by-hand");
    // The owner removed the leaked password in the portal (here: through Graph).
    await new GraphApplicationClient(graph.url, keyturnCredential, clientOptions).removePassword(app.id, initial.keyId);

    const refused = await rotateFails(fast, "removed-by-hand");
    expect(refused).toBeInstanceOf(ConfigurationError);

    const result = await rotate(fast, "removed-by-hand", "emergency");

    const fresh = await latest("removed-by-hand");
    expect(result.status).toBe("rotated");
    expect(keyIds(app)).toEqual([fresh.properties.tags!["CredentialId"]]);
    expect(await tokenWorks(app, fresh.value!)).toBe(true);
    expect(logs.some((l) => l.includes("emergency rotation goes on") && l.includes('"secret":"removed-by-hand"'))).toBe(true);
  });
});

describe("entra-app-secret: no secret values escape", () => {
  it("no client secret appears in any log line, error or notification of this file's rotations", () => {
    const issued = [...graphFaults.issuedSecrets];
    // Every rotation above went through Graph addPassword, so this is not vacuous.
    expect(issued.length).toBeGreaterThan(20);
    const all = [...issued, ...seededSecrets];
    const notifications = notifiers.flatMap((n) => n.sent).map((n) => JSON.stringify(n));
    const errorTexts = errors.flatMap((e) => [(e as Error).message, describeError(e), String((e as Error).stack)]);
    expect(logs.length).toBeGreaterThan(50);
    expect(notifications.length).toBeGreaterThan(10);
    expect(errorTexts.length).toBeGreaterThan(10);
    for (const text of [...logs, ...notifications, ...errorTexts]) {
      for (const secret of all) expect(text.includes(secret), `a secret appears in: ${text.slice(0, 200)}`).toBe(false);
    }
  });
});
