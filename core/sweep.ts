// The sweep (timer trigger, KEYTURN_SWEEP_SCHEDULE, daily by default): what no event
// announced. Key Vault sends near-expiry events only for versions made after the Event
// Grid subscription existed, only once, and not at all while the subscription is broken;
// the sweep pages through every allow-listed vault and catches up:
//
//   secrets       due or expired, managed, not paused → engine.rotateSecret (trigger
//                 `sweep`: the loop guard applies); tags that do not plan → reported in
//                 the summary, never rotated; what is due is decided by core/due.ts, the
//                 same selection as `GET …/due` and `keyturn scan`;
//   journals      `keyturn-journal-*` left pending → engine.rotateSecret on the secret it
//                 belongs to, which rolls the interrupted rotation forward;
//   certificates  within 30 days of expiry → core/certificates.ts (renew, or remind at
//                 the 30/14/7/3/1-day thresholds);
//   keys          within 30 days of expiry → rotate (core/keys.ts); the others → report
//                 (or set, when tagged) a missing rotation policy.
//
// Properties only: the lists carry names, attributes and tags, never a value. Work runs
// with bounded concurrency (SWEEP_CONCURRENCY items at once across all vaults, each a
// handful of Key Vault calls: far under Key Vault's per-vault limits, and the clients'
// pacing holds the rest). One failing item, or one vault that cannot be listed, does
// not stop the others; what failed transiently (errors.ts decides, as for every
// trigger) is tried again after SWEEP_RETRY_DELAYS_MS; everything is counted in the
// summary, which is logged and returned.
import type { CertificateClient } from "@azure/keyvault-certificates";
import type { KeyClient } from "@azure/keyvault-keys";
import type { SecretClient } from "@azure/keyvault-secrets";
import type { RotatorRegistry } from "./registry.js";
import type { CertificateService } from "./certificates.js";
import type { KeyturnConfig } from "./config.js";
import { classifySecret } from "./due.js";
import { TriggerKind, type Engine, type Trigger } from "./engine.js";
import { Disposition, ErrorKind, describeError, triggerFailure } from "./errors.js";
import { keyNearExpiry, type KeyService } from "./keys.js";
import type { Logger } from "./log.js";
import { NEAR_EXPIRY_DAYS } from "./tags.js";
import type { VaultRef } from "./vaults.js";

/** Items in flight at once, across vaults. Each is 2–8 Key Vault calls. */
export const SWEEP_CONCURRENCY = 8;
/** Pauses before the sweep tries transiently failed items again (twice, then the next sweep). */
export const SWEEP_RETRY_DELAYS_MS: readonly number[] = [30_000, 120_000];
/** Problems and failures listed in the summary (the counts are always complete). */
const MAX_LISTED = 200;
const DAY_MS = 86_400_000;

export interface SweepDeps {
  readonly config: Pick<KeyturnConfig, "vaults" | "rotationGuardMs">;
  readonly engine: Engine;
  readonly certificates: CertificateService;
  readonly keys: KeyService;
  readonly registry: RotatorRegistry;
  readonly log: Logger;
  secretClient(vaultUrl: string): Promise<SecretClient>;
  certificateClient(vaultUrl: string): Promise<CertificateClient>;
  keyClient(vaultUrl: string): Promise<KeyClient>;
  now?(): Date;
  readonly concurrency?: number;
  /** Pauses before each repeat of the items that failed transiently; default SWEEP_RETRY_DELAYS_MS. */
  readonly retryDelaysMs?: readonly number[];
}

export interface SweepProblem {
  readonly vault: string;
  readonly objectType: "secret" | "certificate" | "key" | "vault";
  readonly name: string;
  readonly detail: string;
}

export interface SweepSummary {
  readonly sweepId: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly vaults: number;
  readonly secrets: {
    scanned: number;
    due: number;
    rotated: number;
    skipped: number;
    failed: number;
    busy: number;
    malformed: number;
    journals: number;
    journalsFinished: number;
  };
  readonly certificates: { scanned: number; expiring: number; renewed: number; reminded: number; pending: number; skipped: number; failed: number; busy: number };
  readonly keys: { scanned: number; expiring: number; rotated: number; policyMissing: number; policySet: number; skipped: number; failed: number; busy: number };
  /** Configuration problems found (tags that do not plan): reported, not acted on. */
  readonly problems: readonly SweepProblem[];
  /** Items (or vaults) that failed. */
  readonly failures: readonly SweepProblem[];
  /** How many problems/failures were left out of the lists above. */
  readonly truncated: number;
  /** Item attempts and vault listings repeated after a transient failure (one may count more than once). */
  readonly retried: number;
}

type WorkItem =
  | { kind: "secret"; vault: VaultRef; name: string }
  | { kind: "journal"; vault: VaultRef; name: string; journal: string }
  | { kind: "certificate"; vault: VaultRef; name: string }
  | { kind: "key-expiring"; vault: VaultRef; name: string }
  | { kind: "key-policy"; vault: VaultRef; name: string };

