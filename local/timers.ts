// Timer functions in the local host: each on its NCRONTAB schedule (UTC), the
// `%SETTING%` reference resolved as the Functions host resolves it and read with
// NCrontab's semantics (core/schedule.ts); one run at a time per function, as the
// Functions host runs them (a second request while one runs shares that run).
import type { InvocationContext } from "@azure/functions";
import { resolveSettingReference } from "../core/config.js";
import type { Logger } from "../core/log.js";
import { redact } from "../core/redact.js";
import { parseSchedule } from "../core/schedule.js";
import { invokeTimerRoute, type TimerRoute } from "../functions/routes.js";

export interface TimerFunctions {
  /** Run a timer function now (as POST /admin/functions/<name> does); resolves to what it returned. */
  run(name: string, pastDue?: boolean): Promise<unknown>;
  /** When each scheduled timer function runs next. */
  nextRuns(): Record<string, string>;
  close(): void;
}

export interface TimerOptions {
  readonly log: Logger;
  newContext(functionName: string): InvocationContext;
  /** Run on the schedules; false: on demand only. */
  readonly schedule: boolean;
}

export function startTimerFunctions(timerRoutes: readonly TimerRoute[], opts: TimerOptions): TimerFunctions {
  const { log } = opts;
  const byName = new Map(timerRoutes.map((r) => [r.name.toLowerCase(), r]));
  /** A run in progress per function: like the Functions host, one at a time. */
  const running = new Map<string, Promise<unknown>>();
  const scheduled = new Map<string, { at: Date; timer: NodeJS.Timeout }>();
  let closed = false;

  function run(name: string, pastDue = false): Promise<unknown> {
    const route = byName.get(name.toLowerCase());
    if (!route) return Promise.reject(new Error(`no timer function named '${name.slice(0, 64)}'`));
    const key = route.name.toLowerCase();
    const current = running.get(key);
    if (current) return current; // already running: callers share the run
    const started = Date.now();
    const work = invokeTimerRoute(route, { isPastDue: pastDue }, opts.newContext(route.name))
      .then((result) => {
        log.info("timer function completed", { functionName: route.name, durationMs: Date.now() - started });
        return result;
      })
      .finally(() => running.delete(key));
    running.set(key, work);
    return work;
  }

  function nextRun(route: TimerRoute): Date | undefined {
    try {
      return parseSchedule(resolveSettingReference(route.schedule)).next(new Date());
    } catch (error) {
      throw new Error(`timer function ${route.name}, schedule ${route.schedule}: ${(error as Error).message}`, { cause: error });
    }
  }

  function schedule(route: TimerRoute): void {
    if (closed) return;
    const next = nextRun(route);
    if (!next) return;
    // setTimeout holds at most ~24.8 days: wake up and look again when it is further.
    const delay = Math.min(next.getTime() - Date.now(), 2 ** 31 - 1);
    const timer = setTimeout(() => {
      if (Date.now() + 1000 < next.getTime()) return schedule(route);
      run(route.name).catch((error: unknown) =>
        log.error("timer function failed", { functionName: route.name, error: redact(String((error as Error)?.message ?? error)) }),
      );
      schedule(route);
    }, delay);
    timer.unref();
    scheduled.set(route.name, { at: next, timer });
  }

  if (opts.schedule) {
    for (const route of timerRoutes) {
      schedule(route);
      log.info("timer function scheduled", { functionName: route.name, schedule: resolveSettingReference(route.schedule), nextRun: scheduled.get(route.name)?.at.toISOString() });
    }
  }

  return {
    run,
    nextRuns: () => Object.fromEntries([...scheduled].map(([name, s]) => [name, s.at.toISOString()])),
    close: () => {
      closed = true;
      for (const s of scheduled.values()) clearTimeout(s.timer);
      scheduled.clear();
    },
  };
}
