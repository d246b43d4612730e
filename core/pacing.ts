// Pacing Key Vault calls to the vault's own limits, so that a burst (a migration, a
// fleet created in one day, a sweep that finds thousands due) runs at the speed Key
// Vault allows instead of running into 429s and sleeping through Retry-After.
//
// Key Vault throttles per vault in a sliding 10-second window, writes and other calls
// separately (the figures keyturn designs for: 300 writes and 4,000 other calls per
// 10 s; `KEY_VAULT_LIMITS`). A throttled call does not count at the vault, but it costs
// the caller a Retry-After of up to 10 s on that rotation, while the lock is held.
//
// `KeyVaultPacer` keeps, per vault host and per class (write / other), the calls that
// may still count at the vault, and lets a call go only while fewer than the limit do:
//   - a call in flight counts (it may have reached the vault already);
//   - a finished call counts until `windowMs` after its answer arrived. Its arrival at
//     the vault lay somewhere between sending and answering, so counting from the answer
//     is never too early, whatever the network jitter or event-loop lag: the vault can
//     never see more than the limit in its window because of this process.
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

/** Key Vault's per-vault limits for secrets as keyturn designs for them (calls per window). */
export const KEY_VAULT_LIMITS = { writesPer10s: 300, othersPer10s: 4000, windowMs: 10_000 } as const;

export interface PacingLimits {
  readonly writes: number;
  readonly others: number;
  readonly windowMs: number;
}

/** The published limits times `scale` (this process's share), at least one call per window each. */
export function scaledLimits(scale: number): PacingLimits {
  if (!Number.isFinite(scale) || scale <= 0) throw new RangeError(`scale must be a positive number, got ${scale}`);
  return {
    writes: Math.max(1, Math.floor(KEY_VAULT_LIMITS.writesPer10s * scale)),
    others: Math.max(1, Math.floor(KEY_VAULT_LIMITS.othersPer10s * scale)),
    windowMs: KEY_VAULT_LIMITS.windowMs,
  };
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

export function isWriteMethod(method: string): boolean {
  const m = method.toUpperCase();
  return m !== "GET" && m !== "HEAD" && m !== "OPTIONS";
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

/** The gates of every vault this process talks to, by vault host. */
export class KeyVaultPacer {
  private readonly gates = new Map<string, { writes: SlidingWindowGate; others: SlidingWindowGate }>();

  constructor(
    readonly limits: PacingLimits,
    private readonly now?: () => number,
  ) {}

  gatesFor(vaultHost: string): { writes: SlidingWindowGate; others: SlidingWindowGate } {
    const key = vaultHost.toLowerCase();
    let g = this.gates.get(key);
    if (!g) {
      g = {
        writes: new SlidingWindowGate(this.limits.writes, this.limits.windowMs, this.now),
        others: new SlidingWindowGate(this.limits.others, this.limits.windowMs, this.now),
      };
      this.gates.set(key, g);
    }
    return g;
  }

  /** Wait for this request's turn; resolves with the release to call once it is answered. */
  acquire(method: string, url: string, signal?: AbortSignalish): Promise<() => void> {
    const gates = this.gatesFor(new URL(url).host);
    const gate = isWriteMethod(method) ? gates.writes : gates.others;
    return gate.acquire(pacingPriorityOf(method, url), signal);
  }

  /** The pipeline policy; add it `perRetry` so that every attempt is paced. */
  policy(): PipelinePolicy {
    const pacer = this;
    return {
      name: "keyturnKeyVaultPacing",
      async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
        const release = await pacer.acquire(request.method, request.url, request.abortSignal);
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
