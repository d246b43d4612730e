// Owner notification: after every rotation or permanent failure, a CloudEvent on the
// notification topic, and optionally a chat message (Teams/Slack incoming webhook) and
// an e-mail to the secret's Owner (Azure Communication Services). Each carries names,
// versions, dates and a scrubbed error — never a value. A failing channel is logged; it
// never fails the rotation it reports on.
import type { TokenCredential } from "@azure/core-auth";
import type { EmailClient } from "@azure/communication-email";
import type { EventGridPublisherClient } from "@azure/eventgrid";
import type { Logger } from "./log.js";
import { redact, registerSecret } from "./redact.js";
import type { AzureClientOptions, RotationMode } from "./rotator.js";

export const NotificationType = {
  SecretRotated: "keyturn.SecretRotated",
  RotationFailed: "keyturn.RotationFailed",
} as const;
export type NotificationType = (typeof NotificationType)[keyof typeof NotificationType];

export interface RotationNotification {
  readonly type: NotificationType;
  readonly vault: string;
  readonly vaultUrl: string;
  readonly secret: string;
  readonly version?: string;
  readonly previousVersion?: string;
  readonly credentialId?: string;
  readonly previousCredentialId?: string;
  readonly rotator?: string;
  readonly trigger: string;
  readonly triggerId: string;
  readonly mode: RotationMode;
  readonly owner?: string;
  readonly expiresOn?: string;
  readonly rolledForward?: boolean;
  /** Failures: the step that failed and a scrubbed one-line error. */
  readonly step?: string;
  readonly errorKind?: string;
  readonly error?: string;
  /** Failures: true when the trigger retries by itself (transient), false when an owner must act. */
  readonly willRetry?: boolean;
  /** Single-credential failures after the provider changed: whether it has its previous credential back. */
  readonly rolledBack?: boolean;
}

export interface Notifier {
  notify(notification: RotationNotification): Promise<void>;
}

/** Publishes CloudEvents 1.0 with EventGridPublisherClient (Microsoft Entra auth). */
export class EventGridNotifier implements Notifier {
  private client: Promise<EventGridPublisherClient<"CloudEvent">> | undefined;

  constructor(
    private readonly endpoint: string,
    private readonly credential: TokenCredential,
    private readonly options: AzureClientOptions,
    private readonly log: Logger,
  ) {}

  private getClient(): Promise<EventGridPublisherClient<"CloudEvent">> {
    this.client ??= import("@azure/eventgrid").then(
      ({ EventGridPublisherClient }) => new EventGridPublisherClient(this.endpoint, "CloudEvent", this.credential, this.options),
    );
    return this.client;
  }

  async notify(n: RotationNotification): Promise<void> {
    try {
      const client = await this.getClient();
      // Scrub once more: an error string is the one field that comes from outside.
      const data = JSON.parse(redact(JSON.stringify(n))) as RotationNotification;
      await client.send([{ type: n.type, source: `keyturn/vaults/${n.vault}`, subject: `secrets/${n.secret}`, data }]);
    } catch (error) {
      this.log.warn("notification failed", { step: "notify", secret: n.secret, vault: n.vault, error: (error as Error).message });
    }
  }
}

/** Used when no topic is configured: the notification goes to the log only. */
export class LogNotifier implements Notifier {
  constructor(private readonly log: Logger) {}
  async notify(n: RotationNotification): Promise<void> {
    this.log.info(`notification ${n.type}`, { step: "notify", vault: n.vault, secret: n.secret, version: n.version, error: n.error });
  }
}

/** Fan out to several channels; each failure is the channel's own business. */
export class CompositeNotifier implements Notifier {
  constructor(private readonly channels: readonly Notifier[]) {}
  async notify(n: RotationNotification): Promise<void> {
    // Channels catch their own failures; allSettled keeps one that does not from
    // failing the rotation or silencing the others.
    await Promise.allSettled(this.channels.map((c) => c.notify(n)));
  }
}

/** A notification as a subject line and a few plain-text sentences, scrubbed. */
export function describeNotification(n: RotationNotification): { subject: string; text: string } {
  const where = `${n.secret} in vault ${n.vault}`;
  const by = `trigger ${n.trigger}${n.mode !== "normal" ? `, mode ${n.mode}` : ""}`;
  if (n.type === NotificationType.SecretRotated) {
    const lines = [
      `keyturn rotated ${where} (${n.rotator ?? "unknown rotator"}; ${by}).`,
      `New version ${n.version ?? "?"}${n.credentialId ? ` (credential ${n.credentialId})` : ""}, previous version ${n.previousVersion ?? "?"}; expires ${n.expiresOn ?? "never"}.`,
    ];
    if (n.rolledForward) lines.push("It finished a rotation that had been interrupted.");
    if (n.mode === "emergency") lines.push("Emergency rotation: make sure every consumer has picked up the new version.");
    return { subject: redact(`keyturn: ${where} rotated`), text: redact(lines.join("\n")) };
  }
  const lines = [
    `keyturn could not rotate ${where} (${n.rotator ?? "no rotator"}; ${by}): step ${n.step ?? "?"} failed.`,
    `Error (${n.errorKind ?? "unknown"}): ${n.error ?? "-"}`,
    `Version ${n.version ?? "?"} is still the latest.`,
  ];
  if (n.rolledBack === true) lines.push("The provider was given its previous credential back.");
  if (n.rolledBack === false) lines.push("The provider could NOT be given its previous credential back; the pending journal holds the new one. See the runbook: a rotation failed.");
  lines.push(`Status: keyturn status ${n.vault}/${n.secret}`);
  return { subject: redact(`keyturn: rotation of ${where} FAILED`), text: redact(lines.join("\n")) };
}

