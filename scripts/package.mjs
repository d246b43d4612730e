#!/usr/bin/env node
// Builds the deployable Azure Functions artifact in dist/package/ (and dist/keyturn.zip):
//
//   functions/index.js (+ chunks)  our TypeScript and the npm packages it uses, bundled by
//                                  esbuild. Lazy `import()`s stay lazy (code splitting): a
//                                  rotator's SDK is a chunk loaded when that rotator runs.
//                                  Node loads one chunk file where it would resolve, read
//                                  and compile dozens to hundreds of package files (zod 4:
//                                  ~100, @azure/keyvault-secrets with its core: ~120), which
//                                  is most of a cold start's first rotation (docs/benchmarks.md).
//                                  @azure/functions is bundled too; only what the Functions
//                                  worker provides stays external (EXTERNAL_PACKAGES).
//   host.json                      copied
//   package.json                   name, version, type, main, engines, and as dependencies
//                                  only the packages the bundle still imports
//   package-lock.json              the root lock file cut to those packages and theirs
//   node_modules/                  exactly those packages (the lock file's closure of the
//                                  bundle's external imports, copied from the root
//                                  node_modules: none by default, where every package is
//                                  bundled (see EXTERNAL_PACKAGES); with --external-packages,
//                                  the packages the bundle imports and theirs).
// No source maps: the Functions worker starts Node without --enable-source-maps, so they
// would never be read (pass --sourcemap to get them, e.g. for a debugging build).
//
// `npm run build` runs this script: azd's Node.js service runs `npm run build` for both its
// build and package steps and then deploys the folder azure.yaml names (dist/package), so
// that build must leave the artifact. `az functionapp deployment source config-zip` / zip
// deploy take dist/keyturn.zip. Plain Node ESM; the only tool used is esbuild (a
// devDependency).
//
// Usage: node scripts/package.mjs [--root DIR] [--entry FILE] [--out DIR] [--zip FILE]
//                                  [--no-zip] [--no-verify] [--external-packages] [--sourcemap]
//   --external-packages   bundle only our code and leave every npm package external (the
//                         artifact as it was before packages were bundled; for comparison)
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

class PackageError extends Error {
  constructor(message) {
    super(message);
    this.name = "PackageError";
  }
}

// Run as a script (`node scripts/package.mjs`), or imported for bundleOptions() (the
// bench bundles the local host with the artifact's options).
const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);

const { values: opts } = parseArgs({
  args: invokedDirectly ? process.argv.slice(2) : [],
  options: {
    root: { type: "string" },
    entry: { type: "string", default: "functions/index.ts" },
    out: { type: "string", default: "dist/package" },
    zip: { type: "string", default: "dist/keyturn.zip" },
    "no-zip": { type: "boolean", default: false },
    "no-verify": { type: "boolean", default: false },
    "external-packages": { type: "boolean", default: false },
    sourcemap: { type: "boolean", default: false },
  },
  strict: true,
});

const root = resolve(opts.root ?? join(dirname(fileURLToPath(import.meta.url)), ".."));
const entry = resolve(root, opts.entry);
const out = resolve(root, opts.out);
const zipFile = resolve(root, opts.zip);

function log(message) {
  process.stdout.write(`package: ${message}\n`);
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new PackageError(`cannot read ${relative(root, file) || file}: ${error.message}`);
  }
}

