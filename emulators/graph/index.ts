// HTTPS test double for Microsoft Graph (application password credentials) and the
// Microsoft identity platform token endpoint, for the `entra-app-secret` rotator.
//
// One server answers both: Graph under /v1.0, the identity platform under /{tenantId}/.
// keyturn's own identity gets its Graph token from here, the rotator adds a password with
// it, proves the new password by getting a token as the application (ClientSecretCredential
// with `authorityHost` = this URL), lists and removes passwords.
//
// Trusting the double's certificate: pass `tlsOptions: { ca: emulator.tls.caPem }` in the
// credential's options. @azure/identity builds MSAL's network client from the credential's
// own options (an IdentityClient, i.e. a core-rest-pipeline ServiceClient), so `tlsOptions`
// reaches MSAL's requests; child processes can use NODE_EXTRA_CA_CERTS=emulator.tls.caFile.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { serveHttps } from "../shared/http.js";
import { testTls, type TestTls } from "../tls.js";
import { Directory } from "./directory.js";
import { graphRoute, handleGraphRequest, sendGraphBadSegment, sendGraphMethodNotAllowed } from "./graph-api.js";
import { BodyTooLargeError, sendJson } from "./http.js";
import { handleIdentityRequest, identityOperation, type IssuedToken } from "./identity-platform.js";
import { TokenMinter } from "./tokens.js";

export interface PasswordCredentialView {
  readonly keyId: string;
  readonly displayName: string;
  readonly endDateTime: string;
  readonly startDateTime: string;
  readonly hint: string;
}

export interface EmulatedApplication {
  /** Object id: what Graph's /applications/{id} takes. */
  readonly id: string;
  /** Application (client) id: what the token endpoint's client_id takes. */
  readonly appId: string;
  passwords(): ReadonlyArray<PasswordCredentialView>;
  /** For tests only: the secret values of the current passwords, in creation order. */
  secretTexts(): string[];
  /**
   * For tests: seeds a password without going through Graph (no validation, so an
   * already-expired or not-yet-valid password can be made). Returns it with its secret.
   */
  addPassword(o?: { displayName?: string; startDateTime?: Date; endDateTime?: Date }): PasswordCredentialView & {
    readonly secretText: string;
  };
}

export interface GraphEmulator {
  /** "https://127.0.0.1:PORT": Graph under /v1.0, the identity platform under /{tenantId}/… */
  readonly url: string;
  readonly tenantId: string;
  readonly tls: TestTls;
  addApplication(o: { displayName: string; appId?: string }): EmulatedApplication;
  /**
   * Applications (object id or appId) whose Graph calls answer 403
   * Authorization_RequestDenied (keyturn lacks Application.ReadWrite.OwnedBy / is not an
   * owner). Returns the undo.
   */
  denyApplication(id: string): () => void;
  tokensIssued(): ReadonlyArray<{ clientId: string; scope: string }>;
  stop(): Promise<void>;
}

/** The descriptor the shared fault injector (emulators/faults.ts) matches on. */
export interface FaultDescriptor {
  service: string;
  method: string;
  path: string;
  operation?: string;
}

/** Structural type of emulators/faults.ts's FaultInjector, so this double does not import it. */
export interface FaultApplier {
  apply(
    req: IncomingMessage,
    res: ServerResponse,
    descriptor: FaultDescriptor,
    options?: { headers?: Record<string, string> },
  ): Promise<boolean>;
}

export interface GraphEmulatorOptions {
  tls?: TestTls;
  /** Defaults to a random GUID. */
  tenantId?: string;
  /**
   * Fault injection (emulators/faults.ts's FaultInjector fits). Descriptors: service
   * "graph" (operations getApplication, addPassword, removePassword: Graph's own action
   * names) or "identity" (operations openidConfiguration, openidConfigurationV1, keys,
   * token); `path` is the URL path without the query. Asked after routing, before
   * authentication, as a front door would.
   */
  faults?: FaultApplier;
  /**
   * Client ids with a fixed secret that get tokens without being Graph applications:
   * keyturn's own identity, when a test wants one that the rotator cannot touch.
   * (Any application made with addApplication also gets tokens, with a live password.)
   */
  trustedClients?: Record<string, string>;
  /** Extra token audiences that Graph accepts besides Graph's own and this double's URL. */
  extraGraphAudiences?: string[];
  /** Called once per request with "METHOD /path?query -> status"; for debugging. */
  log?: (line: string) => void;
}

