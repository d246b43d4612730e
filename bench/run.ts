// `npm run bench`: keyturn's figures (docs/benchmarks.md says what each means).
//
//   tsx bench/run.ts [--json] [--only cold,first,burst,many,sweep,calls] [--runs 7]
//                    [--secrets 1000] [--many-secrets 300] [--many-limit-scale 0.1]
//                    [--sweep-secrets 10000] [--latency 20]
//                    [--limit-scale 1] [--concurrency 16] [--unpaced] [--no-build]
//                    [--no-postgres] [--no-azurite] [--compare-unbundled]
//                    [--host bundled|tsx] [--host-node-args "--flag ..."]
//                    [--burst-kinds generated-secret,...] [--no-floor]
//                    [--instance-memory MB|machine] [--no-largest-instance] [--host-node PATH]
//
// Prints a table (or, with --json, one JSON document) with the machine and Node version.
// Benchmarks print figures; they never pass or fail on time.
import { parseArgs } from "node:util";
import { prepareArtifact } from "./lib/artifact.js";
import { MANY_VAULTS, startDoubles, type Doubles } from "./lib/doubles.js";
import { describeMachine, machineInfo } from "./lib/machine.js";
import { measureColdStart, type ColdStartFigures } from "./cold-start.js";
import { measureFirstRotation, type FirstRotationFigures } from "./first-rotation.js";
import { measureBurst, type BurstFigures } from "./burst.js";
import { measureSweep, type SweepFigures } from "./sweep.js";
import { measureCalls, type CallsFigures } from "./calls.js";
import { renderReport } from "./report.js";
import type { HostMode } from "./lib/host.js";
import { instanceMemory } from "./lib/instance.js";

const { values: opts } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    only: { type: "string", default: "cold,first,burst,many,sweep,calls" },
    runs: { type: "string", default: "7" },
    secrets: { type: "string", default: "1000" },
    "sweep-secrets": { type: "string", default: "10000" },
    latency: { type: "string", default: "20" },
    "limit-scale": { type: "string", default: "1" },
    "many-secrets": { type: "string", default: "300" },
    // At Key Vault's full limits the 10-vault burst's ideal (150 rotations/s) is far past
    // what 16 deliveries in flight carry; at 0.1 the subscription's limit binds.
    "many-limit-scale": { type: "string", default: "0.1" },
    concurrency: { type: "string", default: "16" },
    unpaced: { type: "boolean", default: false },
    "compare-unbundled": { type: "boolean", default: false },
    host: { type: "string", default: "bundled" },
    "host-node-args": { type: "string" },
    // Only these kinds in the one-vault burst's mix (experiments: what the providers' SDKs weigh).
    "burst-kinds": { type: "string" },
    // Leave out the floor for the host's memory (the same deliveries to a SecretClient-only host).
    "no-floor": { type: "boolean", default: false },
    // The burst hosts' memory: an instance's, as infra/ deploys it (bench/lib/instance.ts), or the machine's.
    "instance-memory": { type: "string" },
    // Leave out the one-vault burst again on the largest instance infra/ allows (its host's memory alone).
    "no-largest-instance": { type: "boolean", default: false },
    // Another node binary for the bursts' hosts (e.g. the Node version infra/ deploys).
    "host-node": { type: "string" },
    "no-build": { type: "boolean", default: false },
    "no-postgres": { type: "boolean", default: false },
    "no-azurite": { type: "boolean", default: false },
  },
  strict: true,
});