/** `@scope/name/sub/path` -> `@scope/name`; `name/sub` -> `name`. */
function packageNameOf(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * Packages that stay external, and why:
 *   @azure/functions-core   provided by the Functions worker at run time, never installed:
 *                           the worker answers `require("@azure/functions-core")` itself
 *                           (it wraps Module.prototype.require), which the bundled
 *                           @azure/functions still calls through the chunks' require().
 * Everything else, @azure/functions included, is bundled, so the artifact needs no
 * node_modules at all. That matters to azd: its Node.js packaging copies the `dist`
 * folder without node_modules directories (framework_service_npm.go, excludeNodeModules),
 * so a package left beside the bundle would never reach Azure.
 * (A package's optional import of a package that is not installed, such as pg's
 * `pg-native`, stays external too: see devPackagesOfPackagesExternal.)
 * Checked for bundling: no bundled package reads files from next to its own module at
 * run time (of @azure/storage-common only the Shared Key policy is bundled; its CRC64
 * WebAssembly, embedded as base64 in crc64.js, is left out: see packagesSideEffectsDeclared).
 */
export const EXTERNAL_PACKAGES = ["@azure/functions-core"];

/** The lock file key of the package a node_modules path belongs to: `node_modules/a/node_modules/@s/b/x.js` -> `node_modules/a/node_modules/@s/b`. */
function lockKeyOf(inputPath) {
  const parts = inputPath.split("/");
  let end = -1;
  for (let i = 0; i < parts.length; i++) if (parts[i] === "node_modules") end = i;
  if (end < 0 || end + 1 >= parts.length) return undefined;
  const nameParts = parts[end + 1].startsWith("@") ? 2 : 1;
  return parts.slice(0, end + 1 + nameParts).join("/");
}

/**
 * A package's own import of a package that is not a production package (e.g. `debug`
 * trying `require("supports-color")` inside try/catch), or of one that is not installed
 * at all (pg's optional `pg-native`), stays external: deployed, that package is absent
 * and the import fails as the package expects, as it would unbundled. Our own code
 * importing one is still refused (see bundle()).
 */
function devPackagesOfPackagesExternal(root, lock, optional) {
  const inNodeModules = `${sep}node_modules${sep}`;
  return {
    name: "keyturn-dev-packages-of-packages-external",
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData?.keyturnResolving || builtins.has(args.path) || !args.importer.includes(inNodeModules)) return undefined;
        const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { keyturnResolving: true } });
        if (r.errors.length > 0) {
          optional.add(packageNameOf(args.path));
          return { path: args.path, external: true };
        }
        if (r.external || !r.path.includes(inNodeModules)) return undefined;
        const key = lockKeyOf(relative(root, r.path).split(sep).join("/"));
        const meta = key === undefined ? undefined : lock.packages?.[key];
        if (meta && meta.dev !== true) return undefined;
        optional.add(packageNameOf(args.path));
        return { path: args.path, external: true };
      });
    },
  };
}

/**
 * A package that declares itself free of side effects (`"sideEffects": false` in its
 * package.json) but ships its ES module build with a package.json of its own (only
 * `"type": "module"`, as @azure/storage-common's dist/esm does) hides that declaration
 * from esbuild, which reads the nearest package.json: every module of the build is kept,
 * used or not (storage-common's 85 kB CRC64 WebAssembly for one signing policy). This
 * gives such modules their package's own declaration back.
 */
function packagesSideEffectsDeclared(root) {
  const inNodeModules = `${sep}node_modules${sep}`;
  const declared = new Map();
  const sideEffectFree = (path) => {
    const key = lockKeyOf(relative(root, path).split(sep).join("/"));
    if (key === undefined) return false;
    if (!declared.has(key)) {
      let free = false;
      try {
        free = JSON.parse(readFileSync(join(root, key, "package.json"), "utf8")).sideEffects === false;
      } catch {
        // no readable package.json: esbuild's own reading stands
      }
      declared.set(key, free);
    }
    return declared.get(key);
  };
  return {
    name: "keyturn-packages-side-effects-declared",
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData?.keyturnSideEffects || args.kind === "entry-point") return undefined;
        const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { ...args.pluginData, keyturnSideEffects: true } });
        if (r.errors.length > 0 || r.external || !r.path.includes(inNodeModules) || r.sideEffects === false || !sideEffectFree(r.path)) return undefined;
        return { ...r, sideEffects: false };
      });
    },
  };
}

/**
 * esbuild options for a keyturn bundle of `entry` into `out`: our code and the npm
 * packages it uses (EXTERNAL_PACKAGES aside), or, with `externalPackages`, our code only.
 * `optional` collects the packages' optional imports left external.
 */
