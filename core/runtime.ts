// The process-wide runtime: configuration, credential, clients and the engine, built
// once on first use and reused by every invocation (a warm Functions instance keeps
// them; a cold one pays for them only when a trigger arrives).
import { clientOptions, getCredential, getSecretClient } from "./azure.js";
import { BlobLeaseLock, storageConnectionFromEnv } from "./blob-lock.js";
import { loadConfig, type KeyturnConfig } from "./config.js";
import { createEngine, type Engine } from "./engine.js";
import { InProcessLock, type RotationLock } from "./lock.js";
import { createLogger, type Logger } from "./log.js";
import { EventGridNotifier, LogNotifier, type Notifier } from "./notify.js";
import { registry } from "../rotators/index.js";

export interface Runtime {
  readonly config: KeyturnConfig;
  readonly engine: Engine;
  readonly log: Logger;
  readonly lock: RotationLock;
}

let runtime: Promise<Runtime> | undefined;

export function getRuntime(): Promise<Runtime> {
  runtime ??= buildRuntime().catch((error: unknown) => {
    runtime = undefined; // a configuration error must not stick after it is fixed
    throw error;
  });
  return runtime;
}

/** Tests and the local host rebuild the runtime after changing settings. */
export function resetRuntime(): void {
  runtime = undefined;
}

async function buildRuntime(): Promise<Runtime> {
  const config = loadConfig();
  const log = createLogger({});
  const credential = await getCredential(config);
  const options = clientOptions(config);
  const notifier: Notifier = config.notifyTopicEndpoint
    ? new EventGridNotifier(config.notifyTopicEndpoint, credential, options, log)
    : new LogNotifier(log);
  // The function app's own storage account holds the locks; without one (the local
  // demo) a single process is all there is, and an in-process lock is enough.
  const storage = storageConnectionFromEnv();
  const lock: RotationLock = storage ? new BlobLeaseLock(storage, credential, options, config.lockContainer) : new InProcessLock();
  const engine = createEngine({
    config,
    registry,
    lock,
    notifier,
    credential,
    clientOptions: options,
    log,
    secretClient: (vaultUrl) => getSecretClient(config, vaultUrl),
  });
  return { config, engine, log, lock };
}
