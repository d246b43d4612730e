// Owner notification: after every rotation or permanent failure, a CloudEvent on the
// notification topic, and optionally a chat message (Teams/Slack incoming webhook) and
// an e-mail to the secret's Owner (Azure Communication Services). Each carries names,
// versions, dates and a scrubbed error — never a value. A failing channel is logged; it
// never fails the rotation it reports on.
//
// Secrets are reported with RotationNotification; certificates and keys (renewals,
// expiry reminders, key rotations, missing key rotation policies) with
// ObjectNotification, which names its object in `objectType` + `name`. Channels take
// either (`Notification`) and use `notificationSubject` / `describeNotification`.
import type { TokenCredential } from "@azure/core-auth";
import type { EmailClient } from "@azure/communication-email";
import type { EventGridPublisherClient } from "@azure/eventgrid";
import type { Logger } from "./log.js";
import { redact, registerSecret } from "./redact.js";
import type { ConsumerOutcome } from "./consumers.js";
import type { AzureClientOptions, RotationMode } from "./rotator.js";

export const NotificationType = {
  SecretRotated: "keyturn.SecretRotated",
  RotationFailed: "keyturn.RotationFailed",
  /**
   * A dual kind did not regenerate because a consumer still resolves an older version
   * (or could not be read): nothing changed; the next trigger tries again.
   */
  ConsumerLagging: "keyturn.ConsumerLagging",
  /** A Self- or CA-issued certificate got a new version from its policy. */
  CertificateRenewed: "keyturn.CertificateRenewed",
  /** Renewing a certificate failed (the operation failed, or could not be started). */
  CertificateRenewalFailed: "keyturn.CertificateRenewalFailed",
  /** A certificate keyturn cannot renew (issuer Unknown) is this many days from expiry: the owner must act. */
  CertificateExpiring: "keyturn.CertificateExpiring",
  /** A key got a new version (rotateKey). */
  KeyRotated: "keyturn.KeyRotated",
  KeyRotationFailed: "keyturn.KeyRotationFailed",
  /** A key has no rotation policy with a Rotate action: Key Vault will not rotate it by itself. */
  KeyPolicyMissing: "keyturn.KeyPolicyMissing",
  /** keyturn set its default rotation policy on a key whose RotationPolicy tag asked for it. */
  KeyPolicySet: "keyturn.KeyPolicySet",
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
  /** Manual rotations: who asked (principal name and object id from App Service Authentication). */
  readonly callerName?: string;
  readonly callerId?: string;
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
  /** The consumers of the Consumers tag: after a commit, whether each picked the new version up; for ConsumerLagging, the ones that block. */
  readonly consumers?: readonly ConsumerOutcome[];
}

/** About a certificate or a key (never a value: names, versions, dates, a scrubbed error). */
export interface ObjectNotification {
  readonly type: NotificationType;
  readonly objectType: "certificate" | "key";
  readonly vault: string;
  readonly vaultUrl: string;
  /** The certificate's or key's name. */
  readonly name: string;
  /** The new version (renewed, rotated) or the version the notice is about. */
  readonly version?: string;
  readonly previousVersion?: string;
  readonly expiresOn?: string;
  readonly trigger: string;
  readonly triggerId: string;
  readonly owner?: string;
  /** Certificates: the policy's issuer name (Self, Unknown, or a configured issuer). */
  readonly issuer?: string;
  /** Reminders: whole days until expiry (0 or less once expired), and the threshold that fired. */
  readonly daysRemaining?: number;
  readonly threshold?: number;
  /** Keys: the rotation policy keyturn set (ISO 8601 durations), when it set one. */
  readonly policyApplied?: string;
  /** What the owner should do, in one sentence. */
  readonly action?: string;
  readonly step?: string;
  readonly error?: string;
}

export type Notification = RotationNotification | ObjectNotification;

export function isObjectNotification(n: Notification): n is ObjectNotification {
  return "objectType" in n;
}

/** `secrets/<name>`, `certificates/<name>` or `keys/<name>`: the CloudEvent subject. */
export function notificationSubject(n: Notification): string {
  return isObjectNotification(n) ? `${n.objectType === "certificate" ? "certificates" : "keys"}/${n.name}` : `secrets/${n.secret}`;
}

