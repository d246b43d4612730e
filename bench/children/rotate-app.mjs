// First rotation from cold, keyturn side: a fresh `node` process loads the packaged
// function app (as the Functions worker does), then invokes the registered Event Grid
// function with one SecretNearExpiry event, as the worker would on the first trigger.
// The engine rotates the secret against the Key Vault double named in KEYTURN_VAULTS.
// Prints the time from process start to the end of the invocation, and the peak RSS.
// argv: <entry file URL> <event JSON file>
import { readFileSync } from "node:fs";

const [entry, eventFile] = process.argv.slice(2);
const event = JSON.parse(readFileSync(eventFile, "utf8"));
const t0 = performance.now();
await import(entry);
const loaded = performance.now();
const handler = globalThis.__keyturnBenchHandlers?.get("keyVaultEvents");
if (!handler) throw new Error("the app registered no keyVaultEvents function");
// @azure/functions is already loaded by the entry: this import costs nothing. It is
// CommonJS: its classes hang off the default export.
const { InvocationContext } = (await import("@azure/functions")).default;
const context = new InvocationContext({ invocationId: "bench-first-rotation", functionName: "keyVaultEvents", logHandler: () => {} });
await handler(event, context);
const done = performance.now();
process.stdout.write(
  `BENCH_RESULT ${JSON.stringify({ loadMs: loaded - t0, invokeMs: done - loaded, sinceProcessStartMs: done, maxRssKiB: process.resourceUsage().maxRSS, cpuMs: cpuMs() })}\n`,
);
// Keep-alive sockets would hold the process open for seconds: the worker would stay up
// anyway; the figure ends here.
process.exit(0);

/** CPU time of this process so far (user + system), ms: steadier than wall time on a busy machine. */
function cpuMs() {
  const u = process.resourceUsage();
  return (u.userCPUTime + u.systemCPUTime) / 1000;
}