const EMAIL = /^[^\s@;,<>"]+@[^\s@;,<>"]+\.[^\s@;,<>"]+$/;

/** The e-mail addresses in an Owner tag (`a@x.com`, `a@x.com; b@y.org`); other owners (team names) give none. */
export function ownerEmails(owner: string | undefined): string[] {
  if (!owner) return [];
  return [...new Set(owner.split(/[\s,;]+/).filter((o) => EMAIL.test(o)))];
}

/**
 * A Teams or Slack incoming webhook: both accept `{"text": "..."}`. The webhook URL is
 * the credential (anyone holding it may post): it is registered for redaction so that
 * no log line or error can carry it.
 */
export class WebhookNotifier implements Notifier {
  private pipeline: Promise<{ send(body: string): Promise<number> }> | undefined;

  constructor(
    private readonly url: string,
    private readonly options: AzureClientOptions,
    private readonly log: Logger,
  ) {
    registerSecret(url);
    const u = new URL(url);
    registerSecret(`${u.pathname}${u.search}`);
  }

  private getPipeline() {
    // core-rest-pipeline: the same retry policy (honouring Retry-After) and TLS
    // settings as every Azure client, without another HTTP library.
    this.pipeline ??= import("@azure/core-rest-pipeline").then(({ createPipelineFromOptions, createDefaultHttpClient, createPipelineRequest, createHttpHeaders }) => {
      const pipeline = createPipelineFromOptions({ ...this.options });
      const client = createDefaultHttpClient();
      return {
        send: async (body: string) => {
          const request = createPipelineRequest({
            url: this.url,
            method: "POST",
            headers: createHttpHeaders({ "content-type": "application/json" }),
            body,
            timeout: 15_000,
          });
          return (await pipeline.sendRequest(client, request)).status;
        },
      };
    });
    return this.pipeline;
  }

  async notify(n: RotationNotification): Promise<void> {
    try {
      const { text } = describeNotification(n);
      const status = await (await this.getPipeline()).send(JSON.stringify({ text }));
      if (status < 200 || status > 299) throw new Error(`the webhook answered ${status}`);
    } catch (error) {
      this.log.warn("notification failed", { step: "notify", channel: "webhook", secret: n.secret, vault: n.vault, error: redact((error as Error).message) });
    }
  }
}

/**
 * E-mail to the secret's Owner through Azure Communication Services, with the
 * function app's identity (EmailClient with a TokenCredential). beginSend queues the
 * message (202 with Operation-Location); the poller then reads the operation until it
 * succeeds or fails, at most `maxWaitMs`, so that a failed delivery is logged.
 */
export class EmailNotifier implements Notifier {
  private client: Promise<EmailClient> | undefined;

  constructor(
    private readonly endpoint: string,
    private readonly sender: string,
    private readonly credential: TokenCredential,
    private readonly options: AzureClientOptions,
    private readonly log: Logger,
    private readonly timing: { pollIntervalMs?: number; maxWaitMs?: number } = {},
  ) {}

  private getClient(): Promise<EmailClient> {
    this.client ??= import("@azure/communication-email").then(({ EmailClient }) => new EmailClient(this.endpoint, this.credential, { ...this.options }));
    return this.client;
  }

  async notify(n: RotationNotification): Promise<void> {
    const to = ownerEmails(n.owner);
    if (to.length === 0) {
      this.log.debug("no e-mail owner; e-mail notification skipped", { step: "notify", channel: "email", secret: n.secret, vault: n.vault });
      return;
    }
    try {
      const { subject, text } = describeNotification(n);
      const client = await this.getClient();
      const poller = await client.beginSend(
        { senderAddress: this.sender, content: { subject, plainText: text }, recipients: { to: to.map((address) => ({ address })) } },
        { updateIntervalInMs: this.timing.pollIntervalMs ?? 2_000 },
      );
      const result = await poller.pollUntilDone({ abortSignal: AbortSignal.timeout(this.timing.maxWaitMs ?? 30_000) });
      if (result.status !== "Succeeded") throw new Error(`the e-mail operation ended ${result.status}${result.error?.message ? `: ${result.error.message}` : ""}`);
      this.log.info("e-mail notification sent", { step: "notify", channel: "email", secret: n.secret, vault: n.vault, recipients: to.length, operationId: result.id });
    } catch (error) {
      this.log.warn("notification failed", { step: "notify", channel: "email", secret: n.secret, vault: n.vault, error: redact((error as Error).message) });
    }
  }
}