/** Log fields naming the notification's object. */
function objectFields(n: Notification): { secret?: string; certificate?: string; key?: string; vault: string } {
  if (!isObjectNotification(n)) return { vault: n.vault, secret: n.secret };
  return n.objectType === "certificate" ? { vault: n.vault, certificate: n.name } : { vault: n.vault, key: n.name };
}

export interface Notifier {
  /** `log`: the logger of the invocation this notification belongs to (default the channel's own). */
  notify(notification: Notification, log?: Logger): Promise<void>;
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

  async notify(n: Notification, log: Logger = this.log): Promise<void> {
    try {
      const client = await this.getClient();
      // Scrub once more: an error string is the one field that comes from outside.
      const data = JSON.parse(redact(JSON.stringify(n))) as Notification;
      await client.send([{ type: n.type, source: `keyturn/vaults/${n.vault}`, subject: notificationSubject(n), data }]);
    } catch (error) {
      log.warn("notification failed", { step: "notify", ...objectFields(n), error: (error as Error).message });
    }
  }
}

/** Used when no topic is configured: the notification goes to the log only. */
export class LogNotifier implements Notifier {
  constructor(private readonly log: Logger) {}
  async notify(n: Notification, log: Logger = this.log): Promise<void> {
    const caller = isObjectNotification(n) ? {} : { callerName: n.callerName, callerId: n.callerId };
    log.info(`notification ${n.type}`, { step: "notify", ...objectFields(n), version: n.version, error: n.error, ...caller });
  }
}

/** Fan out to several channels; each failure is the channel's own business. */
export class CompositeNotifier implements Notifier {
  constructor(private readonly channels: readonly Notifier[]) {}
  async notify(n: Notification, log?: Logger): Promise<void> {
    // Channels catch their own failures; allSettled keeps one that does not from
    // failing the rotation or silencing the others.
    await Promise.allSettled(this.channels.map((c) => c.notify(n, log)));
  }
}