// Audiences real Graph accepts: its URI (with or without the slash) and its app id.
const GRAPH_AUDIENCES = [
  "https://graph.microsoft.com",
  "https://graph.microsoft.com/",
  "00000003-0000-0000-c000-000000000000",
];

function viewOf(c: {
  keyId: string;
  displayName: string | null;
  endDateTime: string;
  startDateTime: string;
  hint: string;
}): PasswordCredentialView {
  return {
    keyId: c.keyId,
    displayName: c.displayName ?? "",
    endDateTime: c.endDateTime,
    startDateTime: c.startDateTime,
    hint: c.hint,
  };
}

export async function startGraphEmulator(opts: GraphEmulatorOptions = {}): Promise<GraphEmulator> {
  const tls = opts.tls ?? testTls();
  const tenantId = opts.tenantId ?? randomUUID();
  const directory = new Directory();
  const minter = new TokenMinter(tenantId);
  const issued: IssuedToken[] = [];
  const servicePrincipalIds = new Map<string, string>();
  const trustedClients = new Map(
    Object.entries(opts.trustedClients ?? {}).map(([clientId, secret]) => [clientId.toLowerCase(), secret] as const),
  );
  let baseUrl = "";

  const servicePrincipalIdFor = (clientId: string): string => {
    const key = clientId.toLowerCase();
    let id = servicePrincipalIds.get(key);
    if (!id) {
      id = randomUUID();
      servicePrincipalIds.set(key, id);
    }
    return id;
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const url = new URL(req.url ?? "/", baseUrl);
    const path = url.pathname;
    const faults = opts.faults;

    if (path === "/v1.0" || path.startsWith("/v1.0/")) {
      const result = graphRoute(method, path.slice("/v1.0".length));
      const operation = result.kind === "route" ? result.route.operation : undefined;
      const descriptor = { service: "graph", method, path, ...(operation ? { operation } : {}) };
      if (faults && (await faults.apply(req, res, descriptor, { headers: { "request-id": randomUUID() } }))) return;
      if (result.kind === "badSegment") return sendGraphBadSegment(req, res, result.segment);
      if (result.kind === "methodNotAllowed") return sendGraphMethodNotAllowed(req, res);
      const audiences = [...GRAPH_AUDIENCES, baseUrl, `${baseUrl}/`, ...(opts.extraGraphAudiences ?? [])];
      return handleGraphRequest({ baseUrl, directory, minter, audiences }, req, res, result.route, url.searchParams);
    }

    const operation = identityOperation(method, path);
    if (operation) {
      const descriptor = { service: "identity", method, path, operation };
      if (faults && (await faults.apply(req, res, descriptor, { headers: { "x-ms-request-id": randomUUID() } }))) return;
      return handleIdentityRequest(
        { baseUrl, tenantId, directory, minter, trustedClients, issued, servicePrincipalIdFor },
        req,
        res,
        operation,
        path,
      );
    }
    sendJson(res, 404, { error: { code: "NotFound", message: `No route for ${method} ${path} in the Graph double.` } });
  }

  const double = await serveHttps({
    tls,
    handle: (req, res) =>
      route(req, res)
        .catch((err: unknown) => {
          if (res.headersSent) {
            res.destroy();
            return;
          }
          const tooLarge = err instanceof BodyTooLargeError;
          sendJson(res, tooLarge ? 413 : 500, {
            error: { code: tooLarge ? "RequestEntityTooLarge" : "InternalServerError", message: String(err) },
          });
        })
        // Logged once the answer is written, before any client can have read it.
        .finally(() => opts.log?.(`${req.method} ${req.url} -> ${res.statusCode}`)),
  });
  baseUrl = double.url;

  return {
    url: baseUrl,
    tenantId,
    tls,
    addApplication(o) {
      const app = directory.addApplication(o.displayName, o.appId);
      return {
        id: app.id,
        appId: app.appId,
        passwords: () => app.passwordCredentials.map(viewOf),
        secretTexts: () => app.passwordCredentials.map((c) => c.secretText),
        addPassword(p = {}) {
          const created = directory.addPassword(app, {
            displayName: p.displayName ?? null,
            ...(p.startDateTime ? { startDateTime: p.startDateTime } : {}),
            ...(p.endDateTime ? { endDateTime: p.endDateTime } : {}),
          });
          return { ...viewOf(created), secretText: created.secretText };
        },
      };
    },
    denyApplication: (id) => directory.deny(id),
    tokensIssued: () => issued.map((t) => ({ ...t })),
    stop: () => double.stop(),
  };
}
