// The chaos run. A few hundred secrets of every rotator kind, in two vaults, each near
// expiry: its near-expiry event is delivered to a pool of worker processes (instances of
// keyturn with the real runtime, engine, rotators, blob lease lock and notifier) again
// and again, as Event Grid redelivers, until the secret is rotated or its rotation
// failed cleanly. Meanwhile:
//   - 10-20 % of the calls to the Key Vault, ARM (and its Blob and Cosmos DB data planes)
//     and Graph (and its token endpoint) doubles fail at random: 429 with Retry-After,
//     500, 503, connections dropped before the work, answers lost after it; others are
//     slowed down; Key Vault's own throttling limits apply;
//   - a TCP proxy in front of PostgreSQL drops some connections, at connect or midway;
//   - worker processes are killed (SIGKILL) at random step boundaries of random
//     rotations, taking every other rotation in flight in that process down wherever it
//     is; a killed worker's lock leases stay until they expire;
//   - some events are delivered twice at once, to two workers; the sweep runs now and then;
//   - a few secrets carry a bad tag (a configuration error, never retried).
// Then, with the faults off, the invariant is checked at the providers themselves, the
// next day's sweep finishes the journals left behind, and the test asserts: no secret
// rotated twice for its one event (two versions with the same value — a write repeated
// after a lost answer — are counted and reported apart), no invariant violation, every
// failure notified, no secret value in any log, error, response or notification. It
// prints a table of what happened (docs/guarantees.md has the last one).
//
// CHAOS_SEED=<n> replays the same random choices (timing still varies).
import { spawn, type ChildProcess } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDueSecrets, parseWithin } from "../../core/due.js";
import { JournalState, isJournalName } from "../../core/journal.js";
import { journals, type Rotator } from "../../core/rotator.js";
import type { SweepSummary } from "../../core/sweep.js";
import { FaultInjector, type ApplyOptions, type FaultDecision, type RequestDescriptor } from "../../emulators/faults.js";
import { rotators } from "../../rotators/index.js";
import { ALL_KINDS, passwordOf, startFleet, type Fleet, type Kind, type ManagedSecret } from "../support/fleet.js";
import { keyVaultThrottle } from "../support/keyvault.js";
import { chaosRegistry, withConcurrency } from "./registry.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

// ---- sizing: about 3 minutes on 2 cores ------------------------------------------------
const VAULTS = ["chaos-kv-1", "chaos-kv-2"];
/** CHAOS_SCALE=0.2 runs a fifth of the population (for working on this test); the suite runs 1. */
const SCALE = Number(process.env.CHAOS_SCALE ?? "1");
const FULL_POPULATION: Record<Kind, number> = {
  "generated-secret": 150,
  "storage-account-key": 14,
  "sql-server-admin": 12,
  "cosmos-db-key": 12,
  "entra-app-secret": 12,
  "postgres-role": 12,
  "postgres-flexible-admin": 8,
  // The access-key family: one rotator, eight descriptors; a few of each.
  "cognitive-services-key": 4,
  "service-bus-key": 4,
  "event-hubs-key": 3,
  "redis-cache-key": 3,
  "search-admin-key": 3,
  "app-configuration-key": 4,
  "event-grid-key": 3,
  "container-registry-token": 3,
};
const POPULATION = Object.fromEntries(Object.entries(FULL_POPULATION).map(([k, v]) => [k, Math.max(2, Math.round(v * SCALE))])) as Record<Kind, number>;
/** Secrets with a bad tag (ValidityPeriodDays of 30 or less): configuration errors. */
const MISCONFIGURED: Kind[] = ["generated-secret", "generated-secret", "storage-account-key", "sql-server-admin", "postgres-role"];
const WORKERS = 3;
const WORKER_CONCURRENCY = 10;
/** Like Event Grid's redelivery, bounded. */
const MAX_ROUNDS = 30;
const ROUND_PAUSE_MS = 1_000;
/** Kill workers at random step boundaries during the first rounds, at most this often. */
const CRASH_ROUNDS = 4;
const MAX_KILLS = Number(process.env.CHAOS_KILLS ?? "8");
const CRASHES_PER_ROUND = 4;
/** Chance that an event is delivered twice at once (to two workers). */
const DUPLICATE_DELIVERY = 0.3;
/** Rounds in which the sweep (core/sweep.ts) runs, in one of the workers. */
const SWEEP_ROUNDS = new Set([0, 2, 5, 9, 14]);
const LEASE_SECONDS = 15;
/** Chance that a double does the work but the answer is lost (connection reset). */
const LOST_ANSWERS = Number(process.env.CHAOS_LOST_ANSWERS ?? "0.02");
/** Workers' clocks run this far ahead, matched by the Key Vault double's: the seeded versions are older than the loop guard. */
const CLOCK_OFFSET_MS = 2 * 3_600_000;
const RUN_BUDGET_MS = 150_000;
const DAY_MS = 86_400_000;

