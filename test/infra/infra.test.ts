// Checks of infra/ that a text reader can make, since no Bicep compiler can be installed
// here: role GUIDs against Microsoft's built-in roles, app settings against
// local.settings.sample.json, subscribed event types against the code, no secrets in
// templates, role assignments on single resources, and Bicep well-formedness (brackets,
// module paths and parameters, used params and vars, descriptions, known API versions).
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { blockOf, bracketProblems, declarations, listFiles, mask, matchingClose, modules, objectKeys, params, read, resources, usesIdentifier } from "./bicep.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const infra = join(root, "infra");
const bicepFiles = listFiles(infra, (p) => p.endsWith(".bicep"));
const jsonFiles = listFiles(infra, (p) => p.endsWith(".json"));
const rel = (p: string) => relative(root, p);
const mainBicep = read(join(infra, "main.bicep"));
const typesBicep = read(join(infra, "modules/types.bicep"));
const functionAppBicep = read(join(infra, "modules/function-app.bicep"));
const vaultEventsBicep = read(join(infra, "modules/vault-events.bicep"));
const roleAssignmentBicep = read(join(infra, "modules/role-assignment.bicep"));

// ---------------------------------------------------------------------------------------
// Microsoft's built-in roles that keyturn may assign: name -> role definition ID (GUID).
// Each checked against the role's JSON ("name" and "id") in the built-in roles reference,
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles, on the page
// given with it (source: MicrosoftDocs/azure-docs, articles/role-based-access-control/built-in-roles/*.md).
// ---------------------------------------------------------------------------------------
const BUILT_IN_ROLES: Readonly<Record<string, string>> = {
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-blob-data-owner
  "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-blob-data-contributor
  "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/integration#eventgrid-data-sender
  "EventGrid Data Sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/monitor#monitoring-metrics-publisher
  "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
  // NOT found in the copy of Microsoft's reference available here. Source: the role's raw
  // definition JSON as mirrored by https://azure-rbac-catalog.org/roles/09976791-48a7-449e-bb21-39d1a415f350
  // (and Microsoft Q&A answers naming the role for ACS e-mail). Used only with deployEmail.
  "Communication and Email Service Owner": "09976791-48a7-449e-bb21-39d1a415f350",
};

// Roles the design calls for, by what they are for (docs/access-model.md explains each).
const REQUIRED_ROLES = [
  "EventGrid Data Sender",
  "Storage Blob Data Owner",
  "Storage Blob Data Contributor",
  "Monitoring Metrics Publisher",
  "Communication and Email Service Owner",
] as const;

// ---------------------------------------------------------------------------------------
// Resource API versions in use, each seen in the Bicep type definitions
// (Azure/bicep-types-az, generated/<provider>/<namespace>/<version>/types.md).
// ---------------------------------------------------------------------------------------
const KNOWN_API_VERSIONS: Readonly<Record<string, readonly string[]>> = {
  "Microsoft.Resources/resourceGroups": ["2024-03-01"],
  "Microsoft.ManagedIdentity/userAssignedIdentities": ["2023-01-31"],
  "Microsoft.Storage/storageAccounts": ["2023-05-01"],
  "Microsoft.Storage/storageAccounts/blobServices": ["2023-05-01"],
  "Microsoft.Storage/storageAccounts/blobServices/containers": ["2023-05-01"],
  "Microsoft.OperationalInsights/workspaces": ["2023-09-01"],
  "Microsoft.Insights/components": ["2020-02-02"],
  "Microsoft.Web/serverfarms": ["2024-04-01"],
  "Microsoft.Web/sites": ["2024-04-01"],
  "Microsoft.Web/sites/config": ["2024-04-01"],
  "Microsoft.Web/sites/basicPublishingCredentialsPolicies": ["2024-04-01"],
  "Microsoft.EventGrid/topics": ["2025-02-15"],
  "Microsoft.EventGrid/systemTopics": ["2025-02-15"],
  "Microsoft.EventGrid/systemTopics/eventSubscriptions": ["2025-02-15"],
  "Microsoft.Communication/emailServices": ["2023-04-01"],
  "Microsoft.Communication/emailServices/domains": ["2023-04-01"],
  "Microsoft.Communication/communicationServices": ["2023-04-01"],
  "Microsoft.Authorization/roleAssignments": ["2022-04-01"],
  "Microsoft.Authorization/roleDefinitions": ["2022-04-01"],
  "Microsoft.Insights/actionGroups": ["2023-01-01"],
  "Microsoft.Insights/scheduledQueryRules": ["2023-03-15-preview"],
  "Microsoft.Insights/metricAlerts": ["2018-03-01"],
  // Microsoft Graph Bicep extension (infra/bicepconfig.json), not ARM.
  "Microsoft.Graph/applications": ["v1.0"],
  "Microsoft.Graph/servicePrincipals": ["v1.0"],
  "Microsoft.App/containerApps": ["2025-01-01"],
  "Microsoft.KeyVault/vaults": ["2023-07-01"],
  "Microsoft.Sql/servers": ["2021-11-01"],
  "Microsoft.DocumentDB/databaseAccounts": ["2024-11-15"],
  "Microsoft.DBforPostgreSQL/flexibleServers": ["2024-08-01"],
  // The access-key family's scopes: the stable versions its descriptors call.
  "Microsoft.CognitiveServices/accounts": ["2024-10-01"],
  "Microsoft.ServiceBus/namespaces": ["2021-11-01"],
  "Microsoft.EventHub/namespaces": ["2024-01-01"],
  "Microsoft.Cache/redis": ["2024-11-01"],
  "Microsoft.Search/searchServices": ["2025-05-01"],
  "Microsoft.AppConfiguration/configurationStores": ["2024-06-01"],
  "Microsoft.EventGrid/domains": ["2025-02-15"],
  "Microsoft.ContainerRegistry/registries": ["2023-07-01"],
};

