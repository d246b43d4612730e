#!/usr/bin/env node
// The `keyturn` command (package.json "bin"). A plain-JS shim, so that npm can link it
// and Node can run it without a build step:
//   - from a source checkout (cli/main.ts next to this file, tsx installed) it registers
//     tsx's ESM loader in this process and imports the TypeScript entry — no stale
//     build can ever answer an on-call engineer;
//   - otherwise (a package built with `npm run build`, dev dependencies pruned) it
//     imports the compiled entry, dist/cli/main.js.
// One process either way: exit codes and signals are the command's own.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const source = new URL("./main.ts", import.meta.url);
const compiled = new URL("../dist/cli/main.js", import.meta.url);

async function loadEntry() {
  if (existsSync(fileURLToPath(source))) {
    let register;
    try {
      ({ register } = await import("tsx/esm/api"));
    } catch {
      register = undefined; // tsx is a dev dependency: fall back to the build
    }
    if (register) {
      register();
      return import(source.href);
    }
  }
  if (existsSync(fileURLToPath(compiled))) return import(compiled.href);
  process.stderr.write("keyturn: neither tsx (for cli/main.ts) nor a build (dist/cli/main.js) is available; run `npm ci` or `npm run build`\n");
  process.exit(2);
}

const { main } = await loadEntry();
const code = await main(process.argv.slice(2));
if (code !== undefined) {
  // Wait for stdout/stderr to drain, then exit: SDK clients may hold sockets open.
  await new Promise((resolve) => process.stdout.write("", () => process.stderr.write("", resolve)));
  process.exit(code);
}
