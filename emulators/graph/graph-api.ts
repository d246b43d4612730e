// The Microsoft Graph half of the double: an application's password credentials.
//
//   GET  /v1.0/applications/{id}[?$select=…]          and /v1.0/applications(appId='{appId}')
//   POST /v1.0/applications/{id}/addPassword          {"passwordCredential":{displayName,endDateTime,startDateTime?}}
//   POST /v1.0/applications/{id}/removePassword       {"keyId":"…"} → 204
//
// Every request needs `Authorization: Bearer <token issued by this double for Graph>`;
// without one Graph answers 401 InvalidAuthenticationToken. Errors use Graph's shape:
// {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  applicationToGraph,
  passwordCredentialToGraph,
  type ApplicationRecord,
  type Directory,
} from "./directory.js";
import { headerValue, readBody, sendEmpty, sendJson } from "./http.js";
import type { TokenMinter } from "./tokens.js";

export interface GraphContext {
  readonly baseUrl: string;
  readonly directory: Directory;
  readonly minter: TokenMinter;
  /** Token audiences Graph accepts. */
  readonly audiences: readonly string[];
}

export interface GraphRoute {
  readonly operation: "getApplication" | "addPassword" | "removePassword";
  readonly key: { readonly by: "id" | "appId"; readonly value: string };
}

export type GraphRouteResult =
  | { readonly kind: "route"; readonly route: GraphRoute }
  | { readonly kind: "badSegment"; readonly segment: string }
  | { readonly kind: "methodNotAllowed" };

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BY_APP_ID = /^applications\(appId='([^']*)'\)$/;

/** Maps a path under /v1.0 to an operation (the fault injector's `operation`, too). */
export function graphRoute(method: string, pathUnderVersion: string): GraphRouteResult {
  const segments = pathUnderVersion.split("/").filter(Boolean).map((s) => decodeURIComponent(s));
  let key: GraphRoute["key"] | undefined;
  let rest: string[];
  const first = segments[0] ?? "";
  const byAppId = BY_APP_ID.exec(first);
  if (byAppId) {
    key = { by: "appId", value: byAppId[1]! };
    rest = segments.slice(1);
  } else if (first === "applications" && segments[1] !== undefined) {
    key = { by: "id", value: segments[1] };
    rest = segments.slice(2);
  } else {
    return { kind: "badSegment", segment: first };
  }
  const action = rest[0]?.replace(/^microsoft\.graph\./, "");
  if (rest.length === 0) {
    return method === "GET" ? { kind: "route", route: { operation: "getApplication", key } } : { kind: "methodNotAllowed" };
  }
  if (rest.length === 1 && (action === "addPassword" || action === "removePassword")) {
    return method === "POST" ? { kind: "route", route: { operation: action, key } } : { kind: "methodNotAllowed" };
  }
  return { kind: "badSegment", segment: rest[0]! };
}

function sendGraphError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const requestId = randomUUID();
  const clientRequestId = headerValue(req, "client-request-id") ?? requestId;
  sendJson(
    res,
    status,
    {
      error: {
        code,
        message,
        innerError: {
          date: new Date().toISOString().replace(/\.\d{3}Z$/, ""),
          "request-id": requestId,
          "client-request-id": clientRequestId,
        },
      },
    },
    { "request-id": requestId, "client-request-id": clientRequestId, ...headers },
  );
}

export function sendGraphBadSegment(req: IncomingMessage, res: ServerResponse, segment: string): void {
  sendGraphError(req, res, 400, "BadRequest", `Resource not found for the segment '${segment}'.`);
}

