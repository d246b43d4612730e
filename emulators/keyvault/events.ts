// Event Grid, as far as Key Vault's system topic needs it: webhook subscriptions with
// the validation handshake, and at-least-once delivery with retries.
//
// - Event Grid schema: the handshake POSTs `[SubscriptionValidationEvent]` and needs
//   `{"validationResponse": code}` back (or, like Event Grid's manual mode, a GET of the
//   `validationUrl`); events arrive as a JSON array of one event.
// - CloudEvents 1.0: the handshake is the CloudEvents webhook abuse-protection OPTIONS
//   request (`WebHook-Request-Origin`), answered with `WebHook-Allowed-Origin`; events
//   arrive one per POST as `application/cloudevents+json`.
// Delivery is sequential per subscription and concurrent across subscriptions. A failed
// attempt (non-2xx or network error) is retried after each of `retryDelaysMs`, then the
// event is dropped; like Event Grid's webhooks, 400, 401, 403 and 413 are not retried. Every attempt is
// recorded. Event payloads carry names and versions, never secret values.
import { randomUUID } from "node:crypto";
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import type { TestTls } from "../tls.js";

export type EventSchema = "EventGridSchema" | "CloudEventSchemaV1_0";

export const KeyVaultEventTypes = {
  SecretNewVersionCreated: "Microsoft.KeyVault.SecretNewVersionCreated",
  SecretNearExpiry: "Microsoft.KeyVault.SecretNearExpiry",
  SecretExpired: "Microsoft.KeyVault.SecretExpired",
  KeyNewVersionCreated: "Microsoft.KeyVault.KeyNewVersionCreated",
  KeyNearExpiry: "Microsoft.KeyVault.KeyNearExpiry",
  KeyExpired: "Microsoft.KeyVault.KeyExpired",
  CertificateNewVersionCreated: "Microsoft.KeyVault.CertificateNewVersionCreated",
  CertificateNearExpiry: "Microsoft.KeyVault.CertificateNearExpiry",
  CertificateExpired: "Microsoft.KeyVault.CertificateExpired",
} as const;

export type KeyVaultObjectType = "Secret" | "Key" | "Certificate";

/** A system event before it is shaped for a schema. */
export interface KeyVaultEvent {
  readonly id: string;
  readonly type: string;
  /** The vault's ARM resource id: Event Grid's `topic`, CloudEvents' `source`. */
  readonly topic: string;
  /** The object name. */
  readonly subject: string;
  readonly time: Date;
  readonly data: Record<string, unknown>;
}

export interface DeliveryRecord {
  readonly subscriptionId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly subject: string;
  /** 1 for the first attempt; the `aeg-delivery-count` header carries attempt − 1, as Event Grid's does. */
  readonly attempt: number;
  readonly status: number | "error";
  /** Set on the last attempt of an event that was given up on. */
  readonly dropped?: true;
}

export interface SubscriptionRequest {
  vault: string;
  /** The vault's resource id (validation event topic). */
  topic: string;
  /** Base URL for the manual-validation `validationUrl` (the vault's own server). */
  validationBaseUrl: string;
  endpoint: string;
  schema: EventSchema;
  eventTypes?: string[];
}

export interface EventBusOptions {
  tls: TestTls;
  retryDelaysMs: readonly number[];
  now: () => Date;
  /** How long a subscription waits for a GET of its validationUrl when the endpoint did not echo the code. */
  validationTimeoutMs: number;
}

interface Subscription {
  readonly id: string;
  readonly vault: string;
  readonly endpoint: URL;
  readonly schema: EventSchema;
  readonly eventTypes?: ReadonlySet<string>;
  active: boolean;
  /** Tail of this subscription's sequential delivery queue. */
  queue: Promise<void>;
}

interface PendingValidation {
  readonly code: string;
  resolve(): void;
  validated: boolean;
}

const DELIVERY_TIMEOUT_MS = 30_000;
const EVENT_GRID_ORIGIN = "eventgrid.azure.net";
/** Event Grid gives up on these webhook answers at once instead of retrying (its delivery-and-retry docs). */
const NOT_RETRIED = new Set([400, 401, 403, 413]);

