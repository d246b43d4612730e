// Cold start probe, run in a fresh `node` process by bench/cold-start.ts: load one module
// (the packaged function app entry, or @azure/functions alone) the way the Functions
// worker does at cold start, and report how long the import took and the peak RSS.
// Plain JavaScript, copied next to the packaged app so that bare imports resolve from
// the package's own node_modules, exactly as deployed.
const started = performance.now();
await import(process.argv[2]);
const loadedMs = performance.now();
const registered = [...(globalThis.__keyturnBenchHandlers ?? new Map()).keys()];
process.stdout.write(
  `BENCH_RESULT ${JSON.stringify({ importMs: loadedMs - started, sinceProcessStartMs: loadedMs, maxRssKiB: process.resourceUsage().maxRSS, cpuMs: cpuMs(), registered })}\n`,
);

/** CPU time of this process so far (user + system), ms: steadier than wall time on a busy machine. */
function cpuMs() {
  const u = process.resourceUsage();
  return (u.userCPUTime + u.systemCPUTime) / 1000;
}