const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/**
 * Counts every decision the doubles asked for, per service; and can lose answers: the
 * double does the work (a version is written, a key regenerated), then the connection
 * is reset instead of the answer reaching the client — what a dropped connection often
 * is in real life, and what makes a client's retry of a non-idempotent call repeat it.
 */
class CountingFaults extends FaultInjector {
  readonly counts = new Map<string, { calls: number; failed: number; throttled: number; dropped: number; slowed: number; lost: number }>();
  /** Chance that an answer is lost after the double did the work. */
  lostAnswers = 0;

  constructor(private readonly rand: () => number) {
    super({ random: rand });
  }

  private countsOf(service: string) {
    let c = this.counts.get(service);
    if (!c) this.counts.set(service, (c = { calls: 0, failed: 0, throttled: 0, dropped: 0, slowed: 0, lost: 0 }));
    return c;
  }

  override async apply(req: IncomingMessage, res: ServerResponse, request: RequestDescriptor, options?: ApplyOptions): Promise<boolean> {
    if (await super.apply(req, res, request, options)) return true;
    if (this.lostAnswers > 0 && this.rand() < this.lostAnswers) {
      const c = this.countsOf(request.service);
      c.lost++;
      c.failed++;
      // Let the double work; swallow its answer and reset the connection instead.
      const r = res as unknown as Record<string, unknown>;
      r.writeHead = () => res;
      r.setHeader = () => res;
      r.write = () => true;
      r.end = () => {
        req.socket.destroy();
        return res;
      };
    }
    return false;
  }

  override decide(request: RequestDescriptor): FaultDecision {
    const d = super.decide(request);
    const c = this.countsOf(request.service);
    c.calls++;
    if (d.latencyMs > 0) c.slowed++;
    if (d.kind === "drop") c.dropped++;
    if (d.kind === "respond" && d.errorMessage.includes("VaultRequestTypeLimitReached")) c.throttled++;
    else if (d.kind !== "pass") c.failed++;
    return d;
  }
}

type Outcome =
  | { t: "done"; status: string; reason?: string; rolledForward?: boolean; version?: string; summary?: SweepSummary }
  | { t: "fail"; kind: string; message: string }
  | { t: "crashed" };

interface WorkerMessage {
  t: string;
  id: string;
  step?: string;
  secret?: string;
  triggerId?: string;
  status?: string;
  reason?: string;
  rolledForward?: boolean;
  kind?: string;
  message?: string;
  cpuMs?: number;
  summary?: SweepSummary;
}

