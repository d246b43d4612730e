// A FaultInjector that can also hold a request: the double stops before serving it and
// tells the test, which can then kill the client process while that request is in
// flight — a crash in the middle of a step rather than at its boundary. When released,
// the held request's connection is dropped unanswered (its client is gone by then), or,
// with `then: "serve"`, the request is served as usual (to keep one rotation holding
// its lock until the test has seen every competing trigger answered).
import type { IncomingMessage, ServerResponse } from "node:http";
import { FaultInjector, type ApplyOptions, type RequestDescriptor } from "../../emulators/faults.js";

export interface Hold {
  /** Resolves when a matching request arrived (and is being held). */
  readonly reached: Promise<RequestDescriptor>;
  /** Drop the held request (and stop holding new ones). */
  release(): void;
}

export class HoldingFaults extends FaultInjector {
  private holds: Array<{ match: (d: RequestDescriptor) => boolean; arrived(d: RequestDescriptor): void; released: Promise<void>; done: boolean; serve: boolean }> = [];

  /** Hold the first request that `match` accepts until `release()`; then drop it (default) or serve it. */
  hold(match: (d: RequestDescriptor) => boolean, o: { then?: "drop" | "serve" } = {}): Hold {
    let arrived!: (d: RequestDescriptor) => void;
    let release!: () => void;
    const reached = new Promise<RequestDescriptor>((r) => (arrived = r));
    const released = new Promise<void>((r) => (release = r));
    const entry = { match, arrived, released, done: false, serve: o.then === "serve" };
    this.holds.push(entry);
    return {
      reached,
      release: () => {
        this.holds = this.holds.filter((h) => h !== entry);
        release();
      },
    };
  }

  override async apply(req: IncomingMessage, res: ServerResponse, request: RequestDescriptor, options?: ApplyOptions): Promise<boolean> {
    const held = this.holds.find((h) => !h.done && h.match(request));
    if (held) {
      held.done = true;
      held.arrived(request);
      await held.released;
      if (held.serve) return super.apply(req, res, request, options);
      req.socket.destroy();
      return true;
    }
    return super.apply(req, res, request, options);
  }
}
