// Azure Communication Services Email test double: the two data-plane operations that
// @azure/communication-email's EmailClient calls, over HTTPS (the SDK's bearer-token
// policy refuses plain HTTP), with Microsoft Entra bearer auth required.
//
//   POST /emails:send?api-version=…           → 202 {id, status: "Running"} with
//        Operation-Location (the status URL), Retry-After and x-ms-request-id; the
//        `Operation-Id` request header, when sent, names the operation (repeatable).
//   GET  /emails/operations/{id}?api-version=… → 200 {id, status}: "Running" until it
//        has been polled `pollsUntilDone` times, then "Succeeded" (or "Failed" with an
//        error, by `behaviour.finalStatus`).
//
// EmailClient.beginSend sends the POST and polls once; pollUntilDone() polls the
// Operation-Location until the status is terminal, waiting Retry-After (or its
// interval) between polls. Errors use the service's {"error": {"code", "message"}}.
// The double keeps every accepted message (and its raw body) for tests to search.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Inbox } from "../shared/inbox.js";
import { errorBody, readBody, serveHttps } from "../shared/http.js";
import { testTls, type TestTls } from "../tls.js";

export const ACS_EMAIL_API_VERSIONS = ["2023-03-31", "2024-07-01-preview", "2025-09-01"] as const;

export interface ReceivedEmail {
  readonly operationId: string;
  readonly senderAddress: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly plainText: string | undefined;
  readonly html: string | undefined;
  /** The raw request body, for tests that search it for secret values. */
  readonly raw: string;
  readonly authorization: string;
}

export interface AcsEmailBehaviour {
  /** Answer POST /emails:send with this error status instead (e.g. 401, 400, 503). */
  sendStatus?: number;
  /** The status an operation ends in. Default Succeeded. */
  finalStatus?: "Succeeded" | "Failed" | "Canceled";
  /** Polls answered "Running" before the final status; default 1 (the SDK's first poll inside beginSend sees the end). */
  pollsUntilDone?: number;
  /** Retry-After (seconds) on the 202 and on Running polls; default none on polls. */
  retryAfterSeconds?: number;
}

export interface AcsEmailEmulator {
  /** The resource endpoint, as EmailClient and KEYTURN_EMAIL_ENDPOINT take it. */
  readonly endpoint: string;
  readonly messages: readonly ReceivedEmail[];
  /** Every request: method, path and status, in order. */
  readonly requests: ReadonlyArray<{ method: string; path: string; status: number }>;
  /** Change how the double answers from now on. */
  readonly behaviour: AcsEmailBehaviour;
  waitFor(predicate: (m: ReceivedEmail) => boolean, timeoutMs?: number): Promise<ReceivedEmail>;
  stop(): Promise<void>;
}

interface Operation {
  id: string;
  polls: number;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", "x-ms-request-id": randomUUID(), ...headers });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, errorBody(code, message), headers);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export async function startAcsEmailEmulator(opts: { tls?: TestTls; port?: number; behaviour?: AcsEmailBehaviour } = {}): Promise<AcsEmailEmulator> {
  const tls = opts.tls ?? testTls();
  const behaviour: AcsEmailBehaviour = { ...opts.behaviour };
  const requests: Array<{ method: string; path: string; status: number }> = [];
  const operations = new Map<string, Operation>();
  const inbox = new Inbox<ReceivedEmail>("an e-mail");
  let endpoint = "";

