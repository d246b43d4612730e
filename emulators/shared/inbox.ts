// What a receiving double (webhook, Event Grid topic, e-mail) has been sent, and
// waiting for the next one: tests await an arrival instead of polling.

export class Inbox<T> {
  readonly items: T[] = [];
  private readonly listeners: Array<(item: T) => void> = [];

  /** `what` names the arrival in the timeout error ("a webhook post"). */
  constructor(private readonly what: string) {}

  add(item: T): void {
    this.items.push(item);
    for (const listener of this.listeners) listener(item);
  }

  onItem(listener: (item: T) => void): void {
    this.listeners.push(listener);
  }

  /** The first item, already here or still to come, that matches; rejects after `timeoutMs`. */
  waitFor(predicate: (item: T) => boolean, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const found = this.items.find(predicate);
      if (found) return resolve(found);
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${this.what}`)), timeoutMs);
      this.listeners.push((item) => {
        if (predicate(item)) {
          clearTimeout(timer);
          resolve(item);
        }
      });
    });
  }
}
