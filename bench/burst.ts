// Burst: N secrets of mixed kinds reach near expiry at once. Every SecretNearExpiry event
// is delivered twice (Event Grid delivers at least once), in a shuffled order, by
// `concurrency` parallel webhook deliveries to the local host (local/main.ts in its own
// process, as `npm start` runs it) — POST /runtime/webhooks/eventgrid?functionName=keyVaultEvents.
// The deliverer behaves like Event Grid: a 2xx ends a delivery, a 5xx or a 30 s timeout is
// retried after 10 s, 30 s, 60 s (Event Grid's schedule starts at 10 s), a 400 is final.
//
// The doubles answer after `latencyMs` and enforce Key Vault's published limits by class,
// per vault and for the subscription (all the double's vaults), times `limitScale` (the
// same share keyturn is told it has: KEYTURN_KEYVAULT_LIMIT_SCALE).
//
// One vault (1,000 secrets by default) or many (10 vaults of 300: the per-vault limits
// run in parallel and the subscription's, 5x a vault's, binds). The one-vault burst is
// also delivered to the floor for the host's memory (bench/children/floor-host.mjs): the
// same deliveries answered with SecretClient get+set alone, in a host process of its own.
//
// Figures: rotations per second against the throttle-bound ideal (the fewest seconds in
// which Key Vault's sliding windows, per class, per vault and per subscription, admit the
// Key Vault calls the burst needs at the least), duplicates (a secret with more than one
// new version), failures, 429s, and the host's peak RSS (VmHWM from /proc).
import { KEY_VAULT_LIMITS } from "../core/keyvault-limits.js";
import { BENCH_VAULT, BenchKinds, addLatency, nearExpiryEvent, seedSecret, type BenchKind, type Doubles, type SeededSecret } from "./lib/doubles.js";
import { MINIMUM } from "./calls.js";
import { round } from "./lib/machine.js";
import { percentile, seededShuffle } from "./lib/stats.js";
import { cpuSeconds, peakRssMiB, startBenchHost, type HostMode, type HostProgram } from "./lib/host.js";
import { keyVaultThrottle, secretClientFor } from "../test/support/keyvault.js";

const RETRY_DELAYS_MS = [10_000, 30_000, 60_000];
const DELIVERY_TIMEOUT_MS = 30_000;

export interface BurstOptions {
  /** Secrets per vault. */
  readonly secrets: number;
  /** The vaults, all in one subscription; default the one bench vault. */
  readonly vaults?: readonly string[];
  readonly latencyMs: number;
  readonly limitScale: number;
  readonly concurrency: number;
  readonly paced: boolean;
  readonly host: HostMode;
  /** Extra `node` arguments for the host process (e.g. V8 heap flags), if any. */
  readonly hostNodeArgs?: readonly string[];
  /** keyturn (default), or the floor for the host's memory (bench/children/floor-host.mjs). */
  readonly program?: HostProgram;
  /** Only these kinds in the mix (default: every bench kind available). */
  readonly kinds?: readonly string[];
  /** First seed index, where another burst over the same doubles would take the default's names. */
  readonly seedFrom?: number;
  /** Another `node` binary for the host (bundled only). */
  readonly hostNode?: string;
  /** The host runs with an instance's memory (bench/lib/instance.ts); default the machine's. */
  readonly instanceMemoryMB?: number;
  readonly log: (line: string) => void;
}

export interface BurstFigures {
  readonly paced: boolean;
  readonly vaults: number;
  /** All vaults together. */
  readonly secrets: number;
  readonly mix: Record<string, number>;
  readonly deliveries: number;
  /** Per vault and per subscription, by class, per 10 s. */
  readonly limits: { readonly perVault: Record<string, number>; readonly subscription: Record<string, number>; readonly scale: number };
  readonly latencyMs: number;
  readonly concurrency: number;
  readonly rotated: number;
  /** Secrets with more than one new version. */
  readonly duplicates: number;
  /** Secrets not rotated, plus deliveries that ended in a failure outcome or a 400, or gave up. */
  readonly failures: number;
  readonly failureDetails: readonly string[];
  /** First delivery to the last rotation answered, s. */
  readonly rotationSpanS: number;
  /** First delivery to the last delivery acknowledged (duplicates redelivered after a 409 included), s. */
  readonly allAcknowledgedS: number;
  readonly rotationsPerS: number;
  /** The fewest seconds Key Vault's sliding window needs to admit the burst's minimal calls. */
  readonly idealSpanS: number;
  readonly idealRotationsPerS: number;
  /** rotationsPerS / idealRotationsPerS. */
  readonly ofIdeal: number;
  /** Which window binds the ideal, e.g. "secret CREATEs per vault" or "secret CREATEs per subscription". */
  readonly bindingLimit: string;
  /** Key Vault calls made (by operation, all vaults) and answered 429. */
  readonly keyVaultCalls: Record<string, number>;
  readonly keyVaultCreates: number;
  readonly minimalCreates: number;
  readonly minimalOthers: number;
  readonly throttled429: number;
  /** Redeliveries the deliverer made (5xx: the lock was held by the other copy, or a transient failure). */
  readonly redeliveries: number;
  readonly outcomes: Record<string, number>;
  /** Delivery to "rotated" answer, ms. */
  readonly rotationLatencyMs: { readonly p50: number; readonly p95: number; readonly max: number };
  /** The same, median by kind (the long-running ARM operations show here). */
  readonly rotationLatencyP50ByKindMs: Record<string, number>;
  readonly rotationLatencyP95ByKindMs: Record<string, number>;
  readonly hostPeakRssMiB: number | undefined;
  /** The memory the host ran with (an instance's, or the machine's and why). */
  readonly hostMemory: string;
  /** The host's Node version. */
  readonly hostNodeVersion: string;
  /** Host CPU time over the rotation span, as a share of one core (1 = one core busy): the burst is limit-bound, not CPU-bound, while this stays well under the cores. */
  readonly hostCpuCores: number | undefined;
  /** The same for this process (the doubles, the deliverer): on a loaded machine the two together may be what binds. */
  readonly benchCpuCores: number;
  readonly host: HostMode;
  readonly program: HostProgram;
  readonly hostNodeArgs?: readonly string[];
}