export class EventBus {
  readonly deliveries: DeliveryRecord[] = [];
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly retryTimers = new Map<NodeJS.Timeout, string>();
  private readonly pendingValidations = new Map<string, PendingValidation>();
  private readonly abort = new AbortController();
  private sequence = 0;
  private stopped = false;

  constructor(private readonly options: EventBusOptions) {}

  /** Performs the schema's validation handshake, then starts delivering the vault's events to the endpoint. */
  async subscribe(request: SubscriptionRequest): Promise<{ id: string; unsubscribe(): void }> {
    if (this.stopped) throw new Error("The Key Vault emulator is stopped.");
    const endpoint = new URL(request.endpoint);
    if (endpoint.protocol !== "http:" && endpoint.protocol !== "https:") {
      throw new Error(`Event subscription endpoint must be http or https: ${request.endpoint}`);
    }
    const id = `keyturn-${request.vault}-${++this.sequence}`.slice(0, 64);
    if (request.schema === "EventGridSchema") await this.validateEventGrid(id, endpoint, request);
    else await this.validateCloudEvents(endpoint);

    const subscription: Subscription = {
      id,
      vault: request.vault,
      endpoint,
      schema: request.schema,
      ...(request.eventTypes ? { eventTypes: new Set(request.eventTypes.map((t) => t.toLowerCase())) } : {}),
      active: true,
      queue: Promise.resolve(),
    };
    this.subscriptions.set(id, subscription);
    return {
      id,
      unsubscribe: () => {
        subscription.active = false;
        this.subscriptions.delete(id);
        for (const [timer, subscriptionId] of this.retryTimers) {
          if (subscriptionId === id) {
            clearTimeout(timer);
            this.retryTimers.delete(timer);
          }
        }
      },
    };
  }

