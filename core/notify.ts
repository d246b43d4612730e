// Owner notification: after every rotation or permanent failure, a CloudEvent on the
// notification topic. It carries names, versions, dates and a scrubbed error — never a
// value. A failing channel is logged; it never fails the rotation it reports on.
import type { TokenCredential } from "@azure/core-auth";
import type { EventGridPublisherClient } from "@azure/eventgrid";
import type { Logger } from "./log.js";
import { redact } from "./redact.js";
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
    await Promise.all(this.channels.map((c) => c.notify(n)));
  }
}
