// Bounded concurrency for the sweep and the audit: how many Key Vault and provider calls
// run at once is a choice each caller states, never unbounded.

/**
 * Runs tasks as they are pushed, at most `limit` at once; `drained()` resolves once every
 * task pushed so far has run. Tasks must not throw.
 */
export class WorkPool {
  private readonly queue: Array<() => Promise<void>> = [];
  private active = 0;
  private waiters: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  push(task: () => Promise<void>): void {
    this.queue.push(task);
    this.pump();
  }

  drained(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private pump(): void {
    while (this.active < Math.max(1, this.limit) && this.queue.length > 0) {
      const task = this.queue.shift()!;
      this.active++;
      void task().finally(() => {
        this.active--;
        this.pump();
      });
    }
    if (this.active === 0 && this.queue.length === 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const resolve of w) resolve();
    }
  }
}

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
