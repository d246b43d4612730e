// A chaos worker: one instance of keyturn (the real engine, rotators, blob lease lock,
// Event Grid notifier) in its own process, taking triggers from the chaos test on stdin
// and running several at once, as a Functions instance does. The test kills it
// (SIGKILL) whenever it likes — in particular when a job that carries `crashAt` reaches
// that step boundary, which the worker announces and then waits there to be killed; the
// other rotations in flight in the same process die wherever they happen to be.
//
// stdin, one JSON object per line:
//   {"id","type":"event","vault","secret","expectedVersion","crashAt"?}   a near-expiry event delivery
//   {"id","type":"sweep"}                                                  the sweep (core/sweep.ts) over every vault
// stdout, lines starting with "@@ " (everything else is keyturn's own log):
//   {"t":"ready"}
//   {"t":"at","id","step"}                   hanging at the crash point
//   {"t":"done","id",status,reason,rolledForward,version}     ("swept" with the sweep's summary)
//   {"t":"fail","id","kind","message"}
//
// Settings: the app's (KEYTURN_*, AzureWebJobsStorage) plus CHAOS_CLOCK_OFFSET_MS (this
// instance's clock, to match the Key Vault double's virtual clock), CHAOS_LEASE_SECONDS
// and CHAOS_CONCURRENCY. Runtime, clients, Key Vault pacing and the SDKs' retry policy
// are production's; only the pauses between retries are shorter (Retry-After honoured).
import { createInterface } from "node:readline";
import { SecretClient } from "@azure/keyvault-secrets";
import { clientOptions } from "../../core/azure.js";
import { BlobLeaseLock, storageConnectionFromEnv } from "../../core/blob-lock.js";
import { createEngine, type RotationResult, type Step } from "../../core/engine.js";
import { KeyturnError } from "../../core/errors.js";
import { createLogger } from "../../core/log.js";
import { processPacer } from "../../core/pacing.js";
import type { AzureClientOptions } from "../../core/rotator.js";
import { getRuntime } from "../../app/runtime.js";
import { runSweep } from "../../core/sweep.js";
import { graphAwareCredentialFromEnv } from "../support/credential.js";
import { chaosRegistry } from "./registry.js";

interface Job {
  readonly id: string;
  readonly type: "event" | "sweep";
  readonly vault?: string;
  readonly secret?: string;
  readonly expectedVersion?: string;
  readonly crashAt?: string;
}

const emit = (o: Record<string, unknown>) => {
  const cpu = process.cpuUsage();
  process.stdout.write(`@@ ${JSON.stringify({ ...o, cpuMs: Math.round((cpu.user + cpu.system) / 1000) })}\n`);
};

function outcomeOf(result: RotationResult): Record<string, unknown> {
  return { t: "done", status: result.status, reason: result.reason, rolledForward: result.rolledForward, version: result.version };
}

function failureOf(error: unknown): Record<string, unknown> {
  return { t: "fail", kind: error instanceof KeyturnError ? error.kind : "internal", message: (error as Error)?.message ?? String(error) };
}

