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
const registered = globalThis.__keyturnBenchHandlers?.get("keyVaultEvents");
const model = globalThis.__keyturnBenchProgrammingModel;
if (!registered || !model) throw new Error("the app registered no keyVaultEvents function or no programming model");
// As the worker does: the app's own @azure/functions (bundled in it) turns the RPC
// invocation into the trigger's input and an InvocationContext, then calls the handler.
// (Importing @azure/functions here would load a second copy the deployed app never has.)
const { metadata, handler } = registered;
const triggerName = Object.entries(metadata.bindings).find(([, b]) => b.direction === "in")[0];
const invocation = model.getInvocationModel({
  invocationId: "bench-first-rotation",
  metadata,
  request: { inputData: [{ name: triggerName, data: { json: JSON.stringify(event) } }], triggerMetadata: {} },
  log: () => {},
  state: undefined,
});
const { context, inputs } = await invocation.getArguments();
const result = await invocation.invokeFunction(context, inputs, handler);
await invocation.getResponse(context, result);
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