/** A worker process (test/chaos/worker.ts) and the triggers in flight in it. */
class Worker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  alive = true;
  isReady = false;
  /** Triggers sent and not answered. */
  inFlight = 0;
  /** CPU time the process had used at its last message. */
  cpuMs = 0;
  private readonly pending = new Map<string, (o: Outcome) => void>();
  private buffer = "";

  constructor(
    env: Record<string, string>,
    output: string[],
    private readonly onAt: (w: Worker, id: string, step: string) => void,
    onReady: () => void,
  ) {
    this.child = spawn(process.execPath, ["--import", "tsx", "test/chaos/worker.ts"], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let ready!: () => void;
    this.ready = new Promise((r) => (ready = r));
    this.child.stdin!.on("error", () => undefined);
    this.child.stderr!.on("data", (c: Buffer) => output.push(c.toString("utf8")));
    this.child.stdout!.on("data", (c: Buffer) => {
      const text = c.toString("utf8");
      output.push(text);
      this.buffer += text;
      const lines = this.buffer.split("\n");
      this.buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("@@ ")) continue;
        const m = JSON.parse(line.slice(3)) as WorkerMessage;
        this.cpuMs = m.cpuMs ?? this.cpuMs;
        if (m.t === "ready") {
          this.isReady = true;
          ready();
          onReady();
        }
        else if (m.t === "at") this.onAt(this, m.id, m.step!);
        else
          this.settle(
            m.id,
            m.t === "done"
              ? { t: "done", status: m.status!, ...(m.reason ? { reason: m.reason } : {}), ...(m.rolledForward ? { rolledForward: true } : {}), ...(m.summary ? { summary: m.summary } : {}) }
              : { t: "fail", kind: m.kind!, message: m.message! },
          );
      }
    });
    this.child.once("exit", () => {
      this.alive = false;
      for (const id of this.pending.keys()) this.settle(id, { t: "crashed" });
    });
  }

  private settle(id: string, o: Outcome): void {
    const resolve = this.pending.get(id);
    this.pending.delete(id);
    resolve?.(o);
  }

  send(job: Record<string, unknown> & { id: string }): Promise<Outcome> {
    if (!this.alive) return Promise.resolve({ t: "crashed" });
    this.inFlight++;
    return new Promise<Outcome>((resolve) => {
      this.pending.set(job.id, resolve);
      this.child.stdin!.write(`${JSON.stringify(job)}\n`);
    }).finally(() => this.inFlight--);
  }

  kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.kill("SIGKILL");
    });
  }
}

/** The crash points a kind's event-triggered rotation reaches (step boundaries; only kinds that change a provider read and write a journal). */
function crashPoints(kind: Kind): string[] {
  const r: Rotator<unknown, unknown> = rotators[kind];
  const journaled = journals(r);
  return ["plan", ...(journaled ? ["read-journal"] : []), "check-current", "create", ...(journaled ? ["journal"] : []), ...(r.apply ? ["apply"] : []), "verify", "commit", "notify"];
}

/** The credential strings inside a value (JSON fields, connection-string keys and passwords, URL passwords), the value included. */
function credentialStrings(value: string): string[] {
  const out = new Set<string>([value]);
  const visit = (v: string) => {
    out.add(v);
    if (v.startsWith("{")) {
      try {
        // The secret fields of keyturn's JSON formats and of the journal body.
        for (const [name, field] of Object.entries(JSON.parse(v) as Record<string, unknown>)) if (typeof field === "string" && /^(password|clientSecret|secretValue)$/.test(name)) visit(field);
      } catch {
        // not JSON
      }
    } else if (/^postgres(ql)?:\/\//.test(v)) {
      out.add(passwordOf(v));
    } else if (v.includes("=") && v.includes(";")) {
      for (const part of v.split(";")) {
        const eq = part.indexOf("=");
        if (eq > 0 && /^(accountkey|password|pwd)$/i.test(part.slice(0, eq).trim())) out.add(part.slice(eq + 1).trim());
      }
    }
  };
  visit(value);
  return [...out].filter((s) => s.length >= 8);
}

interface Tracked {
  readonly s: ManagedSecret;
  readonly misconfigured: boolean;
  settled?: "rotated" | "stale" | "failed";
  failedKind?: string;
}

