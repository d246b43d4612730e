// The process-wide runtime: configuration, credential, clients and the engine, built
// once on first use and reused by every invocation (a warm Functions instance keeps
// them; a cold one pays for them only when a trigger arrives).
import type { AuditDeps } from "../core/audit.js";
import { clientOptions, getCertificateClient, getCredential, getKeyClient, getSecretClient } from "../core/azure.js";
import { BlobLeaseLock, storageConnectionFromEnv } from "../core/blob-lock.js";
import { createCertificateService, type CertificateService } from "../core/certificates.js";
import { CredentialMode, loadConfig, type KeyturnConfig } from "../core/config.js";
import { createEngine, type Engine } from "../core/engine.js";
import { createKeyService, type KeyService } from "../core/keys.js";
import { InProcessLock, type RotationLock } from "../core/lock.js";
import { createLogger, type Logger } from "../core/log.js";
import { CompositeNotifier, EmailNotifier, EventGridNotifier, LogNotifier, WebhookNotifier, type Notifier } from "../core/notify.js";
import type { CertificateClient } from "@azure/keyvault-certificates";
import type { KeyClient } from "@azure/keyvault-keys";
import type { SecretClient } from "@azure/keyvault-secrets";
import type { RotatorRegistry } from "../core/registry.js";
import { registry } from "../rotators/index.js";

export interface Runtime {
  readonly config: KeyturnConfig;
  readonly engine: Engine;
  readonly log: Logger;
  readonly lock: RotationLock;
  readonly registry: RotatorRegistry;
  /** Property reads for the status and due routes use the engine's clients. */
  secretClient(vaultUrl: string): Promise<SecretClient>;
  readonly notifier: Notifier;
  /** Certificates near expiry: renew or remind (core/certificates.ts). */
  readonly certificates: CertificateService;
  /** Keys near expiry and key rotation policies (core/keys.ts). */
  readonly keys: KeyService;
  certificateClient(vaultUrl: string): Promise<CertificateClient>;
  keyClient(vaultUrl: string): Promise<KeyClient>;
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
  // Every configured channel gets every notification; with none, the log is the channel.
  const channels: Notifier[] = [];
  if (config.notifyTopicEndpoint) channels.push(new EventGridNotifier(config.notifyTopicEndpoint, credential, options, log));
  if (config.notifyWebhookUrl) channels.push(new WebhookNotifier(config.notifyWebhookUrl, options, log));
  if (config.emailEndpoint && config.emailSender) channels.push(new EmailNotifier(config.emailEndpoint, config.emailSender, credential, options, log));
  const notifier: Notifier = channels.length === 0 ? new LogNotifier(log) : channels.length === 1 ? channels[0]! : new CompositeNotifier(channels);
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
  const certificateClient = (vaultUrl: string) => getCertificateClient(config, vaultUrl);
  const keyClient = (vaultUrl: string) => getKeyClient(config, vaultUrl);
  const certificates = createCertificateService({
    config,
    lock,
    notifier,
    log,
    certificateClient,
    // The local double completes a renewal within a poll or two: no need to wait seconds.
    ...(config.credentialMode === CredentialMode.LocalEmulator ? { pollIntervalMs: 250 } : {}),
  });
  const keys = createKeyService({ config, lock, notifier, log, keyClient });
  return {
    config,
    engine,
    log,
    lock,
    registry,
    secretClient: (vaultUrl) => getSecretClient(config, vaultUrl),
    notifier,
    certificates,
    keys,
    certificateClient,
    keyClient,
  };
}

/** What the audit needs, from the process's runtime (the HTTP route and the CLI in-process). */
export async function auditDeps(runtime: Runtime): Promise<AuditDeps> {
  return {
    config: runtime.config,
    registry: runtime.registry,
    secretClient: runtime.secretClient,
    certificateClient: runtime.certificateClient,
    keyClient: runtime.keyClient,
    credential: await getCredential(runtime.config),
    clientOptions: clientOptions(runtime.config),
  };
}
