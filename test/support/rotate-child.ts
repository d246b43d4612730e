// A rotating process for crash tests: runs one rotation with the real engine and
// rotators, configured from the environment like the function app, and stops dead at
// a step boundary when asked, so the test can kill it there (SIGKILL, no cleanup).
//
//   KEYTURN_* settings as for the app, plus
//   ROTATE_VAULT, ROTATE_SECRET, ROTATE_EXPECTED_VERSION (optional), ROTATE_MODE,
//   CRASH_AT=<step>   print "AT <step>" and hang there until killed.
// Prints "STEP <step>" at each boundary and "RESULT <json>" or "ERROR <kind> <message>".
import { clientOptions, getCredential, getSecretClient } from "../../core/azure.js";
import { BlobLeaseLock, storageConnectionFromEnv } from "../../core/blob-lock.js";
import { loadConfig } from "../../core/config.js";
import { createEngine, type Step } from "../../core/engine.js";
import { KeyturnError } from "../../core/errors.js";
import { InProcessLock, type RotationLock } from "../../core/lock.js";
import { createLogger } from "../../core/log.js";
import { EventGridNotifier, LogNotifier } from "../../core/notify.js";
import type { RotationMode } from "../../core/rotator.js";
import { registry } from "../../rotators/index.js";

const out = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ component: "rotate-child" });
  const credential = await getCredential(config);
  const options = clientOptions(config);
  const storage = storageConnectionFromEnv();
  const lock: RotationLock = storage ? new BlobLeaseLock(storage, credential, options, config.lockContainer) : new InProcessLock();
  const crashAt = process.env.CRASH_AT as Step | undefined;
  const engine = createEngine({
    config,
    registry,
    lock,
    notifier: config.notifyTopicEndpoint ? new EventGridNotifier(config.notifyTopicEndpoint, credential, options, log) : new LogNotifier(log),
    credential,
    clientOptions: options,
    log,
    secretClient: (url) => getSecretClient(config, url),
    onStep: async (step) => {
      out(`STEP ${step}`);
      if (step === crashAt) {
        out(`AT ${step}`);
        await new Promise(() => undefined); // hang here until killed
      }
    },
  });
  const vault = config.vaults.byNameOrThrow(process.env.ROTATE_VAULT ?? "");
  try {
    const result = await engine.rotateSecret({
      vault,
      secret: process.env.ROTATE_SECRET ?? "",
      ...(process.env.ROTATE_EXPECTED_VERSION ? { expectedVersion: process.env.ROTATE_EXPECTED_VERSION } : {}),
      mode: (process.env.ROTATE_MODE ?? "normal") as RotationMode,
      trigger: { kind: "event", id: `child-${process.pid}` },
    });
    out(`RESULT ${JSON.stringify(result)}`);
  } catch (error) {
    out(`ERROR ${error instanceof KeyturnError ? error.kind : "internal"} ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

void main();
