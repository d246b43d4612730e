// A rotating process for crash tests: runs rotations with the real engine and rotators,
// configured from the environment like the function app, and stops dead at a step
// boundary when asked, so the test can kill it there (SIGKILL, no cleanup).
//
//   KEYTURN_* settings as for the app, plus
//   ROTATE_VAULT, ROTATE_SECRET, ROTATE_EXPECTED_VERSION (optional), ROTATE_MODE,
//   CRASH_AT=<step>   print "AT <step>" and hang there until killed;
//   PAUSE_AT=<step>   print "AT <step>" and wait there for SIGCONT (the test freezes the
//                     process with SIGSTOP meanwhile: a holder that is not dead, only late);
//   KEYTURN_TEST_LEASE_SECONDS  the blob lease's duration (default 30).
// Prints "STEP <step>" at each boundary and "RESULT <json>" or "ERROR <kind> <message>".
//
// Many rotations in one process (one process start for many crash points):
//   ROTATE_JOBS=[{"secret":"a","expectedVersion":"…","crashAt":"verify"}, …]
// runs them all at once; each hangs at its own crash point. Lines carry the secret:
// "STEP <secret> <step>", "AT <secret> <step>", "RESULT <secret> <json>",
// "ERROR <secret> <kind> <message>".
//
// A crash point is a step name (single-credential kinds read the journal at
// `read-journal` and write it at `journal`), or `<step>#<n>` for the n-th time that
// step begins.
//
// With KEYTURN_TEST_GRAPH_TENANT set, keyturn's own Graph token comes from the Graph
// double (test/support/credential.ts), so entra-app-secret can rotate here too.
import { clientOptions, getCredential, getSecretClient } from "../../core/azure.js";
import { BlobLeaseLock, storageConnectionFromEnv } from "../../core/blob-lock.js";
import { loadConfig } from "../../core/config.js";
import { createEngine, type RotationRequest, type Step, type TriggerKind } from "../../core/engine.js";
import { KeyturnError } from "../../core/errors.js";
import { InProcessLock, type RotationLock } from "../../core/lock.js";
import { createLogger } from "../../core/log.js";
import { EventGridNotifier, LogNotifier } from "../../core/notify.js";
import type { RotationMode } from "../../core/rotator.js";
import { registry } from "../../rotators/index.js";
import { graphAwareCredentialFromEnv } from "./credential.js";

const out = (line: string) => process.stdout.write(`${line}\n`);

interface Job {
  readonly secret: string;
  readonly expectedVersion?: string;
  readonly crashAt?: string;
}

/** A crash point `<step>` or `<step>#<n>`: true when `step` begins for the n-th time. */
function crashMatcher(spec: string | undefined): (step: Step) => boolean {
  if (!spec) return () => false;
  const [name, nth] = spec.split("#");
  const wanted = Number(nth ?? "1");
  let seen = 0;
  return (step) => step === name && ++seen === wanted;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ component: "rotate-child" });
  const options = clientOptions(config);
  const credential = graphAwareCredentialFromEnv(options.tlsOptions?.ca) ?? (await getCredential(config));
  const storage = storageConnectionFromEnv();
  const leaseSeconds = process.env.KEYTURN_TEST_LEASE_SECONDS ? Number(process.env.KEYTURN_TEST_LEASE_SECONDS) : undefined;
  const lock: RotationLock = storage ? new BlobLeaseLock(storage, credential, options, config.lockContainer, leaseSeconds) : new InProcessLock();
  const pauseAt = crashMatcher(process.env.PAUSE_AT);
  const multi = process.env.ROTATE_JOBS ? (JSON.parse(process.env.ROTATE_JOBS) as Job[]) : undefined;
  const jobs: Job[] = multi ?? [
    {
      secret: process.env.ROTATE_SECRET ?? "",
      ...(process.env.ROTATE_EXPECTED_VERSION ? { expectedVersion: process.env.ROTATE_EXPECTED_VERSION } : {}),
      ...(process.env.CRASH_AT ? { crashAt: process.env.CRASH_AT } : {}),
    },
  ];
  const prefix = (secret: string) => (multi ? `${secret} ` : "");
  const crashes = new Map(jobs.map((j) => [j.secret, crashMatcher(j.crashAt)]));
  const engine = createEngine({
    config,
    registry,
    lock,
    notifier: config.notifyTopicEndpoint ? new EventGridNotifier(config.notifyTopicEndpoint, credential, options, log) : new LogNotifier(log),
    credential,
    clientOptions: options,
    log,
    secretClient: (url) => getSecretClient(config, url),
    onStep: async (step, request: RotationRequest) => {
      out(`STEP ${prefix(request.secret)}${step}`);
      if (crashes.get(request.secret)?.(step)) {
        out(`AT ${prefix(request.secret)}${step}`);
        await new Promise(() => undefined); // hang here until killed
      }
      if (pauseAt(step)) {
        const resumed = new Promise((r) => process.once("SIGCONT", r));
        // A signal listener does not keep the process alive (and idle sockets close).
        const alive = setInterval(() => undefined, 1_000);
        out(`AT ${prefix(request.secret)}${step}`);
        await resumed;
        clearInterval(alive);
      }
    },
  });
  const vault = config.vaults.byNameOrThrow(process.env.ROTATE_VAULT ?? "");
  const trigger = (process.env.ROTATE_TRIGGER ?? "event") as TriggerKind;
  await Promise.all(
    jobs.map(async (job) => {
      try {
        const result = await engine.rotateSecret({
          vault,
          secret: job.secret,
          ...(job.expectedVersion ? { expectedVersion: job.expectedVersion } : {}),
          mode: (process.env.ROTATE_MODE ?? "normal") as RotationMode,
          trigger: { kind: trigger, id: `child-${process.pid}` },
        });
        out(`RESULT ${prefix(job.secret)}${JSON.stringify(result)}`);
      } catch (error) {
        out(`ERROR ${prefix(job.secret)}${error instanceof KeyturnError ? error.kind : "internal"} ${(error as Error).message}`);
        process.exitCode = 1;
      }
    }),
  );
}

void main();
