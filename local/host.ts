// The local host: serves the route table over HTTP the way the Azure Functions host
// does, so the same handlers run on a laptop, in tests and in `npm start`:
//   - HTTP routes under /api/<route>;
//   - the Event Grid webhook the Functions host exposes for Event Grid triggers,
//     POST /runtime/webhooks/eventgrid?functionName=<name>, with Event Grid's
//     SubscriptionValidation handshake (Event Grid schema) and the CloudEvents
//     abuse-protection handshake (OPTIONS with WebHook-Request-Origin).
// Answers to Event Grid: 200 when every event was handled (rotated, skipped,
// acknowledged failure), 400 for a malformed event (no redelivery), 500 when a
// transient failure should be redelivered.
//   - timer functions on their NCRONTAB schedule (UTC), one run at a time per function,
//     as the Functions host runs them; and on demand with the Functions host's admin
//     endpoint for non-HTTP functions, POST /admin/functions/<name> (function key when
//     one is configured). Azure answers that call 202 and runs the function in the
//     background; the local host waits and answers 200 with what the function returned
//     (the sweep's summary), which is what tests and the demo want.
//
// Function keys: in Azure the Functions host checks them for every route whose
// authLevel is not "anonymous", before our code runs. Locally the same happens when a
// key is configured (`functionKey`, from KEYTURN_LOCAL_FUNCTION_KEY in local/main.ts):
// the caller sends it as `x-functions-key` or `?code=`, or gets 401. That setting is
// read only here — in Azure the platform's own keys apply.
import { randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import azureFunctions from "@azure/functions";
import type { InvocationContext as InvocationContextType } from "@azure/functions";
import { createLogger, writeToDefaultSink, type LogLevel, type Logger } from "../core/log.js";
import { parseEvent } from "../core/events.js";
import { getRuntime } from "../app/runtime.js";
import { redact } from "../core/redact.js";
import { startTimerFunctions } from "./timers.js";
import type { EventOutcome } from "../functions/keyVaultEvents.js";
import { invokeEventRoute, invokeHttpRoute, routes, type EventGridRoute, type HttpRoute, type TimerRoute } from "../functions/routes.js";

// @azure/functions is CommonJS; its classes are reached through the default export.
const { HttpRequest, InvocationContext } = azureFunctions;

export const MAX_REQUEST_BYTES = 1024 * 1024;

export interface LocalHostOptions {
  port?: number;
  host?: string;
  log?: Logger;
  /** Require this function key on every route with authLevel "function" or "admin". */
  functionKey?: string;
  /** Run timer functions on their schedules; default true (tests that trigger them on demand pass false). */
  timers?: boolean;
}

export interface LocalHost {
  readonly url: string;
  readonly port: number;
  /** The webhook URL of an Event Grid trigger, for subscriptions (with the function key as `code` when one is required). */
  webhookUrl(functionName: string): string;
  /** Run a timer function now (as POST /admin/functions/<name> does); resolves to what it returned. */
  runTimer(functionName: string): Promise<unknown>;
  /** When each scheduled timer function runs next (empty with `timers: false`). */
  nextRuns(): Record<string, string>;
  close(): Promise<void>;
}

interface CompiledRoute {
  route: HttpRoute;
  segments: Array<{ literal: string } | { param: string }>;
}

function compile(route: HttpRoute): CompiledRoute {
  return {
    route,
    segments: route.route.split("/").map((s) => {
      const m = /^\{(\w+)\}$/.exec(s);
      return m ? { param: m[1]! } : { literal: s.toLowerCase() };
    }),
  };
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function match(compiled: CompiledRoute, rawSegments: string[]): Record<string, string> | undefined {
  if (rawSegments.length !== compiled.segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < rawSegments.length; i++) {
    const seg = compiled.segments[i]!;
    let value: string;
    try {
      value = decodeURIComponent(rawSegments[i]!);
    } catch {
      throw new HttpError(400, "the path is not valid percent-encoding");
    }
    if ("literal" in seg) {
      if (value.toLowerCase() !== seg.literal) return undefined;
    } else {
      params[seg.param] = value;
    }
  }
  return params;
}

/** Bodies beyond this are cut off without an answer; up to it, an oversized body is drained so that the client reads the 413. */
const DRAIN_LIMIT_BYTES = 16 * MAX_REQUEST_BYTES;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > DRAIN_LIMIT_BYTES) {
        reject(new HttpError(413, `request body is larger than ${MAX_REQUEST_BYTES} bytes`));
        req.destroy();
        return;
      }
      if (size <= MAX_REQUEST_BYTES) chunks.push(c);
    });
    req.on("end", () => {
      if (size > MAX_REQUEST_BYTES) reject(new HttpError(413, `request body is larger than ${MAX_REQUEST_BYTES} bytes`));
      else resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

function sendProblem(res: ServerResponse, status: number, detail: string, members: Record<string, string> = {}): void {
  const title =
    status === 404 ? "Not found" : status === 413 ? "Payload too large" : status === 405 ? "Method not allowed" : status === 401 ? "Unauthorized" : "Bad request";
  res.writeHead(status, { "content-type": "application/problem+json" });
  res.end(JSON.stringify({ type: "about:blank", title, status, detail: redact(detail), ...members }));
}

/** Whether every segment of the path decodes: an undecodable path is the caller's error (400), on every route. */
function decodablePath(rawUrl: string): boolean {
  const path = rawUrl.split(/[?#]/, 1)[0] ?? "";
  try {
    for (const segment of path.split("/")) decodeURIComponent(segment);
    return true;
  } catch {
    return false;
  }
}

/**
 * Dot segments (`.`, `..`, also percent-encoded) are refused before the URL parser
 * would resolve them: `/api/vaults/a/secrets/../../x` must never reach another route.
 */
function hasDotSegment(rawUrl: string): boolean {
  const path = rawUrl.split(/[?#]/, 1)[0] ?? "";
  return path.split("/").some((segment) => {
    let decoded = segment;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      // invalid percent-encoding is refused later, by the route match
    }
    return decoded === "." || decoded === "..";
  });
}

/** `vault/objectType/name` of an event about an object; undefined for anything else (it runs on its own). */
function objectKeyOf(event: unknown, vaults: Parameters<typeof parseEvent>[1]): string | undefined {
  try {
    const parsed = parseEvent(event, vaults);
    return parsed.kind === "keyvault" ? `${parsed.event.vault.name}/${parsed.event.objectType}/${parsed.event.objectName.toLowerCase()}` : undefined;
  } catch {
    return undefined;
  }
}

function keyMatches(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The function key the caller sent, as the Functions host reads it: x-functions-key header or `code` query parameter. */
function givenKey(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers["x-functions-key"];
  return (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get("code") ?? undefined;
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

/** The Functions host's log levels, as the console sink knows them. */
const CONSOLE_LEVEL: Record<string, LogLevel> = { trace: "debug", debug: "debug", information: "info", warning: "warn", error: "error", critical: "error" };

/** Locally, what a function logs through its context is printed as the Functions host's console would: the lines as they are. */
function newContext(functionName: string): InvocationContextType {
  return new InvocationContext({
    invocationId: randomUUID(),
    functionName,
    logHandler: (level, ...args) => {
      if (level !== "none") writeToDefaultSink(CONSOLE_LEVEL[level] ?? "info", args.map(String).join(" "));
    },
  });
}

export async function startLocalHost(opts: LocalHostOptions = {}): Promise<LocalHost> {
  const functionKey = opts.functionKey?.trim() || undefined;
  // No App Service Authentication runs in front of this host, so nothing here can vouch
  // for x-ms-client-principal: refuse to start rather than pretend to check app roles.
  if ((process.env.KEYTURN_REQUIRE_APP_ROLES ?? "").trim().toLowerCase() === "true") {
    throw new Error(
      "KEYTURN_REQUIRE_APP_ROLES=true needs App Service Authentication in front of the app, which the local host does not have: it cannot trust x-ms-client-principal. Unset KEYTURN_REQUIRE_APP_ROLES to run locally",
    );
  }
  const log = opts.log ?? createLogger({ component: "local-host" });
  const httpRoutes = routes.filter((r): r is HttpRoute => r.trigger === "http").map(compile);
  const eventRoutes = new Map(routes.filter((r): r is EventGridRoute => r.trigger === "eventGrid").map((r) => [r.name.toLowerCase(), r]));
  const timerRoutes = new Map(routes.filter((r): r is TimerRoute => r.trigger === "timer").map((r) => [r.name.toLowerCase(), r]));

  const timers = startTimerFunctions([...timerRoutes.values()], { log, newContext, schedule: opts.timers !== false });

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const name = decodeURIComponent(url.pathname.slice("/admin/functions/".length));
    if (!timerRoutes.has(name.toLowerCase())) {
      req.resume();
      return sendProblem(res, 404, `no timer function named '${name.slice(0, 64)}'`);
    }
    if (functionKey && !keyMatches(givenKey(req, url), functionKey)) {
      req.resume();
      return sendProblem(res, 401, "the admin endpoint needs the function key (x-functions-key header or code query parameter)", { errorKind: "unauthorized" });
    }
    if (req.method !== "POST") {
      req.resume();
      res.setHeader("allow", "POST");
      return sendProblem(res, 405, `${req.method} is not allowed on the admin endpoint`);
    }
    await readBody(req); // Azure's body is {"input": ""}: nothing in it for a timer
    const result = await timers.run(name);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(redact(JSON.stringify(result ?? null)));
  }

  async function handleHttp(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const raw = url.pathname.slice("/api/".length).split("/");
    for (const compiled of httpRoutes) {
      const params = match(compiled, raw);
      if (!params) continue;
      if (functionKey && compiled.route.authLevel !== "anonymous" && !keyMatches(givenKey(req, url), functionKey)) {
        req.resume(); // drain the body: the answer does not depend on it
        return sendProblem(res, 401, "this route needs a function key (x-functions-key header or code query parameter)", { errorKind: "unauthorized" });
      }
      const body = await readBody(req);
      // No `query`: HttpRequest then reads the URL's own search params, keeping repeats.
      const request = new HttpRequest({
        method: req.method ?? "GET",
        url: url.toString(),
        headers: headersOf(req),
        params,
        ...(body.length > 0 ? { body: { bytes: body } } : {}),
      });
      const response = await invokeHttpRoute(compiled.route, request, newContext(compiled.route.name));
      const headers: Record<string, string> = {};
      new Headers(response.headers).forEach((v, k) => (headers[k] = v));
      res.writeHead(response.status ?? 200, headers);
      res.end(typeof response.body === "string" ? response.body : response.body === undefined ? undefined : JSON.stringify(response.jsonBody ?? response.body));
      return;
    }
    sendProblem(res, 404, "no route matches this path");
  }

  async function handleEventGrid(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const name = url.searchParams.get("functionName") ?? "";
    const route = eventRoutes.get(name.toLowerCase());
    if (!route) {
      req.resume();
      return sendProblem(res, 404, `no Event Grid function named '${name.slice(0, 64)}'`);
    }
    // In Azure this endpoint needs the Event Grid extension's system key; locally, the
    // configured function key, the same way as every other route (handshakes included).
    if (functionKey && !keyMatches(givenKey(req, url), functionKey)) {
      req.resume();
      return sendProblem(res, 401, "the Event Grid webhook needs the function key (x-functions-key header or code query parameter)", { errorKind: "unauthorized" });
    }
    if (req.method === "OPTIONS") {
      // CloudEvents webhook validation (abuse protection).
      const origin = req.headers["webhook-request-origin"];
      if (typeof origin !== "string" || origin === "") return sendProblem(res, 400, "WebHook-Request-Origin is missing");
      res.writeHead(200, { "webhook-allowed-origin": origin, "webhook-allowed-rate": "*", allow: "POST, OPTIONS" });
      res.end();
      return;
    }
    if (req.method !== "POST") {
      res.setHeader("allow", "POST, OPTIONS");
      return sendProblem(res, 405, `${req.method} is not allowed on the Event Grid webhook`);
    }
    const text = (await readBody(req)).toString("utf8");
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      return sendProblem(res, 400, "the body is not JSON");
    }
    const events = Array.isArray(payload) ? payload : [payload];
    if (events.length === 0) return sendProblem(res, 400, "the body holds no events");

    const { config } = await getRuntime();
    if (req.headers["aeg-event-type"] === "SubscriptionValidation") {
      let parsed;
      try {
        parsed = parseEvent(events[0], config.vaults);
      } catch (error) {
        return sendProblem(res, 400, (error as Error).message);
      }
      if (parsed.kind !== "validation") return sendProblem(res, 400, "expected a SubscriptionValidationEvent");
      log.info("Event Grid subscription validated", { functionName: route.name });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ validationResponse: parsed.validationCode }));
      return;
    }

    // Events about one object run one after another (the second finds the first's work
    // done); events about different objects run side by side.
    const byObject = new Map<string, number[]>();
    events.forEach((e, i) => {
      const key = objectKeyOf(e, config.vaults) ?? `#${i}`;
      byObject.set(key, [...(byObject.get(key) ?? []), i]);
    });
    const outcomes: PromiseSettledResult<EventOutcome>[] = Array.from({ length: events.length });
    await Promise.all(
      [...byObject.values()].map(async (indexes) => {
        for (const i of indexes) {
          try {
            outcomes[i] = { status: "fulfilled", value: await invokeEventRoute(route, events[i], newContext(route.name)) };
          } catch (reason) {
            outcomes[i] = { status: "rejected", reason };
          }
        }
      }),
    );
    const failed = outcomes.find((o) => o.status === "rejected");
    if (failed) {
      // A transient failure: Event Grid redelivers the batch; handled events are
      // skipped next time (their version is no longer the latest).
      res.writeHead(500, { "content-type": "application/problem+json" });
      res.end(JSON.stringify({ type: "about:blank", title: "Retry later", status: 500, detail: redact(String((failed.reason as Error)?.message ?? failed.reason)) }));
      return;
    }
    const rejected = outcomes.flatMap((o) => (o.status === "fulfilled" && o.value.status === "rejected" ? [o.value.error] : []));
    if (rejected.length > 0) return sendProblem(res, 400, rejected.join("; "));
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ outcomes: outcomes.map((o) => (o.status === "fulfilled" ? o.value.status : "failed")) }));
  }

  const server: Server = createServer((req, res) => {
    if (!decodablePath(req.url ?? "/")) {
      req.resume();
      return sendProblem(res, 400, "the path is not valid percent-encoding");
    }
    if (hasDotSegment(req.url ?? "/")) {
      req.resume();
      return sendProblem(res, 400, "the path must not contain '.' or '..' segments");
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    const work = url.pathname.startsWith("/api/")
      ? handleHttp(req, res, url)
      : url.pathname === "/runtime/webhooks/eventgrid"
        ? handleEventGrid(req, res, url)
        : url.pathname.startsWith("/admin/functions/")
          ? handleAdmin(req, res, url)
          : Promise.resolve(sendProblem(res, 404, "no route matches this path"));
    work.catch((error: unknown) => {
      if (res.headersSent) return res.end();
      if (error instanceof HttpError) return sendProblem(res, error.status, error.message);
      log.error("local host request failed", { error: redact(String((error as Error)?.message ?? error)) });
      res.writeHead(500, { "content-type": "application/problem+json" });
      res.end(JSON.stringify({ type: "about:blank", title: "Internal error", status: 500, detail: "see the host log" }));
    });
  });
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 7071, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host}:${port}`;
  return {
    url,
    port,
    // As in Azure, where a subscription's endpoint carries the extension's key as `code`.
    webhookUrl: (functionName) => `${url}/runtime/webhooks/eventgrid?functionName=${encodeURIComponent(functionName)}${functionKey ? `&code=${encodeURIComponent(functionKey)}` : ""}`,
    runTimer: (functionName) => timers.run(functionName),
    nextRuns: () => timers.nextRuns(),
    close: () =>
      new Promise<void>((resolve) => {
        timers.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