async function main(): Promise<void> {
  // The app's own runtime (settings, Key Vault clients with their retries and pacing,
  // notifier, certificate and key services), as a Functions instance builds it.
  const runtime = await getRuntime();
  const { config } = runtime;
  const offsetMs = Number(process.env.CHAOS_CLOCK_OFFSET_MS ?? "0");
  const now = () => new Date(Date.now() + offsetMs);
  // Production's clients and retry policy, with shorter pauses between retries so that a
  // few hundred rotations at a 15 % failure rate fit in minutes (Retry-After is still
  // honoured), and production's Key Vault pacing.
  const base = clientOptions(config);
  const options: AzureClientOptions = { ...base, retryOptions: { maxRetries: 4, retryDelayInMs: 100, maxRetryDelayInMs: 2_000 } };
  const credential = graphAwareCredentialFromEnv(options.tlsOptions?.ca)!;
  const pacing = config.keyVaultLimitScale > 0 ? processPacer(config.keyVaultLimitScale) : undefined;
  const clients = new Map<string, Promise<SecretClient>>();
  const secretClient = (url: string): Promise<SecretClient> => {
    let c = clients.get(url);
    if (!c) {
      c = Promise.resolve(
        new SecretClient(url, credential, {
          ...options,
          ...(pacing ? { additionalPolicies: [{ policy: pacing.policy(), position: "perRetry" as const }] } : {}),
          disableChallengeResourceVerification: true,
        }),
      );
      clients.set(url, c);
    }
    return c;
  };
  const log = createLogger({ component: "chaos-worker", pid: process.pid });
  const lock = new BlobLeaseLock(storageConnectionFromEnv()!, credential, options, config.lockContainer, Number(process.env.CHAOS_LEASE_SECONDS ?? "15"));
  const jobs = new Map<string, { job: Job; seen: Map<string, number> }>();
  // The engine as the runtime builds it, plus the crash hook, keyturn's Graph-capable
  // test identity, the chaos registry and a lease short enough for a few-minute run.
  const engine = createEngine({
    config,
    registry: chaosRegistry,
    lock,
    notifier: runtime.notifier,
    credential,
    clientOptions: options,
    log,
    secretClient,
    now,
    onStep: async (step: Step, request) => {
      const entry = jobs.get(request.trigger.id);
      if (!entry?.job.crashAt) return;
      const count = (entry.seen.get(step) ?? 0) + 1;
      entry.seen.set(step, count);
      const [name, nth] = entry.job.crashAt.split("#");
      if (step === name && count === Number(nth ?? "1")) {
        emit({ t: "at", id: entry.job.id, step });
        await new Promise(() => undefined); // until killed
      }
    },
  });

  async function runEvent(job: Job): Promise<void> {
    try {
      const vault = config.vaults.byNameOrThrow(job.vault!);
      const result = await engine.rotateSecret({
        vault,
        secret: job.secret!,
        ...(job.expectedVersion ? { expectedVersion: job.expectedVersion } : {}),
        mode: "normal",
        trigger: { kind: "event", id: job.id, detail: "Microsoft.KeyVault.SecretNearExpiry" },
      });
      emit({ ...outcomeOf(result), id: job.id });
    } catch (error) {
      emit({ ...failureOf(error), id: job.id });
    }
  }

  // The sweep (core/sweep.ts) over every vault, with this instance's engine.
  async function runSweepJob(job: Job): Promise<void> {
    try {
      const summary = await runSweep(
        {
          config,
          engine,
          certificates: runtime.certificates,
          keys: runtime.keys,
          registry: chaosRegistry,
          log,
          secretClient,
          certificateClient: runtime.certificateClient,
          keyClient: runtime.keyClient,
          now,
          // The sweep's own retries of transiently failed items, with shorter pauses (as the SDKs' here).
          retryDelaysMs: [100, 400],
        },
        { id: job.id },
      );
      emit({ t: "done", id: job.id, status: "swept", summary });
    } catch (error) {
      emit({ ...failureOf(error), id: job.id });
    }
  }

  // A bounded number of triggers at once, as a Functions instance's concurrency setting does.
  const limit = Number(process.env.CHAOS_CONCURRENCY ?? "10");
  const queue: Job[] = [];
  let running = 0;
  const pump = () => {
    while (running < limit && queue.length > 0) {
      const job = queue.shift()!;
      running++;
      void (job.type === "sweep" ? runSweepJob(job) : runEvent(job)).finally(() => {
        running--;
        jobs.delete(job.id);
        pump();
      });
    }
  };
  createInterface({ input: process.stdin }).on("line", (line) => {
    if (!line.trim()) return;
    const job = JSON.parse(line) as Job;
    jobs.set(job.id, { job, seen: new Map() });
    queue.push(job);
    pump();
  });
  emit({ t: "ready" });
}

void main();