export function bundleOptions({ root, entry, out, lock, externalPackages = false, optional = new Set(), sourcemap = false }) {
  return {
    absWorkingDir: root,
    entryPoints: [entry],
    outbase: root,
    outdir: out,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    // The oldest Node the project supports; Flex Consumption runs 22.
    target: "node20",
    ...(externalPackages
      ? { packages: "external" }
      : {
          external: EXTERNAL_PACKAGES,
          // A package's ES module build where it has one (packages without an `exports` map,
          // e.g. @azure/arm-sql): a dynamic import() of a bundled CommonJS module yields only
          // a default export, so `const { SqlManagementClient } = await import(...)`, which
          // Node's CommonJS interop allows, would find nothing.
          mainFields: ["module", "main"],
          // CommonJS packages bundled into ES modules still call require() for Node's
          // built-ins: give every chunk one, as Node gives every CommonJS module.
          banner: { js: 'import { createRequire as __keyturnCreateRequire } from "node:module"; const require = __keyturnCreateRequire(import.meta.url);' },
          plugins: [devPackagesOfPackagesExternal(root, lock, optional), packagesSideEffectsDeclared(root)],
        }),
    sourcemap,
    // Smaller source for V8 to keep in memory and pre-parse on every cold start: no
    // whitespace or comments, shorter syntax. Identifiers keep their names, so functions and
    // classes keep theirs without esbuild's keepNames (only a top-level name two modules
    // share gets a numeric suffix): stack traces name our functions, and @azure/identity's
    // log lines and spans name its credential classes by `constructor.name`. keepNames
    // would instead redefine `name` on every function each time one is created, and each
    // such closure then carries a dictionary of its own properties: a fifth of what a
    // rotation in flight kept alive (docs/benchmarks.md, "Host peak RSS").
    minifyWhitespace: true,
    minifySyntax: true,
    minifyIdentifiers: false,
    metafile: true,
    logLevel: "warning",
    legalComments: "none",
  };
}

async function bundle(manifest, lock) {
  const optional = new Set();
  if (!existsSync(entry)) {
    throw new PackageError(`entry point ${relative(root, entry)} does not exist (the Functions entry, package.json "main" compiled)`);
  }
  const result = await build(bundleOptions({ root, entry, out, lock, externalPackages: opts["external-packages"], optional, sourcemap: opts.sourcemap }));
  // Every package the bundle still imports must be a production dependency, or the
  // deployed app fails at its first cold start instead of here.
  const prod = new Set(Object.keys(manifest.dependencies ?? {}));
  const dev = new Set(Object.keys(manifest.devDependencies ?? {}));
  // Every package bundled in must be a production package of the lock file (a direct
  // dependency or one of theirs): a devDependency has no business in the deployed app,
  // bundled or not.
  const bundledWrong = new Set();
  for (const input of Object.keys(result.metafile.inputs)) {
    const key = lockKeyOf(input);
    if (key === undefined) continue;
    const meta = lock.packages?.[key];
    if (!meta || meta.dev === true) bundledWrong.add(packageNameOf(key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length)));
  }
  if (bundledWrong.size > 0) {
    const why = [...bundledWrong].map((n) => `${n} (${dev.has(n) ? "a devDependency" : "not a production package in package-lock.json"})`).join(", ");
    throw new PackageError(`the bundle imports packages that are not production dependencies: ${why}`);
  }
  const imported = new Set();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const imp of output.imports) {
      if (!imp.external || builtins.has(imp.path) || imp.path.startsWith(".") || imp.path.startsWith("/")) continue;
      imported.add(packageNameOf(imp.path));
    }
  }
  // Provided by the Functions worker at run time, never installed.
  imported.delete("@azure/functions-core");
  // Optional imports of packages by packages (see devPackagesOfPackagesExternal).
  for (const name of optional) imported.delete(name);
  const wrong = [...imported].filter((name) => !prod.has(name));
  if (wrong.length > 0) {
    const why = wrong.map((n) => `${n} (${dev.has(n) ? "a devDependency" : "not declared"})`).join(", ");
    throw new PackageError(`the bundle imports packages that are not production dependencies: ${why}`);
  }
  return [...imported].sort((a, b) => a.localeCompare(b));
}