export function sendGraphMethodNotAllowed(req: IncomingMessage, res: ServerResponse): void {
  sendGraphError(req, res, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
}

// What Graph sends with a 401, so that a client can find the authority.
const GRAPH_WWW_AUTHENTICATE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';

function authenticate(ctx: GraphContext, req: IncomingMessage, res: ServerResponse): boolean {
  const authorization = headerValue(req, "authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  const unauthorized = (message: string): false => {
    sendGraphError(req, res, 401, "InvalidAuthenticationToken", message, { "www-authenticate": GRAPH_WWW_AUTHENTICATE });
    return false;
  };
  if (!match) return unauthorized("Access token is empty.");
  const check = ctx.minter.verify(match[1]!, ctx.audiences);
  if (check.ok) return true;
  switch (check.reason) {
    case "expired":
      return unauthorized("Lifetime validation failed, the token is expired.");
    case "audience":
      return unauthorized("Access token validation failure. Invalid audience.");
    case "malformed":
      return unauthorized("IDX14100: JWT is not well formed, there are no dots (.).");
    default:
      return unauthorized("Access token validation failure.");
  }
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text.trim() === "") return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export async function handleGraphRequest(
  ctx: GraphContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: GraphRoute,
  query: URLSearchParams,
): Promise<void> {
  if (!authenticate(ctx, req, res)) return;

  if (route.key.by === "id" && !GUID.test(route.key.value)) {
    sendGraphError(req, res, 400, "Request_BadRequest", `Invalid object identifier '${route.key.value}'.`);
    return;
  }
  const app =
    route.key.by === "id" ? ctx.directory.findById(route.key.value) : ctx.directory.findByAppId(route.key.value);
  if (!app) {
    sendGraphError(
      req,
      res,
      404,
      "Request_ResourceNotFound",
      `Resource '${route.key.value}' does not exist or one of its queried reference-property objects are not present.`,
    );
    return;
  }
  if (ctx.directory.isDenied(app)) {
    sendGraphError(req, res, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
    return;
  }

  switch (route.operation) {
    case "getApplication":
      getApplication(ctx, req, res, app, query);
      return;
    case "addPassword":
      await addPassword(ctx, req, res, app);
      return;
    case "removePassword":
      await removePassword(ctx, req, res, app);
      return;
  }
}

function getApplication(
  ctx: GraphContext,
  req: IncomingMessage,
  res: ServerResponse,
  app: ApplicationRecord,
  query: URLSearchParams,
): void {
  const entity = applicationToGraph(app);
  const select = query.get("$select");
  if (select === null || select.trim() === "") {
    sendJson(res, 200, { "@odata.context": `${ctx.baseUrl}/v1.0/$metadata#applications/$entity`, ...entity });
    return;
  }
  const properties = select.split(",").map((p) => p.trim()).filter(Boolean);
  const unknown = properties.find((p) => !(p in entity));
  if (unknown !== undefined) {
    sendGraphError(req, res, 400, "Request_BadRequest", `Could not find a property named '${unknown}' on type 'microsoft.graph.application'.`);
    return;
  }
  const body: Record<string, unknown> = {
    "@odata.context": `${ctx.baseUrl}/v1.0/$metadata#applications(${properties.join(",")})/$entity`,
  };
  for (const p of properties) body[p] = entity[p];
  sendJson(res, 200, body);
}

function parseDate(value: unknown): Date | undefined {
  if (typeof value !== "string") return undefined;
  // Edm.DateTimeOffset: a date and time with a zone designator.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const UNREADABLE_JSON =
  "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.";

async function addPassword(ctx: GraphContext, req: IncomingMessage, res: ServerResponse, app: ApplicationRecord): Promise<void> {
  const parsed = parseJson(await readBody(req));
  if (!parsed.ok || !isRecord(parsed.value)) {
    sendGraphError(req, res, 400, "BadRequest", UNREADABLE_JSON);
    return;
  }
  const credentialIn = parsed.value["passwordCredential"] ?? {};
  if (!isRecord(credentialIn)) {
    sendGraphError(req, res, 400, "BadRequest", UNREADABLE_JSON);
    return;
  }
  const displayName = credentialIn["displayName"];
  if (displayName !== undefined && displayName !== null && typeof displayName !== "string") {
    sendGraphError(req, res, 400, "BadRequest", "Cannot convert the literal to the expected type 'Edm.String'.");
    return;
  }
  const dates: { startDateTime?: Date; endDateTime?: Date } = {};
  for (const name of ["startDateTime", "endDateTime"] as const) {
    const raw = credentialIn[name];
    if (raw === undefined || raw === null) continue;
    const date = parseDate(raw);
    if (!date) {
      sendGraphError(req, res, 400, "BadRequest", `Cannot convert the literal '${typeof raw === "string" ? raw : JSON.stringify(raw)}' to the expected type 'Edm.DateTimeOffset'.`);
      return;
    }
    dates[name] = date;
  }
  const now = Date.now();
  const start = dates.startDateTime ?? new Date(now);
  if (dates.endDateTime && (dates.endDateTime.getTime() <= now || dates.endDateTime.getTime() <= start.getTime())) {
    sendGraphError(req, res, 400, "Request_BadRequest", "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.");
    return;
  }
  const created = ctx.directory.addPassword(app, {
    displayName: displayName ?? null,
    startDateTime: start,
    ...(dates.endDateTime ? { endDateTime: dates.endDateTime } : {}),
  });
  // The one answer that carries the secret.
  sendJson(res, 200, {
    "@odata.context": `${ctx.baseUrl}/v1.0/$metadata#microsoft.graph.passwordCredential`,
    ...passwordCredentialToGraph(created),
    secretText: created.secretText,
  });
}

async function removePassword(ctx: GraphContext, req: IncomingMessage, res: ServerResponse, app: ApplicationRecord): Promise<void> {
  const parsed = parseJson(await readBody(req));
  if (!parsed.ok || !isRecord(parsed.value)) {
    sendGraphError(req, res, 400, "BadRequest", UNREADABLE_JSON);
    return;
  }
  const keyId = parsed.value["keyId"];
  if (typeof keyId !== "string" || !GUID.test(keyId)) {
    sendGraphError(req, res, 400, "BadRequest", `Cannot convert the literal '${String(keyId)}' to the expected type 'Edm.Guid'.`);
    return;
  }
  if (!ctx.directory.removePassword(app, keyId)) {
    // Not confirmed against the live service (the published docs give only the 204); a
    // caller must treat "unknown keyId" as "already removed" only after a GET confirms it.
    sendGraphError(req, res, 400, "Request_BadRequest", `No password credential found with keyId ${keyId}.`);
    return;
  }
  sendEmpty(res, 204);
}