// Settings of local.settings.sample.json that a Flex Consumption app does not take as app
// settings, because the platform sets them elsewhere. Each is verified where it does live.
// https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
const FLEX_SETTINGS_ELSEWHERE: Readonly<Record<string, string>> = {
  // The worker runtime is functionAppConfig.runtime.name on Flex Consumption.
  FUNCTIONS_WORKER_RUNTIME: "functionAppConfig.runtime.name",
};

// App settings Flex Consumption rejects or ignores: none may be set.
const FLEX_DEPRECATED_SETTINGS = [
  "FUNCTIONS_WORKER_RUNTIME",
  "FUNCTIONS_EXTENSION_VERSION",
  "FUNCTIONS_WORKER_RUNTIME_VERSION",
  "WEBSITE_RUN_FROM_PACKAGE",
  "WEBSITE_CONTENTSHARE",
  "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
  "WEBSITE_NODE_DEFAULT_VERSION",
  "SCM_DO_BUILD_DURING_DEPLOYMENT",
  "ENABLE_ORYX_BUILD",
];

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

function appSettingNames(): { names: string[]; text: string } {
  const decl = declarations(functionAppBicep).find((d) => d.kind === "resource" && /'appsettings'/.test(d.text));
  if (!decl) throw new Error("function-app.bicep has no `appsettings` config resource");
  // properties: union(additionalAppSettings, { ...keyturn settings... })
  const masked = mask(decl.text);
  const unionAt = masked.indexOf("union(");
  const objectAt = masked.indexOf("{", unionAt);
  expect(unionAt, "appsettings are built with union(additionalAppSettings, {...})").toBeGreaterThan(0);
  return { names: objectKeys(decl.text, objectAt), text: decl.text };
}

function bicepStringList(src: string, varName: string): string[] {
  const decl = declarations(src).find((d) => d.kind === "var" && d.name === varName);
  if (!decl) throw new Error(`no var ${varName}`);
  return [...decl.text.matchAll(/'([^']+)'/g)].map((m) => m[1] ?? "");
}

