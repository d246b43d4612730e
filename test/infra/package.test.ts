// scripts/package.mjs: the deployable artifact. First against a small fixture project
// (production vs dev packages, nested and optional ones, lazy imports), then against the
// real tree, whose packaged entry must load from the package folder alone.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const script = join(root, "scripts/package.mjs");
const temps: string[] = [];

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

function temp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

function write(file: string, content: string | object): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, typeof content === "string" ? content : `${JSON.stringify(content, null, 2)}\n`);
}

function runPackage(args: string[]) {
  const run = spawnSync(process.execPath, [script, ...args], { encoding: "utf8", timeout: 180_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

function packageModule(dir: string, name: string, body: string): void {
  write(join(dir, "package.json"), { name, version: "1.0.0", type: "module", main: "index.js" });
  write(join(dir, "index.js"), body);
}

/** A project with one production package (with a nested one), one dev package, and an absent optional one. */
function fixture(entrySource: string): string {
  const dir = temp("keyturn-pkg-");
  write(join(dir, "package.json"), {
    name: "fixture-app",
    version: "1.2.3",
    type: "module",
    engines: { node: ">=20" },
    dependencies: { "prod-dep": "1.0.0" },
    devDependencies: { "dev-dep": "1.0.0" },
    scripts: { test: "exit 1" },
  });
  write(join(dir, "package-lock.json"), {
    name: "fixture-app",
    version: "1.2.3",
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: "fixture-app", version: "1.2.3", dependencies: { "prod-dep": "1.0.0" }, devDependencies: { "dev-dep": "1.0.0" } },
      "node_modules/prod-dep": { version: "1.0.0", dependencies: { nested: "2.0.0" } },
      "node_modules/prod-dep/node_modules/nested": { version: "2.0.0" },
      "node_modules/dev-dep": { version: "1.0.0", dev: true },
      "node_modules/native-binary-other-os": { version: "1.0.0", optional: true },
    },
  });
  packageModule(join(dir, "node_modules/prod-dep"), "prod-dep", 'import { inner } from "nested";\nexport const answer = inner + 1;\n');
  packageModule(join(dir, "node_modules/prod-dep/node_modules/nested"), "nested", "export const inner = 41;\n");
  packageModule(join(dir, "node_modules/dev-dep"), "dev-dep", "export const dev = true;\n");
  write(join(dir, "host.json"), { version: "2.0" });
  write(join(dir, "core/helper.ts"), 'export const greeting: string = "hello";\n');
  write(join(dir, "functions/lazy.ts"), "export const lazy = 42;\n");
  write(join(dir, "functions/index.ts"), entrySource);
  return dir;
}

const goodEntry = [
  'import { answer } from "prod-dep";',
  'import { greeting } from "../core/helper.js";',
  'import { writeFileSync } from "node:fs";',
  "export const loadLazy = () => import(\"./lazy.js\");",
  "// Proves at verify time that the bundle ran, with its production package, from the package folder.",
  'if (process.env.FIXTURE_MARK) writeFileSync(process.env.FIXTURE_MARK, `${greeting} ${answer}`);',
  "",
].join("\n");

describe("scripts/package.mjs on a fixture project", () => {
  it("bundles the entry and its packages, copies host.json, and ships no node_modules", () => {
    const dir = fixture(goodEntry);
    const mark = join(dir, "mark.txt");
    process.env.FIXTURE_MARK = mark;
    const { status, output } = (() => {
      try {
        return runPackage(["--root", dir]);
      } finally {
        delete process.env.FIXTURE_MARK;
      }
    })();
    expect(status, output).toBe(0);

    const out = join(dir, "dist/package");
    // The packaged entry ran (verify step) and found prod-dep and its nested dependency, bundled.
    expect(readFileSync(mark, "utf8")).toBe("hello 42");
    expect(existsSync(join(out, "functions/index.js"))).toBe(true);
    expect(readFileSync(join(out, "host.json"), "utf8")).toContain('"version": "2.0"');
    const pkg = JSON.parse(readFileSync(join(out, "package.json"), "utf8"));
    expect(pkg).toEqual({ name: "fixture-app", version: "1.2.3", private: true, type: "module", main: "functions/index.js", engines: { node: ">=20" }, dependencies: {} });
    const lock = JSON.parse(readFileSync(join(out, "package-lock.json"), "utf8"));
    expect(Object.keys(lock.packages)).toEqual([""]);
    expect(existsSync(join(out, "node_modules"))).toBe(false);
    // No source maps unless asked for: the worker never reads them.
    expect(existsSync(join(out, "functions/index.js.map"))).toBe(false);
    // Our TypeScript is bundled, not shipped.
    expect(existsSync(join(out, "core"))).toBe(false);
    // The lazy import stays a separate chunk, loaded on first use.
    expect(readFileSync(join(out, "functions/index.js"), "utf8")).toMatch(/import\(["']\.\.?\/[^"']*lazy[^"']*\.js["']\)/);
  });

  it("with --external-packages, ships exactly the packages the bundle imports and theirs", () => {
    const dir = fixture(goodEntry);
    const mark = join(dir, "mark.txt");
    process.env.FIXTURE_MARK = mark;
    const { status, output } = (() => {
      try {
        return runPackage(["--root", dir, "--external-packages", "--no-zip", "--sourcemap"]);
      } finally {
        delete process.env.FIXTURE_MARK;
      }
    })();
    expect(status, output).toBe(0);
    const out = join(dir, "dist/package");
    expect(readFileSync(mark, "utf8")).toBe("hello 42");
    const pkg = JSON.parse(readFileSync(join(out, "package.json"), "utf8"));
    expect(pkg.dependencies).toEqual({ "prod-dep": "1.0.0" });
    const lock = JSON.parse(readFileSync(join(out, "package-lock.json"), "utf8"));
    expect(Object.keys(lock.packages).sort()).toEqual(["", "node_modules/prod-dep", "node_modules/prod-dep/node_modules/nested"]);
    expect(lock.packages[""].devDependencies).toBeUndefined();
    expect(existsSync(join(out, "node_modules/prod-dep/index.js"))).toBe(true);
    expect(existsSync(join(out, "node_modules/prod-dep/node_modules/nested/index.js"))).toBe(true);
    expect(existsSync(join(out, "node_modules/dev-dep"))).toBe(false);
    expect(existsSync(join(out, "functions/index.js.map"))).toBe(true);
  });

  it("writes a zip whose root is the package folder when zip exists, or says why not", () => {
    const dir = fixture(goodEntry);
    const { status, output } = runPackage(["--root", dir, "--no-verify", "--external-packages"]);
    expect(status, output).toBe(0);
    const hasZip = spawnSync("zip", ["-v"], { stdio: "ignore" }).status === 0;
    if (hasZip) {
      const listing = spawnSync("unzip", ["-Z1", join(dir, "dist/keyturn.zip")], { encoding: "utf8" });
      expect(listing.status).toBe(0);
      const entries = listing.stdout.split("\n");
      expect(entries).toContain("package.json");
      expect(entries).toContain("host.json");
      expect(entries).toContain("functions/index.js");
      expect(entries).toContain("node_modules/prod-dep/index.js");
    } else {
      expect(output).toContain("no `zip` command here");
    }
  });

  it("refuses a bundle that imports a devDependency", () => {
    const dir = fixture('import { dev } from "dev-dep";\nexport const x = dev;\n');
    const { status, output } = runPackage(["--root", dir, "--no-zip"]);
    expect(status).toBe(1);
    expect(output).toContain("not production dependencies: dev-dep (a devDependency)");
  });

  it("refuses a production package the lock file lists but node_modules lacks", () => {
    const dir = fixture(goodEntry);
    rmSync(join(dir, "node_modules/prod-dep/node_modules/nested"), { recursive: true });
    const { status, output } = runPackage(["--root", dir, "--no-zip", "--no-verify", "--external-packages"]);
    expect(status).toBe(1);
    expect(output).toContain("node_modules/prod-dep/node_modules/nested is a production dependency in package-lock.json but is not installed");
  });

  it("says so when the entry point is missing, and never deletes the project", () => {
    const dir = fixture(goodEntry);
    rmSync(join(dir, "functions/index.ts"));
    const missing = runPackage(["--root", dir, "--no-zip"]);
    expect(missing.status).toBe(1);
    expect(missing.output).toContain("entry point functions/index.ts does not exist");
    const dangerous = runPackage(["--root", dir, "--out", "."]);
    expect(dangerous.status).toBe(1);
    expect(dangerous.output).toContain("would delete the project");
    expect(existsSync(join(dir, "package.json"))).toBe(true);
  });
});

describe("scripts/package.mjs on this project", () => {
  it("packages functions/index.ts so that it loads from the package folder alone", () => {
    expect(existsSync(join(root, "functions/index.ts")), "functions/index.ts").toBe(true);
    const out = join(temp("keyturn-real-"), "package");
    const { status, output } = runPackage(["--out", out, "--no-zip"]);
    expect(status, output).toBe(0);
    const pkg = JSON.parse(readFileSync(join(out, "package.json"), "utf8"));
    const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(pkg.main).toBe("functions/index.js");
    // Every package is bundled (@azure/functions-core is the worker's): nothing to install or copy.
    expect(pkg.dependencies).toEqual({});
    expect(pkg.devDependencies).toBeUndefined();
    expect(existsSync(join(out, "node_modules"))).toBe(false);
    expect(Object.keys(rootPkg.dependencies)).toContain("@azure/functions");
  }, 180_000);
});
