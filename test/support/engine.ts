// Build the real engine against the Key Vault double, with a recording notifier and a
// captured log, for integration tests of rotators and of the engine itself.
import type { TokenCredential } from "@azure/core-auth";
import { LocalEmulatorCredential, RETRY_OPTIONS } from "../../core/azure.js";
import { loadConfig, type KeyturnConfig } from "../../core/config.js";
import { createEngine, type Engine, type EngineDeps } from "../../core/engine.js";
import { InProcessLock, type RotationLock } from "../../core/lock.js";
import { createLogger } from "../../core/log.js";
import type { Notifier, RotationNotification } from "../../core/notify.js";
import type { AzureClientOptions } from "../../core/rotator.js";
import type { KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { registry as defaultRegistry, type RotatorRegistry } from "../../rotators/index.js";
import { secretClientFor } from "./keyvault.js";

export class RecordingNotifier implements Notifier {
  readonly sent: RotationNotification[] = [];
  async notify(n: RotationNotification): Promise<void> {
    this.sent.push(n);
  }
}

export interface TestEngine {
  readonly engine: Engine;
  readonly notifier: RecordingNotifier;
  readonly logs: string[];
  readonly config: KeyturnConfig;
  readonly clientOptions: AzureClientOptions;
}

export function testEngine(
  kv: KeyVaultEmulator,
  opts: {
    registry?: RotatorRegistry;
    env?: Record<string, string>;
    lock?: RotationLock;
    now?: () => Date;
    armEndpoint?: string;
    /** keyturn's own identity; default: the local emulator token (test/support/credential.ts has one that Graph accepts). */
    credential?: TokenCredential;
    consumerTiming?: EngineDeps["consumerTiming"];
  } = {},
): TestEngine {
  const vaults = kv.vaultNames.map((v) => `${v}=${kv.url(v)}`).join(",");
  const config = loadConfig({
    KEYTURN_VAULTS: vaults,
    KEYTURN_CREDENTIAL: "local-emulator",
    KEYTURN_TLS_CA_FILE: kv.tls.caFile,
    KEYTURN_ROTATION_GUARD_MINUTES: "0",
    ...(opts.armEndpoint ? { KEYTURN_ARM_ENDPOINT: opts.armEndpoint } : {}),
    ...opts.env,
  });
  const logs: string[] = [];
  const notifier = new RecordingNotifier();
  const clientOptions: AzureClientOptions = { retryOptions: { ...RETRY_OPTIONS, retryDelayInMs: 20, maxRetries: 2 }, tlsOptions: { ca: kv.tls.caPem } };
  const deps: EngineDeps = {
    config,
    registry: opts.registry ?? defaultRegistry,
    lock: opts.lock ?? new InProcessLock(),
    notifier,
    credential: opts.credential ?? new LocalEmulatorCredential(),
    clientOptions,
    log: createLogger({}, (_level, line) => logs.push(line)),
    secretClient: async (url) => {
      const name = kv.vaultNames.find((v) => kv.url(v) === url);
      if (!name) throw new Error(`no vault at ${url}`);
      return secretClientFor(kv, name);
    },
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.consumerTiming ? { consumerTiming: opts.consumerTiming } : {}),
  };
  return { engine: createEngine(deps), notifier, logs, config, clientOptions };
}

/** The error a rotation that must fail rejects with (the test fails if it succeeds). */
export async function failure(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error("expected the rotation to fail");
}
