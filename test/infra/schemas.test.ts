// infra/ checked against Azure's own resource type schemas (test/infra/schemas/, from
// Azure/bicep-types-az: what `az bicep build` compiles against), a security policy, and
// module output references; then single mutations of the real Bicep, each of which the
// checks must catch. A platform team still runs `az bicep build` and `az deployment sub
// what-if` before deploying (docs/access-model.md); these checks stand in for the parts
// of them that need no compiler and no Azure.
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AppRole } from "../../core/auth.js";
import { declarations, listFiles, mask } from "./bicep.js";
import { Schemas, propOf, resourceBodies, type ResourceBody, type Value } from "./schema.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const infra = join(root, "infra");
const schemas = new Schemas(join(root, "test/infra/schemas"));
const sources: ReadonlyMap<string, string> = new Map(listFiles(infra, (p) => p.endsWith(".bicep")).map((f) => [relative(root, f), readFileSync(f, "utf8")]));

const lit = (v: Value | undefined): string | number | boolean | undefined => (v && (v.kind === "string" || v.kind === "number" || v.kind === "bool") ? v.value : undefined);

/** Microsoft Graph extension resources (the API's app registration) are not ARM resources: no schema here. */
const isGraph = (r: ResourceBody) => r.type.startsWith("Microsoft.Graph/");

function bodies(files: ReadonlyMap<string, string>): ResourceBody[] {
  return [...files].flatMap(([file, src]) => resourceBodies(file, src)).filter((r) => !isGraph(r));
}

/**
 * The security settings every deployment must keep, by resource type. Each returns the
 * problems of one deployed (not `existing`) resource.
 */
const POLICY: Readonly<Record<string, (r: ResourceBody) => string[]>> = {
  "Microsoft.Web/sites": (r) => [
    ...(lit(propOf(r.body, "properties", "httpsOnly")) === true ? [] : ["httpsOnly must be true"]),
    ...(["1.2", "1.3"].includes(String(lit(propOf(r.body, "properties", "siteConfig", "minTlsVersion")))) ? [] : ["siteConfig.minTlsVersion must be 1.2 or later"]),
    ...(propOf(r.body, "properties", "siteConfig", "ftpsState") === undefined || lit(propOf(r.body, "properties", "siteConfig", "ftpsState")) === "Disabled" ? [] : ["ftpsState must be Disabled"]),
  ],
  "Microsoft.Web/serverfarms": (r) =>
    lit(propOf(r.body, "sku", "name")) === "FC1" && lit(propOf(r.body, "sku", "tier")) === "FlexConsumption" ? [] : ["the plan must be Flex Consumption (FC1 / FlexConsumption)"],
  "Microsoft.Web/sites/basicPublishingCredentialsPolicies": (r) => (lit(propOf(r.body, "properties", "allow")) === false ? [] : ["basic publishing credentials must be off"]),
  "Microsoft.Web/sites/config": (r) => {
    if (lit(propOf(r.body, "name")) !== "authsettingsV2") return [];
    return [
      ...(lit(propOf(r.body, "properties", "httpSettings", "requireHttps")) === true ? [] : ["authentication must require HTTPS"]),
      ...(lit(propOf(r.body, "properties", "globalValidation", "requireAuthentication")) === true ? [] : ["authentication must be required"]),
      ...(lit(propOf(r.body, "properties", "globalValidation", "unauthenticatedClientAction")) === "Return401" ? [] : ["unauthenticated API calls must get 401"]),
    ];
  },
  "Microsoft.Storage/storageAccounts": (r) => [
    ...(lit(propOf(r.body, "properties", "allowSharedKeyAccess")) === false ? [] : ["allowSharedKeyAccess must be false"]),
    ...(lit(propOf(r.body, "properties", "allowBlobPublicAccess")) === false ? [] : ["allowBlobPublicAccess must be false"]),
    ...(lit(propOf(r.body, "properties", "minimumTlsVersion")) === "TLS1_2" ? [] : ["minimumTlsVersion must be TLS1_2"]),
    ...(lit(propOf(r.body, "properties", "supportsHttpsTrafficOnly")) === true ? [] : ["supportsHttpsTrafficOnly must be true"]),
  ],
  "Microsoft.Insights/components": (r) => (lit(propOf(r.body, "properties", "DisableLocalAuth")) === true ? [] : ["DisableLocalAuth must be true"]),
  "Microsoft.OperationalInsights/workspaces": (r) => (lit(propOf(r.body, "properties", "features", "disableLocalAuth")) === true ? [] : ["features.disableLocalAuth must be true"]),
  "Microsoft.EventGrid/topics": (r) => (lit(propOf(r.body, "properties", "disableLocalAuth")) === true ? [] : ["disableLocalAuth must be true"]),
};

/** Types whose every deployment the policy must see at least once. */
const POLICY_REQUIRED = ["Microsoft.Web/sites", "Microsoft.Web/serverfarms", "Microsoft.Web/sites/basicPublishingCredentialsPolicies", "Microsoft.Storage/storageAccounts", "Microsoft.Insights/components", "Microsoft.OperationalInsights/workspaces", "Microsoft.EventGrid/topics"];