  /** Queues the event for every matching subscription; resolves once each first attempt is done. */
  publish(vault: string, event: KeyVaultEvent): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const firstAttempts: Promise<void>[] = [];
    for (const subscription of this.subscriptions.values()) {
      if (subscription.vault !== vault) continue;
      if (subscription.eventTypes && !subscription.eventTypes.has(event.type.toLowerCase())) continue;
      firstAttempts.push(this.enqueue(subscription, () => this.attempt(subscription, event, 1)));
    }
    return Promise.all(firstAttempts).then(() => undefined);
  }

  /**
   * Serves GET <vault>/eventgrid/validate?id=<code> (the manual handshake), which bypasses
   * Key Vault's authentication like the real validationUrl, whose token is in its query.
   */
  handleValidationRequest(req: IncomingMessage, url: URL, res: ServerResponse): boolean {
    if (url.pathname !== "/eventgrid/validate" || req.method !== "GET") return false;
    const pending = this.pendingValidations.get(url.searchParams.get("id") ?? "");
    if (!pending) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Validation request not found or expired.");
      return true;
    }
    pending.validated = true;
    pending.resolve();
    res
      .writeHead(200, { "content-type": "text/plain; charset=utf-8" })
      .end("Webhook successfully validated as a part of the subscription validation.");
    return true;
  }

  /** Cancels retries and in-flight deliveries; waits for the queues to settle. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.retryTimers.keys()) clearTimeout(timer);
    this.retryTimers.clear();
    this.abort.abort();
    for (const pending of this.pendingValidations.values()) pending.resolve();
    const queues = [...this.subscriptions.values()].map((s) => s.queue);
    this.subscriptions.clear();
    await Promise.allSettled(queues);
  }

  // ---- handshake ------------------------------------------------------------------------

  private async validateEventGrid(id: string, endpoint: URL, request: SubscriptionRequest): Promise<void> {
    const code = randomUUID().toUpperCase();
    const validationUrl = `${request.validationBaseUrl}/eventgrid/validate?id=${code}&t=${encodeURIComponent(
      this.options.now().toISOString(),
    )}&apiVersion=2024-01-01`;
    const event = {
      id: randomUUID(),
      topic: request.topic,
      subject: "",
      data: { validationCode: code, validationUrl },
      eventType: "Microsoft.EventGrid.SubscriptionValidationEvent",
      eventTime: this.options.now().toISOString(),
      metadataVersion: "1",
      dataVersion: "1",
    };
    let manualResolve!: () => void;
    const manual = new Promise<void>((resolve) => (manualResolve = resolve));
    const pending: PendingValidation = { code, resolve: manualResolve, validated: false };
    this.pendingValidations.set(code, pending);
    try {
      let response: HttpResult;
      try {
        response = await this.send(endpoint, "POST", JSON.stringify([event]), {
          "content-type": "application/json; charset=utf-8",
          "aeg-event-type": "SubscriptionValidation",
          "aeg-subscription-name": id.toUpperCase(),
          "aeg-delivery-count": "0",
          "aeg-data-version": "1",
          "aeg-metadata-version": "1",
        });
      } catch (error) {
        throw new Error(`Event Grid validation handshake with ${endpoint.href} failed: ${(error as Error).message}`, { cause: error });
      }
      if (response.status < 200 || response.status > 299) {
        throw new Error(`Event Grid validation handshake with ${endpoint.href} failed: the endpoint answered HTTP ${response.status}.`);
      }
      const echoed = readValidationResponse(response.body);
      if (echoed === code || pending.validated) return;
      if (echoed !== undefined) {
        throw new Error(
          `Event Grid validation handshake with ${endpoint.href} failed: validationResponse ${JSON.stringify(echoed)} does not match the validationCode.`,
        );
      }
      // No code in the answer: Event Grid's manual handshake, a GET of validationUrl.
      const timer = setTimeout(manualResolve, this.options.validationTimeoutMs);
      await manual;
      clearTimeout(timer);
      if (!pending.validated) {
        throw new Error(
          `Event Grid validation handshake with ${endpoint.href} failed: the endpoint neither answered {"validationResponse": <code>} nor called the validationUrl within ${this.options.validationTimeoutMs} ms.`,
        );
      }
    } finally {
      this.pendingValidations.delete(code);
    }
  }

  private async validateCloudEvents(endpoint: URL): Promise<void> {
    let response: HttpResult;
    try {
      response = await this.send(endpoint, "OPTIONS", undefined, {
        "webhook-request-origin": EVENT_GRID_ORIGIN,
        "webhook-request-rate": "120",
      });
    } catch (error) {
      throw new Error(`CloudEvents validation handshake with ${endpoint.href} failed: ${(error as Error).message}`, { cause: error });
    }
    const allowed = response.headers["webhook-allowed-origin"];
    const origins = (Array.isArray(allowed) ? allowed.join(",") : (allowed ?? "")).split(",").map((o) => o.trim());
    if (!origins.includes(EVENT_GRID_ORIGIN) && !origins.includes("*")) {
      throw new Error(
        `CloudEvents validation handshake with ${endpoint.href} failed: the OPTIONS answer (HTTP ${response.status}) has no WebHook-Allowed-Origin: ${EVENT_GRID_ORIGIN}.`,
      );
    }
  }

  // ---- delivery -------------------------------------------------------------------------

  private enqueue(subscription: Subscription, task: () => Promise<void>): Promise<void> {
    const run = subscription.queue.then(() => (subscription.active && !this.stopped ? task() : undefined));
    subscription.queue = run.catch(() => undefined);
    return subscription.queue;
  }

  private async attempt(subscription: Subscription, event: KeyVaultEvent, attempt: number): Promise<void> {
    const eventGrid = subscription.schema === "EventGridSchema";
    const body = eventGrid ? JSON.stringify([toEventGridSchema(event)]) : JSON.stringify(toCloudEvent(event));
    const headers: Record<string, string> = {
      "content-type": eventGrid ? "application/json; charset=utf-8" : "application/cloudevents+json; charset=utf-8",
      "aeg-event-type": "Notification",
      "aeg-subscription-name": subscription.id.toUpperCase(),
      "aeg-delivery-count": String(attempt - 1),
      "aeg-data-version": eventGrid ? "1" : "",
      "aeg-metadata-version": eventGrid ? "1" : "1.0",
      "aeg-output-event-id": event.id,
      ...(eventGrid ? {} : { origin: EVENT_GRID_ORIGIN }),
    };
    let status: number | "error";
    try {
      status = (await this.send(subscription.endpoint, "POST", body, headers)).status;
    } catch {
      status = "error";
    }
    if (this.stopped || !subscription.active) return;
    const delivered = typeof status === "number" && status >= 200 && status <= 299;
    const retryable = !delivered && !(typeof status === "number" && NOT_RETRIED.has(status));
    const delay = this.options.retryDelaysMs[attempt - 1];
    const willRetry = retryable && delay !== undefined;
    this.deliveries.push({
      subscriptionId: subscription.id,
      eventId: event.id,
      eventType: event.type,
      subject: event.subject,
      attempt,
      status,
      ...(delivered || willRetry ? {} : { dropped: true as const }),
    });
    if (!willRetry) return;
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      void this.enqueue(subscription, () => this.attempt(subscription, event, attempt + 1));
    }, delay);
    this.retryTimers.set(timer, subscription.id);
  }

  private send(url: URL, method: string, body: string | undefined, headers: Record<string, string>): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
      const options = {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) }) },
        signal: this.abort.signal,
        timeout: DELIVERY_TIMEOUT_MS,
      };
      const req =
        url.protocol === "https:"
          ? httpsRequest(url, { ...options, ca: this.options.tls.caPem }, collect)
          : httpRequest(url, options, collect);
      function collect(res: IncomingMessage): void {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      }
      req.on("timeout", () => req.destroy(new Error(`no answer within ${DELIVERY_TIMEOUT_MS} ms`)));
      req.on("error", reject);
      req.end(body);
    });
  }
}

interface HttpResult {
  status: number;
  headers: IncomingMessage["headers"];
  body: string;
}

function readValidationResponse(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (typeof parsed === "object" && parsed !== null) {
      for (const [key, value] of Object.entries(parsed)) {
        if (key.toLowerCase() === "validationresponse" && typeof value === "string") return value;
      }
    }
  } catch {
    // not JSON: no code echoed
  }
  return undefined;
}

/** Builds a Key Vault secret event with the data shape of Microsoft's published example. */
export function secretEvent(args: Omit<Parameters<typeof objectEvent>[0], "objectType">): KeyVaultEvent {
  return objectEvent({ ...args, objectType: "Secret" });
}

