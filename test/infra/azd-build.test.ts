// azd's sequence on a fresh clone, as `azd up` runs it for a Node.js function service:
// restore (`npm ci` here; azd runs `npm install`, which the lock file pins alike), then
// `npm run build` for its build step and again for its package step, then it copies the
// folder azure.yaml names (`dist`), leaving out every node_modules directory, and deploys
// that (Azure/azure-dev, cli/azd/pkg/project/framework_service_npm.go: Build and Package
// both call RunScript(..., "build"); Package copies with excludeNodeModules).
// The clone is of this repository's committed HEAD, so nothing left over in the working
// tree (a stale dist/, an untracked file) can make it pass.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routes } from "../../functions/routes.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const MAX_BYTES = 10 * 1024 * 1024;

let work: string;
let clone: string;
let deployed: string;

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, ...env }, timeout: 300_000 });
  return { status: r.status, output: `${r.error?.message ?? ""}${r.stdout}${r.stderr}` };
}

function files(dir: string, found: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, found);
    else found.push(p);
  }
  return found;
}

/** azd's copy of the dist folder: everything but node_modules directories. */
function copyAsAzd(from: string, to: string): void {
  cpSync(from, to, { recursive: true, filter: (src) => !(statSync(src).isDirectory() && src.split(/[\\/]/).at(-1) === "node_modules") });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "keyturn-azd-"));
  clone = join(work, "app");
  const cloned = run("git", ["clone", "--quiet", root, clone], work);
  expect(cloned.status, cloned.output).toBe(0);
  expect(existsSync(join(clone, "dist")), "a fresh clone has no dist/").toBe(false);
  // --prefer-offline: the packages come from npm's cache when it has them (as on any
  // machine that installed them once); the lock file decides what is installed either way.
  const ci = run("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund"], clone);
  expect(ci.status, ci.output).toBe(0);
  // Build step, then package step: azd runs the same script twice.
  for (const step of ["build", "package"]) {
    const built = run("npm", ["run", "build"], clone, { NODE_ENV: step === "package" ? "production" : "" });
    expect(built.status, `${step}: ${built.output}`).toBe(0);
  }
  const dist = /^ {4}dist: (\S+)$/m.exec(readFileSync(join(clone, "azure.yaml"), "utf8"))?.[1];
  expect(dist, "azure.yaml names the service's dist folder").toBeDefined();
  expect(existsSync(join(clone, dist!)), `npm run build wrote ${dist}`).toBe(true);
  deployed = join(work, "deployed");
  copyAsAzd(join(clone, dist!), deployed);
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("azd's build sequence on a fresh clone", () => {
  it("leaves the deployable folder azure.yaml names, with host.json and the entry package.json points at", () => {
    expect(existsSync(join(deployed, "host.json"))).toBe(true);
    const pkg = JSON.parse(readFileSync(join(deployed, "package.json"), "utf8")) as { main: string; type: string; dependencies: Record<string, string> };
    expect(pkg.type).toBe("module");
    expect(existsSync(join(deployed, pkg.main)), pkg.main).toBe(true);
    // Nothing for azd to drop: the bundle needs no node_modules.
    expect(pkg.dependencies).toEqual({});
  });

  it("is under 10 MB on disk, with no source maps and no node_modules", () => {
    const all = files(deployed);
    const bytes = all.reduce((sum, f) => sum + statSync(f).size, 0);
    console.log(`deployable folder: ${all.length} files, ${(bytes / 1024 / 1024).toFixed(1)} MB`);
    expect(bytes).toBeLessThan(MAX_BYTES);
    expect(all.filter((f) => f.endsWith(".map")).map((f) => relative(deployed, f))).toEqual([]);
    expect(all.filter((f) => f.includes(`${"node_modules"}`))).toEqual([]);
  });

  it("loads as the Functions worker loads it and registers every function of the route table", () => {
    // The worker answers require("@azure/functions-core") itself; this stand-in records registrations.
    const core = join(work, "worker", "node_modules", "@azure", "functions-core");
    mkdirSync(core, { recursive: true });
    writeFileSync(
      join(core, "index.js"),
      `const names = (globalThis.__registered ??= []);
module.exports = { registerFunction(m) { names.push(m.name); return { dispose() {} }; }, setProgrammingModel() {}, getProgrammingModel() {}, registerHook() { return { dispose() {} }; } };
`,
    );
    writeFileSync(join(core, "package.json"), '{"name":"@azure/functions-core","main":"index.js"}\n');
    const main = (JSON.parse(readFileSync(join(deployed, "package.json"), "utf8")) as { main: string }).main;
    const script = `await import(${JSON.stringify(new URL(main, `file://${deployed}/`).href)}); process.stdout.write(JSON.stringify(globalThis.__registered ?? []));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: deployed,
      encoding: "utf8",
      env: { PATH: process.env.PATH, NODE_PATH: join(work, "worker", "node_modules") },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as string[]).sort()).toEqual(routes.map((route) => route.name).sort());
  });
});
