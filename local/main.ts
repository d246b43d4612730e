// `npm start`: run keyturn locally.
// - KEYTURN_VAULTS unset: the embedded demo (local Key Vault double, demo vault, local
//   notification topic); the demo secrets rotate within seconds.
// - KEYTURN_VAULTS set: the real vaults, with DefaultAzureCredential (az login).
// - KEYTURN_LOCAL_FUNCTION_KEY set: routes with authLevel "function" need this key
//   (x-functions-key or ?code=), as in Azure. Read only here: Azure checks its own keys.
import { startLocalHost } from "./host.js";
import type { Demo } from "./demo.js";

const print = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  let demo: Demo | undefined;
  if (!process.env.KEYTURN_VAULTS?.trim()) {
    const { prepareDemo } = await import("./demo.js");
    demo = await prepareDemo(print);
  }
  const port = Number(process.env.PORT ?? "7071");
  const functionKey = process.env.KEYTURN_LOCAL_FUNCTION_KEY?.trim() || undefined;
  const host = await startLocalHost({ port: Number.isInteger(port) ? port : 7071, ...(functionKey ? { functionKey } : {}) });
  print(`keyturn is listening on ${host.url}`);
  print(`  function keys:      ${functionKey ? "required (KEYTURN_LOCAL_FUNCTION_KEY): send x-functions-key" : "not required (set KEYTURN_LOCAL_FUNCTION_KEY to require one)"}`);
  // Printed without the key: it would end up in terminal logs.
  print(`  Event Grid webhook: ${host.url}/runtime/webhooks/eventgrid?functionName=keyVaultEvents${functionKey ? " (add &code=<function key>)" : ""}`);
  print(`  health:             ${host.url}/api/health`);
  print(`  rotate a secret:    curl -X POST ${host.url}/api/vaults/<vault>/secrets/<name>/rotate -H 'content-type: application/json' -d '{"reason":"test","mode":"dry-run"}'`);
  if (demo) {
    print("");
    print("demo mode (KEYTURN_VAULTS is not set):");
    print(`  vault demo-kv:      ${demo.keyVault.url("demo-kv")}`);
    print(`  CA certificate:     ${demo.caFile}`);
    print(`  notification topic: ${demo.topic.endpoint}`);
    print("  seeding demo secrets that are near expiry; watch them rotate:");
    await demo.start(host);
  }
  const stop = async () => {
    await host.close();
    await demo?.stop();
    process.exit(0);
  };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`keyturn could not start: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
