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
// Properties only: the lists carry names, attributes and tags, never a value. Each vault's
// three lists are read side by side, and each item is worked on as soon as it is listed,
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
import { WorkPool, withConcurrency } from "./concurrency.js";

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

export async function runSweep(deps: SweepDeps, trigger: Pick<Trigger, "id">): Promise<SweepSummary> {
  const now = deps.now ?? (() => new Date());
  const started = now();
  const startedMs = Date.now();
  const log = deps.log.child({ trigger: TriggerKind.Sweep, invocationId: trigger.id });
  const sweepTrigger: Trigger = { kind: TriggerKind.Sweep, id: trigger.id, detail: "sweep", log: deps.log };
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

  // ---- list (properties only) and act, at once -----------------------------------------
  // Listing is sequential page by page (each page's link comes with the one before), so the
  // sweep's time is the listing's: every vault's secrets, certificates and keys are listed
  // side by side, and each item is worked on as soon as its page arrives, a bounded number
  // at a time.
  const retryDelaysMs = deps.retryDelaysMs ?? SWEEP_RETRY_DELAYS_MS;
  let retried = 0;
  const concurrency = deps.concurrency ?? SWEEP_CONCURRENCY;
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
  const firstTryIsLast = retryDelaysMs.length === 0;
  const pool = new WorkPool(concurrency);
  // What was handed to the pool: a listing that fails and lists again finds it again.
  const dispatched = new Set<string>();
  const dispatch = (item: WorkItem) => {
    const key = `${item.kind}/${item.vault.name}/${item.name}`.toLowerCase();
    if (dispatched.has(key)) return;
    dispatched.add(key);
    pool.push(() => act(item, firstTryIsLast));
  };
  // One work item per secret: a pending journal and a due version of the same secret are
  // one rotation (the engine rolls the journal forward first). The two may be listed in
  // either order: a journal found for a secret whose rotation is still queued turns it
  // into the journal's; one found after that rotation started runs after it.
  const perSecret = new Map<string, { item: WorkItem; started: Promise<void> | undefined }>();
  const queueSecret = (item: Extract<WorkItem, { kind: "secret" | "journal" }>) => {
    const key = `${item.vault.name}/${item.name}`.toLowerCase();
    const known = perSecret.get(key);
    if (!known) {
      const entry: { item: WorkItem; started: Promise<void> | undefined } = { item, started: undefined };
      perSecret.set(key, entry);
      pool.push(() => (entry.started = act(entry.item, firstTryIsLast)));
      return;
    }
    if (item.kind !== "journal" || known.item.kind === "journal") return;
    if (known.started === undefined) known.item = item;
    else {
      const after = known.started;
      known.item = item;
      pool.push(async () => {
        await after;
        await act(item, firstTryIsLast);
      });
    }
  };

  type Tally = Record<string, number>;
  const bump = (tally: Tally, key: string) => {
    tally[key] = (tally[key] ?? 0) + 1;
  };
  /**
   * One listing, with the sweep's retries. What a listing counts and finds wrong is kept
   * apart until it completes: after a transient failure (triggerFailure decides) it is
   * dropped and the vault is listed again after a pause (items already handed on are not
   * handed on twice); anything else, or a last failure, is counted against the vault.
   */
  const listing = async (what: string, vault: VaultRef, counts: Record<string, number>, list: (tally: Tally, found: SweepProblem[]) => Promise<void>) => {
    for (let attempt = 0; ; attempt++) {
      const tally: Tally = {};
      const found: SweepProblem[] = [];
      try {
        await list(tally, found);
        for (const [k, n] of Object.entries(tally)) counts[k] = (counts[k] ?? 0) + n;
        for (const p of found) note(problems, p);
        return;
      } catch (raw) {
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

  const listSecrets = (vault: VaultRef) =>
    listing("secrets", vault, secrets, async (tally, found) => {
      const client = await deps.secretClient(vault.url);
      for await (const p of client.listPropertiesOfSecrets()) {
        bump(tally, "scanned");
        if (p.managed) continue; // a certificate's backing secret: the certificate is handled below
        const c = classifySecret(p, { within, now: started, registry: deps.registry, guardMs: deps.config.rotationGuardMs });
        if (!c) continue;
        if ("journal" in c) {
          bump(tally, "journals");
          queueSecret({ kind: "journal", vault, name: c.journal.secret, journal: c.journal.journal });
        } else if ("skipped" in c) {
          bump(tally, "skipped");
        } else if (c.due.problem !== undefined) {
          bump(tally, "malformed");
          found.push({ vault: vault.name, objectType: "secret", name: p.name, detail: c.due.problem });
        } else {
          bump(tally, "due");
          queueSecret({ kind: "secret", vault, name: p.name });
        }
      }
    });

  const listCertificates = (vault: VaultRef) =>
    listing("certificates", vault, certificates, async (tally) => {
      const client = await deps.certificateClient(vault.url);
      for await (const p of client.listPropertiesOfCertificates()) {
        bump(tally, "scanned");
        if (p.enabled === false || !p.expiresOn || !p.name) continue;
        if (p.expiresOn.getTime() - started.getTime() > NEAR_EXPIRY_DAYS * DAY_MS) continue;
        bump(tally, "expiring");
        dispatch({ kind: "certificate", vault, name: p.name });
      }
    });

  const listKeys = (vault: VaultRef) =>
    listing("keys", vault, keys, async (tally) => {
      const client = await deps.keyClient(vault.url);
      for await (const p of client.listPropertiesOfKeys()) {
        bump(tally, "scanned");
        if (p.managed || p.enabled === false || !p.name) continue;
        if (keyNearExpiry(p.expiresOn, started)) {
          bump(tally, "expiring");
          dispatch({ kind: "key-expiring", vault, name: p.name });
        } else {
          dispatch({ kind: "key-policy", vault, name: p.name });
        }
      }
    });

  await Promise.all(deps.config.vaults.vaults.flatMap((vault) => [listSecrets(vault), listCertificates(vault), listKeys(vault)]));
  await pool.drained();
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