const only = new Set(opts.only.split(",").map((s) => s.trim()));
const num = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number >= 0`);
  return n;
};
const runs = Math.max(1, Math.floor(num("runs", opts.runs)));
const secrets = Math.floor(num("secrets", opts.secrets));
const sweepSecrets = Math.floor(num("sweep-secrets", opts["sweep-secrets"]));
const latencyMs = num("latency", opts.latency);
const limitScale = num("limit-scale", opts["limit-scale"]);
const manySecrets = Math.floor(num("many-secrets", opts["many-secrets"]));
const manyLimitScale = num("many-limit-scale", opts["many-limit-scale"]);
const concurrency = Math.max(1, Math.floor(num("concurrency", opts.concurrency)));
if (opts.host !== "bundled" && opts.host !== "tsx") throw new Error("--host must be bundled or tsx");
const hostMode: HostMode = opts.host;
const hostNodeArgs = (opts["host-node-args"] ?? "").split(/\s+/).filter(Boolean);
const burstKinds = opts["burst-kinds"]?.split(",").map((s) => s.trim()).filter(Boolean);
const instance = instanceMemory();
const hostMemoryMB = opts["instance-memory"] === "machine" ? undefined : opts["instance-memory"] === undefined ? instance.deployedMB : num("instance-memory", opts["instance-memory"]);
if (hostMemoryMB === 0) throw new Error("--instance-memory must be a number of MB > 0, or machine");
const largestMB = Math.max(...instance.allowedMB);
const hostNode = opts["host-node"];

// Progress goes to stderr, so that --json output stays one document on stdout.
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

export interface BenchReport {
  readonly machine: ReturnType<typeof machineInfo>;
  readonly settings: Record<string, unknown>;
  coldStart?: ColdStartFigures;
  firstRotation?: FirstRotationFigures;
  /** The same two on the artifact built with --external-packages (before bundling packages). */
  coldStartUnbundled?: ColdStartFigures;
  firstRotationUnbundled?: FirstRotationFigures;
  burst?: BurstFigures;
  /** The one-vault burst's deliveries answered by the floor host (SecretClient get+set alone): its peak RSS is the reference for keyturn's. */
  burstFloor?: BurstFigures;
  burstUnpaced?: BurstFigures;
  /** The one-vault burst again, its host with the largest instance memory infra/ allows: the host's memory alone. */
  burstLargestInstance?: BurstFigures;
  /** 10 vaults in one subscription. */
  burstManyVaults?: BurstFigures;
  sweep?: SweepFigures;
  calls?: CallsFigures;
  readonly durationS?: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  const machine = machineInfo();
  log(describeMachine(machine));
  const report: BenchReport = {
    machine,
    settings: {
      runs,
      secrets,
      manySecrets,
      manyLimitScale,
      sweepSecrets,
      latencyMs,
      limitScale,
      concurrency,
      host: hostMode,
      ...(hostNodeArgs.length ? { hostNodeArgs } : {}),
      ...(burstKinds ? { burstKinds } : {}),
      hostMemoryMB: hostMemoryMB ?? "machine",
      ...(hostNode ? { hostNode } : {}),
      only: [...only],
    },
  };
  const needsArtifact = only.has("cold") || only.has("first");
  const artifact = needsArtifact ? prepareArtifact({ build: !opts["no-build"], log }) : undefined;
  const unbundled = needsArtifact && opts["compare-unbundled"] ? prepareArtifact({ build: !opts["no-build"], packages: "external", log }) : undefined;

  if (only.has("cold") && artifact) {
    log(`cold start: ${runs} paired runs ...`);
    report.coldStart = await measureColdStart(artifact, runs);
    if (unbundled) {
      log(`cold start, unbundled artifact: ${runs} paired runs ...`);
      report.coldStartUnbundled = await measureColdStart(unbundled, runs);
    }
  }

  let doubles: Doubles | undefined;
  const needsDoubles = only.has("first") || only.has("burst") || only.has("many") || only.has("sweep") || only.has("calls");
  if (needsDoubles) doubles = await startDoubles({ postgres: !opts["no-postgres"] && (only.has("burst") || only.has("many") || only.has("calls")), log });
  try {
    if (only.has("first") && artifact && doubles) {
      log(`first rotation from cold: ${runs} paired runs ...`);
      report.firstRotation = await measureFirstRotation(artifact, doubles, runs, { azurite: !opts["no-azurite"], log });
      if (unbundled) {
        log(`first rotation from cold, unbundled artifact: ${runs} paired runs ...`);
        report.firstRotationUnbundled = await measureFirstRotation(unbundled, doubles, runs, { azurite: false, log });
      }
    }
    if (only.has("calls") && doubles) {
      log("calls per rotation ...");
      report.calls = await measureCalls(doubles, { log });
    }
    if (only.has("sweep") && doubles) {
      log(`sweep over ${sweepSecrets} secrets with ${latencyMs} ms latency ...`);
      report.sweep = await measureSweep(doubles, { secrets: sweepSecrets, latencyMs, log });
    }
    // Every burst's host, the floor's included, runs the same way, so that a side measurement compares like with like.
    const hostOptions = {
      host: hostMode,
      ...(hostNodeArgs.length ? { hostNodeArgs } : {}),
      ...(hostMemoryMB ? { instanceMemoryMB: hostMemoryMB } : {}),
      ...(hostNode ? { hostNode } : {}),
    };
    if (only.has("burst") && doubles) {
      log(`burst: ${secrets} secrets, each event twice, ${latencyMs} ms latency, limits x${limitScale}, pacing on ...`);
      const burst = { secrets, latencyMs, limitScale, concurrency, ...hostOptions, ...(burstKinds ? { kinds: burstKinds } : {}), log };
      report.burst = await measureBurst(doubles, { ...burst, paced: true });
      if (!opts["no-floor"]) {
        log("the same burst to the floor host (SecretClient get+set alone), for its peak RSS ...");
        report.burstFloor = await measureBurst(doubles, { ...burst, paced: false, program: "floor" });
      }
      if (!opts["no-largest-instance"] && hostMemoryMB !== undefined && largestMB > hostMemoryMB) {
        log(`the same burst, its host with ${largestMB} MB (the largest instance infra/ allows), for its peak RSS ...`);
        report.burstLargestInstance = await measureBurst(doubles, { ...burst, paced: true, instanceMemoryMB: largestMB, seedFrom: 40_000 });
      }
      if (opts.unpaced) {
        log("burst again with pacing off (KEYTURN_KEYVAULT_LIMIT_SCALE=0) ...");
        report.burstUnpaced = await measureBurst(doubles, { ...burst, paced: false });
      }
    }
    if (only.has("many") && doubles) {
      log(`burst over ${MANY_VAULTS.length} vaults: ${manySecrets} secrets each, each event twice, ${latencyMs} ms latency, limits x${manyLimitScale}, pacing on ...`);
      report.burstManyVaults = await measureBurst(doubles, {
        secrets: manySecrets,
        vaults: MANY_VAULTS,
        latencyMs,
        limitScale: manyLimitScale,
        concurrency,
        paced: true,
        ...hostOptions,
        log,
      });
    }
  } finally {
    await doubles?.stop();
  }
  const done = { ...report, durationS: Math.round((Date.now() - started) / 1000) };
  process.stdout.write(opts.json ? `${JSON.stringify(done, null, 2)}\n` : renderReport(done));
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
