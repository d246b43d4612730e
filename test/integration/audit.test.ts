// The posture audit against the Key Vault and ARM doubles with the real SDK clients: a
// vault seeded with one of each problem the audit looks for, beside healthy objects of
// every kind. It must find each seeded problem — and nothing else (no false ones):
// certificate-backed secrets and keys, keyturn's journals, disabled objects and healthy
// ones are not findings. Then: a vault without a resource ID, the HTTP route (JSON and
// HTML) through the local host, the CLI's table/--json/--html, and the report's HTML.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditCheck, formatAuditTable, runAudit, type AuditDeps, type AuditReport } from "../../core/audit.js";
import { escapeHtml, renderAuditHtml } from "../../core/audit-html.js";
import { LocalEmulatorCredential } from "../../core/azure.js";
import { writeJournal } from "../../core/journal.js";
import { DEFAULT_RESOURCE_GROUP as RG, DEFAULT_SUBSCRIPTION_ID as SUB, startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { startLocalHost, type LocalHost } from "../../local/host.js";
import { createLogger } from "../../core/log.js";
import { registry } from "../../rotators/index.js";
import { CertificateClient } from "@azure/keyvault-certificates";
import { KeyClient } from "@azure/keyvault-keys";
import { secretClientFor } from "../support/keyvault.js";

const VAULT = "audit-kv";
const BARE_VAULT = "bare-kv";
const DAY = 86_400_000;
const OWNER = { Owner: "team@contoso.com" };
const NO_AUTO_RENEW = [{ trigger: { lifetime_percentage: 90 }, action: { action_type: "EmailContacts" } }];

let kv: KeyVaultEmulator;
let arm: ArmEmulator;
let vaultId: string;
const ids = { storagePmk: "", storageCmk: "", sqlPmk: "", sqlCmk: "", missing: "" };
let report: AuditReport;

function deps(resourceIds: Map<string, string>): AuditDeps {
  const options = { disableChallengeResourceVerification: true, tlsOptions: { ca: kv.tls.caPem }, retryOptions: { maxRetries: 1, retryDelayInMs: 10 } };
  const credential = new LocalEmulatorCredential();
  return {
    config: { vaultResourceIds: resourceIds, auditMaxValidityDays: 365, armEndpoint: arm.url },
    registry,
    secretClient: async (url) => secretClientFor(kv, kv.vaultNames.find((v) => kv.url(v) === url)!),
    certificateClient: async (url) => new CertificateClient(url, credential, options),
    keyClient: async (url) => new KeyClient(url, credential, options),
    credential,
    clientOptions: { retryOptions: { maxRetries: 0 }, tlsOptions: { ca: arm.tls.caPem } },
  };
}

beforeAll(async () => {
  kv = await startKeyVaultEmulator({ vaults: [VAULT, BARE_VAULT] });
  arm = await startArmEmulator({ tls: kv.tls });
  vaultId = arm.addVault({ name: VAULT, softDelete: true, purgeProtection: false, rbac: false }).id;
  ids.storagePmk = arm.addStorageAccount({ name: "stauditpmk" }).id;
  ids.storageCmk = arm.addStorageAccount({ name: "stauditcmk", encryption: { keySource: "Microsoft.Keyvault", keyVaultUri: kv.url(VAULT), keyName: "storage-cmk" } }).id;
  ids.sqlPmk = arm.addSqlServer({ name: "sql-audit-pmk", administratorLogin: "sqladmin", password: "Initial-Passw0rd!" }).id;
  ids.sqlCmk = arm.addSqlServer({
    name: "sql-audit-cmk",
    administratorLogin: "sqladmin",
    password: "Initial-Passw0rd!",
    encryptionProtector: { serverKeyType: "AzureKeyVault", uri: `${kv.url(VAULT)}/keys/sql-tde/0123456789abcdef0123456789abcdef` },
  }).id;
  ids.missing = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Storage/storageAccounts/stnotthere`;

  const now = Date.now();
  const managed = { Rotator: "generated-secret", ValidityPeriodDays: "60", ...OWNER };
  const seed = (name: string, tags: Record<string, string> | undefined, o: { exp?: number; nbf?: number; enabled?: boolean } = {}) =>
    kv.seedSecret(VAULT, name, `value-${name}`, {
      ...(tags ? { tags } : {}),
      ...(o.exp !== undefined ? { expiresOn: new Date(now + o.exp * DAY) } : {}),
      ...(o.nbf !== undefined ? { notBefore: new Date(now + o.nbf * DAY) } : {}),
      ...(o.enabled !== undefined ? { enabled: o.enabled } : {}),
    });
  // Healthy.
  seed("healthy-managed", managed, { exp: 40, nbf: -20 });
  seed("healthy-plain", OWNER, { exp: 100, nbf: -100 });
  seed("storage-pmk-key", { ProviderAddress: ids.storagePmk, CredentialId: "key1", ValidityPeriodDays: "60", ...OWNER }, { exp: 40 });
  seed("storage-cmk-key", { ProviderAddress: ids.storageCmk, CredentialId: "key1", ValidityPeriodDays: "60", ...OWNER }, { exp: 40 });
  seed("sql-pmk-admin", { ProviderAddress: ids.sqlPmk, ValidityPeriodDays: "60", ...OWNER }, { exp: 40 });
  seed("sql-cmk-admin", { ProviderAddress: ids.sqlCmk, ValidityPeriodDays: "60", ...OWNER }, { exp: 40 });
  seed("disabled-expired", undefined, { exp: -3, enabled: false }); // disabled: serves no one
  const client = secretClientFor(kv, VAULT);
  const current = await client.getSecret("healthy-managed");
  await writeJournal(client, "healthy-managed", current.properties.version!, "generated-secret", { credentialId: undefined, secretValue: "x".repeat(32) });
  // One of each secret problem.
  seed("no-expiry", OWNER);
  seed("no-owner", undefined, { exp: 100 });
  seed("bad-tags", { Rotator: "generated-secret", ValidityPeriodDays: "ten", ...OWNER }, { exp: 40 });
  seed("too-long", { Rotator: "generated-secret", ValidityPeriodDays: "730", ...OWNER }, { exp: 40 });
  seed("too-long-plain", OWNER, { exp: 100, nbf: -400 });
  seed("expired", OWNER, { exp: -3, nbf: -50 });
  seed("missing-provider-key", { ProviderAddress: ids.missing, CredentialId: "key1", ValidityPeriodDays: "60", ...OWNER }, { exp: 40 });

  // Certificates: two healthy, three findings.
  kv.seedCertificate(VAULT, "healthy-cert", { expiresOn: new Date(now + 200 * DAY), tags: OWNER });
  kv.seedCertificate(VAULT, "auto-renewing-cert", { expiresOn: new Date(now + 200 * DAY), notBefore: new Date(now - 20 * DAY) });
  kv.seedCertificate(VAULT, "expiring-self", { expiresOn: new Date(now + 10 * DAY), tags: OWNER, lifetimeActions: NO_AUTO_RENEW });
  kv.seedCertificate(VAULT, "expiring-unknown", { issuer: "Unknown", expiresOn: new Date(now + 10 * DAY), tags: OWNER });
  kv.seedCertificate(VAULT, "expired-cert", { issuer: "Unknown", notBefore: new Date(now - 100 * DAY), expiresOn: new Date(now - 2 * DAY), tags: OWNER });

  // Keys: one healthy, one finding, one disabled.
  kv.seedKey(VAULT, "storage-cmk", {
    expiresOn: new Date(now + 300 * DAY),
    rotationPolicy: { expiryTime: "P1Y", lifetimeActions: [{ trigger: { timeBeforeExpiry: "P90D" }, action: { type: "Rotate" } }] },
  });
  kv.seedKey(VAULT, "no-policy", { expiresOn: new Date(now + 300 * DAY), tags: OWNER });
  kv.seedKey(VAULT, "disabled-key", { enabled: false });

  report = await runAudit(deps(new Map([[VAULT, vaultId]])), { name: VAULT, url: kv.url(VAULT) });
});

afterAll(async () => {
  await kv?.stop();
  await arm?.stop();
});

describe("the posture audit", () => {
  it("finds each seeded problem and nothing else", () => {
    const found = report.findings.map((f) => `${f.check} ${f.name}`).sort();
    expect(found).toEqual(
      [
        `${AuditCheck.SecretNoExpiry} no-expiry`,
        `${AuditCheck.SecretNoOwner} no-owner`,
        `${AuditCheck.SecretBadTags} bad-tags`,
        `${AuditCheck.SecretValidityTooLong} too-long`,
        `${AuditCheck.SecretValidityTooLong} too-long-plain`,
        `${AuditCheck.SecretExpired} expired`,
        `${AuditCheck.CertificateExpiring} expiring-self`,
        `${AuditCheck.CertificateExpiring} expiring-unknown`,
        `${AuditCheck.CertificateExpired} expired-cert`,
        `${AuditCheck.KeyNoRotationPolicy} no-policy`,
        `${AuditCheck.VaultPurgeProtection} ${VAULT}`,
        `${AuditCheck.VaultRbac} ${VAULT}`,
        `${AuditCheck.ProviderPlatformManagedKey} ${ids.storagePmk}`,
        `${AuditCheck.ProviderPlatformManagedKey} ${ids.sqlPmk}`,
        `${AuditCheck.ProviderNotAudited} ${ids.missing}`,
      ].sort(),
    );
  });

  it("says what each finding means and how to fix it, most severe first", () => {
    const by = (check: string, name: string) => report.findings.find((f) => f.check === check && f.name === name)!;
    expect(by(AuditCheck.SecretBadTags, "bad-tags")).toMatchObject({ severity: "high", finding: expect.stringMatching(/tag ValidityPeriodDays: must be a whole number/) });
    expect(by(AuditCheck.SecretValidityTooLong, "too-long").finding).toMatch(/730 days \(ValidityPeriodDays\); the maximum is 365/);
    expect(by(AuditCheck.SecretValidityTooLong, "too-long-plain").finding).toMatch(/500 days/);
    expect(by(AuditCheck.SecretExpired, "expired").fix).toMatch(/disable it/);
    expect(by(AuditCheck.CertificateExpiring, "expiring-self")).toMatchObject({ severity: "low", finding: expect.stringMatching(/keyturn renews it \(issuer Self\)/) });
    expect(by(AuditCheck.CertificateExpiring, "expiring-unknown")).toMatchObject({ severity: "high", finding: expect.stringMatching(/issuer Unknown/) });
    expect(by(AuditCheck.KeyNoRotationPolicy, "no-policy").fix).toMatch(/RotationPolicy=default/);
    expect(by(AuditCheck.VaultPurgeProtection, VAULT).fix).toMatch(/--enable-purge-protection true/);
    expect(by(AuditCheck.ProviderPlatformManagedKey, ids.sqlPmk)).toMatchObject({ objectType: "sql-server", finding: expect.stringMatching(/TDE/) });
    for (const f of report.findings) expect(f.fix.length).toBeGreaterThan(10);
    const order = ["high", "medium", "low", "info"];
    const ranks = report.findings.map((f) => order.indexOf(f.severity));
    expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);
    expect(report.counts).toMatchObject({ findings: 15, bySeverity: { high: 4, medium: 6, low: 4, info: 1 } });
  });

  it("reports the vault, the providers' encryption, every check and an inventory for the timeline", () => {
    expect(report.vaultProperties).toEqual({ resourceId: vaultId, softDelete: true, purgeProtection: false, rbac: false });
    const enc = Object.fromEntries(report.providers.map((p) => [p.resourceId, p.encryption]));
    expect(enc).toEqual({ [ids.storagePmk]: "platform-managed", [ids.storageCmk]: "customer-managed", [ids.sqlPmk]: "platform-managed", [ids.sqlCmk]: "customer-managed", [ids.missing]: "unknown" });
    expect(report.providers.find((p) => p.resourceId === ids.sqlCmk)?.key).toMatch(/\/keys\/sql-tde\//);
    expect(report.checks.every((c) => c.ran)).toBe(true);
    expect(report.checks.find((c) => c.check === AuditCheck.VaultSoftDelete)).toMatchObject({ ran: true, findings: 0 });
    expect(report.counts).toMatchObject({ secrets: 14, certificates: 5, keys: 2 }); // backing objects, journals and the disabled key are not counted
    const inventory = report.inventory.map((i) => `${i.objectType} ${i.name} ${i.renewal}`);
    expect(inventory).toContain("certificate expiring-self keyturn");
    expect(inventory).toContain("certificate auto-renewing-cert key-vault");
    expect(inventory).toContain("certificate expiring-unknown owner");
    expect(inventory).toContain("key storage-cmk key-vault");
    expect(inventory).toContain("secret healthy-managed keyturn");
    expect(report.inventory.map((i) => i.expiresOn)).toEqual(report.inventory.map((i) => i.expiresOn).sort());
  });

  it("without a resource ID for the vault, says which checks it could not make (and still makes the others)", async () => {
    kv.seedSecret(BARE_VAULT, "fine", "v", { tags: OWNER, expiresOn: new Date(Date.now() + 30 * DAY) });
    const bare = await runAudit(deps(new Map()), { name: BARE_VAULT, url: kv.url(BARE_VAULT) });
    expect(bare.findings.map((f) => `${f.check} ${f.name}`)).toEqual([`${AuditCheck.VaultNotAudited} ${BARE_VAULT}`]);
    expect(bare.findings[0]!.fix).toMatch(/KEYTURN_VAULT_RESOURCE_IDS/);
    expect(bare.checks.filter((c) => !c.ran).map((c) => c.check).sort()).toEqual(
      [AuditCheck.VaultSoftDelete, AuditCheck.VaultPurgeProtection, AuditCheck.VaultRbac, AuditCheck.ProviderPlatformManagedKey, AuditCheck.ProviderNotAudited].sort(),
    );
  });

  it("formats a table, and renders a self-contained, escaped HTML report with the timeline", () => {
    const table = formatAuditTable(report);
    expect(table).toMatch(/15 findings \(4 high, 6 medium, 4 low, 1 info\)/);
    expect(table).toMatch(/HIGH\s+secret-bad-tags\s+secret bad-tags/);
    const html = renderAuditHtml(report);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg id="expiry-timeline"');
    expect(html.match(/<g class="marker">/g)?.length).toBe(report.inventory.length);
    expect(html).not.toMatch(/<script|<link|src="http|href="http|url\(http/i);
    const evil = renderAuditHtml({ ...report, vault: `<img src=x onerror="alert(1)">` });
    expect(evil).not.toContain("<img src=x");
    expect(escapeHtml(`<a href="x">'&`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
  });
});