/** HandledEventTypes from core/events.ts: imported, or read from its text if it cannot load. */
async function handledEventTypesFromCode(): Promise<{ types: string[]; how: string }> {
  const file = join(root, "core/events.ts");
  if (!existsSync(file)) throw new Error("core/events.ts does not exist: the engine must export HandledEventTypes from it (see issue 8)");
  try {
    const mod = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as { HandledEventTypes?: readonly string[] };
    if (!Array.isArray(mod.HandledEventTypes)) throw new Error("core/events.ts does not export HandledEventTypes as an array");
    return { types: [...mod.HandledEventTypes], how: "import" };
  } catch (error) {
    // The module may fail to load for reasons unrelated to this check; read the list instead.
    const text = read(file);
    const list = /export\s+const\s+HandledEventTypes\s*=\s*\[([\s\S]*?)\]\s*as\s+const/.exec(text);
    if (!list) throw new Error(`core/events.ts neither loads (${String(error)}) nor declares \`export const HandledEventTypes = [...] as const\``);
    const constants = new Map<string, string>();
    for (const m of text.matchAll(/^\s*(\w+)\s*:\s*"(Microsoft\.KeyVault\.[A-Za-z]+)"/gm)) constants.set(m[1] ?? "", m[2] ?? "");
    const types = (list[1] ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((item) => {
        const literal = /^"([^"]+)"$/.exec(item);
        if (literal) return literal[1] ?? "";
        const ref = /^\w+\.(\w+)$/.exec(item);
        const value = ref ? constants.get(ref[1] ?? "") : undefined;
        if (!value) throw new Error(`cannot resolve ${item} in core/events.ts HandledEventTypes`);
        return value;
      });
    return { types, how: "text" };
  }
}