function mixFor(total: number, kinds: readonly BenchKind[]): Map<BenchKind, number> {
  // 60 % generated-secret; the rest spread evenly over the provider kinds available.
  const providers = kinds.filter((k) => k !== "generated-secret");
  const mix = new Map<BenchKind, number>();
  const generated = providers.length === 0 ? total : Math.round(total * 0.6);
  mix.set("generated-secret", generated);
  let left = total - generated;
  providers.forEach((k, i) => {
    const n = Math.floor(left / (providers.length - i));
    mix.set(k, n);
    left -= n;
  });
  return mix;
}

/** Fewest seconds in which a sliding window of `windowMs` admitting `limit` calls lets `n` calls through: the i-th goes at windowMs·floor((i−1)/limit). */
export function slidingWindowSpanMs(n: number, limit: number, windowMs: number): number {
  if (n <= 0) return 0;
  return windowMs * Math.floor((n - 1) / limit);
}

export async function measureBurst(d: Doubles, o: BurstOptions): Promise<BurstFigures> {
  const kinds = BenchKinds.filter((k) => (k !== "postgres-flexible-admin" || d.pg !== undefined) && (!o.kinds || o.kinds.includes(k)));
  if (kinds.length === 0) throw new Error(`no bench kind left in the mix (asked for ${o.kinds?.join(", ")}; there are ${BenchKinds.join(", ")})`);
  const program = o.program ?? "keyturn";
  const vaults = o.vaults ?? [BENCH_VAULT];
  const mix = mixFor(o.secrets, kinds);
  // Secret names by run, so that runs in one bench never share a secret.
  const base = o.seedFrom ?? (program === "floor" ? 70_000 : o.paced ? 10_000 : 50_000) + (vaults.length > 1 ? 20_000 : 0);
  o.log(`seeding ${o.secrets} secrets in each of ${vaults.length} vault(s): ${[...mix].map(([k, n]) => `${n} ${k}`).join(", ")} ...`);
  const seeded: SeededSecret[] = [];
  let i = 0;
  for (const vault of vaults) for (const [kind, n] of mix) for (let j = 0; j < n; j++) seeded.push(await seedSecret(d, kind, base + i++, 10, vault));

  const throttle = keyVaultThrottle(o.limitScale);
  const limits = { perVault: { ...throttle.perVault }, subscription: { ...throttle.subscription! }, scale: o.limitScale };
  // Rotations are logged at info, as deployed; the log is part of the cost.
  const host = await startBenchHost(o.host, d.env({ KEYTURN_KEYVAULT_LIMIT_SCALE: o.paced ? String(o.limitScale) : "0" }), {
    ...(o.hostNodeArgs ? { nodeArgs: o.hostNodeArgs } : {}),
    program,
    ...(o.instanceMemoryMB ? { memoryMB: o.instanceMemoryMB } : {}),
    ...(o.hostNode ? { node: o.hostNode } : {}),
  });
  const removeLatency = addLatency(d, o.latencyMs);
  const removeThrottle = d.kvFaults.throttle(throttle);
  d.kvFaults.throttled.clear();
  d.kv.resetStats();
  d.arm.clearRequests();

  const key = (s: { vault: string; name: string }) => `${s.vault}/${s.name}`;
  const events = new Map(seeded.map((s) => [key(s), nearExpiryEvent(d, s, `bench-burst-${s.vault}-${s.name}`)]));
  const deliveries = seededShuffle(
    seeded.flatMap((s) => [key(s), key(s)]),
    42,
  ).map((name) => ({ name, attempt: 0, firstSentAt: 0 }));
  const queue = [...deliveries];
  const outcomes: Record<string, number> = {};
  const failureDetails: string[] = [];
  const rotationLatencies: number[] = [];
  const latenciesByKind = new Map<BenchKind, number[]>();
  const kindOf = new Map(seeded.map((x) => [key(x), x.kind]));
  let lastRotatedAt = 0;
  let lastAckAt = 0;
  let redeliveries = 0;
  let pendingRetries = 0;
  const webhook = host.webhookUrl("keyVaultEvents");
  const cpuAtStart = cpuSeconds(host.pid);
  const benchCpuAtStart = process.cpuUsage();
  const t0 = performance.now();

  async function deliver(item: (typeof deliveries)[number]): Promise<void> {
    const sentAt = performance.now();
    if (item.attempt === 0) item.firstSentAt = sentAt;
    let status = 0;
    let body = "";
    try {
      const r = await fetch(webhook, {
        method: "POST",
        headers: { "content-type": "application/json", "aeg-event-type": "Notification", "aeg-delivery-count": String(item.attempt) },
        body: JSON.stringify([events.get(item.name)]),
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      status = r.status;
      body = await r.text();
    } catch (error) {
      body = String((error as Error).message);
    }
    const now = performance.now();
    if (status === 200) {
      const outcome = (JSON.parse(body) as { outcomes: string[] }).outcomes[0] ?? "none";
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (outcome === "rotated") {
        lastRotatedAt = Math.max(lastRotatedAt, now);
        rotationLatencies.push(now - item.firstSentAt);
        const k = kindOf.get(item.name)!;
        latenciesByKind.set(k, [...(latenciesByKind.get(k) ?? []), now - item.firstSentAt]);
      } else if (outcome !== "skipped") {
        failureDetails.push(`${item.name}: outcome ${outcome}`);
      }
      lastAckAt = Math.max(lastAckAt, now);
      return;
    }
    if (status === 400) {
      outcomes.rejected = (outcomes.rejected ?? 0) + 1;
      failureDetails.push(`${item.name}: 400 ${body.slice(0, 200)}`);
      lastAckAt = Math.max(lastAckAt, now);
      return;
    }
    // 5xx or no answer in time: Event Grid retries later.
    const key = status === 0 ? "timeout-or-network" : `http-${status}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    const delay = RETRY_DELAYS_MS[item.attempt];
    if (delay === undefined) {
      failureDetails.push(`${item.name}: gave up after ${item.attempt + 1} attempts (${key})`);
      lastAckAt = Math.max(lastAckAt, now);
      return;
    }
    item.attempt++;
    redeliveries++;
    pendingRetries++;
    setTimeout(() => {
      pendingRetries--;
      queue.push(item);
      wake();
    }, delay);
  }

  // A pool of `concurrency` workers; idle workers wait for redeliveries.
  let wakeUp: (() => void) | undefined;
  const wake = () => {
    const w = wakeUp;
    wakeUp = undefined;
    w?.();
  };
  let active = 0;
  const progress = setInterval(() => {
    o.log(`  ${Math.round((performance.now() - t0) / 1000)} s: ${outcomes.rotated ?? 0} rotated, ${outcomes.skipped ?? 0} skipped, ${redeliveries} redeliveries, ${d.kvFaults.throttledCount()} 429s`);
  }, 10_000);
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (active < o.concurrency && queue.length > 0) {
        const item = queue.shift()!;
        active++;
        void deliver(item).finally(() => {
          active--;
          pump();
        });
      }
      if (active === 0 && queue.length === 0) {
        if (pendingRetries === 0) resolve();
        else wakeUp = pump;
      }
    };
    pump();
  });
  clearInterval(progress);

  const hostPeak = peakRssMiB(host.pid);
  const cpuAtEnd = cpuSeconds(host.pid);
  const benchCpu = process.cpuUsage(benchCpuAtStart);
  const stats: Record<string, number> = {};
  for (const v of vaults) for (const [op, n] of Object.entries(d.kv.stats()[v] ?? {})) stats[op] = (stats[op] ?? 0) + n;
  const throttled = d.kvFaults.throttledCount();
  removeThrottle();
  removeLatency();
  await host.stop();

  // Every secret: exactly one new version.
  const versionCounts = new Map<string, number>();
  for (const vault of vaults) {
    const client = secretClientFor(d.kv, vault);
    const names = seeded.filter((x) => x.vault === vault).map((x) => x.name);
    for (let k = 0; k < names.length; k += 32) {
      await Promise.all(
        names.slice(k, k + 32).map(async (name) => {
          let n = 0;
          for await (const _ of client.listPropertiesOfSecretVersions(name)) n++;
          versionCounts.set(`${vault}/${name}`, n);
        }),
      );
    }
  }
  const duplicates = [...versionCounts.values()].filter((n) => n > 2).length;
  const notRotated = [...versionCounts].filter(([, n]) => n < 2).map(([name]) => name);
  for (const name of notRotated.slice(0, 20)) failureDetails.push(`${name}: not rotated`);

  // The ideal: the burst's minimal Key Vault calls (bench/calls.ts MINIMUM) through each
  // sliding window that counts them: per vault and per subscription, per class.
  const perVault = new Map<string, { creates: number; others: number }>();
  for (const x of seeded) {
    const m = MINIMUM[x.kind]!.keyVault;
    const v = perVault.get(x.vault) ?? { creates: 0, others: 0 };
    // The second copy of each event: one read finds the version already replaced.
    perVault.set(x.vault, { creates: v.creates + m.creates, others: v.others + m.others + 1 });
  }
  const total = [...perVault.values()].reduce((a, v) => ({ creates: a.creates + v.creates, others: a.others + v.others }), { creates: 0, others: 0 });
  const spans: Array<[string, number]> = [];
  for (const v of perVault.values()) {
    spans.push(["secret CREATEs per vault", slidingWindowSpanMs(v.creates, limits.perVault.secretCreate!, KEY_VAULT_LIMITS.windowMs)]);
    spans.push(["other transactions per vault", slidingWindowSpanMs(v.others, limits.perVault.other!, KEY_VAULT_LIMITS.windowMs)]);
  }
  spans.push(["secret CREATEs per subscription", slidingWindowSpanMs(total.creates, limits.subscription.secretCreate!, KEY_VAULT_LIMITS.windowMs)]);
  spans.push(["other transactions per subscription", slidingWindowSpanMs(total.others, limits.subscription.other!, KEY_VAULT_LIMITS.windowMs)]);
  // Ties go to the first listed: the per-vault window, then the subscription's.
  const [bindingLimit, idealSpanMs] = spans.reduce((a, b) => (b[1] > a[1] ? b : a));
  const rotated = [...versionCounts.values()].filter((n) => n >= 2).length;
  const rotationSpanMs = lastRotatedAt - t0;
  const rotationsPerS = rotated / (rotationSpanMs / 1000);
  const idealRotationsPerS = idealSpanMs > 0 ? seeded.length / (idealSpanMs / 1000) : Number.POSITIVE_INFINITY;
  const creates = (stats.SetSecret ?? 0) + (stats.RestoreSecret ?? 0);
  return {
    paced: o.paced,
    vaults: vaults.length,
    secrets: seeded.length,
    mix: Object.fromEntries(mix),
    deliveries: deliveries.length,
    limits,
    latencyMs: o.latencyMs,
    concurrency: o.concurrency,
    rotated,
    duplicates,
    failures: notRotated.length + failureDetails.filter((f) => !f.endsWith("not rotated")).length,
    failureDetails: failureDetails.slice(0, 40),
    rotationSpanS: round(rotationSpanMs / 1000, 1),
    allAcknowledgedS: round((lastAckAt - t0) / 1000, 1),
    rotationsPerS: round(rotationsPerS, 2),
    idealSpanS: round(idealSpanMs / 1000, 1),
    idealRotationsPerS: round(idealRotationsPerS, 2),
    ofIdeal: round(rotationsPerS / idealRotationsPerS, 3),
    bindingLimit,
    keyVaultCalls: stats,
    keyVaultCreates: creates,
    minimalCreates: total.creates,
    minimalOthers: total.others,
    throttled429: throttled,
    redeliveries,
    outcomes,
    rotationLatencyMs: {
      p50: round(percentile(rotationLatencies, 50), 0),
      p95: round(percentile(rotationLatencies, 95), 0),
      max: round(percentile(rotationLatencies, 100), 0),
    },
    rotationLatencyP50ByKindMs: Object.fromEntries([...latenciesByKind].map(([k, v]) => [k, round(percentile(v, 50), 0)])),
    rotationLatencyP95ByKindMs: Object.fromEntries([...latenciesByKind].map(([k, v]) => [k, round(percentile(v, 95), 0)])),
    hostPeakRssMiB: hostPeak,
    hostMemory: host.memory,
    hostNodeVersion: host.nodeVersion,
    hostCpuCores: cpuAtStart !== undefined && cpuAtEnd !== undefined ? round((cpuAtEnd - cpuAtStart) / ((lastAckAt - t0) / 1000), 2) : undefined,
    benchCpuCores: round((benchCpu.user + benchCpu.system) / 1e6 / ((lastAckAt - t0) / 1000), 2),
    host: o.host,
    program,
    ...(o.hostNodeArgs?.length ? { hostNodeArgs: o.hostNodeArgs } : {}),
  };
}
