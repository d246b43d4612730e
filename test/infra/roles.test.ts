// keyturn's custom roles against what the code declares (core/access.ts,
// rotators/<kind>/access.ts): the deployed definitions (infra/roles.json, read by
// infra/main.bicep) and the docs table are exactly what scripts/roles.ts derives from the
// declarations; no role grants an operation keyturn never performs; every kind declares
// its access and every kind with a role is assigned on its targets. That the declarations
// cover every call the code makes is test/integration/access.test.ts.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConsumerAccess, KeyVaultDataActions, grantsRole } from "../../core/access.js";
import { parseConsumers } from "../../core/consumers.js";
import { rotators } from "../../rotators/index.js";
import { ACCESS_DOC, CONSUMERS_ROLE_KEY, ROLES_JSON, keyturnRoles, kindAccess, rolesJson, rolesTable, withRolesTable } from "../../scripts/roles.js";
import { declarations, mask } from "./bicep.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const mainBicep = readFileSync(join(root, "infra/main.bicep"), "utf8");
const roles = keyturnRoles();

/**
 * Operations keyturn never performs, whatever the resource: docs/access-model.md says so
 * ("What a compromised keyturn could do"). Matched case-insensitively against each action
 * and data action, and against any wildcard that could cover them.
 */
const FORBIDDEN: ReadonlyArray<[RegExp, string]> = [
  [/\*/, "a wildcard"],
  [/\/delete$/i, "delete"],
  [/\/purge\/action$/i, "purge"],
  [/\/backup\/action$/i, "backup"],
  [/\/restore\/action$/i, "restore"],
  [/\/recover\/action$/i, "recover a deleted object"],
  [/\/(decrypt|encrypt|wrap|unwrap|sign|verify|release)\/action$/i, "a cryptographic operation"],
  [/\/import\/action$/i, "import"],
  [/^Microsoft\.Authorization\//i, "authorization (role assignments or definitions)"],
  [/\/(firewallRules|virtualNetworkRules|administrators|azureADOnlyAuthentications|sqlRoleAssignments|sqlRoleDefinitions|privateEndpointConnections)\//i, "network or identity settings of the resource"],
  [/certificatecontacts|certificatecas\/(write|delete)/i, "certificate contacts or issuers"],
  [/\/listConnectionStrings\/action$/i, "connection strings"],
];

describe("custom role definitions", () => {
  it("infra/roles.json is what `npm run roles` derives from the code's declarations", () => {
    expect(readFileSync(ROLES_JSON, "utf8")).toBe(rolesJson());
  });

  it("the role table of docs/access-model.md is generated from the same declarations", () => {
    const doc = readFileSync(ACCESS_DOC, "utf8");
    expect(doc).toContain(rolesTable());
    expect(withRolesTable(doc)).toBe(doc);
  });

  it("grant nothing keyturn never does (delete, purge, decrypt, unwrap, sign, role assignments, wildcards, ...)", () => {
    const bad: string[] = [];
    for (const r of roles) {
      for (const op of [...r.actions, ...r.dataActions]) for (const [re, what] of FORBIDDEN) if (re.test(op)) bad.push(`${r.roleName}: ${op} (${what})`);
    }
    expect(bad).toEqual([]);
  });

  it("include the consumers' role, generated from core/access.ts ConsumerAccess like every other", () => {
    const consumers = roles.find((r) => r.key === CONSUMERS_ROLE_KEY);
    expect(consumers).toMatchObject({ roleName: ConsumerAccess.roleName, assignedOn: [...ConsumerAccess.resourceTypes], dataActions: [] });
    expect([...consumers!.actions].sort()).toEqual([...ConsumerAccess.actions].sort());
    // The Consumers tag accepts exactly the resource types the role is assigned on.
    const site = `/subscriptions/${"0".repeat(8)}-0000-0000-0000-${"0".repeat(12)}/resourceGroups/rg/providers`;
    expect(parseConsumers({ Consumers: ConsumerAccess.resourceTypes.map((t) => `${site}/${t}/app`).join(",") }).length).toBe(ConsumerAccess.resourceTypes.length);
  });

  it("keep each role within the resource provider it is assigned on", () => {
    for (const r of roles) {
      const providers = r.assignedOn.map((t) => t.split("/")[0]!.toLowerCase());
      for (const op of [...r.actions, ...r.dataActions]) expect(providers.some((p) => op.toLowerCase().startsWith(`${p}/`)), `${r.roleName}: ${op}`).toBe(true);
    }
  });

  it("use only data actions of Key Vault's published operations", () => {
    const known = new Set(Object.values(KeyVaultDataActions));
    for (const r of roles.filter((x) => x.assignedOn.includes("Microsoft.KeyVault/vaults"))) for (const d of r.dataActions) expect(known, `${r.roleName}: ${d}`).toContain(d);
  });

  it("give the secret role no certificate or key write, and the key role no cryptographic operation", () => {
    const secrets = roles.find((r) => r.key === "vault-secrets")!;
    expect(secrets.dataActions.filter((d) => /\/(certificates|keys|keyrotationpolicies)\//.test(d) && !d.endsWith("/read"))).toEqual([]);
    const keys = roles.find((r) => r.key === "vault-keys")!;
    expect(keys.dataActions.filter((d) => /decrypt|unwrap|sign|encrypt|wrap/.test(d))).toEqual([]);
  });
});

describe("every rotator kind", () => {
  it("declares its access (a role of its own, or why none)", () => {
    const missing = kindAccess().filter(({ access }) => access === undefined).map(({ kind }) => kind);
    expect(missing).toEqual([]);
  });

  it("that has a role is assigned it on the targets of its type in infra/main.bicep", () => {
    const decl = declarations(mainBicep).find((d) => d.kind === "var" && d.name === "targetKinds");
    expect(decl, "main.bicep declares targetKinds").toBeDefined();
    const assigned = [...decl!.text.matchAll(/resourceType: '([^']+)', kind:\s*'([^']+)', role: keyturnRoles\['([^']+)'\]/g)].map((m) => {
      expect(m[3], "each entry's role is its own kind's").toBe(m[2]);
      // Assigned only on a resource type its role is meant for.
      expect(roles.find((r) => r.key === m[2])?.assignedOn, `${m[2]} on ${m[1]}`).toContain(m[1]);
      return m[2]!;
    });
    expect(assigned.length).toBeGreaterThan(0);
    const withRole = Object.entries(rotators)
      .filter(([, r]) => r.access && grantsRole(r.access))
      .map(([kind]) => kind);
    expect([...new Set(assigned)].sort()).toEqual(withRole.sort());
  });
});

describe("infra/main.bicep", () => {
  it("deploys one definition per entry of roles.json, with exactly its permissions", () => {
    const masked = mask(mainBicep);
    expect(mainBicep).toContain("loadJsonContent('roles.json').roles");
    const decl = declarations(mainBicep).find((d) => d.kind === "resource" && d.name === "customRoles");
    expect(decl, "main.bicep declares the customRoles role definitions").toBeDefined();
    expect(decl!.text).toMatch(/for r in items\(keyturnRoles\)/);
    expect(decl!.text).toMatch(/actions: r\.value\.actions\s+notActions: \[\]\s+dataActions: r\.value\.dataActions\s+notDataActions: \[\]/);
    expect(decl!.text).toContain("type: 'CustomRole'");
    expect(masked).toMatch(/dependsOn: \[\s*customRoles/);
  });

  it("defines no role outside roles.json (one source for every custom role)", () => {
    const definitions = declarations(mainBicep).filter((d) => d.kind === "resource" && /'Microsoft\.Authorization\/roleDefinitions@/.test(d.text));
    expect(definitions.map((d) => d.name)).toEqual(["customRoles"]);
    expect(mainBicep).not.toMatch(/consumer-role-actions|consumerRoleId/);
  });

  it("assigns the consumers' role on each consumer, of exactly the types the role is assigned on", () => {
    const decl = declarations(mainBicep).find((d) => d.kind === "var" && d.name === "consumerKinds");
    expect(decl, "main.bicep declares consumerKinds").toBeDefined();
    const types = [...decl!.text.matchAll(/resourceType: '([^']+)'/g)].map((m) => m[1]);
    expect(types).toEqual(roles.find((r) => r.key === CONSUMERS_ROLE_KEY)!.assignedOn);
    const assign = declarations(mainBicep).find((d) => d.kind === "var" && d.name === "consumerRoles")!;
    expect(assign.text).toContain(`roleDefinitionId: customRoleIds['${CONSUMERS_ROLE_KEY}']`);
    expect(assign.text).toContain(`reason: keyturnRoles['${CONSUMERS_ROLE_KEY}'].description`);
    expect(declarations(mainBicep).find((d) => d.kind === "var" && d.name === "roleAssignments")!.text).toContain("consumerRoles");
    // The role is assignable where the consumers are.
    expect(declarations(mainBicep).find((d) => d.kind === "var" && d.name === "roleSubscriptions")!.text).toContain("allConsumers");
  });

  it("assigns vault roles from the custom roles, never a built-in Key Vault role", () => {
    for (const key of ["vault-secrets", "vault-certificates", "vault-keys"]) expect(mainBicep).toContain(`customRoleIds['${key}']`);
    expect(mainBicep).not.toMatch(/builtInRoleIds\['Key Vault/);
  });
});