describe("built-in role GUIDs", () => {
  it("every GUID in infra/ is a built-in role from the table", () => {
    const known = new Set(Object.values(BUILT_IN_ROLES));
    const unknown: string[] = [];
    let seen = 0;
    for (const file of [...bicepFiles, ...jsonFiles]) {
      for (const m of read(file).matchAll(GUID)) {
        seen++;
        if (!known.has(m[0].toLowerCase())) unknown.push(`${rel(file)}: ${m[0]}`);
      }
    }
    expect(unknown).toEqual([]);
    expect(seen).toBeGreaterThanOrEqual(Object.keys(BUILT_IN_ROLES).length);
  });

  it("the role table in types.bicep maps each name to its GUID, and lists every role of the table", () => {
    const decl = declarations(typesBicep).find((d) => d.kind === "var" && d.name === "builtInRoleIds");
    expect(decl, "types.bicep exports builtInRoleIds").toBeDefined();
    expect(decl!.decorators).toContain("@export()");
    const entries = [...decl!.text.matchAll(/^\s*(?:'([^']+)'|([A-Za-z]\w*))\s*:\s*'([^']+)'/gm)].map((m) => [m[1] ?? m[2] ?? "", m[3] ?? ""] as const);
    expect(entries.length).toBeGreaterThan(0);
    for (const [name, guid] of entries) {
      expect(BUILT_IN_ROLES[name], `${name} is a known built-in role`).toBeDefined();
      expect(guid, `${name}`).toBe(BUILT_IN_ROLES[name]);
    }
    expect(entries.map(([n]) => n).sort()).toEqual(Object.keys(BUILT_IN_ROLES).sort());
  });

  it("every role referenced by name exists in the table, and the required ones are all used", () => {
    const referenced = new Set<string>();
    for (const file of bicepFiles) {
      const src = read(file);
      for (const m of src.matchAll(/builtInRoleIds\[\s*'([^']+)'\s*\]/g)) referenced.add(m[1] ?? "");
      for (const m of mask(src).matchAll(/builtInRoleIds\.([A-Za-z]\w*)/g)) referenced.add(m[1] ?? "");
    }
    for (const name of referenced) expect(BUILT_IN_ROLES[name], `role '${name}' is in the table`).toBeDefined();
    expect([...referenced].sort()).toEqual([...REQUIRED_ROLES].sort());
  });

  it("certificate and key roles are granted only on vaults that opt in", () => {
    expect(mainBicep).toMatch(/map\(filter\(allVaults, v => v\.\?certificates \?\? false\)[\s\S]*?customRoleIds\['vault-certificates'\]/);
    expect(mainBicep).toMatch(/map\(filter\(allVaults, v => v\.\?keys \?\? false\)[\s\S]*?customRoleIds\['vault-keys'\]/);
  });
});

describe("app settings", () => {
  const sample = JSON.parse(read(join(root, "local.settings.sample.json"))) as { Values: Record<string, string> };
  const { names, text } = appSettingNames();

  it("sets every setting of local.settings.sample.json on the function app (Flex exceptions where they live)", () => {
    const sampleNames = Object.keys(sample.Values);
    expect(sampleNames.length).toBeGreaterThan(0);
    const missing = sampleNames.filter((name) => {
      if (names.includes(name)) return false;
      // Identity-based connections are set as <name>__<property> (AzureWebJobsStorage__accountName).
      if (names.some((n) => n.startsWith(`${name}__`))) return false;
      if (FLEX_SETTINGS_ELSEWHERE[name]) return false;
      return true;
    });
    expect(missing, "settings missing from infra/modules/function-app.bicep appsettings").toEqual([]);
  });

  it("sets the Flex exceptions where Flex Consumption takes them", () => {
    // FUNCTIONS_WORKER_RUNTIME=node locally is functionAppConfig.runtime.name = 'node'.
    expect(sample.Values.FUNCTIONS_WORKER_RUNTIME).toBe("node");
    const runtime = blockOf(functionAppBicep, "runtime");
    expect(runtime).toBeGreaterThan(0);
    const block = functionAppBicep.slice(runtime, matchingClose(mask(functionAppBicep), runtime));
    expect(block).toMatch(/name:\s*'node'/);
    expect(block).toMatch(/version:\s*nodeVersion/);
    expect(functionAppBicep).toMatch(/param nodeVersion string = '22'/);
  });

  it("sets no app setting that Flex Consumption deprecates", () => {
    for (const name of FLEX_DEPRECATED_SETTINGS) expect(names, name).not.toContain(name);
  });

  it("connects host storage through the identity, never a connection string", () => {
    expect(names).not.toContain("AzureWebJobsStorage");
    expect(text).toMatch(/AzureWebJobsStorage__accountName:/);
    expect(text).toMatch(/AzureWebJobsStorage__credential:\s*'managedidentity'/);
    expect(text).toMatch(/AzureWebJobsStorage__clientId:\s*identityClientId/);
    expect(text).toMatch(/AZURE_CLIENT_ID:\s*identityClientId/);
    expect(text).toMatch(/APPLICATIONINSIGHTS_AUTHENTICATION_STRING:\s*'ClientId=\$\{identityClientId\};Authorization=AAD'/);
    expect(text).toMatch(/KEYTURN_CREDENTIAL:\s*'default'/);
  });

  it("points the engine's locks at the container keyturn holds a role on", () => {
    const lockContainer = /var lockContainerName = '([^']+)'/.exec(mainBicep)?.[1];
    expect(lockContainer).toBeDefined();
    expect(text).toMatch(/KEYTURN_LOCK_CONTAINER:\s*lockContainerName/);
    expect(mainBicep).toMatch(/lockContainerName: storage\.outputs\.lockContainerName/);
    expect(mainBicep).toMatch(/name: '\$\{storageAccountName\}\/\$\{lockContainerName\}'/);
    // The sample's value (the engine's default) is the container the template creates.
    if (sample.Values.KEYTURN_LOCK_CONTAINER !== undefined) expect(sample.Values.KEYTURN_LOCK_CONTAINER).toBe(lockContainer);
  });

  it("requires app roles exactly when App Service Authentication is configured", () => {
    // Without the authentication module anyone with a function key could forge the
    // x-ms-client-principal header the role check reads (core/auth.ts).
    expect(text).toMatch(/KEYTURN_REQUIRE_APP_ROLES:\s*empty\(apiAuthClientId\) \? 'false' : 'true'/);
    expect(functionAppBicep).toMatch(/resource authSettings '[^']+' = if \(!empty\(apiAuthClientId\)\)/);
    expect(functionAppBicep).toMatch(/requireAuthentication:\s*true/);
    expect(functionAppBicep).toMatch(/unauthenticatedClientAction:\s*'Return401'/);
  });

  it("sets credentials only as Key Vault references, and e-mail settings together", () => {
    expect(text).toMatch(/KEYTURN_NOTIFY_WEBHOOK_URL:\s*empty\(notifyWebhookSecretUri\) \? '' : '@Microsoft\.KeyVault\(SecretUri=\$\{notifyWebhookSecretUri\}\)'/);
    expect(functionAppBicep).toMatch(/keyVaultReferenceIdentity:\s*identityResourceId/);
    expect(mainBicep).toMatch(/emailEndpoint: deployEmail \? email\.outputs\.endpoint : ''/);
    expect(mainBicep).toMatch(/emailSender: deployEmail \? email\.outputs\.senderAddress : ''/);
  });

  it("lets exactly the route table's anonymous routes and the Event Grid webhook past App Service Authentication", () => {
    const routesText = read(join(root, "functions/routes.ts"));
    const anonymous = [...routesText.matchAll(/route:\s*"([^"]+)",\s*authLevel:\s*"anonymous"/g)].map((m) => `/api/${m[1]}`);
    const excludedAt = blockOf(functionAppBicep, "globalValidation");
    const excluded = [...functionAppBicep.slice(excludedAt, matchingClose(mask(functionAppBicep), excludedAt)).matchAll(/'(\/[^']*)'/g)].map((m) => m[1]);
    expect([...excluded].sort()).toEqual(["/runtime/webhooks/eventgrid", ...anonymous].sort());
  });

  it("keyturn's own settings win over additionalAppSettings", () => {
    expect(text).toMatch(/union\(additionalAppSettings,\s*\{/);
  });
});

describe("Event Grid subscription", () => {
  it("subscribes exactly the event types the code handles", async () => {
    const { types } = await handledEventTypesFromCode();
    expect(types.length).toBeGreaterThan(0);
    const subscribed = bicepStringList(mainBicep, "handledEventTypes");
    expect([...subscribed].sort()).toEqual([...types].sort());
  });

  it("passes that list to every vault's subscription filter", () => {
    const call = modules(mainBicep).find((m) => m.path === "modules/vault-events.bicep");
    expect(call?.text).toMatch(/includedEventTypes:\s*handledEventTypes/);
    expect(vaultEventsBicep).toMatch(/filter:\s*\{\s*includedEventTypes:\s*includedEventTypes\s*\}/);
  });

  it("delivers to the function's Event Grid trigger, which the route table registers", async () => {
    const routesFile = join(root, "functions/routes.ts");
    expect(existsSync(routesFile), "functions/routes.ts").toBe(true);
    const eventRoutes = [...read(routesFile).matchAll(/name:\s*"(\w+)",\s*trigger:\s*"eventGrid"/g)].map((m) => m[1]);
    const defaultName = /param eventFunctionName string = '(\w+)'/.exec(mainBicep)?.[1];
    expect(eventRoutes).toContain(defaultName);
    expect(mainBicep).toMatch(/functionResourceId:\s*'\$\{functionApp\.outputs\.resourceId\}\/functions\/\$\{eventFunctionName\}'/);
    expect(vaultEventsBicep).toMatch(/endpointType:\s*'AzureFunction'/);
    expect(vaultEventsBicep).toMatch(/topicType:\s*'Microsoft\.KeyVault\.vaults'/);
  });

  it("retries, then dead-letters to blob storage with the system topic's identity", () => {
    expect(vaultEventsBicep).toMatch(/retryPolicy:\s*\{\s*maxDeliveryAttempts:\s*maxDeliveryAttempts\s*eventTimeToLiveInMinutes:\s*eventTimeToLiveInMinutes\s*\}/);
    expect(vaultEventsBicep).toMatch(/deadLetterWithResourceIdentity:\s*\{\s*identity:\s*\{\s*type:\s*'UserAssigned'/);
    expect(vaultEventsBicep).toMatch(/endpointType:\s*'StorageBlob'/);
    // The topic's identity is the dead-letter identity, not keyturn's.
    expect(vaultEventsBicep).toMatch(/userAssignedIdentities:\s*\{\s*'\$\{deadLetterIdentityResourceId\}':\s*\{\}/);
    expect(mainBicep).toMatch(/deadLetterIdentityResourceId:\s*deadLetterIdentity\.outputs\.resourceId/);
  });

  it("publishes notifications to a CloudEvents topic with local auth off", () => {
    const topic = read(join(infra, "modules/notification-topic.bicep"));
    expect(topic).toMatch(/inputSchema:\s*'CloudEventSchemaV1_0'/);
    expect(topic).toMatch(/disableLocalAuth:\s*true/);
  });
});

describe("no secrets in templates or parameter files", () => {
  const FORBIDDEN: readonly [RegExp, string][] = [
    [/\blist(Keys|ConnectionStrings|Credentials?|AccountSas|ServiceSas|Secrets)\s*\(/i, "list*() call that returns a secret"],
    [/\.list\w*\(/, "list*() method on a resource"],
    [/AccountKey\s*=/i, "storage account key"],
    [/SharedAccessKey\s*=/i, "shared access key"],
    [/SharedAccessSignature|[?&]sig=/i, "SAS token"],
    [/DefaultEndpointsProtocol\s*=/i, "storage connection string"],
    [/\bPassword\s*=/i, "password in a connection string"],
    [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "private key"],
    [/'[A-Za-z0-9+/]{40,}={0,2}'/, "long base64 literal (a key?)"],
  ];

  it("has no secret-returning calls, keys or connection strings", () => {
    const hits: string[] = [];
    for (const file of [...bicepFiles, ...jsonFiles]) {
      const src = read(file);
      for (const [re, what] of FORBIDDEN) if (re.test(src)) hits.push(`${rel(file)}: ${what}`);
    }
    expect(hits).toEqual([]);
  });

  it("has no @secure() parameter with a default value", () => {
    const bad: string[] = [];
    for (const file of bicepFiles) {
      for (const p of params(read(file))) if (/@secure\(\)/.test(p.decorators) && p.hasDefault) bad.push(`${rel(file)}: ${p.name}`);
    }
    expect(bad).toEqual([]);
  });

  it("has no output that carries a secret", () => {
    const bad: string[] = [];
    for (const file of bicepFiles) {
      for (const d of declarations(read(file)).filter((x) => x.kind === "output")) {
        const name = d.name.toLowerCase();
        if (/secret|password|connectionstring|accountkey|sastoken|token$|keys?$/.test(name) || /@secure\(\)/.test(d.decorators)) bad.push(`${rel(file)}: ${d.name}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("puts no secret-looking value in the parameters file", () => {
    const parameters = JSON.parse(read(join(infra, "main.parameters.json"))) as { parameters: Record<string, { value?: unknown; reference?: unknown }> };
    const bad: string[] = [];
    const visit = (path: string, value: unknown) => {
      if (typeof value === "string") {
        if (/(password|secret|key|token)$/i.test(path) && value !== "" && !/^\$\{[A-Z0-9_]+(=[^}]*)?\}$/.test(value)) bad.push(path);
        if (/^[A-Za-z0-9+/]{40,}={0,2}$/.test(value)) bad.push(path);
      } else if (Array.isArray(value)) value.forEach((v, i) => visit(`${path}[${i}]`, v));
      else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) visit(`${path}.${k}`, v);
    };
    for (const [name, p] of Object.entries(parameters.parameters)) visit(name, p.value);
    expect(bad).toEqual([]);
  });
});

describe("role assignments", () => {
  it("are all made in one module, from one list", () => {
    const files = bicepFiles.filter((f) => resources(read(f)).some((r) => r.type === "Microsoft.Authorization/roleAssignments"));
    expect(files.map(rel)).toEqual(["infra/modules/role-assignment.bicep"]);
    const callers = bicepFiles.filter((f) => modules(read(f)).some((m) => m.path.endsWith("role-assignment.bicep")));
    expect(callers.map(rel)).toEqual(["infra/modules/role-assignments.bicep"]);
    const listCalls = modules(mainBicep).filter((m) => m.path === "modules/role-assignments.bicep");
    expect(listCalls).toHaveLength(1);
    expect(listCalls[0]?.text).toMatch(/assignments:\s*roleAssignments/);
  });

  it("are each scoped to one existing resource, named guid(scope.id, principalId, roleId), for a service principal", () => {
    const all = resources(roleAssignmentBicep);
    const byName = new Map(all.map((r) => [r.name, r]));
    const assignments = all.filter((r) => r.type === "Microsoft.Authorization/roleAssignments");
    expect(assignments.length).toBeGreaterThan(0);
    for (const a of assignments) {
      const scope = /^\s*scope:\s*(\w+)\s*$/m.exec(a.text)?.[1];
      expect(scope, `${a.name} has a scope`).toBeDefined();
      const target = byName.get(scope!);
      expect(target?.existing, `${a.name}: scope ${scope} is an existing resource`).toBe(true);
      expect(target!.type).not.toMatch(/resourceGroups|subscriptions|managementGroups/i);
      expect(a.text).toMatch(new RegExp(`name:\\s*guid\\(${scope}\\.id,\\s*principalId,\\s*roleDefinitionResourceId\\)`));
      expect(a.text).toMatch(/principalType:\s*'ServicePrincipal'/);
      expect(a.text).not.toMatch(/scope:\s*(subscription|resourceGroup|managementGroup|tenant)\(/);
    }
  });

  it("cover every scope type the list allows, and no scope type is a subscription or resource group", () => {
    const union = declarations(typesBicep).find((d) => d.kind === "type" && d.name === "scopeResourceTypeType");
    const allowed = [...(union?.text ?? "").matchAll(/'([^']+)'/g)].map((m) => m[1] ?? "");
    expect(allowed.length).toBeGreaterThan(0);
    for (const t of allowed) expect(t).toMatch(/^Microsoft\.\w+\/\w+/);
    for (const t of allowed) expect(t).not.toMatch(/resourceGroups|subscriptions/i);
    const all = resources(roleAssignmentBicep);
    const scoped = new Set(
      all
        .filter((r) => r.type === "Microsoft.Authorization/roleAssignments")
        .map((a) => all.find((r) => r.name === /^\s*scope:\s*(\w+)\s*$/m.exec(a.text)?.[1])?.type),
    );
    expect([...scoped].sort()).toEqual([...allowed].sort());
  });

  it("come from one list that names every principal, scope and reason (no subscription- or group-wide scope)", () => {
    const decls = declarations(mainBicep);
    const list = decls.find((d) => d.kind === "var" && d.name === "roleAssignments");
    expect(list).toBeDefined();
    const parts = /concat\(([^)]*)\)/.exec(list!.text)?.[1]?.split(",").map((x) => x.trim()) ?? [];
    expect(parts.length).toBeGreaterThanOrEqual(6);
    const text = parts
      .map((name) => {
        const part = decls.find((d) => d.kind === "var" && d.name === name);
        expect(part, `var ${name}`).toBeDefined();
        return part!.text;
      })
      .join("\n");
    // A literal resource type, or the one the kind's custom role is assigned on (roles.json).
    const scopes = [...text.matchAll(/resourceType:\s*('([^']+)'|k\.resourceType)/g)].map((m) => m[2] ?? m[1]);
    expect(scopes.length).toBeGreaterThanOrEqual(9);
    for (const s of scopes) expect(s).not.toMatch(/resourceGroups|subscriptions/i);
    for (const m of text.matchAll(/principal:\s*'(\w+)'/g)) expect(["keyturn", "eventGridDeadLetter"]).toContain(m[1]);
    expect([...text.matchAll(/principal:\s*'/g)].length).toBe(scopes.length);
    expect([...text.matchAll(/roleDefinitionId:\s*(builtInRoleIds\[|customRoleIds\[)/g)].length).toBe(scopes.length);
    // Every entry says why.
    expect([...text.matchAll(/reason:\s*('|keyturnRoles\[[^\]]+\]\.description|k\.role\.description)/g)].length).toBe(scopes.length);
  });
});

describe("Bicep well-formedness", () => {
  it.each(bicepFiles.map((f) => [rel(f), f]))("%s: strings, comments and brackets are balanced", (_name, file) => {
    expect(bracketProblems(mask(read(file)))).toEqual([]);
  });

  it.each(bicepFiles.map((f) => [rel(f), f]))("%s: module and import paths exist, imported names are exported", (_name, file) => {
    const src = read(file);
    for (const m of modules(src)) {
      if (/^(br|ts)[:/]/.test(m.path)) continue;
      expect(existsSync(join(dirname(file), m.path)), `${m.path}`).toBe(true);
    }
    for (const m of src.matchAll(/^import\s*\{([^}]*)\}\s*from\s*'([^']+)'/gm)) {
      const target = join(dirname(file), m[2] ?? "");
      expect(existsSync(target), `${m[2]}`).toBe(true);
      const exported = declarations(read(target)).filter((d) => d.decorators.includes("@export()"));
      for (const name of (m[1] ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
        expect(exported.map((d) => d.name), `${name} is exported by ${m[2]}`).toContain(name);
      }
    }
  });

  it.each(bicepFiles.map((f) => [rel(f), f]))("%s: module calls pass only known parameters and every required one", (_name, file) => {
    for (const m of modules(read(file))) {
      const callee = params(read(join(dirname(file), m.path)));
      const known = callee.map((p) => p.name);
      for (const key of m.paramKeys) expect(known, `${m.name} passes unknown parameter ${key} to ${m.path}`).toContain(key);
      for (const p of callee.filter((x) => x.required)) expect(m.paramKeys, `${m.name} must pass ${p.name} to ${m.path}`).toContain(p.name);
    }
  });

  it.each(bicepFiles.map((f) => [rel(f), f]))("%s: every param and var is used, every param is described", (_name, file) => {
    const src = read(file);
    const declared = declarations(src).filter((x) => x.kind === "param" || x.kind === "var");
    const unused = declared.filter((d) => !d.decorators.includes("@export()") && !usesIdentifier(src, d.name, d.start));
    expect(unused.map((d) => `${d.kind} ${d.name}`), "every param and var is used").toEqual([]);
    const undescribed = declared.filter((d) => d.kind === "param" && !/@description\(/.test(d.decorators));
    expect(undescribed.map((d) => `param ${d.name}`), "every param has @description").toEqual([]);
  });

  it.each(bicepFiles.map((f) => [rel(f), f]))("%s: resource types use API versions known to exist", (_name, file) => {
    for (const r of resources(read(file))) {
      expect(KNOWN_API_VERSIONS[r.type], `${r.type} is a known type`).toBeDefined();
      expect(KNOWN_API_VERSIONS[r.type], `${r.type}@${r.apiVersion}`).toContain(r.apiVersion);
    }
  });

  it("main.parameters.json names only parameters of main.bicep and gives every required one", () => {
    const parameters = JSON.parse(read(join(infra, "main.parameters.json"))) as { parameters: Record<string, unknown> };
    const declared = params(mainBicep);
    const names = Object.keys(parameters.parameters);
    for (const n of names) expect(declared.map((p) => p.name), n).toContain(n);
    for (const p of declared.filter((x) => x.required)) expect(names, p.name).toContain(p.name);
  });

  it("main.bicep deploys at subscription scope and every other template at resource group scope", () => {
    expect(mainBicep).toMatch(/^targetScope = 'subscription'$/m);
    for (const file of bicepFiles.filter((f) => f !== join(infra, "main.bicep"))) expect(read(file)).not.toMatch(/^targetScope\s*=\s*'(subscription|managementGroup|tenant)'/m);
  });
});

describe("azd", () => {
  const azureYaml = read(join(root, "azure.yaml"));

  it("deploys service keyturn to a function app from the packaged folder", () => {
    expect(azureYaml).toMatch(/^services:\n {2}keyturn:\n/m);
    expect(azureYaml).toMatch(/^ {4}host: function$/m);
    expect(azureYaml).toMatch(/^ {4}language: js$/m);
    expect(azureYaml).toMatch(/^ {4}project: \.$/m);
    expect(azureYaml).toMatch(/^ {4}remoteBuild: false$/m);
    const dist = /^ {4}dist: (\S+)$/m.exec(azureYaml)?.[1];
    // The folder scripts/package.mjs writes by default.
    expect(read(join(root, "scripts/package.mjs"))).toContain(`out: { type: "string", default: "${dist}" }`);
    expect(read(join(infra, "modules/function-app.bicep"))).toMatch(/'azd-service-name': serviceName/);
    expect(mainBicep).toMatch(/serviceName: 'keyturn'/);
  });

  it("runs a postdeploy hook that exists, and the parameter it flips is wired", () => {
    for (const m of azureYaml.matchAll(/run: (?:node )?(\S+)/g)) expect(existsSync(join(root, m[1] ?? "")), m[1]).toBe(true);
    const parameters = read(join(infra, "main.parameters.json"));
    expect(parameters).toContain('"${KEYTURN_SUBSCRIBE_EVENTS=false}"');
    expect(read(join(infra, "hooks/postdeploy.sh"))).toContain("azd env set KEYTURN_SUBSCRIBE_EVENTS true");
  });
});
