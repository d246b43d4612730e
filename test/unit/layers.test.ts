// Layers point one way (README "Layout"): functions/, cli/ and local/ adapt triggers and
// call app/; app/ wires core/ to the rotators; core/ knows the Rotator interface, never
// a rotator; a rotator knows core/ only; production code never imports a test double.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Top-level folders a folder's code may import from (besides itself and npm packages). */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  rotators: ["core"],
  app: ["core", "rotators"],
  functions: ["app", "core"],
  cli: ["app", "core", "local"],
  local: ["app", "core", "functions", "emulators", "rotators"],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|js)$/.test(name) ? [path] : [];
  });
}

/** The top-level folders `file` imports from (static and dynamic relative imports). */
function importedFolders(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const folders = new Set<string>();
  for (const m of text.matchAll(/(?:from\s+|import\()\s*["'](\.{1,2}\/[^"']+)["']/g)) {
    const target = relative(root, join(file, "..", m[1]!));
    folders.add(target.split(/[\\/]/)[0]!);
  }
  return [...folders];
}

describe("layers", () => {
  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    it(`${folder}/ imports only from ${[folder, ...allowed].join(", ")}`, () => {
      const wrong: string[] = [];
      for (const file of sources(join(root, folder))) {
        for (const f of importedFolders(file)) if (f !== folder && !allowed.includes(f)) wrong.push(`${relative(root, file)} → ${f}/`);
      }
      expect(wrong).toEqual([]);
    });
  }
});