function policyProblems(all: readonly ResourceBody[]): string[] {
  const problems: string[] = [];
  for (const r of all.filter((x) => !x.existing)) for (const p of POLICY[r.type]?.(r) ?? []) problems.push(`${r.file} ${r.symbol}: ${p}`);
  for (const t of POLICY_REQUIRED) if (!all.some((r) => !r.existing && r.type === t)) problems.push(`no ${t} is deployed`);
  const policies = all.filter((r) => !r.existing && r.type === "Microsoft.Web/sites/basicPublishingCredentialsPolicies").map((r) => lit(propOf(r.body, "name")));
  for (const name of ["scm", "ftp"]) if (!policies.includes(name)) problems.push(`basic publishing credentials policy '${name}' is not set`);
  return problems;
}

/** `<module>.outputs.<name>` must name an output of the module's file. */
function outputReferenceProblems(files: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const [file, src] of files) {
    const masked = mask(src);
    const modules = new Map<string, string>();
    for (const m of masked.matchAll(/^module\s+(\w+)\s+'/gm)) {
      const path = /^module\s+\w+\s+'([^']+)'/m.exec(src.slice(m.index))?.[1];
      if (path) modules.set(m[1]!, join(dirname(file), path));
    }
    for (const m of masked.matchAll(/\b(\w+)(?:\[[^\]]*\])?\.outputs\.(\w+)/g)) {
      const target = modules.get(m[1]!);
      if (!target) continue;
      const outputs = declarations(files.get(target) ?? "").filter((d) => d.kind === "output").map((d) => d.name);
      if (!outputs.includes(m[2]!)) problems.push(`${file}: ${m[1]}.outputs.${m[2]} is not an output of ${target}`);
    }
  }
  return problems;
}

function schemaProblems(all: readonly ResourceBody[]): string[] {
  return all.flatMap((r) => schemas.validate(r).map((p) => `${r.file} ${p}`));
}

function allProblems(files: ReadonlyMap<string, string>): string[] {
  const all = bodies(files);
  return [...schemaProblems(all), ...policyProblems(all), ...outputReferenceProblems(files)];
}

describe("every resource in infra/", () => {
  const all = bodies(sources);

  it("that it deploys has a schema for its type and API version", () => {
    expect(all.length).toBeGreaterThan(20);
    expect(all.filter((r) => !r.existing && !schemas.has(r.type, r.apiVersion)).map((r) => `${r.file} ${r.symbol}: ${r.type}@${r.apiVersion}`)).toEqual([]);
  });

  // An `existing` reference only names a resource (role assignment scopes): its body is a
  // name. Types whose schema is not in test/infra/schemas yet are listed here, not checked.
  const unchecked = all.filter((r) => r.existing && !schemas.has(r.type, r.apiVersion));
  it(`references existing resources by name only (${unchecked.length} of types without a schema here: ${[...new Set(unchecked.map((r) => r.type))].join(", ") || "none"})`, () => {
    for (const r of unchecked) expect(r.body.kind === "object" ? r.body.props.map((p) => p.key).filter((k) => k !== "name" && k !== "parent" && k !== "scope") : [], `${r.file} ${r.symbol}`).toEqual([]);
  });

  it.each(all.filter((r) => !r.existing).map((r) => [`${r.file} ${r.symbol} (${r.type})`, r] as const))("%s validates against its schema", (_name, r) => {
    expect(r.body.kind).toBe("object");
    expect(schemas.validate(r)).toEqual([]);
  });

  it("keeps the security policy: HTTPS only, TLS 1.2, no shared keys, no local auth, no basic publishing auth, Flex Consumption", () => {
    expect(policyProblems(all)).toEqual([]);
  });

  it("references only module outputs that exist", () => {
    expect(outputReferenceProblems(sources)).toEqual([]);
  });
});

/**
 * [file, text in it, replacement, what it breaks]: each must make the checks fail. (Enums
 * that the schema leaves open, a union with any string, e.g. the deployment storage type or
 * a role assignment's principalType, are not checkable here, nor by the Bicep compiler.)
 */
