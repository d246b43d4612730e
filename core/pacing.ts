// Pacing Key Vault calls to the vault's own limits, so that a burst (a migration, a
// fleet created in one day, a sweep that finds thousands due) runs at the speed Key
// Vault allows instead of running into 429s and sleeping through Retry-After.
//
// Key Vault throttles per vault and per subscription in a sliding 10-second window, by
// class: secret CREATEs, software and HSM key CREATEs, and all other transactions
// (core/keyvault-limits.ts states them, from the published service limits). A throttled
// call does not count at the vault, but it costs the caller a Retry-After of up to 10 s
// on that rotation, while the lock is held.
//
// `KeyVaultPacer` keeps, per vault host and per class, and per class for the
// subscription, the calls that may still count at the vault, and lets a call go only
// while fewer than the limit do:
//   - a call in flight counts (it may have reached the vault already);
//   - a finished call counts until `windowMs` after its answer arrived. Its arrival at
//     the vault lay somewhere between sending and answering, so counting from the answer
//     is never too early, whatever the network jitter or event-loop lag: the vault can
//     never see more than the limit in its window because of this process.
// The subscription is not visible in a vault's URL: every vault this process talks to is
// paced as one subscription's (the platform-team case), which is never too fast when
// they are in several.
// Waiting calls are served by priority, then in arrival order: work already under way
// (marking a journal, committing a version) goes before a new rotation's first write, so
// a burst finishes rotations at a steady rate instead of starting all of them and
// finishing all of them at the end (when Event Grid may already have timed out).
//
// The limits are the vault's, shared with every other caller: several function
// instances, or applications reading the same vault, each get a share.
// KEYTURN_KEYVAULT_LIMIT_SCALE sets this process's share (default 1 = all of it; 0 turns
// pacing off). 429s that still happen (another caller used the budget) are retried by
// the SDK's retry policy, which honours Retry-After (core/azure.ts).
//
// Used as a per-retry pipeline policy of the engine's SecretClients (core/azure.ts), so
// that every attempt, retries included, is paced. Loaded with the engine's clients, never
// at cold start; it imports no SDK at run time.
import type { PipelinePolicy, PipelineRequest, PipelineResponse, SendRequest } from "@azure/core-rest-pipeline";
import { JOURNAL_PREFIX } from "./journal.js";
import {
  KEY_VAULT_LIMITS,
  KEY_VAULT_TRANSACTIONS,
  scaledVaultLimits,
  subscriptionLimits,
  transactionClassesOf,
  type KeyVaultTransaction,
  type TransactionLimits,
} from "./keyvault-limits.js";

export interface PacingLimits {
  /** Per vault, by class. */
  readonly vault: TransactionLimits;
  /** For all the vaults together (one subscription), by class. */
  readonly subscription: TransactionLimits;
  readonly windowMs: number;
}

/** The published limits times `scale` (this process's share), at least one call per window each. */
export function scaledLimits(scale: number): PacingLimits {
  const vault = scaledVaultLimits(scale);
  return { vault, subscription: subscriptionLimits(vault), windowMs: KEY_VAULT_LIMITS.windowMs };
}

/** Higher goes first. */
export const PacingPriority = {
  /** A new rotation's first write (the journal's write-ahead), reads, listings. */
  Start: 0,
  /** Committing a new version. */
  Commit: 1,
  /** Marking a journal done: the last write of a rotation. */
  Finish: 2,
} as const;
export type PacingPriority = (typeof PacingPriority)[keyof typeof PacingPriority];

export class PacingAbortedError extends Error {
  constructor() {
    super("the Key Vault call was cancelled while waiting for its turn");
    this.name = "AbortError";
  }
}

/** What the SDK passes as `abortSignal` (AbortSignal or AbortSignalLike). */
export interface AbortSignalish {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

interface Waiter {
  readonly priority: number;
  readonly seq: number;
  resolve(release: () => void): void;
  reject(error: Error): void;
  detach?: () => void;
}

/** One vault's one class of calls: at most `limit` that may count at the vault at any time. */
export class SlidingWindowGate {
  private inFlight = 0;
  /** Answer times (ms, ascending) of calls that still count. */
  private readonly done: number[] = [];
  private doneHead = 0;
  private readonly waiting: Waiter[] = [];
  private seq = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Calls that had to wait for a free slot (for figures and tests). */
  waited = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  }