describe("chaos", () => {
  let fleet: Fleet;
  let faults: CountingFaults;
  let proxy: TcpProxy;
  let workers: Worker[] = [];
  /** Every worker process started, replacements included: afterAll stops them all. */
  const allWorkers: Worker[] = [];
  let stopping = false;
  const outputs: string[] = [];
  const tracked: Tracked[] = [];

  beforeAll(async () => {
    faults = new CountingFaults(random);
    fleet = await startFleet({ vaults: VAULTS, kvFaults: faults, armFaults: faults, graphFaults: faults, azurite: true, topic: true });
    proxy = await startTcpProxy({ host: fleet.pg.host, port: fleet.pg.port }, { random });
    let n = 0;
    for (const kind of ALL_KINDS) {
      const badCount = MISCONFIGURED.filter((k) => k === kind).length;
      for (let i = 0; i < POPULATION[kind]; i++) {
        const bad = i < badCount;
        const vault = VAULTS[n++ % VAULTS.length]!;
        // The kind's full name: initials collide (storage-account-key, search-admin-key).
        const s = await fleet.addSecret(kind, vault, `${kind}-${i}`, {
          variant: i,
          pgPort: proxy.port,
          ...(bad ? { tags: { ValidityPeriodDays: "20" } } : {}),
        });
        tracked.push({ s, misconfigured: bad });
      }
    }
    // The seeded versions become two hours old (older than the loop guard) on the vault's clock.
    await fleet.kv.clock.advance(CLOCK_OFFSET_MS);
  }, 180_000);

  afterAll(async () => {
    stopping = true;
    await Promise.all(allWorkers.map((w) => w.kill()));
    await proxy?.close();
    await fleet?.stop();
  });

  it("rotates every secret once, or fails cleanly, through faults and crashes", { timeout: 300_000 }, async () => {
    const started = Date.now();
    const env = {
      ...fleet.env(VAULTS[0]!),
      KEYTURN_ROTATION_GUARD_MINUTES: "60",
      CHAOS_CLOCK_OFFSET_MS: String(CLOCK_OFFSET_MS),
      CHAOS_LEASE_SECONDS: String(LEASE_SECONDS),
      CHAOS_CONCURRENCY: String(WORKER_CONCURRENCY),
    };
    const bySecret = new Map(tracked.map((t) => [`${t.s.vault}/${t.s.name}`, t]));
    const triggers: Array<{ id: string; secret: string; vault: string; kind: "event"; outcome: Outcome }> = [];
    const sweeps: Array<{ id: string; outcome: Outcome }> = [];
    let kills = 0;
    let storming = true;
    const killWorker = (w: Worker) => {
      kills++;
      // Kill it, and start its replacement at once (an instance comes back).
      void w.kill().then(() => {
        const i = workers.indexOf(w);
        if (storming && !stopping && i >= 0) workers[i] = spawnWorker();
      });
    };
    let pump = () => undefined as void;
    const spawnWorker = () => {
      const w = new Worker(env, outputs, killWorker, () => pump());
      allWorkers.push(w);
      return w;
    };
    const cpuAtStart = process.cpuUsage();
    workers = Array.from({ length: WORKERS }, spawnWorker);
    await Promise.all(workers.map((w) => w.ready));
    const firstSpawnMs = Date.now() - started;

    // Faults on, from here to the end of the rounds.
    for (const rule of [
      { status: 429, retryAfterSeconds: 1, probability: 0.05 },
      { status: 500, probability: 0.04 },
      { status: 503, probability: 0.03 },
      { drop: true as const, probability: 0.03 },
      { latencyMs: 80, probability: 0.1 },
      { latencyMs: 400, probability: 0.02 },
    ]) faults.add(rule);
    faults.throttle(keyVaultThrottle(1, { match: { service: "keyvault" } }));
    faults.lostAnswers = LOST_ANSWERS;
    proxy.setDrops(0.05, 0.05);

    let round = 0;
    const roundLog: string[] = [];
    const slowest: Array<{ id: string; ms: number; outcome: string; crashAt?: unknown }> = [];
    for (; round < MAX_ROUNDS && Date.now() - started < RUN_BUDGET_MS; round++) {
      const open = tracked.filter((t) => !t.settled);
      if (open.length === 0) break;
      const jobs: Array<{ job: Record<string, unknown> & { id: string }; t?: Tracked }> = [];
      // A crash is planted only in a secret delivered once this round: of two deliveries at
      // once, the one that loses the lock never reaches its crash point.
      const deliveredOnce = new Set<Tracked>();
      for (const t of open) {
        const deliveries = random() < DUPLICATE_DELIVERY ? 2 : 1;
        if (deliveries === 1) deliveredOnce.add(t);
        for (let d = 0; d < deliveries; d++) {
          jobs.push({ job: { id: `${t.s.vault}|${t.s.name}|r${round}|d${d}`, type: "event", vault: t.s.vault, secret: t.s.name, expectedVersion: t.s.version }, t });
        }
      }
      if (SWEEP_ROUNDS.has(round)) jobs.push({ job: { id: `sweep|r${round}`, type: "sweep" } });
      // Shuffle (a duplicate delivery lands anywhere), then pick the jobs whose process
      // will be killed when they reach a random step boundary.
      for (let i = jobs.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [jobs[i], jobs[j]] = [jobs[j]!, jobs[i]!];
      }
      if (round < CRASH_ROUNDS) {
        for (let k = 0; k < CRASHES_PER_ROUND && kills + k < MAX_KILLS; k++) {
          const candidates = jobs.filter((j) => j.t && deliveredOnce.has(j.t) && !j.job.crashAt);
          if (candidates.length === 0) break;
          const victim = pick(candidates);
          victim.job.crashAt = pick(crashPoints(victim.t!.s.kind));
        }
      }
      // Each instance takes at most WORKER_CONCURRENCY triggers at a time; a killed one
      // loses only those, and the others (and its replacement) take the rest.
      const roundStarted = Date.now();
      const outcomes: Array<{ job: Record<string, unknown> & { id: string }; outcome: Outcome; ms: number }> = [];
      await new Promise<void>((resolve) => {
        const queue = [...jobs];
        pump = () => {
          for (const w of workers) {
            while (w.alive && w.isReady && w.inFlight < WORKER_CONCURRENCY && queue.length > 0) {
              const { job } = queue.shift()!;
              void w.send(job).then((outcome) => {
                outcomes.push({ job, outcome, ms: Date.now() - roundStarted });
                if (outcomes.length === jobs.length) resolve();
                else queueMicrotask(pump);
              });
            }
          }
        };
        pump();
      });
      slowest.push(...outcomes.map((o) => ({ id: o.job.id, ms: o.ms, outcome: JSON.stringify(o.outcome).slice(0, 160), crashAt: o.job.crashAt })));
      roundLog.push(`r${round}: ${jobs.length} jobs, ${((Date.now() - roundStarted) / 1000).toFixed(1)} s`);

      for (const { job, outcome } of outcomes) {
        if (job.type === "sweep") {
          sweeps.push({ id: job.id, outcome });
          continue;
        }
        const t = bySecret.get(`${job.vault as string}/${job.secret as string}`)!;
        triggers.push({ id: job.id, secret: t.s.name, vault: t.s.vault, kind: "event", outcome });
        if (t.settled) continue;
        if (outcome.t === "done") {
          t.settled = outcome.status === "rotated" ? "rotated" : outcome.reason === "stale-event" ? "stale" : t.settled;
        } else if (outcome.t === "fail" && outcome.kind !== "transient" && outcome.kind !== "conflict") {
          t.settled = "failed";
          t.failedKind = outcome.kind;
        }
      }
      await new Promise((r) => setTimeout(r, ROUND_PAUSE_MS));
    }
    const roundsRun = round;
    storming = false;
    await Promise.all(workers.map((w) => w.kill()));

    // ---- after the storm: faults off ---------------------------------------------------
    const stormMs = Date.now() - started;
    const testCpu = process.cpuUsage(cpuAtStart);
    const cpuRow = `test process ${((testCpu.user + testCpu.system) / 1e6).toFixed(1)} s, workers ${(allWorkers.reduce((a, w) => a + w.cpuMs, 0) / 1000).toFixed(1)} s (${allWorkers.length} processes)`;
    const stormCounts = [...faults.counts].map(([service, c]) => [service, { ...c }] as const);
    faults.clear();
    faults.lostAnswers = 0;
    proxy.setDrops(0, 0);
    const limitOf = <T>(items: readonly T[], work: (t: T) => Promise<void>) => withConcurrency(items, 12, work);

    // 1. The invariant, as the storm left things: latest works, or a pending journal does.
    const violationsAfterStorm: string[] = [];
    await limitOf(tracked, async (t) => {
      const inv = await fleet.invariantOf(t.s);
      if (!inv.holds) violationsAfterStorm.push(`${t.s.vault}/${t.s.name} (${t.s.kind}): ${JSON.stringify({ ...inv, pendingValue: undefined })}`);
    });

    // 2. The next day's sweep (core/sweep.ts in a fresh instance, faults off) finishes
    //    the journals left behind — a day later, so that the loop guard no longer covers
    //    what the storm rotated: only due-ness keeps the sweep from rotating it again. A
    //    killed instance's leases must expire first, so it runs again while it finds
    //    secrets busy or journals pending.
    await fleet.kv.clock.advance(DAY_MS);
    const finisher = new Worker({ ...env, CHAOS_CLOCK_OFFSET_MS: String(CLOCK_OFFSET_MS + DAY_MS) }, outputs, killWorker, () => undefined);
    allWorkers.push(finisher);
    await finisher.ready;
    const finalSweeps: SweepSummary[] = [];
    for (let i = 0; i < 12; i++) {
      const id = `sweep|final${i}`;
      const o = await finisher.send({ id, type: "sweep" });
      if (o.t !== "done" || !o.summary) throw new Error(`the final sweep failed: ${JSON.stringify(o)}`);
      finalSweeps.push(o.summary);
      sweeps.push({ id, outcome: o });
      const reports = await Promise.all(VAULTS.map((vault) => findDueSecrets(fleet.client(vault), { vault, within: parseWithin("30d"), now: new Date(Date.now() + CLOCK_OFFSET_MS + DAY_MS), registry: chaosRegistry })));
      if (o.summary.secrets.busy === 0 && reports.every((r) => r.pendingJournals.length === 0)) break;
      await new Promise((r) => setTimeout(r, 3_000));
    }
    await finisher.kill();
    const journalsFinished = finalSweeps.reduce((a, x) => a + x.secrets.journalsFinished, 0);

    // 3. Every secret's latest value works at its provider; versions per secret.
    const violations: string[] = [];
    let duplicates = 0;
    let repeatedWrites = 0;
    const newVersions = new Map<Tracked, number>();
    const values = new Set<string>(fleet.providerSecrets());
    await limitOf(tracked, async (t) => {
      const client = fleet.client(t.s.vault);
      const inv = await fleet.invariantOf(t.s);
      if (!inv.latestWorks || inv.journalState === JournalState.Pending) violations.push(`${t.s.vault}/${t.s.name} (${t.s.kind}): ${JSON.stringify({ ...inv, pendingValue: undefined })}`);
      const newValues: string[] = [];
      for await (const p of client.listPropertiesOfSecretVersions(t.s.name)) {
        const v = (await client.getSecret(t.s.name, { version: p.version! })).value ?? "";
        for (const c of credentialStrings(v)) values.add(c);
        if (p.version !== t.s.version) newValues.push(v);
      }
      newVersions.set(t, new Set(newValues).size);
      // Two new versions with different values: the secret was rotated twice for one
      // event. Two with the same value: one rotation whose Key Vault write was repeated
      // (its answer was lost and the SDK retried the PUT).
      duplicates += Math.max(0, new Set(newValues).size - 1);
      repeatedWrites += newValues.length - new Set(newValues).size;
      for (const v of t.s.initialValues) for (const c of credentialStrings(v)) values.add(c);
    });
    // Every journal version ever written holds a value too (rolled back ones included).
    for (const vault of VAULTS) {
      const client = fleet.client(vault);
      for await (const p of client.listPropertiesOfSecrets()) {
        if (!isJournalName(p.name) && p.name !== "pg-admin") continue;
        for await (const v of client.listPropertiesOfSecretVersions(p.name)) {
          for (const c of credentialStrings((await client.getSecret(p.name, { version: v.version! })).value ?? "")) values.add(c);
        }
      }
    }

    // 4. Every failure was told to the owner, once per delivery; busy (409) ones were not.
    const notifications = fleet.topic!.events;
    const failedByTrigger = new Map<string, number>();
    for (const e of notifications) if (e.type === "keyturn.RotationFailed") failedByTrigger.set(String(e.data.triggerId), (failedByTrigger.get(String(e.data.triggerId)) ?? 0) + 1);
    const unnotified: string[] = [];
    for (const tr of triggers) {
      if (tr.outcome.t !== "fail") continue;
      // Busy (409), no such secret and bad input tell nobody; everything else tells the owner.
      const expected = ["conflict", "not-found", "bad-request"].includes(tr.outcome.kind) ? 0 : 1;
      if ((failedByTrigger.get(tr.id) ?? 0) !== expected) unnotified.push(`${tr.id}: ${tr.outcome.kind} ${tr.outcome.message} — notified ${failedByTrigger.get(tr.id) ?? 0}×`);
    }
    // The sweep reports its failed items in its summary; each was told to its owner with the
    // sweep's id: a permanent failure once; a transient one on each of the sweep's tries
    // (willRetry), since the sweep tries it again before it counts.
    for (const sw of sweeps) {
      if (sw.outcome.t !== "done" || !sw.outcome.summary) continue;
      for (const f of sw.outcome.summary.failures) {
        if (f.objectType !== "secret" || /^(NotFoundError|BadRequestError)/.test(f.detail)) continue;
        const told = notifications.filter((e) => e.type === "keyturn.RotationFailed" && e.data.triggerId === sw.id && e.data.secret === f.name);
        const permanent = told.filter((e) => e.data.willRetry === false).length;
        if (told.length === 0 || permanent > 1) unnotified.push(`${sw.id} ${f.vault}/${f.name}: ${f.detail} — notified ${told.length}× (${permanent} permanent)`);
      }
    }
    for (const e of notifications) {
      if (e.type !== "keyturn.RotationFailed") continue;
      const tr = triggers.find((x) => x.id === e.data.triggerId);
      if (tr && tr.outcome.t === "fail") expect(e.data.willRetry, tr.id).toBe(tr.outcome.kind === "transient");
    }

    // 5. No value in anything captured: worker logs, errors, responses, notifications, the database's log.
    const captured = [
      outputs.join(""),
      notifications.map((e) => e.raw).join("\n"),
      fleet.pg.serverLog.join(""),
      JSON.stringify(triggers.map((t) => t.outcome)),
      JSON.stringify(sweeps),
    ].join("\n");
    const leaked = [...values].filter((v) => captured.includes(v));

    // ---- the table -------------------------------------------------------------------
    const stormSweepRotations = sweeps.filter((x) => !x.id.includes("final")).reduce((a, x) => a + (x.outcome.t === "done" ? (x.outcome.summary?.secrets.rotated ?? 0) : 0), 0);
    const count = (f: (t: (typeof triggers)[number]) => boolean) => triggers.filter(f).length;
    const rotatedSecrets = tracked.filter((t) => (newVersions.get(t) ?? 0) > 0).length;
    const failedCleanly = tracked.filter((t) => t.settled === "failed");
    const unsettled = tracked.filter((t) => !t.settled);
    const calls = stormCounts.map(([, c]) => c).reduce((a, c) => ({ calls: a.calls + c.calls, failed: a.failed + c.failed, throttled: a.throttled + c.throttled }), { calls: 0, failed: 0, throttled: 0 });
    const faultRate = calls.failed / Math.max(1, calls.calls);
    const rows: Array<[string, string | number]> = [
      ["seed", SEED],
      ["secrets (kinds)", `${tracked.length} (${ALL_KINDS.map((k) => `${k} ${POPULATION[k]}`).join(", ")})`],
      ["rounds of delivery", roundsRun],
      ["deliveries (events) / sweeps", `${triggers.length} / ${sweeps.length}`],
      [
        "  sweeps: due, rotated, busy, skipped, failed",
        sweeps.map((x) => (x.outcome.t === "done" && x.outcome.summary ? `${x.id.split("|")[1]} ${["due", "rotated", "busy", "skipped", "failed"].map((k) => x.outcome.t === "done" && x.outcome.summary!.secrets[k as "due"]).join("/")}` : `${x.id.split("|")[1]} ${x.outcome.t}`)).join("; "),
      ],
      ["rotations done (secrets with a new version)", rotatedSecrets],
      ["  by an event / by a sweep during the storm / the next day's sweep", `${count((t) => t.outcome.t === "done" && t.outcome.status === "rotated")} / ${stormSweepRotations} / ${finalSweeps.reduce((a, x) => a + x.secrets.rotated, 0)}`],
      ["  rolled forward from a journal (events / final sweep)", `${count((t) => t.outcome.t === "done" && t.outcome.rolledForward === true)} / ${journalsFinished}`],
      ["retried (transient / busy 409 / killed in flight)", `${count((t) => t.outcome.t === "fail" && t.outcome.kind === "transient")} / ${count((t) => t.outcome.t === "fail" && t.outcome.kind === "conflict")} / ${count((t) => t.outcome.t === "crashed")}`],
      ["failed cleanly (permanent, notified)", `${failedCleanly.length} (${[...new Set(failedCleanly.map((t) => t.failedKind))].join(", ")}; ${tracked.filter((t) => t.misconfigured).length} misconfigured on purpose)`],
      ["duplicates (a 2nd rotation for one event)", duplicates],
      ["  repeated writes (one rotation, 2 versions, same value)", repeatedWrites],
      ["invariant violations (after the storm / at the end)", `${violationsAfterStorm.length} / ${violations.length}`],
      ["failures not notified exactly once", unnotified.length],
      ["secret values found in captured text", `${leaked.length} (of ${values.size} values, ${(captured.length / 1e6).toFixed(1)} MB searched)`],
      ["workers killed at a step boundary", kills],
      ["calls to doubles / failed at random / throttled", `${calls.calls} / ${calls.failed} (${(faultRate * 100).toFixed(1)} %) / ${calls.throttled}`],
      ["  of which answers lost after the work was done", stormCounts.reduce((a, [, c]) => a + c.lost, 0)],
      ["  by service (calls:failed)", stormCounts.map(([s, c]) => `${s} ${c.calls}:${c.failed}`).join(", ")],
      ["PostgreSQL connections / dropped", `${proxy.stats.connections} / ${proxy.stats.droppedAtConnect + proxy.stats.droppedMidway}`],
      ["rounds", `first spawn ${(firstSpawnMs / 1000).toFixed(1)} s; ${roundLog.join("; ")}`],
      ["CPU during the storm", cpuRow],
      ["runtime (storm / checks)", `${(stormMs / 1000).toFixed(1)} s / ${((Date.now() - started - stormMs) / 1000).toFixed(1)} s`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    slowest.sort((a, b) => b.ms - a.ms);
    if (process.env.CHAOS_DEBUG) process.stdout.write(`slowest: ${JSON.stringify(slowest.slice(0, 12), null, 1)}\n`);
    process.stdout.write(`\nchaos run\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n")}\n\n`);

    // ---- assertions ------------------------------------------------------------------
    expect(unsettled.map((t) => t.s.name), "every secret rotated or failed cleanly within the rounds").toEqual([]);
    expect(duplicates, "duplicates").toBe(0);
    expect(violationsAfterStorm, "invariant after the storm").toEqual([]);
    expect(violations, "invariant at the end").toEqual([]);
    expect(unnotified, "failures notified").toEqual([]);
    expect(leaked.map((v) => `${v.slice(0, 4)}… (${v.length} chars)`), "secret values in captured text").toEqual([]);
    for (const t of tracked.filter((x) => x.misconfigured)) {
      expect(t.settled, t.s.name).toBe("failed");
      expect(t.failedKind, t.s.name).toBe("configuration");
      expect(newVersions.get(t), t.s.name).toBe(0);
    }
    // The storm was one: faults at the intended rate, workers killed, every kind rotated.
    expect(faultRate).toBeGreaterThanOrEqual(0.1);
    expect(faultRate).toBeLessThanOrEqual(0.2);
    expect(kills).toBeGreaterThan(0);
    for (const kind of ALL_KINDS) expect(tracked.some((t) => t.s.kind === kind && (newVersions.get(t) ?? 0) === 1), kind).toBe(true);
  });
});
