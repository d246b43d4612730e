#!/usr/bin/env node
// azd preprovision hook: checks the azd environment values the deployment reads
// (infra/main.parameters.json) before anything is provisioned, and says exactly what is
// wrong. azd passes its environment to hooks as environment variables; set them with
// `azd env set NAME VALUE`:
//
//   KEYTURN_VAULT_LIST        required: [<subscription id>/]<resource group>/<vault>[+certificates][+keys], ...
//   KEYTURN_STORAGE_TARGETS   optional: [<subscription id>/]<resource group>/<storage account>, ...
//   KEYTURN_SQL_TARGETS       optional: the same, Azure SQL logical servers
//   KEYTURN_COSMOS_TARGETS    optional: the same, Cosmos DB accounts
//   KEYTURN_POSTGRES_TARGETS  optional: the same, PostgreSQL flexible servers
//   KEYTURN_TARGETS           optional: full resource IDs of targets of any kind keyturn
//                             rotates (main.bicep's targetKinds resource types), comma-separated
//   KEYTURN_CONSUMERS         optional: full resource IDs of the apps secrets' Consumers tags
//                             name (main.bicep's consumerKinds: App Service / Function apps,
//                             Container Apps), comma-separated; each gets keyturn Consumer Refresh
//   KEYTURN_ONCALL_EMAIL      required: where alerts go
//   AZURE_LOCATION            a region that offers Flex Consumption (main.bicep's `location` list)
//
// Name rules: Azure's naming rules for each resource type
// (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules).
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Resource group: 1-90 letters, digits, underscores, hyphens, periods, parentheses; not ending in a period.
const RESOURCE_GROUP = /^[-\w.()]{0,89}[-\w()]$/u;