/** A secret, key or certificate event: the same data shape, with the object's kind in `ObjectType` and `Id`. */
export function objectEvent(args: {
  objectType: KeyVaultObjectType;
  type: string;
  topic: string;
  vaultName: string;
  vaultUrl: string;
  name: string;
  version: string;
  nbf?: number;
  exp?: number;
  time: Date;
}): KeyVaultEvent {
  return {
    id: randomUUID(),
    type: args.type,
    topic: args.topic,
    subject: args.name,
    time: args.time,
    data: {
      Id: `${args.vaultUrl}/${args.objectType.toLowerCase()}s/${args.name}/${args.version}`,
      VaultName: args.vaultName,
      ObjectType: args.objectType,
      ObjectName: args.name,
      Version: args.version,
      NBF: args.nbf === undefined ? null : String(args.nbf),
      EXP: args.exp === undefined ? null : String(args.exp),
    },
  };
}

export function toEventGridSchema(event: KeyVaultEvent): Record<string, unknown> {
  return {
    id: event.id,
    topic: event.topic,
    subject: event.subject,
    eventType: event.type,
    eventTime: event.time.toISOString(),
    data: event.data,
    dataVersion: "1",
    metadataVersion: "1",
  };
}

export function toCloudEvent(event: KeyVaultEvent): Record<string, unknown> {
  return {
    source: event.topic,
    subject: event.subject,
    type: event.type,
    time: event.time.toISOString(),
    id: event.id,
    data: event.data,
    specversion: "1.0",
  };
}