  const handle = (req: IncomingMessage, res: ServerResponse, body: string): number => {
    const url = new URL(req.url ?? "/", "https://localhost");
    const apiVersion = url.searchParams.get("api-version");
    const authorization = req.headers.authorization ?? "";
    if (!/^Bearer \S+/.test(authorization)) {
      sendError(res, 401, "Unauthorized", "Denied by the authentication policy: a bearer token is required.", { "www-authenticate": "Bearer" });
      return 401;
    }
    if (!apiVersion || !(ACS_EMAIL_API_VERSIONS as readonly string[]).includes(apiVersion)) {
      sendError(res, 400, "InvalidApiVersion", `The api-version '${apiVersion ?? ""}' is not supported; supported: ${ACS_EMAIL_API_VERSIONS.join(", ")}.`);
      return 400;
    }

    if (req.method === "POST" && url.pathname === "/emails:send") {
      if (behaviour.sendStatus) {
        const status = behaviour.sendStatus;
        sendError(res, status, status === 401 ? "Unauthorized" : status === 429 ? "TooManyRequests" : "ServiceUnavailable", `injected ${status}`);
        return status;
      }
      if (!/^application\/json/i.test(req.headers["content-type"] ?? "")) {
        sendError(res, 415, "UnsupportedMediaType", "Content-Type must be application/json.");
        return 415;
      }
      let msg: unknown;
      try {
        msg = JSON.parse(body);
      } catch {
        sendError(res, 400, "BadRequest", "The request body is not JSON.");
        return 400;
      }
      const problem = validate(msg);
      if (problem) {
        sendError(res, 400, "BadRequest", problem);
        return 400;
      }
      const m = msg as { senderAddress: string; recipients: { to: Array<{ address: string }> }; content: { subject: string; plainText?: string; html?: string } };
      const headerId = req.headers["operation-id"];
      const id = typeof headerId === "string" && headerId !== "" ? headerId : randomUUID();
      if (!operations.has(id)) {
        operations.set(id, { id, polls: 0 });
        const received: ReceivedEmail = {
          operationId: id,
          senderAddress: m.senderAddress,
          to: m.recipients.to.map((r) => r.address),
          subject: m.content.subject,
          plainText: m.content.plainText,
          html: m.content.html,
          raw: body,
          authorization,
        };
        inbox.add(received);
      }
      const headers: Record<string, string> = { "operation-location": `${endpoint}/emails/operations/${id}?api-version=${apiVersion}` };
      if (behaviour.retryAfterSeconds !== undefined) headers["retry-after"] = String(behaviour.retryAfterSeconds);
      sendJson(res, 202, { id, status: "Running" }, headers);
      return 202;
    }

    const op = /^\/emails\/operations\/([^/]+)$/.exec(url.pathname);
    if (req.method === "GET" && op) {
      const operation = operations.get(decodeURIComponent(op[1]!));
      if (!operation) {
        sendError(res, 404, "NotFound", "No operation with this id.");
        return 404;
      }
      operation.polls++;
      if (operation.polls < (behaviour.pollsUntilDone ?? 1)) {
        sendJson(res, 200, { id: operation.id, status: "Running" }, behaviour.retryAfterSeconds !== undefined ? { "retry-after": String(behaviour.retryAfterSeconds) } : {});
        return 200;
      }
      const status = behaviour.finalStatus ?? "Succeeded";
      sendJson(res, 200, {
        id: operation.id,
        status,
        ...(status === "Failed" ? { error: { code: "EmailDroppedAllRecipientsSuppressed", message: "Message was not delivered to any recipient." } } : {}),
      });
      return 200;
    }
    sendError(res, 404, "NotFound", "No such operation.");
    return 404;
  };

  const double = await serveHttps({
    tls,
    ...(opts.port === undefined ? {} : { port: opts.port }),
    handle: async (req, res) => {
      const status = handle(req, res, await readBody(req));
      requests.push({ method: req.method ?? "", path: new URL(req.url ?? "/", "https://localhost").pathname, status });
    },
  });
  endpoint = double.url;

  return {
    endpoint,
    messages: inbox.items,
    requests,
    behaviour,
    waitFor: (predicate, timeoutMs) => inbox.waitFor(predicate, timeoutMs),
    stop: () => double.stop(),
  };
}

/** The service's required fields: sender, at least one recipient with an address, a subject and a body. */
function validate(msg: unknown): string | undefined {
  if (!isObject(msg)) return "The body must be a JSON object.";
  if (typeof msg.senderAddress !== "string" || !msg.senderAddress.includes("@")) return "senderAddress is required.";
  const recipients = msg.recipients;
  if (!isObject(recipients)) return "recipients is required.";
  const all = ["to", "cc", "bcc"].flatMap((k) => (Array.isArray(recipients[k]) ? (recipients[k] as unknown[]) : []));
  if (all.length === 0) return "At least one recipient is required.";
  if (!all.every((r) => isObject(r) && typeof r.address === "string" && r.address.includes("@"))) return "Every recipient needs an address.";
  if (!Array.isArray(recipients.to)) return "recipients.to is required by this double.";
  const content = msg.content;
  if (!isObject(content) || typeof content.subject !== "string" || content.subject === "") return "content.subject is required.";
  if (typeof content.plainText !== "string" && typeof content.html !== "string") return "content needs plainText or html.";
  return undefined;
}