const MUTATIONS: ReadonlyArray<readonly [string, string, string, string]> = [
  ["infra/modules/function-app.bicep", "maximumInstanceCount: maximumInstanceCount", "maxInstanceCount: maximumInstanceCount", "misspelt property name"],
  ["infra/modules/function-app.bicep", "instanceMemoryMB: instanceMemoryMB", "instanceMemoryMb: instanceMemoryMB", "property name in the wrong case"],
  ["infra/modules/function-app.bicep", "httpsOnly: true", "httpsOnly: false", "HTTPS only off"],
  ["infra/modules/function-app.bicep", "minTlsVersion: '1.2'", "minTlsVersion: '1.0'", "TLS 1.0"],
  ["infra/modules/function-app.bicep", "minTlsVersion: '1.2'", "minTlsVersion: '1.4'", "enum value that does not exist"],
  ["infra/modules/function-app.bicep", "name: 'FC1'", "name: 'Y1'", "Consumption (Y1) plan"],
  ["infra/modules/function-app.bicep", "tier: 'FlexConsumption'", "tier: 'Dynamic'", "Dynamic tier"],
  ["infra/modules/function-app.bicep", "allow: false", "allow: true", "SCM basic publishing auth on"],
  ["infra/modules/function-app.bicep", "unauthenticatedClientAction: 'Return401'", "unauthenticatedClientAction: 'AllowAnonymous'", "anonymous callers allowed"],
  ["infra/modules/function-app.bicep", "type: 'UserAssigned'", "type: 'Userassigned'", "identity type in the wrong case"],
  ["infra/modules/storage.bicep", "accessTier: 'Hot'", "accessTier: 'Warm'", "access tier that does not exist"],
  ["infra/modules/storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true", "shared keys on"],
  ["infra/modules/storage.bicep", "allowBlobPublicAccess: false", "allowBlobPublicAccess: true", "blob public access on"],
  ["infra/modules/storage.bicep", "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'", "storage TLS 1.0"],
  ["infra/modules/storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: 'false'", "boolean given as a string"],
  ["infra/modules/monitoring.bicep", "DisableLocalAuth: true", "DisableLocalAuth: false", "App Insights local auth on"],
  ["infra/modules/monitoring.bicep", "DisableLocalAuth: true", "disableLocalAuth: true", "property name in the wrong case (App Insights)"],
  ["infra/modules/notification-topic.bicep", "disableLocalAuth: true", "disableLocalAuth: false", "topic access keys on"],
  ["infra/modules/vault-events.bicep", "deadLetterWithResourceIdentity", "deadLetterWithResourceIdentityX", "misspelt dead-letter property"],
  ["infra/modules/vault-events.bicep", "maxDeliveryAttempts: maxDeliveryAttempts", "maxDeliveryAttempt: maxDeliveryAttempts", "misspelt retry property"],
  ["infra/main.bicep", "storage.outputs.deadLetterContainerName", "storage.outputs.deadLetterContainer", "wrong module output reference"],
  ["infra/modules/notification-topic.bicep", "  location: location\n", "", "required property removed (location)"],
  ["infra/modules/storage.bicep", "    accessTier: 'Hot'\n", "    accessTier: 'Hot'\n    creationTime: '2024-01-01T00:00:00Z'\n", "read-only property set"],
];

describe("the API's app registration (Microsoft Graph extension)", () => {
  const graph = [...sources].flatMap(([file, src]) => resourceBodies(file, src)).filter(isGraph);
  const app = graph.find((r) => r.type === "Microsoft.Graph/applications");
  const sp = graph.find((r) => r.type === "Microsoft.Graph/servicePrincipals");

  it("is created by default, and App Service Authentication with it (function keys alone only by opting out)", () => {
    const main = sources.get("infra/main.bicep")!;
    expect(main).toMatch(/^param apiAuthentication string = 'entra'$/m);
    expect(main).toMatch(/module apiApp 'modules\/api-app\.bicep' = if \(apiAuthentication == 'entra' && empty\(apiAuthClientId\)\)/);
    expect(main).toMatch(/apiAuthClientId: effectiveApiClientId/);
    expect(readFileSync(join(infra, "main.parameters.json"), "utf8")).toContain('"${KEYTURN_API_AUTHENTICATION=entra}"');
  });

  it("is single-tenant, declares exactly the app roles the code checks, and requires a role for a token", () => {
    expect(app, "an application").toBeDefined();
    expect(lit(propOf(app!.body, "signInAudience"))).toBe("AzureADMyOrg");
    const src = sources.get(app!.file)!;
    const values = [...src.matchAll(/value: '([^']+)'/g)].map((m) => m[1]);
    expect(values.sort()).toEqual(Object.values(AppRole).sort());
    expect(sp, "a service principal").toBeDefined();
    expect(lit(propOf(sp!.body, "appRoleAssignmentRequired"))).toBe(true);
    expect(src).toMatch(/^extension microsoftGraphV1$/m);
    const config = JSON.parse(readFileSync(join(infra, "bicepconfig.json"), "utf8")) as { extensions?: Record<string, string> };
    expect(config.extensions?.microsoftGraphV1).toMatch(/^br:mcr\.microsoft\.com\/bicep\/extensions\/microsoftgraph\/v1\.0:/);
  });
});

describe("a single mutation of the Bicep", () => {
  it.each(MUTATIONS.map(([file, from, to, what]) => [what, file, from, to] as const))("is caught: %s", (_what, file, from, to) => {
    const src = sources.get(file);
    expect(src, file).toBeDefined();
    expect(src!.includes(from), `${file} contains ${from}`).toBe(true);
    const mutated = new Map(sources);
    mutated.set(file, src!.replace(from, to));
    expect(allProblems(mutated)).not.toEqual([]);
  });
});