function checkLock(lock) {
  if (!lock.packages || (lock.lockfileVersion ?? 0) < 2) {
    throw new PackageError("package-lock.json must be lockfileVersion 2 or 3 (with a `packages` map)");
  }
}

/**
 * The lock file entries the bundle's external imports need at run time: each package and,
 * recursively, its dependencies, resolved as Node does (a nested node_modules first, then
 * each parent's). Returns lock keys (`node_modules/a`, `node_modules/a/node_modules/b`).
 */
function runtimeClosure(lock, names) {
  const keys = new Set();
  const visit = (key) => {
    if (keys.has(key)) return;
    const meta = lock.packages[key];
    if (!meta) throw new PackageError(`${key} is not in package-lock.json`);
    if (meta.link === true) throw new PackageError(`${key} is a link; the artifact needs the package itself`);
    keys.add(key);
    for (const dep of [...Object.keys(meta.dependencies ?? {}), ...Object.keys(meta.optionalDependencies ?? {})]) {
      const found = resolveFrom(lock, key, dep);
      if (found === undefined) {
        if (meta.optionalDependencies?.[dep] !== undefined) continue;
        throw new PackageError(`${key} depends on ${dep}, which package-lock.json does not hold`);
      }
      visit(found);
    }
  };
  for (const name of names) {
    const key = `node_modules/${name}`;
    if (!lock.packages[key]) throw new PackageError(`the bundle imports ${name}, which package-lock.json does not hold at top level`);
    visit(key);
  }
  return [...keys].sort((a, b) => a.localeCompare(b));
}

function resolveFrom(lock, fromKey, dep) {
  let base = fromKey;
  for (;;) {
    const candidate = `${base}/node_modules/${dep}`;
    if (lock.packages[candidate]) return candidate;
    const cut = base.lastIndexOf("/node_modules/");
    if (cut < 0) break;
    base = base.slice(0, cut);
  }
  return lock.packages[`node_modules/${dep}`] ? `node_modules/${dep}` : undefined;
}

function copyRuntimeModules(lock, keys) {
  let copied = 0;
  let skippedOptional = 0;
  for (const path of keys) {
    const meta = lock.packages[path];
    const src = join(root, path);
    if (!existsSync(src)) {
      // An optional dependency for another platform (e.g. a native binary) is absent here.
      if (meta.optional || meta.devOptional) {
        skippedOptional++;
        continue;
      }
      throw new PackageError(`${path} is a production dependency in package-lock.json but is not installed: run npm ci first`);
    }
    const nested = join(src, "node_modules");
    cpSync(src, join(out, path), {
      recursive: true,
      dereference: true,
      // Nested node_modules are entries of their own in the lock file: copied (or not) on their own.
      filter: (from) => from !== nested && !from.startsWith(nested + sep),
    });
    copied++;
  }
  return { copied, skippedOptional };
}

/** Native add-ons (`*.node`) only run on the OS and CPU they were built for. */
function nativeAddons(dir, found = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) nativeAddons(p, found);
    else if (name.endsWith(".node")) found.push(relative(out, p));
  }
  return found;
}

function prunedLock(lock, keys, dependencies) {
  const { devDependencies: _dev, dependencies: _all, ...rootMeta } = lock.packages[""] ?? {};
  const packages = { "": { ...rootMeta, dependencies } };
  for (const key of keys) packages[key] = lock.packages[key];
  return { ...lock, packages };
}

