// One vault's HTTPS server: the request pipeline every Key Vault data-plane call goes
// through, and a route table that object kinds plug into.
//
// Pipeline, in the real service's order: challenge authentication (401 + WWW-Authenticate
// to any request without a bearer token), api-version check (400), routing (404/405),
// counting, fault injection, then the route's handler. Secrets, certificates and keys
// register their routes in secrets.ts, certificates.ts and keys.ts.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FaultInjector } from "../faults.js";
import { BodyTooLargeError, parseJsonBody, readBody, sendJson, serveHttps, type HttpsDouble } from "../shared/http.js";
import type { TestTls } from "../tls.js";
import type { CertificateStore } from "./certificates.js";
import { KeyVaultHttpError, kvErrors } from "./errors.js";
import type { KeyStore } from "./keys.js";
import type { RecoveryPolicy, SecretStore } from "./store.js";

/** api-versions the double answers: every version @azure/keyvault-secrets 4.11 can send (7.0–7.6, 2025-07-01) and 2025-06-01. */
export const SUPPORTED_API_VERSIONS: readonly string[] = [
  "7.0",
  "7.1",
  "7.2",
  "7.3",
  "7.4",
  "7.5",
  "7.6",
  "2025-06-01",
  "2025-07-01",
];

const SERVICE_VERSION = "1.9.2164.1";

/** What a route handler may touch of its vault. */
export interface VaultContext {
  readonly name: string;
  /** "https://127.0.0.1:PORT", no trailing slash. */
  readonly url: string;
  readonly secrets: SecretStore;
  readonly keys: KeyStore;
  readonly certificates: CertificateStore;
  /** Soft-delete retention and purge protection (every object's recoveryLevel / recoverableDays). */
  readonly recovery: RecoveryPolicy;
  /** Announces a new secret version (Event Grid's SecretNewVersionCreated). */
  secretVersionCreated(name: string, version: string): void;
  /** Announces a new key version (KeyNewVersionCreated). */
  keyVersionCreated(name: string, version: string): void;
  /** Announces a new certificate version (CertificateNewVersionCreated). */
  certificateVersionCreated(name: string, version: string): void;
}

export interface RouteRequest {
  readonly vault: VaultContext;
  /** Decoded path parameters, in the order of the route pattern's groups. */
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  readonly apiVersion: string;
  /** Parsed JSON body, or undefined when the request had none. */
  readonly body: unknown;
}

export interface RouteResponse {
  status: number;
  body?: unknown;
  /** Extra response headers (e.g. Location of a pending certificate operation). */
  headers?: Record<string, string>;
}

export interface Route {
  readonly method: "GET" | "PUT" | "PATCH" | "POST" | "DELETE";
  /** Anchored pattern over the URL path; groups are the path parameters. */
  readonly pattern: RegExp;
  /** Key Vault's operation id ("GetSecret", ...): used for stats and fault matching. */
  readonly operation: string;
  handle(request: RouteRequest): RouteResponse;
}

export interface VaultServerOptions {
  vault: VaultContext;
  routes: readonly Route[];
  tls: TestTls;
  faults: FaultInjector;
  /** Counts an operation (or "AuthChallenge") against this vault. */
  count(operation: string): void;
  /** Handles requests that bypass authentication (Event Grid's validation URL); true when answered. */
  preAuth?: (req: IncomingMessage, url: URL, res: ServerResponse) => boolean;
}

/** Starts one vault's HTTPS server on 127.0.0.1 (`port` 0: a free one). */
export function serveVault(port: number, options: VaultServerOptions): Promise<HttpsDouble> {
  return serveHttps({ tls: options.tls, port, handle: (req, res) => handleRequest(options, req, res) });
}