/** Runs `work` over `items` with at most `limit` in flight. `work` must not throw. */
export async function withConcurrency<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  });
  await Promise.all(workers);
}

export async function runSweep(deps: SweepDeps, trigger: Pick<Trigger, "id">): Promise<SweepSummary> {
  const now = deps.now ?? (() => new Date());
  const started = now();
  const startedMs = Date.now();
  const log = deps.log.child({ trigger: TriggerKind.Sweep, invocationId: trigger.id });
  const sweepTrigger: Trigger = { kind: TriggerKind.Sweep, id: trigger.id, detail: "sweep" };
  const within = { text: `${NEAR_EXPIRY_DAYS}d`, ms: NEAR_EXPIRY_DAYS * DAY_MS };

  const secrets = { scanned: 0, due: 0, rotated: 0, skipped: 0, failed: 0, busy: 0, malformed: 0, journals: 0, journalsFinished: 0 };
  const certificates = { scanned: 0, expiring: 0, renewed: 0, reminded: 0, pending: 0, skipped: 0, failed: 0, busy: 0 };
  const keys = { scanned: 0, expiring: 0, rotated: 0, policyMissing: 0, policySet: 0, skipped: 0, failed: 0, busy: 0 };
  const problems: SweepProblem[] = [];
  const failures: SweepProblem[] = [];
  let truncated = 0;
  const note = (list: SweepProblem[], p: SweepProblem) => {
    if (list.length < MAX_LISTED) list.push(p);
    else truncated++;
  };

  // ---- list (properties only) -----------------------------------------------------------
  const retryDelaysMs = deps.retryDelaysMs ?? SWEEP_RETRY_DELAYS_MS;
  let retried = 0;
  const items: WorkItem[] = [];
  /**
   * One listing, with the sweep's retries: after a transient failure (triggerFailure
   * decides) what the partial listing counted is undone and it lists again after a
   * pause; anything else, or a last failure, is counted against the vault.
   */
  const listing = async (what: string, vault: VaultRef, counts: Record<string, number>, list: () => Promise<void>, undo?: () => void) => {
    for (let attempt = 0; ; attempt++) {
      const saved = { ...counts };
      const itemsAt = items.length;
      const problemsAt = problems.length;
      const truncatedAt = truncated;
      try {
        await list();
        return;
      } catch (raw) {
        Object.assign(counts, saved);
        items.length = itemsAt;
        problems.length = problemsAt;
        truncated = truncatedAt;
        undo?.();
        const { error, disposition } = triggerFailure(raw, `listing ${what}`);
        const delay = retryDelaysMs[attempt];
        if (disposition === Disposition.Retry && delay !== undefined) {
          retried++;
          log.warn(`sweep: listing the vault's ${what} failed with a transient error; listing again`, { vault: vault.name, step: "list", delayMs: delay, error: describeError(error) });
          await new Promise((resolve) => setTimeout(resolve, delay));
          continue;
        }
        log.error(`could not list the vault's ${what}`, { vault: vault.name, step: "list", error: describeError(error) });
        note(failures, { vault: vault.name, objectType: "vault", name: vault.name, detail: `listing ${what}: ${describeError(error)}` });
        return;
      }
    }
  };
  for (const vault of deps.config.vaults.vaults) {
    // One work item per secret: a pending journal and a due version of the same secret
    // are one rotation (the engine rolls the journal forward first).
    const perSecret = new Map<string, WorkItem>();
    await listing(
      "secrets",
      vault,
      secrets,
      async () => {
        const client = await deps.secretClient(vault.url);
        for await (const p of client.listPropertiesOfSecrets()) {
          secrets.scanned++;
          if (p.managed) continue; // a certificate's backing secret: the certificate is handled below
          const c = classifySecret(p, { within, now: started, registry: deps.registry, guardMs: deps.config.rotationGuardMs });
          if (!c) continue;
          if ("journal" in c) {
            secrets.journals++;
            perSecret.set(c.journal.secret.toLowerCase(), { kind: "journal", vault, name: c.journal.secret, journal: c.journal.journal });
          } else if ("skipped" in c) {
            secrets.skipped++;
          } else if (c.due.problem !== undefined) {
            secrets.malformed++;
            note(problems, { vault: vault.name, objectType: "secret", name: p.name, detail: c.due.problem });
          } else {
            secrets.due++;
            const key = p.name.toLowerCase();
            if (perSecret.get(key)?.kind !== "journal") perSecret.set(key, { kind: "secret", vault, name: p.name });
          }
        }
      },
      () => perSecret.clear(),
    );
    items.push(...perSecret.values());

    await listing("certificates", vault, certificates, async () => {
      const client = await deps.certificateClient(vault.url);
      for await (const p of client.listPropertiesOfCertificates()) {
        certificates.scanned++;
        if (p.enabled === false || !p.expiresOn || !p.name) continue;
        if (p.expiresOn.getTime() - started.getTime() > NEAR_EXPIRY_DAYS * DAY_MS) continue;
        certificates.expiring++;
        items.push({ kind: "certificate", vault, name: p.name });
      }
    });

    await listing("keys", vault, keys, async () => {
      const client = await deps.keyClient(vault.url);
      for await (const p of client.listPropertiesOfKeys()) {
        keys.scanned++;
        if (p.managed || p.enabled === false || !p.name) continue;
        if (keyNearExpiry(p.expiresOn, started)) {
          keys.expiring++;
          items.push({ kind: "key-expiring", vault, name: p.name });
        } else {
          items.push({ kind: "key-policy", vault, name: p.name });
        }
      }
    });
  }

  // ---- act, a bounded number at a time ------------------------------------------------
  // A transient failure (Key Vault or a provider 5xx/429, a network error, the lock store
  // unreachable: triggerFailure decides) is retried by the sweep itself, after a pause,
  // up to retryDelaysMs.length more times; a permanent one was reported by the service
  // that failed and is counted, never retried.
  let retryQueue: WorkItem[] = [];
  const act = async (item: WorkItem, lastTry: boolean) => {
    const objectType = item.kind === "secret" || item.kind === "journal" ? "secret" : item.kind === "certificate" ? "certificate" : "key";
    try {
      switch (item.kind) {
        case "secret":
        case "journal": {
          const result = await deps.engine.rotateSecret({
            vault: item.vault,
            secret: item.name,
            mode: "normal",
            trigger: sweepTrigger,
            ...(item.kind === "journal" ? { pendingJournal: true } : {}),
          });
          if (result.status === "rotated") {
            secrets.rotated++;
            if (item.kind === "journal") secrets.journalsFinished++;
          } else {
            secrets.skipped++;
          }
          break;
        }
        case "certificate": {
          const outcome = await deps.certificates.handle({ vault: item.vault, name: item.name, trigger: sweepTrigger });
          if (outcome.status === "renewed") certificates.renewed++;
          else if (outcome.status === "reminded") certificates.reminded++;
          else if (outcome.status === "pending") certificates.pending++;
          else certificates.skipped++;
          break;
        }
        case "key-expiring": {
          const outcome = await deps.keys.rotateNearExpiry({ vault: item.vault, name: item.name, trigger: sweepTrigger });
          if (outcome.status === "rotated") keys.rotated++;
          else keys.skipped++;
          if (outcome.status !== "skipped" && outcome.policy === "missing-reported") keys.policyMissing++;
          if (outcome.status !== "skipped" && outcome.policy === "set-default") keys.policySet++;
          break;
        }
        case "key-policy": {
          const outcome = await deps.keys.checkPolicy({ vault: item.vault, name: item.name, trigger: sweepTrigger });
          if (outcome.status === "skipped") keys.skipped++;
          else if (outcome.policy === "missing-reported") keys.policyMissing++;
          else if (outcome.policy === "set-default") keys.policySet++;
          break;
        }
      }
    } catch (raw) {
      const counts = objectType === "secret" ? secrets : objectType === "certificate" ? certificates : keys;
      const { error, disposition } = triggerFailure(raw, objectType);
      if (error.kind === ErrorKind.Conflict) {
        // Another trigger is on it right now: not a failure, and it will be done.
        counts.busy++;
        return;
      }
      if (disposition === Disposition.Retry && !lastTry) {
        retryQueue.push(item);
        return;
      }
      counts.failed++;
      // The engine and the certificate/key services already logged and told the owner.
      note(failures, { vault: item.vault.name, objectType, name: item.name, detail: describeError(error) });
    }
  };
  const concurrency = deps.concurrency ?? SWEEP_CONCURRENCY;
  await withConcurrency(items, concurrency, (item) => act(item, retryDelaysMs.length === 0));
  for (const [i, delay] of retryDelaysMs.entries()) {
    if (retryQueue.length === 0) break;
    const again = retryQueue;
    retryQueue = [];
    retried += again.length;
    log.warn("sweep: retrying items that failed with a transient error", { step: "retry", items: again.length, delayMs: delay, attempt: i + 1 });
    await new Promise((resolve) => setTimeout(resolve, delay));
    await withConcurrency(again, concurrency, (item) => act(item, i === retryDelaysMs.length - 1));
  }

  const finished = now();
  const summary: SweepSummary = {
    sweepId: trigger.id,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: Date.now() - startedMs,
    vaults: deps.config.vaults.size,
    secrets,
    certificates,
    keys,
    problems,
    failures,
    truncated,
    retried,
  };
  log.info("sweep completed", {
    step: "sweep",
    durationMs: summary.durationMs,
    vaults: summary.vaults,
    ...prefixed("secrets", secrets),
    ...prefixed("certificates", certificates),
    ...prefixed("keys", keys),
  });
  for (const p of problems) log.warn("sweep: not rotated, the tags do not plan", { vault: p.vault, secret: p.name, error: p.detail });
  return summary;
}

function prefixed(prefix: string, counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [`${prefix}.${k}`, v]));
}
