// A local Event Grid custom topic (CloudEvents 1.0 input schema): HTTPS, Microsoft
// Entra bearer auth required, accepts what EventGridPublisherClient publishes
// (`application/cloudevents-batch+json`, an array) and keeps the events for tests and
// for the demo's console.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Inbox } from "../shared/inbox.js";
import { errorBody, readBody, serveHttps } from "../shared/http.js";
import { testTls, type TestTls } from "../tls.js";

export interface ReceivedCloudEvent {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly subject?: string;
  readonly time?: string;
  readonly data: Record<string, unknown>;
  /** The raw request body, for tests that search it for secret values. */
  readonly raw: string;
}

export interface EventGridTopicEmulator {
  /** The topic endpoint, as KEYTURN_NOTIFY_TOPIC_ENDPOINT takes it. */
  readonly endpoint: string;
  readonly events: readonly ReceivedCloudEvent[];
  /** Resolves when `count` events have arrived (or rejects after `timeoutMs`). */
  waitFor(predicate: (e: ReceivedCloudEvent) => boolean, timeoutMs?: number): Promise<ReceivedCloudEvent>;
  onEvent(listener: (e: ReceivedCloudEvent) => void): void;
  stop(): Promise<void>;
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  res.writeHead(status, body === undefined ? {} : { "content-type": "application/json" });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

export async function startEventGridTopic(opts: { tls?: TestTls; port?: number } = {}): Promise<EventGridTopicEmulator> {
  const tls = opts.tls ?? testTls();
  const inbox = new Inbox<ReceivedCloudEvent>("a notification");

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const url = new URL(req.url ?? "/", "https://localhost");
    if (url.pathname !== "/api/events") return send(res, 404, errorBody("NotFound", "no such path"));
    if (req.method !== "POST") return send(res, 405, errorBody("MethodNotAllowed", "POST only"));
    if (!/^Bearer \S+/.test(req.headers.authorization ?? "")) {
      return send(res, 401, errorBody("Unauthorized", "The request authorization was missing."));
    }
    const type = req.headers["content-type"] ?? "";
    if (!type.startsWith("application/cloudevents-batch+json") && !type.startsWith("application/cloudevents+json")) {
      return send(res, 415, errorBody("BadRequest", `unexpected content type ${type}`));
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return send(res, 400, errorBody("BadRequest", "body is not JSON"));
    }
    const list = Array.isArray(parsed) ? parsed : [parsed];
    for (const item of list) {
      const e = item as Record<string, unknown>;
      if (e.specversion !== "1.0" || typeof e.type !== "string" || typeof e.source !== "string" || typeof e.id !== "string") {
        return send(res, 400, errorBody("BadRequest", "not a CloudEvent 1.0"));
      }
    }
    for (const item of list) {
      const e = item as Record<string, unknown>;
      const received: ReceivedCloudEvent = {
        id: e.id as string,
        type: e.type as string,
        source: e.source as string,
        ...(typeof e.subject === "string" ? { subject: e.subject } : {}),
        ...(typeof e.time === "string" ? { time: e.time } : {}),
        data: (e.data ?? {}) as Record<string, unknown>,
        raw: body,
      };
      inbox.add(received);
    }
    send(res, 200);
  };

  const double = await serveHttps({
    tls,
    ...(opts.port === undefined ? {} : { port: opts.port }),
    handle: async (req, res) => handle(req, res, await readBody(req)),
  });

  return {
    endpoint: `${double.url}/api/events`,
    events: inbox.items,
    onEvent: (l) => inbox.onItem(l),
    waitFor: (predicate, timeoutMs) => inbox.waitFor(predicate, timeoutMs),
    stop: () => double.stop(),
  };
}
