// Timer trigger: the sweep (core/sweep.ts) on KEYTURN_SWEEP_SCHEDULE, daily by default.
// The Functions host runs a timer function as a singleton across instances, so two
// sweeps never overlap; the per-object locks guard against events arriving meanwhile.
// Run it on demand with the host's admin endpoint (POST /admin/functions/sweep; the local
// host answers with the summary).
//
// A failed sweep item was already logged and reported to its owner; the function itself
// fails only when the runtime cannot be built (settings).
import type { InvocationContext, Timer } from "@azure/functions";
import { getRuntime } from "../app/runtime.js";
import { runSweep, type SweepSummary } from "../core/sweep.js";
import { invocationLog } from "./invocation.js";

export async function sweep(timer: Pick<Timer, "isPastDue"> | undefined, context: InvocationContext): Promise<SweepSummary> {
  const runtime = await getRuntime();
  const log = invocationLog(context);
  if (timer?.isPastDue) log.warn("the sweep is running late (the timer was past due)");
  return runSweep(
    {
      config: runtime.config,
      engine: runtime.engine,
      certificates: runtime.certificates,
      keys: runtime.keys,
      registry: runtime.registry,
      log,
      secretClient: runtime.secretClient,
      certificateClient: runtime.certificateClient,
      keyClient: runtime.keyClient,
    },
    { id: context.invocationId },
  );
}