/** Name rules per list, by what the list holds. */
const NAME_RULES = {
  vault: { what: "Key Vault name", re: /^(?!.*--)[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/, rule: "3-24 letters, digits and hyphens, starting with a letter, no consecutive hyphens" },
  storage: { what: "storage account name", re: /^[a-z0-9]{3,24}$/, rule: "3-24 lowercase letters and digits" },
  sql: { what: "SQL server name", re: /^(?!-)[a-z0-9-]{1,63}(?<!-)$/, rule: "1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen" },
  cosmos: { what: "Cosmos DB account name", re: /^(?!-)[a-z0-9-]{3,44}(?<!-)$/, rule: "3-44 lowercase letters, digits and hyphens, not starting or ending with a hyphen" },
  postgres: { what: "PostgreSQL flexible server name", re: /^(?!-)[a-z0-9-]{3,63}(?<!-)$/, rule: "3-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen" },
};

export const LISTS = [
  { variable: "KEYTURN_VAULT_LIST", kind: "vault", required: true, flags: ["certificates", "keys"] },
  { variable: "KEYTURN_STORAGE_TARGETS", kind: "storage", required: false, flags: [] },
  { variable: "KEYTURN_SQL_TARGETS", kind: "sql", required: false, flags: [] },
  { variable: "KEYTURN_COSMOS_TARGETS", kind: "cosmos", required: false, flags: [] },
  { variable: "KEYTURN_POSTGRES_TARGETS", kind: "postgres", required: false, flags: [] },
];

/** The regions main.bicep allows for `location` (its @allowed list: one list, read from the template). */
export function allowedLocations(mainBicep) {
  const m = /@allowed\(\[([^\]]*)\]\)\s*@metadata\(\{\s*azd:\s*\{\s*type:\s*'location'/m.exec(mainBicep);
  if (!m) throw new Error("main.bicep has no @allowed list on its location parameter");
  return [...m[1].matchAll(/'([^']+)'/g)].map((x) => x[1]);
}

function checkList({ variable, kind, required, flags }, raw, problems) {
  const entries = (raw ?? "").split(",").map((e) => e.trim()).filter(Boolean);
  if (required && entries.length === 0) problems.push(`${variable} is not set: azd env set ${variable} "<resource group>/<name>[, ...]"`);
  const rule = NAME_RULES[kind];
  for (const entry of entries) {
    const [path, ...given] = entry.split("+");
    const parts = path.split("/");
    if (parts.length < 2 || parts.length > 3) {
      problems.push(`${variable}: '${entry}' is not [<subscription id>/]<resource group>/<${rule.what}>`);
      continue;
    }
    const [sub, rg, name] = parts.length === 3 ? parts : [undefined, ...parts];
    if (sub !== undefined && !GUID.test(sub)) problems.push(`${variable}: '${sub}' in '${entry}' is not a subscription id (a GUID)`);
    if (!RESOURCE_GROUP.test(rg)) problems.push(`${variable}: '${rg}' in '${entry}' is not a resource group name (1-90 letters, digits, _ - . ( ), not ending in a period)`);
    if (!rule.re.test(name)) problems.push(`${variable}: '${name}' in '${entry}' is not a ${rule.what} (${rule.rule})`);
    for (const f of given) if (!flags.includes(f)) problems.push(`${variable}: '+${f}' in '${entry}' is not one of ${flags.length ? flags.map((x) => `+${x}`).join(", ") : "(none: this list takes no options)"}`);
  }
}

function kindTypes(mainBicep, list) {
  const m = new RegExp(`^var ${list} = \\[([\\s\\S]*?)^\\]`, "m").exec(mainBicep);
  if (!m) throw new Error(`main.bicep has no ${list} list`);
  return [...new Set([...m[1].matchAll(/resourceType: '([^']+)'/g)].map((x) => x[1]))];
}

/** The resource types keyturn can be given a rotator's role on (main.bicep targetKinds: one list, read from the template). */
export function targetResourceTypes(mainBicep) {
  return kindTypes(mainBicep, "targetKinds");
}

/** The resource types a consumer can have (main.bicep consumerKinds, read from the template). */
export function consumerResourceTypes(mainBicep) {
  return kindTypes(mainBicep, "consumerKinds");
}

// /subscriptions/<guid>/resourceGroups/<group>/providers/<namespace>/<type>/<name>
const RESOURCE_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+\/[^/]+)\/([^/]+)$/i;

// A resource name in an ID: ARM names hold no '/', and none of these types allows
// characters outside letters, digits, '-', '_' and '.' (resource-name-rules).
const RESOURCE_NAME = /^[A-Za-z0-9][-\w.]{0,62}$/;

function checkResourceIds(variable, raw, types, refusal, problems) {
  for (const id of (raw ?? "").split(",").map((e) => e.trim().replace(/\/+$/, "")).filter(Boolean)) {
    const m = RESOURCE_ID.exec(id);
    if (!m) {
      problems.push(`${variable}: '${id}' is not a resource ID /subscriptions/<id>/resourceGroups/<group>/providers/<namespace>/<type>/<name>`);
      continue;
    }
    if (!GUID.test(m[1])) problems.push(`${variable}: '${m[1]}' in '${id}' is not a subscription id (a GUID)`);
    if (!RESOURCE_GROUP.test(m[2])) problems.push(`${variable}: '${m[2]}' in '${id}' is not a resource group name`);
    if (!RESOURCE_NAME.test(m[4])) problems.push(`${variable}: '${m[4]}' in '${id}' is not a resource name (letters, digits, - _ ., up to 63)`);
    const type = types.find((t) => t.toLowerCase() === m[3].toLowerCase());
    if (!type) problems.push(`${variable}: ${refusal(m[3], id)}; it takes ${types.join(", ")}`);
  }
}

/** Every problem with the environment, as a sentence; empty when it is fit to provision. */
export function checkEnv(env, mainBicep) {
  const problems = [];
  for (const list of LISTS) checkList(list, env[list.variable], problems);
  const consumerTypes = consumerResourceTypes(mainBicep);
  checkResourceIds("KEYTURN_TARGETS", env.KEYTURN_TARGETS, targetResourceTypes(mainBicep), (type, id) => {
    const consumer = consumerTypes.some((t) => t.toLowerCase() === type.toLowerCase());
    return `keyturn rotates nothing of type ${type} ('${id}')${consumer ? " (an app that reads a secret goes in KEYTURN_CONSUMERS)" : ""}`;
  }, problems);
  checkResourceIds("KEYTURN_CONSUMERS", env.KEYTURN_CONSUMERS, consumerTypes, (type, id) => `'${id}' is of type ${type}, which cannot be a consumer`, problems);
  const email = (env.KEYTURN_ONCALL_EMAIL ?? "").trim();
  if (!email) problems.push('KEYTURN_ONCALL_EMAIL is not set: azd env set KEYTURN_ONCALL_EMAIL "oncall@contoso.com" (alerts go there)');
  else if (!/^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$/.test(email)) problems.push(`KEYTURN_ONCALL_EMAIL: '${email}' is not an e-mail address`);
  const location = (env.AZURE_LOCATION ?? "").trim();
  const allowed = allowedLocations(mainBicep);
  if (location && !allowed.includes(location)) problems.push(`AZURE_LOCATION: '${location}' does not offer Flex Consumption; choose one of ${allowed.join(", ")}`);
  return problems;
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const main = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "main.bicep"), "utf8");
  const problems = checkEnv(process.env, main);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`keyturn: ${p}\n`);
    process.exit(1);
  }
  process.stdout.write("keyturn: azd environment checked.\n");
}
