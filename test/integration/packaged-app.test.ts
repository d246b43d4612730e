// The deployable artifact bundles the npm packages into chunks (scripts/package.mjs).
// Bundling can break what Node's own loading does not: a dynamic import() of a CommonJS
// package, a package reading files next to itself, a require() of a built-in. So the
// bundle is built here with the artifact's own esbuild options and run in a fresh `node`
// process, as the Functions worker runs it: every chunk must evaluate, and the
// registered Event Grid function must rotate a secret of each provider kind that needs
// no database (generated, storage account key, SQL admin, Cosmos DB key) against the
// doubles, with the blob lease lock (bundled storage-blob) on Azurite.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { testTls } from "../../emulators/tls.js";
import { startAzurite, type Azurite } from "../support/azurite.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const VAULT = "pkg-kv";
const DAY_MS = 86_400_000;

// Inside the repository (ignored by git), so that the external packages resolve from its node_modules.
const out = join(root, ".keyturn", `test-bundle-${process.pid}`);
const workerModules = join(out, "worker", "node_modules");

/** Stands in for @azure/functions-core, which the Functions worker provides: keeps the registered handlers. */
const FUNCTIONS_CORE = `const handlers = (globalThis.__registered ??= new Map());
module.exports = { registerFunction(m, h) { handlers.set(m.name, h); return { dispose() {} }; }, setProgrammingModel() {}, getProgrammingModel() {}, registerHook() { return { dispose() {} }; } };
`;

/** Loads the bundled entry like the worker, then hands each event to the registered keyVaultEvents function. */
const CHILD = `import { readFileSync } from "node:fs";
const [entry, eventsFile] = process.argv.slice(2);
await import(entry);
const handler = globalThis.__registered.get("keyVaultEvents");
const { InvocationContext } = (await import("@azure/functions")).default;
for (const event of JSON.parse(readFileSync(eventsFile, "utf8"))) {
  await handler(event, new InvocationContext({ invocationId: "packaged-" + event.id, functionName: "keyVaultEvents", logHandler: () => {} }));
}
process.stdout.write("PACKAGED_DONE\\n");
process.exit(0);
`;

let kv: KeyVaultEmulator;
let arm: ArmEmulator;
let azurite: Azurite;
let entryUrl: string;

beforeAll(async () => {
  const { bundleOptions } = (await import(join(root, "scripts", "package.mjs"))) as {
    bundleOptions(o: { root: string; entry: string; out: string; lock: unknown }): Parameters<typeof build>[0];
  };
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as unknown;
  const tls = testTls();
  [, kv, arm, azurite] = await Promise.all([
    build({ ...bundleOptions({ root, entry: join(root, "functions", "index.ts"), out, lock }), sourcemap: false }),
    startKeyVaultEmulator({ vaults: [VAULT], tls }),
    startArmEmulator({ tls, lroPolls: 1, retryAfterSeconds: 0 }),
    startAzurite(),
  ]);
  mkdirSync(join(workerModules, "@azure", "functions-core"), { recursive: true });
  writeFileSync(join(workerModules, "@azure", "functions-core", "index.js"), FUNCTIONS_CORE);
  writeFileSync(join(workerModules, "@azure", "functions-core", "package.json"), '{"name":"@azure/functions-core","main":"index.js"}\n');
  writeFileSync(join(out, "child.mjs"), CHILD);
  entryUrl = pathToFileURL(join(out, "functions", "index.js")).href;
}, 180_000);

afterAll(async () => {
  await Promise.all([kv?.stop(), arm?.stop(), azurite?.stop()]);
  rmSync(out, { recursive: true, force: true });
});