async function handleRequest(options: VaultServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const arrivedAt = performance.now();
  const headers = responseHeaders(req);
  try {
    // Always drain the body first: the SDK's challenge probe sends none, the retry does.
    const raw = await readBody(req).catch((error: unknown) => {
      throw error instanceof BodyTooLargeError ? kvErrors.badParameter("The request body is too large.") : error;
    });
    const url = new URL(req.url ?? "/", options.vault.url);
    if (options.preAuth?.(req, url, res)) return;

    const authorization = req.headers.authorization ?? "";
    if (!/^Bearer\s+\S+/i.test(authorization)) {
      options.count("AuthChallenge");
      throw kvErrors.unauthorized();
    }

    const apiVersion = url.searchParams.get("api-version");
    if (apiVersion === null || !SUPPORTED_API_VERSIONS.includes(apiVersion)) throw kvErrors.badApiVersion(apiVersion);

    const method = (req.method ?? "GET").toUpperCase();
    const { route, params } = matchRoute(options.routes, method, url.pathname);
    options.count(route.operation);

    const answered = await options.faults.apply(
      req,
      res,
      {
        service: "keyvault",
        vault: options.vault.name,
        method,
        path: url.pathname,
        operation: route.operation,
        ...transactionOf(route.operation, options.vault, params, raw),
      },
      { headers, arrivedAt },
    );
    if (answered) return;

    const result = route.handle({
      vault: options.vault,
      params,
      query: url.searchParams,
      apiVersion,
      body: parseJson(raw),
    });
    send(res, result.status, { ...headers, ...result.headers }, result.body);
  } catch (error) {
    if (error instanceof KeyVaultHttpError) {
      send(res, error.status, { ...headers, ...error.headers }, error.body());
    } else {
      // Never echo the error text: it could hold a request body, i.e. a secret value.
      send(res, 500, headers, { error: { code: "InternalServerError", message: "The double failed to serve the request." } });
    }
  }
}

/** Operations that make a new secret version, or import one (published: certificate and key imports count as secret CREATEs). */
const SECRET_CREATES = new Set(["SetSecret", "RestoreSecret", "ImportCertificate", "CreateCertificate", "ImportKey"]);

/**
 * The throttling class Key Vault counts an operation in (service-limits page): secret
 * CREATE, key CREATE by the key's protection (a rotation creates a version of the key
 * it names, software or HSM), or "other" (no `transaction`).
 */
function transactionOf(operation: string, vault: VaultContext, params: readonly string[], raw: string): { transaction?: string } {
  if (SECRET_CREATES.has(operation)) return { transaction: "secretCreate" };
  let kty: string | undefined;
  if (operation === "CreateKey") {
    try {
      const body = JSON.parse(raw) as { kty?: unknown };
      if (typeof body.kty === "string") kty = body.kty;
    } catch {
      // A malformed body is refused by the route; it still counts as a create attempt.
    }
  } else if (operation === "RotateKey") {
    kty = vault.keys.find(params[0] ?? "")?.versions.at(-1)?.kty;
  } else {
    return {};
  }
  return { transaction: kty !== undefined && /-HSM$/i.test(kty) ? "keyCreateHsm" : "keyCreateSoftware" };
}

function matchRoute(routes: readonly Route[], method: string, path: string): { route: Route; params: string[] } {
  let pathMatched = false;
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    pathMatched = true;
    if (route.method !== method) continue;
    const params = match.slice(1).map((p) => {
      try {
        return decodeURIComponent(p ?? "");
      } catch {
        throw kvErrors.invalidName(p ?? "");
      }
    });
    return { route, params };
  }
  throw pathMatched ? kvErrors.methodNotAllowed(method, path) : kvErrors.notFound(path);
}

function responseHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {
    "cache-control": "no-cache",
    pragma: "no-cache",
    expires: "-1",
    "x-ms-request-id": randomUUID(),
    "x-ms-keyvault-service-version": SERVICE_VERSION,
    "x-ms-keyvault-region": "local",
    "x-content-type-options": "nosniff",
    "strict-transport-security": "max-age=31536000;includeSubDomains",
  };
  const clientRequestId = req.headers["x-ms-client-request-id"];
  if (typeof clientRequestId === "string") headers["x-ms-client-request-id"] = clientRequestId;
  return headers;
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  if (body !== undefined) return sendJson(res, status, body, headers);
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, headers).end();
}

function parseJson(raw: string): unknown {
  try {
    return parseJsonBody(raw);
  } catch {
    throw kvErrors.badParameter("The request body is not valid JSON.");
  }
}