describe("the audit route and the CLI", () => {
  let host: LocalHost;
  beforeAll(async () => {
    process.env.KEYTURN_VAULTS = `${VAULT}=${kv.url(VAULT)},${BARE_VAULT}=${kv.url(BARE_VAULT)}`;
    process.env.KEYTURN_VAULT_RESOURCE_IDS = vaultId;
    process.env.KEYTURN_CREDENTIAL = "local-emulator";
    process.env.KEYTURN_TLS_CA_FILE = kv.tls.caFile;
    process.env.KEYTURN_ARM_ENDPOINT = arm.url;
    delete process.env.AzureWebJobsStorage;
    host = await startLocalHost({ port: 0, timers: false, log: createLogger({}, () => undefined) });
  });
  afterAll(async () => host?.close());

  it("GET /api/vaults/{vault}/audit answers the report as JSON, or as HTML with format=html", async () => {
    const res = await fetch(`${host.url}/api/vaults/${VAULT}/audit?within=30d`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as AuditReport;
    expect(body.findings.map((f) => `${f.check} ${f.name}`).sort()).toEqual(report.findings.map((f) => `${f.check} ${f.name}`).sort());
    const html = await fetch(`${host.url}/api/vaults/${VAULT}/audit?format=html`);
    expect(html.status).toBe(200);
    expect(html.headers.get("content-type")).toMatch(/^text\/html/);
    expect(html.headers.get("content-security-policy")).toMatch(/default-src 'none'/);
    expect(await html.text()).toContain('<svg id="expiry-timeline"');
    // A wider window lists more certificates as expiring (healthy-cert is 200 days out).
    const wide = (await (await fetch(`${host.url}/api/vaults/${VAULT}/audit?within=250d`)).json()) as AuditReport;
    expect(wide.findings.some((f) => f.check === AuditCheck.CertificateExpiring && f.name === "healthy-cert")).toBe(true);
    for (const [path, status] of [
      [`/api/vaults/${VAULT}/audit?format=pdf`, 400],
      [`/api/vaults/${VAULT}/audit?within=soon`, 400],
      [`/api/vaults/not-listed/audit`, 404],
    ] as const) {
      const r = await fetch(`${host.url}${path}`);
      expect(r.status, path).toBe(status);
      expect(r.headers.get("content-type")).toBe("application/problem+json");
    }
    expect((await fetch(`${host.url}/api/vaults/${VAULT}/audit`, { method: "POST" })).status).toBe(405);
  });

  it("keyturn audit prints the table, --json the report, and --html writes the page", async () => {
    const { main } = await import("../../cli/main.js");
    /** One CLI run with stdout captured (stderr silenced). */
    const run = async (args: string[]) => {
      const out: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      const errWrite = process.stderr.write.bind(process.stderr);
      process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true));
      process.stderr.write = (() => true);
      try {
        return { code: await main(args), out: out.join("") };
      } finally {
        process.stdout.write = write;
        process.stderr.write = errWrite;
      }
    };
    const table = await run(["audit", VAULT]);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/audit of vault audit-kv/);
    expect(table.out).toMatch(/HIGH\s+secret-expired\s+secret expired/);
    const json = await run(["audit", VAULT, "--json", "--within", "30d"]);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.out) as AuditReport).counts.findings).toBe(15);
    const dir = mkdtempSync(join(tmpdir(), "keyturn-audit-"));
    const html = await run(["audit", VAULT, "--html", join(dir, "report.html"), "-q"]);
    expect(html.code).toBe(0);
    expect(readFileSync(join(dir, "report.html"), "utf8")).toContain('<svg id="expiry-timeline"');
    expect((await run(["audit", VAULT, "--fail-on", "high", "-q"])).code).toBe(1);
    expect((await run(["audit", BARE_VAULT, "--fail-on", "medium", "-q"])).code).toBe(0); // only an info finding
    expect((await run(["audit"])).code).toBe(2);
    expect((await run(["audit", "not_a_vault!"])).code).toBe(2);
    expect((await run(["audit", VAULT, "--fail-on", "severe"])).code).toBe(2);
    expect((await run(["audit", "unlisted-kv"])).code).toBe(3);
    expect((await run(["help", "audit"])).out).toMatch(/usage: keyturn audit <vault>/);
  });
});