  /** Calls that count at the vault now (in flight, or answered within the window). */
  counted(): number {
    this.expire();
    return this.inFlight + (this.done.length - this.doneHead);
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves, when the call may go, with a function to call once its answer (or failure) arrived. */
  acquire(priority: number = PacingPriority.Start, signal?: AbortSignalish): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new PacingAbortedError());
    if (this.waiting.length === 0 && this.counted() < this.limit) return Promise.resolve(this.take());
    this.waited++;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { priority, seq: this.seq++, resolve, reject };
      if (signal) {
        const onAbort = () => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(new PacingAbortedError());
        };
        signal.addEventListener("abort", onAbort, { once: true });
        waiter.detach = () => signal.removeEventListener("abort", onAbort);
      }
      // Highest priority first; equal priorities in arrival order.
      let i = this.waiting.length;
      while (i > 0 && this.waiting[i - 1]!.priority < priority) i--;
      this.waiting.splice(i, 0, waiter);
      this.schedule();
    });
  }

  private take(): () => void {
    this.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.done.push(this.now());
      this.schedule();
    };
  }

  private expire(): void {
    const cutoff = this.now() - this.windowMs;
    while (this.doneHead < this.done.length && this.done[this.doneHead]! <= cutoff) this.doneHead++;
    if (this.doneHead > 1024 && this.doneHead * 2 > this.done.length) {
      this.done.splice(0, this.doneHead);
      this.doneHead = 0;
    }
  }

  /** Let waiters go while there is room; else wake up when the oldest answered call stops counting. */
  private schedule(): void {
    while (this.waiting.length > 0 && this.counted() < this.limit) {
      const w = this.waiting.shift()!;
      w.detach?.();
      w.resolve(this.take());
    }
    if (this.timer !== undefined || this.waiting.length === 0) return;
    // Nothing answered yet: an answer (release) will call schedule() again.
    if (this.doneHead >= this.done.length) return;
    const wait = Math.max(1, Math.ceil(this.done[this.doneHead]! + this.windowMs - this.now()) + 1);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.schedule();
    }, wait);
    // A pending wake-up must not keep a finished process (CLI, tests) alive: a waiter
    // is always someone's pending call, which keeps the process alive by itself.
    this.timer.unref?.();
  }
}

/** A journal write is a new rotation's first write (core/journal.ts names journals by this prefix). */
const JOURNAL_PATH = new RegExp(`/secrets/${JOURNAL_PREFIX}`, "i");

/** What a Key Vault secrets request is, for the queue: finish started work first. */
export function pacingPriorityOf(method: string, url: string): PacingPriority {
  const m = method.toUpperCase();
  if (m === "PATCH") return PacingPriority.Finish;
  if (m === "PUT" && !JOURNAL_PATH.test(new URL(url).pathname)) return PacingPriority.Commit;
  return PacingPriority.Start;
}

type Gates = Record<KeyVaultTransaction, SlidingWindowGate>;

/** The `kty` a key-create request asks for, when its body says (the class depends on it). */
function keyTypeOf(request: Pick<PipelineRequest, "url" | "body">): string | undefined {
  if (typeof request.body !== "string" || !/\/keys\/[^/]+\/create\/?(\?|$)/i.test(request.url)) return undefined;
  try {
    const kty = (JSON.parse(request.body) as { kty?: unknown }).kty;
    return typeof kty === "string" ? kty : undefined;
  } catch {
    return undefined;
  }
}

/** The gates of every vault this process talks to, by vault host and class, and the subscription's. */
export class KeyVaultPacer {
  private readonly gates = new Map<string, Gates>();
  /** Every vault's calls together, against the subscription-wide limits. */
  readonly subscription: Gates;

  constructor(
    readonly limits: PacingLimits,
    private readonly now?: () => number,
  ) {
    this.subscription = this.makeGates(limits.subscription);
  }

  private makeGates(limits: TransactionLimits): Gates {
    return Object.fromEntries(KEY_VAULT_TRANSACTIONS.map((c) => [c, new SlidingWindowGate(limits[c], this.limits.windowMs, this.now)])) as Gates;
  }

  gatesFor(vaultHost: string): Gates {
    const key = vaultHost.toLowerCase();
    let g = this.gates.get(key);
    if (!g) {
      g = this.makeGates(this.limits.vault);
      this.gates.set(key, g);
    }
    return g;
  }

  /**
   * Wait for this request's turn in each class it counts in, at its vault and in the
   * subscription; resolves with the release to call once it is answered. Gates are
   * always taken in one order (vault, then subscription; classes in declaration order),
   * so two requests can never each hold what the other waits for.
   */
  async acquire(method: string, url: string, signal?: AbortSignalish, keyType?: string): Promise<() => void> {
    const u = new URL(url);
    const classes = transactionClassesOf(method, u.pathname, keyType);
    const vault = this.gatesFor(u.host);
    const priority = pacingPriorityOf(method, url);
    const gates = [...classes.map((c) => vault[c]), ...classes.map((c) => this.subscription[c])];
    const releases: Array<() => void> = [];
    try {
      for (const gate of gates) releases.push(await gate.acquire(priority, signal));
    } catch (error) {
      for (const r of releases) r();
      throw error;
    }
    return () => {
      for (const r of releases) r();
    };
  }

  /** The pipeline policy; add it `perRetry` so that every attempt is paced. */
  policy(): PipelinePolicy {
    return {
      name: "keyturnKeyVaultPacing",
      sendRequest: async (request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> => {
        const release = await this.acquire(request.method, request.url, request.abortSignal, keyTypeOf(request));
        try {
          return await next(request);
        } finally {
          release();
        }
      },
    };
  }
}

// One pacer per share, for the life of the process: every SecretClient of a vault
// draws on the same budget.
const pacers = new Map<number, KeyVaultPacer>();

/** The process-wide pacer for this share of the limits (`scale` > 0). */
export function processPacer(scale: number): KeyVaultPacer {
  let p = pacers.get(scale);
  if (!p) {
    p = new KeyVaultPacer(scaledLimits(scale));
    pacers.set(scale, p);
  }
  return p;
}
