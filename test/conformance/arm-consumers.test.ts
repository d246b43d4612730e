// Conformance of the ARM double's consumers (emulators/arm/consumers.ts) for the calls
// core/consumers.ts makes: App Service's Key Vault reference status and refresh, and
// Container Apps' revisions, restart and replicas. Each test names its published example.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSUMER_API_VERSIONS } from "../../core/consumers.js";
import { keyVaultResolver } from "../../emulators/arm/consumers.js";
import { startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { wire } from "./wire.js";

const WEB = "Azure/azure-rest-api-specs specification/web/resource-manager/Microsoft.Web/AppService/stable/2024-04-01/examples";
const APP = "Azure/azure-rest-api-specs specification/app/resource-manager/Microsoft.App/ContainerApps/stable/2025-01-01/examples";
const KV_REFERENCES_DOCS = "learn.microsoft.com app-service-key-vault-references, 'Understand rotation'";
const VAULT = "consumer-conform";

let arm: ArmEmulator;
let kv: KeyVaultEmulator;
const call = (path: string, apiVersion: string, init: Parameters<typeof wire>[2] = {}) => wire(`${arm.url}${path}?api-version=${apiVersion}`, arm.tls.caPem, init);
const web = CONSUMER_API_VERSIONS["microsoft.web"];
const app = CONSUMER_API_VERSIONS["microsoft.app"];

beforeAll(async () => {
  [kv, arm] = await Promise.all([startKeyVaultEmulator({ vaults: [VAULT] }), startArmEmulator()]);
  arm.consumers.resolveSecret = keyVaultResolver([{ name: VAULT, url: kv.url(VAULT) }], kv.tls.caPem);
  kv.seedSecret(VAULT, "conform-secret", "conform-secret-value-0123456789");
});
afterAll(async () => Promise.all([arm?.stop(), kv?.stop()]));

describe("ARM: App Service Key Vault references", () => {
  it(`GET config/configreferences/appsettings lists one ApiKVReference per reference setting, ids under the site (${WEB}/GetKeyVaultReferencesForAppSettings.json)`, async () => {
    const site = arm.consumers.addSite({
      name: "app-conform",
      appSettings: { A: `@Microsoft.KeyVault(VaultName=${VAULT};SecretName=conform-secret)`, B: "@Microsoft.KeyVault(nonsense)", C: "plain" },
    });
    await site.ready;
    const res = await call(`${site.id}/config/configreferences/appsettings`, web);
    expect(res.status).toBe(200);
    expect(res.json.value.map((r: { id: string }) => r.id)).toEqual([`${site.id}/config/configreferences/appsettings/A`, `${site.id}/config/configreferences/appsettings/B`]);
    expect(res.json.value[0].properties).toMatchObject({ vaultName: VAULT, secretName: "conform-secret", status: "Resolved", source: "KeyVault" });
    expect(typeof res.json.value[0].properties.activeVersion).toBe("string");
    // ResolveStatus for a reference that does not parse.
    expect(res.json.value[1].properties.status).toBe("InvalidSyntax");
    expect(res.text).not.toContain("conform-secret-value");
  });

  it(`POST config/configreferences/appsettings/refresh answers 200 and re-resolves (${KV_REFERENCES_DOCS})`, async () => {
    const site = arm.consumers.addSite({ name: "app-conform-refresh", appSettings: { A: `@Microsoft.KeyVault(VaultName=${VAULT};SecretName=conform-secret)` } });
    await site.ready;
    const next = kv.seedSecret(VAULT, "conform-secret", "conform-secret-value-next-0123456789");
    const res = await call(`${site.id}/config/configreferences/appsettings/refresh`, web, { method: "POST" });
    expect(res.status).toBe(200);
    expect(site.references()[0]?.activeVersion).toBe(next.version);
  });

  it("answers ARM's front door as for every provider: 401 without a token, 400 for an unknown api-version, 404 ResourceNotFound (ARM's common error response)", async () => {
    const site = arm.consumers.addSite({ name: "app-conform-errors", appSettings: {} });
    expect((await call(`${site.id}/config/configreferences/appsettings`, web, { token: null })).status).toBe(401);
    expect((await call(`${site.id}/config/configreferences/appsettings`, "2015-01-01")).json.error.code).toBe("InvalidApiVersionParameter");
    const missing = await call(`${site.id.replace("app-conform-errors", "app-nowhere")}/config/configreferences/appsettings`, web);
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("ResourceNotFound");
  });
});

describe("ARM: Container Apps revisions", () => {
  it(`revisions list the active revision; replicas carry createdTime in whole seconds and runningState; restart answers 200 without a body and replaces the replicas (${APP}/Revisions_List.json, Replicas_Get.json, Revisions_Restart.json)`, async () => {
    const ca = arm.consumers.addContainerApp({ name: "conform-app", secrets: [{ name: "s", keyVaultUrl: `${kv.url(VAULT)}/secrets/conform-secret` }], replicas: 2 });
    await ca.ready;
    const got = await call(ca.id, app);
    // GET never returns secret values: a Key Vault secret shows its URL and identity.
    expect(got.json.properties.configuration.secrets).toEqual([{ name: "s", keyVaultUrl: `${kv.url(VAULT)}/secrets/conform-secret`, identity: "system" }]);
    const revisions = await call(`${ca.id}/revisions`, app);
    expect(revisions.json.value).toHaveLength(1);
    const revision = revisions.json.value[0];
    expect(revision).toMatchObject({ type: "Microsoft.App/containerApps/revisions", properties: { active: true, trafficWeight: 100, replicas: 2 } });
    const replicas = await call(`${ca.id}/revisions/${revision.name}/replicas`, app);
    expect(replicas.json.value).toHaveLength(2);
    expect(replicas.json.value[0].properties).toMatchObject({ runningState: "Running" });
    expect(replicas.json.value[0].properties.createdTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const restart = await call(`${ca.id}/revisions/${revision.name}/restart`, app, { method: "POST" });
    expect(restart.status).toBe(200);
    expect(restart.text).toBe("");
    const after = await call(`${ca.id}/revisions/${revision.name}/replicas`, app);
    expect(after.json.value.map((r: { name: string }) => r.name)).not.toContain(replicas.json.value[0].name);
    expect((await call(`${ca.id}/revisions/nope/restart`, app, { method: "POST" })).status).toBe(404);
  });
});
