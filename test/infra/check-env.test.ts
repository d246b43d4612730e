// infra/hooks/check-env.mjs, the azd preprovision hook: the azd environment values the
// deployment reads are checked, each problem named, before anything is provisioned; the
// regions come from main.bicep's own @allowed list.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
// @ts-expect-error plain JavaScript hook without type declarations
import { allowedLocations, checkEnv, consumerResourceTypes, targetResourceTypes } from "../../infra/hooks/check-env.mjs";
import { ConsumerAccess } from "../../core/access.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const mainBicep = readFileSync(join(root, "infra/main.bicep"), "utf8");
const check = (env: Record<string, string>) => (checkEnv as (e: Record<string, string>, m: string) => string[])(env, mainBicep);
const good = {
  KEYTURN_VAULT_LIST: "rg-payments/contoso-payments-kv, 00000000-1111-2222-3333-444444444444/rg-shared/contoso-shared-kv+certificates+keys",
  KEYTURN_STORAGE_TARGETS: "rg-payments/contosopaymentsdata",
  KEYTURN_SQL_TARGETS: "rg-orders/sql-orders",
  KEYTURN_ONCALL_EMAIL: "oncall@contoso.com",
  KEYTURN_TARGETS:
    "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-cache/providers/Microsoft.Cache/redis/cache-sessions, /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-bus/providers/Microsoft.ServiceBus/namespaces/sb-orders",
  KEYTURN_CONSUMERS:
    "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-orders/providers/Microsoft.Web/sites/orders-api, /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-orders/providers/Microsoft.App/containerApps/orders-worker/",
  AZURE_LOCATION: "swedencentral",
};
const SUB = "/subscriptions/00000000-1111-2222-3333-444444444444";

describe("the preprovision check of the azd environment", () => {
  it("accepts a complete environment", () => {
    expect(check(good)).toEqual([]);
  });

  it("names each missing required value and how to set it", () => {
    const problems = check({ AZURE_LOCATION: "swedencentral" });
    expect(problems.join("\n")).toContain("KEYTURN_VAULT_LIST is not set: azd env set KEYTURN_VAULT_LIST");
    expect(problems.join("\n")).toContain("KEYTURN_ONCALL_EMAIL is not set");
  });

  it.each([
    [{ KEYTURN_VAULT_LIST: "contoso-kv" }, "is not [<subscription id>/]<resource group>/<Key Vault name>"],
    [{ KEYTURN_VAULT_LIST: "rg/a" }, "is not a Key Vault name (3-24"],
    [{ KEYTURN_VAULT_LIST: "rg/contoso--kv" }, "no consecutive hyphens"],
    [{ KEYTURN_VAULT_LIST: "not-a-guid/rg/contoso-kv" }, "is not a subscription id"],
    [{ KEYTURN_VAULT_LIST: "rg/contoso-kv+secrets" }, "'+secrets' in 'rg/contoso-kv+secrets' is not one of +certificates, +keys"],
    [{ KEYTURN_STORAGE_TARGETS: "rg/Contoso_Data" }, "is not a storage account name"],
    [{ KEYTURN_STORAGE_TARGETS: "rg/contosodata+keys" }, "this list takes no options"],
    [{ KEYTURN_SQL_TARGETS: "rg./sql-orders" }, "is not a resource group name"],
    [{ KEYTURN_ONCALL_EMAIL: "oncall" }, "is not an e-mail address"],
    [{ AZURE_LOCATION: "westindia" }, "'westindia' does not offer Flex Consumption"],
    [{ KEYTURN_TARGETS: "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.Web/sites/app" }, "keyturn rotates nothing of type Microsoft.Web/sites"],
    [{ KEYTURN_TARGETS: "rg/providers/Microsoft.Cache/redis/x" }, "is not a resource ID"],
    [{ KEYTURN_TARGETS: `${SUB}/resourceGroups/rg/providers/Microsoft.App/containerApps/worker` }, "(an app that reads a secret goes in KEYTURN_CONSUMERS)"],
    [{ KEYTURN_CONSUMERS: `${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/data` }, "is of type Microsoft.Storage/storageAccounts, which cannot be a consumer; it takes Microsoft.Web/sites, Microsoft.App/containerApps"],
    [{ KEYTURN_CONSUMERS: `${SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/app/slots/staging` }, "KEYTURN_CONSUMERS: '/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.Web/sites/app/slots/staging' is not a resource ID"],
    [{ KEYTURN_CONSUMERS: "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/sites/app" }, "KEYTURN_CONSUMERS: 'sub' in"],
    [{ KEYTURN_CONSUMERS: `${SUB}/resourceGroups/rg./providers/Microsoft.Web/sites/app` }, "KEYTURN_CONSUMERS: 'rg.' in"],
    [{ KEYTURN_CONSUMERS: `${SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/app name` }, "is not a resource name"],
    [{ KEYTURN_CONSUMERS: "orders-api" }, "KEYTURN_CONSUMERS: 'orders-api' is not a resource ID"],
  ])("refuses %o", (bad, message) => {
    expect(check({ ...good, ...bad }).join("\n")).toContain(message);
  });

  it("reads the regions from main.bicep's location parameter, which azd offers as a location", () => {
    const regions = (allowedLocations as (m: string) => string[])(mainBicep);
    expect(regions).toContain("swedencentral");
    expect(regions.length).toBeGreaterThan(20);
    expect(mainBicep).toMatch(/@metadata\(\{\s*azd: \{\s*type: 'location'/);
  });

  it("takes target resource types from main.bicep's targetKinds, one for each kind with a role", async () => {
    const types = (targetResourceTypes as (m: string) => string[])(mainBicep);
    expect(types).toEqual(expect.arrayContaining(["Microsoft.Storage/storageAccounts", "Microsoft.Cache/redis", "Microsoft.EventGrid/domains"]));
    expect(mainBicep).toMatch(/filter\(idTargets, t => toLower\(t\.type\) == toLower\(k\.resourceType\)\)/);
  });

  it("takes consumer resource types from main.bicep's consumerKinds, which are the consumers' role's (core/access.ts ConsumerAccess)", () => {
    const types = (consumerResourceTypes as (m: string) => string[])(mainBicep);
    expect(types).toEqual([...ConsumerAccess.resourceTypes]);
    expect(mainBicep).toMatch(/filter\(idConsumers, t => toLower\(t\.type\) == toLower\(k\.resourceType\)\)/);
  });

  it("hands KEYTURN_CONSUMERS to the deployment (main.parameters.json consumerIdList)", () => {
    const parameters = JSON.parse(readFileSync(join(root, "infra/main.parameters.json"), "utf8")) as { parameters: Record<string, { value: unknown }> };
    expect(parameters.parameters.consumerIdList?.value).toBe("${KEYTURN_CONSUMERS}");
    expect(mainBicep).toMatch(/^param consumerIdList string = ''$/m);
  });

  it("runs before every provision (azure.yaml preprovision hook)", () => {
    expect(readFileSync(join(root, "azure.yaml"), "utf8")).toMatch(/preprovision:\n {4}posix:\n {6}shell: sh\n {6}run: node \.\/infra\/hooks\/check-env\.mjs/);
  });
});