function writePackageJson(manifest, mainFile, dependencies) {
  const pkg = {
    name: manifest.name,
    version: manifest.version,
    private: true,
    ...(manifest.type ? { type: manifest.type } : {}),
    main: mainFile,
    ...(manifest.engines ? { engines: manifest.engines } : {}),
    dependencies,
  };
  writeFileSync(join(out, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
}

/** Load the entry from the package folder alone, as the Functions worker will. */
function verify(mainFile) {
  const script = `await import(${JSON.stringify(pathToFileURL(join(out, mainFile)).href)});`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: out,
    encoding: "utf8",
    env: { ...process.env, NODE_PATH: "" },
    timeout: 60_000,
  });
  if (run.status !== 0) {
    throw new PackageError(`the packaged entry does not load from ${relative(root, out)}:\n${(run.stderr || run.stdout || "").trim()}`);
  }
}

function zip() {
  const probe = spawnSync("zip", ["-v"], { stdio: "ignore" });
  if (probe.error || probe.status !== 0) {
    log(`note: no \`zip\` command here, so no ${relative(root, zipFile)}. azd zips ${relative(root, out)} itself; for zip deploy, archive the *contents* of that folder.`);
    return false;
  }
  rmSync(zipFile, { force: true });
  mkdirSync(dirname(zipFile), { recursive: true });
  // -X: no extra file attributes; -y: keep symlinks as links (none are expected).
  const run = spawnSync("zip", ["-q", "-r", "-X", "-y", zipFile, "."], { cwd: out, stdio: "inherit" });
  if (run.status !== 0) throw new PackageError(`zip exited with status ${run.status}`);
  return true;
}

function directorySize(dir) {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    total += st.isDirectory() ? directorySize(p) : st.size;
  }
  return total;
}

async function main() {
  const manifest = readJson(join(root, "package.json"));
  const lockPath = join(root, "package-lock.json");
  if (!existsSync(lockPath)) throw new PackageError("package-lock.json is missing: production dependencies are taken from it");
  const lock = readJson(lockPath);
  checkLock(lock);
  const hostJson = join(root, "host.json");
  if (!existsSync(hostJson)) throw new PackageError("host.json is missing");
  // The output folder is deleted and rebuilt: never let it be the project or one of its parents.
  if (out === root || root.startsWith(out + sep) || out === dirname(out)) throw new PackageError(`--out ${out} would delete the project`);

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  const imported = await bundle(manifest, lock);
  const mainFile = relative(out, join(out, relative(root, entry))).replace(/\.[cm]?tsx?$/, ".js").split(sep).join("/");
  if (!existsSync(join(out, mainFile))) throw new PackageError(`esbuild did not write ${mainFile}`);

  cpSync(hostJson, join(out, "host.json"));
  // The shipped manifest names only what the bundle still imports, at the versions declared.
  const dependencies = Object.fromEntries(imported.map((name) => [name, manifest.dependencies[name]]));
  const keys = runtimeClosure(lock, imported);
  writePackageJson(manifest, mainFile, dependencies);
  writeFileSync(join(out, "package-lock.json"), `${JSON.stringify(prunedLock(lock, keys, dependencies), null, 2)}\n`);
  const { copied, skippedOptional } = copyRuntimeModules(lock, keys);
  const native = existsSync(join(out, "node_modules")) ? nativeAddons(join(out, "node_modules")) : [];
  if (native.length > 0) {
    log(`warning: native add-ons in the package (${native.join(", ")}): deploy a package built on linux-x64, or let the platform build remotely`);
  }

  if (!opts["no-verify"]) verify(mainFile);
  const zipped = opts["no-zip"] ? false : zip();

  const mb = (directorySize(out) / 1024 / 1024).toFixed(1);
  log(`${relative(root, out)}: main ${mainFile}, ${copied} runtime packages${skippedOptional ? ` (${skippedOptional} optional not installed here)` : ""}, ${mb} MB`);
  log(`external imports: ${imported.join(", ") || "none"}`);
  if (zipped) log(`${relative(root, zipFile)}: ${(statSync(zipFile).size / 1024 / 1024).toFixed(1)} MB`);
}

if (invokedDirectly) {
  main().catch((error) => {
    process.stderr.write(`package: ${error instanceof PackageError ? error.message : error.stack ?? error}\n`);
    process.exit(1);
  });
}
