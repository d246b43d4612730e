// keyturn's version (from package.json) and the process start time, for the health
// route and `keyturn --version`. package.json is found by walking up from this file,
// so the same code works from source (core/) and compiled (dist/core/).
import { readFileSync } from "node:fs";

const startedAt = Date.now();
let cached: string | undefined;

export function keyturnVersion(): string {
  if (cached !== undefined) return cached;
  cached = "unknown";
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "keyturn" && typeof pkg.version === "string") {
        cached = pkg.version;
        break;
      }
    } catch {
      // not there: try the next level up
    }
  }
  return cached;
}

export function uptimeSeconds(): number {
  return Math.floor((Date.now() - startedAt) / 1000);
}