/** A notification as a subject line and a few plain-text sentences, scrubbed. */
export function describeNotification(n: Notification): { subject: string; text: string } {
  if (isObjectNotification(n)) return describeObjectNotification(n);
  const where = `${n.secret} in vault ${n.vault}`;
  const caller = n.callerName !== undefined || n.callerId !== undefined ? `, requested by ${[n.callerName, n.callerId && `(${n.callerId})`].filter(Boolean).join(" ")}` : "";
  const by = `trigger ${n.trigger}${caller}${n.mode !== "normal" ? `, mode ${n.mode}` : ""}`;
  if (n.type === NotificationType.SecretRotated) {
    const lines = [
      `keyturn rotated ${where} (${n.rotator ?? "unknown rotator"}; ${by}).`,
      `New version ${n.version ?? "?"}${n.credentialId ? ` (credential ${n.credentialId})` : ""}, previous version ${n.previousVersion ?? "?"}; expires ${n.expiresOn ?? "never"}.`,
    ];
    if (n.rolledForward) lines.push("It finished a rotation that had been interrupted.");
    if (n.mode === "emergency") lines.push("Emergency rotation: make sure every consumer has picked up the new version.");
    lines.push(...consumerLines(n.consumers, "did not pick the new version up (the rotation stands; refresh or fix these)"));
    return { subject: redact(`keyturn: ${where} rotated`), text: redact(lines.join("\n")) };
  }
  if (n.type === NotificationType.ConsumerLagging) {
    const lines = [
      `keyturn did not rotate ${where} (${n.rotator ?? "unknown rotator"}; ${by}): regenerating the unused credential would break a consumer that still resolves an older version.`,
      ...consumerLines(n.consumers, "lag"),
      `Version ${n.version ?? "?"} is still the latest and nothing changed. Make these consumers resolve it (refresh their Key Vault references, restart, or unpin the version); the next trigger tries again.`,
    ];
    return { subject: redact(`keyturn: rotation of ${where} waits for a lagging consumer`), text: redact(lines.join("\n")) };
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

function consumerLines(consumers: readonly ConsumerOutcome[] | undefined, what: string): string[] {
  const behind = (consumers ?? []).filter((c) => c.status !== "current");
  if (behind.length === 0) return [];
  return [
    `Consumers that ${what}:`,
    ...behind.map((c) => `- ${c.id} (${c.kind}): ${c.status}${c.versions?.length ? `, resolves version ${c.versions.join(", ")}` : ""}${c.detail ? `; ${c.detail}` : ""}`),
  ];
}

function describeObjectNotification(n: ObjectNotification): { subject: string; text: string } {
  const where = `${n.objectType} ${n.name} in vault ${n.vault}`;
  const lines: string[] = [];
  let subject: string;
  switch (n.type) {
    case NotificationType.CertificateRenewed:
      subject = `keyturn: ${where} renewed`;
      lines.push(`keyturn renewed ${where} from its policy (issuer ${n.issuer ?? "?"}; trigger ${n.trigger}).`);
      lines.push(`New version ${n.version ?? "?"}, previous version ${n.previousVersion ?? "?"}; expires ${n.expiresOn ?? "?"}.`);
      lines.push("Services that load the certificate by name pick up the new version; those pinned to a version must be moved.");
      break;
    case NotificationType.CertificateExpiring:
      subject =
        (n.daysRemaining ?? 0) <= 0 ? `keyturn: ${where} has EXPIRED` : `keyturn: ${where} expires in ${n.daysRemaining} day${n.daysRemaining === 1 ? "" : "s"}`;
      lines.push(
        (n.daysRemaining ?? 0) <= 0
          ? `${where} expired on ${n.expiresOn ?? "?"} (version ${n.version ?? "?"}).`
          : `${where} expires on ${n.expiresOn ?? "?"}, in ${n.daysRemaining} day${n.daysRemaining === 1 ? "" : "s"} (version ${n.version ?? "?"}).`,
      );
      lines.push(`Its issuer is ${n.issuer ?? "Unknown"}: keyturn cannot renew it.`);
      if (n.action) lines.push(n.action);
      break;
    case NotificationType.KeyRotated:
      subject = `keyturn: ${where} rotated`;
      lines.push(`keyturn rotated ${where} (trigger ${n.trigger}): new version ${n.version ?? "?"}, previous version ${n.previousVersion ?? "?"}; expires ${n.expiresOn ?? "never"}.`);
      if (n.policyApplied) lines.push(`keyturn also set the key's rotation policy (${n.policyApplied}), as its RotationPolicy tag asked.`);
      lines.push("Services that use the key without a version (customer-managed keys with auto-rotation) pick up the new version; those pinned to a version must be moved.");
      break;
    case NotificationType.KeyPolicyMissing:
      subject = `keyturn: ${where} has no rotation policy`;
      lines.push(`${where} (version ${n.version ?? "?"}) has no rotation policy with a Rotate action: Key Vault will not rotate it by itself.`);
      if (n.action) lines.push(n.action);
      break;
    case NotificationType.KeyPolicySet:
      subject = `keyturn: rotation policy set on ${where}`;
      lines.push(`keyturn set the rotation policy of ${where} to ${n.policyApplied ?? "its default"}, as its RotationPolicy tag asked.`);
      break;
    default:
      subject = `keyturn: ${n.objectType === "certificate" ? "renewal" : "rotation"} of ${where} FAILED`;
      lines.push(`keyturn could not ${n.objectType === "certificate" ? "renew" : "rotate"} ${where} (trigger ${n.trigger}): step ${n.step ?? "?"} failed.`);
      lines.push(`Error: ${n.error ?? "-"}`);
      lines.push(`Version ${n.version ?? "?"} is still the latest${n.expiresOn ? `; it expires ${n.expiresOn}` : ""}.`);
  }
  return { subject: redact(subject), text: redact(lines.join("\n")) };
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

  async notify(n: Notification, log: Logger = this.log): Promise<void> {
    try {
      const { text } = describeNotification(n);
      const status = await (await this.getPipeline()).send(JSON.stringify({ text }));
      if (status < 200 || status > 299) throw new Error(`the webhook answered ${status}`);
    } catch (error) {
      log.warn("notification failed", { step: "notify", channel: "webhook", ...objectFields(n), error: redact((error as Error).message) });
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

  async notify(n: Notification, log: Logger = this.log): Promise<void> {
    const to = ownerEmails(n.owner);
    if (to.length === 0) {
      log.debug("no e-mail owner; e-mail notification skipped", { step: "notify", channel: "email", ...objectFields(n) });
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
      log.info("e-mail notification sent", { step: "notify", channel: "email", ...objectFields(n), recipients: to.length, operationId: result.id });
    } catch (error) {
      log.warn("notification failed", { step: "notify", channel: "email", ...objectFields(n), error: redact((error as Error).message) });
    }
  }
}