/** A fresh `node` (asynchronously: the doubles answer from this process). */
function runNode(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { cwd: out, env: { ...process.env, NODE_OPTIONS: "", NODE_PATH: workerModules, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe("the packaged (bundled) function app", () => {
  it("evaluates every chunk of the bundle", async () => {
    const chunks = readdirSync(out).filter((f) => f.endsWith(".js"));
    expect(chunks.length).toBeGreaterThan(5);
    const script = `for (const f of ${JSON.stringify(chunks)}) await import(new URL("./" + f, ${JSON.stringify(pathToFileURL(out + "/").href)}));`;
    const run = await runNode(["--input-type=module", "-e", script]);
    expect(run.status, run.stderr).toBe(0);
  });

  it("keeps the names of classes and functions, without setting them at run time", async () => {
    // @azure/identity names its credentials by constructor.name in its log lines and
    // spans, and a stack trace names the functions it passes through. Names set by a
    // helper each time a function is made would cost every closure a dictionary of
    // its own properties (docs/benchmarks.md, "Host peak RSS").
    const chunks = readdirSync(out).filter((f) => f.endsWith(".js"));
    const script = `const names = {};
for (const f of ${JSON.stringify(chunks)}) {
  const m = await import(new URL("./" + f, ${JSON.stringify(pathToFileURL(out + "/").href)}));
  for (const k of ["DefaultAzureCredential", "ManagedIdentityCredential", "createLogger", "rotateSecret"]) if (typeof m[k] === "function") names[k] = m[k].name;
}
process.stdout.write(JSON.stringify(names));`;
    const run = await runNode(["--input-type=module", "-e", script]);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ DefaultAzureCredential: "DefaultAzureCredential", ManagedIdentityCredential: "ManagedIdentityCredential", createLogger: "createLogger", rotateSecret: "rotateSecret" });
    const source = chunks.map((f) => readFileSync(join(out, f), "utf8")).join("\n");
    expect(source).not.toMatch(/__name\(/);
  });

  it("rotates a secret of each provider kind through the registered Event Grid function", async () => {
    const expiresOn = new Date(Date.now() + 10 * DAY_MS);
    const tags = { ValidityPeriodDays: "60", Owner: "team@example.com" };
    const st = arm.addStorageAccount({ name: "stpackaged01" });
    const sql = arm.addSqlServer({ name: "sqlpackaged01", administratorLogin: "sqladmin", password: "Packaged-Sql-Pw-0001" });
    const cosmos = arm.addCosmosAccount({ name: "cospackaged01" });
    const seeded = [
      { name: "pkg-generated", ...kv.seedSecret(VAULT, "pkg-generated", "initial-generated-value", { tags: { Rotator: "generated-secret", ...tags }, expiresOn }) },
      { name: "pkg-storage", ...kv.seedSecret(VAULT, "pkg-storage", st.keys().key1, { tags: { ProviderAddress: st.id, CredentialId: "key1", ...tags }, expiresOn }) },
      { name: "pkg-sql", ...kv.seedSecret(VAULT, "pkg-sql", "Packaged-Sql-Pw-0001", { tags: { ProviderAddress: sql.id, CredentialId: "sqladmin", ...tags }, expiresOn }) },
      { name: "pkg-cosmos", ...kv.seedSecret(VAULT, "pkg-cosmos", cosmos.keys().primaryMasterKey, { tags: { ProviderAddress: cosmos.id, CredentialId: "primary", ...tags }, expiresOn }) },
    ];
    const events = seeded.map((s) => ({
      id: `evt-${s.name}`,
      topic: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${VAULT}`,
      subject: s.name,
      eventType: "Microsoft.KeyVault.SecretNearExpiry",
      eventTime: new Date().toISOString(),
      data: { Id: `${kv.url(VAULT)}/secrets/${s.name}/${s.version}`, VaultName: VAULT, ObjectType: "Secret", ObjectName: s.name, Version: s.version },
      dataVersion: "1",
      metadataVersion: "1",
    }));
    const eventsFile = join(out, "events.json");
    writeFileSync(eventsFile, JSON.stringify(events));

    const run = await runNode([join(out, "child.mjs"), entryUrl, eventsFile], {
      KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`,
      KEYTURN_CREDENTIAL: "local-emulator",
      KEYTURN_TLS_CA_FILE: kv.tls.caFile,
      KEYTURN_ARM_ENDPOINT: arm.url,
      KEYTURN_ROTATION_GUARD_MINUTES: "0",
      AzureWebJobsStorage: azurite.connectionString,
    });
    expect(run.stdout, run.stderr).toContain("PACKAGED_DONE");
    // The engine logs every failure at error level; a bundling fault would show here.
    expect(run.stdout.split("\n").filter((l) => l.includes('"level":"error"'))).toEqual([]);
    for (const s of seeded) expect((await versionsOf(secretClientFor(kv, VAULT), s.name)).length, s.name).toBe(2);
  });
});
