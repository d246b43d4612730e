// The deployable artifact the cold figures are taken on: `scripts/package.mjs` (the same
// script as `npm run package`) writes it to .keyturn/bench/package (ignored by git), so
// the bench never touches dist/. The bench's child scripts are copied into it, so that
// their bare imports resolve from the package's own node_modules, as deployed.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "./paths.js";

export interface Artifact {
  /** The package folder (what is zipped and deployed). */
  readonly dir: string;
  /** file: URL of the packaged entry (package.json "main"). */
  readonly entryUrl: string;
  /** Folder of the bench's child scripts inside the package. */
  readonly childrenDir: string;
  /** NODE_PATH that provides a stand-in for the worker's @azure/functions-core. */
  readonly workerNodePath: string;
  /** Size of the bundled JavaScript (our code, without node_modules), bytes. */
  readonly bundleBytes: number;
}

/**
 * `packages`: "bundled" is the artifact as `npm run package` builds it; "external" is the
 * one built with --external-packages (npm packages loaded from node_modules), for the
 * before/after comparison.
 */
export function prepareArtifact(opts: { build: boolean; packages?: "bundled" | "external"; log: (line: string) => void }): Artifact {
  const base = join(repoRoot, ".keyturn", "bench");
  const external = opts.packages === "external";
  const dir = join(base, external ? "package-external" : "package");
  const entry = join(dir, "functions", "index.js");
  if (opts.build || !existsSync(entry)) {
    opts.log(`building the deployable artifact (scripts/package.mjs${external ? " --external-packages" : ""}) ...`);
    const args = [join(repoRoot, "scripts", "package.mjs"), "--out", dir, "--no-zip", ...(external ? ["--external-packages"] : [])];
    const run = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: "utf8" });
    if (run.status !== 0) throw new Error(`scripts/package.mjs failed:\n${run.stdout}${run.stderr}`);
  }
  const childrenDir = join(dir, "bench-children");
  mkdirSync(childrenDir, { recursive: true });
  for (const f of readdirSync(join(repoRoot, "bench", "children"))) cpSync(join(repoRoot, "bench", "children", f), join(childrenDir, f));
  const workerNodePath = join(base, "worker", "node_modules");
  const core = join(workerNodePath, "@azure", "functions-core");
  mkdirSync(core, { recursive: true });
  cpSync(join(repoRoot, "bench", "children", "functions-core.cjs"), join(core, "index.js"));
  writeFileSync(join(core, "package.json"), `${JSON.stringify({ name: "@azure/functions-core", version: "0.0.0-bench", main: "index.js" })}\n`);
  return { dir, entryUrl: pathToFileURL(entry).href, childrenDir, workerNodePath, bundleBytes: bundleSize(dir) };
}

function bundleSize(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === "node_modules" || e.name === "bench-children") continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".js")) total += statSync(p).size;
    }
  };
  walk(dir);
  return total;
}
