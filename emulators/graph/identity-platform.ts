// The Microsoft identity platform half of the double: just what MSAL Node (inside
// @azure/identity's ClientSecretCredential) asks for when `authorityHost` points here and
// `disableInstanceDiscovery` is true:
//
//   GET  /{tenant}/v2.0/.well-known/openid-configuration   (authority metadata, once per app)
//   POST /{tenant}/oauth2/v2.0/token                        (grant_type=client_credentials)
//
// plus the v1 metadata document and an empty JWKS, because the metadata names them.
// Errors use the identity platform's JSON shape (error, error_description starting with an
// AADSTS code, error_codes, timestamp, trace_id, correlation_id, error_uri) and its status
// codes: 401 for a bad client secret, 400 for the rest.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Directory } from "./directory.js";
import { headerValue, readBody, sendJson } from "./http.js";
import { TOKEN_LIFETIME_SECONDS, type TokenMinter } from "./tokens.js";

export interface IssuedToken {
  readonly clientId: string;
  readonly scope: string;
}

export interface IdentityPlatformContext {
  readonly baseUrl: string;
  readonly tenantId: string;
  readonly directory: Directory;
  readonly minter: TokenMinter;
  /** Client ids with a fixed secret that are not Graph applications (keyturn's own identity). */
  readonly trustedClients: ReadonlyMap<string, string>;
  readonly issued: IssuedToken[];
  readonly servicePrincipalIdFor: (clientId: string) => string;
}

// OIDC scopes MSAL may add to any request; they name no resource.
const OIDC_SCOPES = new Set(["openid", "profile", "offline_access", "email"]);

function aadTimestamp(date: Date): string {
  // "2024-05-01 12:34:56Z", as the service writes it.
  return `${date.toISOString().slice(0, 19).replace("T", " ")}Z`;
}

// MSAL Node sends its correlation id as a `client-request-id` query (and form) parameter;
// the Azure SDK pipeline adds `x-ms-client-request-id`. The service echoes it back.
function correlationIdOf(req: IncomingMessage): string | undefined {
  const fromQuery = new URL(req.url ?? "/", "https://localhost").searchParams.get("client-request-id");
  return fromQuery ?? headerValue(req, "client-request-id") ?? headerValue(req, "x-ms-client-request-id");
}

function sendAadError(
  ctx: IdentityPlatformContext,
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  error: string,
  code: number,
  message: string,
): void {
  const now = new Date();
  const traceId = randomUUID();
  const correlationId = correlationIdOf(req) ?? randomUUID();
  sendJson(
    res,
    status,
    {
      error,
      error_description: `AADSTS${code}: ${message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${aadTimestamp(now)}`,
      error_codes: [code],
      timestamp: aadTimestamp(now),
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${ctx.baseUrl}/error?code=${code}`,
    },
    { "client-request-id": correlationId, "x-ms-request-id": traceId },
  );
}

function openIdConfiguration(ctx: IdentityPlatformContext): Record<string, unknown> {
  const base = `${ctx.baseUrl}/${ctx.tenantId}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${ctx.baseUrl}/${ctx.tenantId}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${base}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${ctx.baseUrl}/oidc/userinfo`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver", "at_hash"],
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: "EU",
    cloud_instance_name: "microsoftonline.com",
    cloud_graph_host_name: "graph.windows.net",
    msgraph_host: "graph.microsoft.com",
    rbac_url: "https://pas.windows.net",
  };
}

function openIdConfigurationV1(ctx: IdentityPlatformContext): Record<string, unknown> {
  const base = `${ctx.baseUrl}/${ctx.tenantId}`;
  return {
    ...openIdConfiguration(ctx),
    token_endpoint: `${base}/oauth2/token`,
    authorization_endpoint: `${base}/oauth2/authorize`,
    issuer: `https://sts.windows.net/${ctx.tenantId}/`,
    jwks_uri: `${ctx.baseUrl}/common/discovery/keys`,
  };
}

/** Which identity-platform operation a request is, or undefined when it is not one of ours. */
export function identityOperation(method: string, path: string): string | undefined {
  const segments = path.split("/").filter(Boolean);
  if (segments.length < 2) return undefined;
  const rest = segments.slice(1).join("/");
  if (method === "GET" && rest === "v2.0/.well-known/openid-configuration") return "openidConfiguration";
  if (method === "GET" && rest === ".well-known/openid-configuration") return "openidConfigurationV1";
  if (method === "GET" && (rest === "discovery/v2.0/keys" || rest === "discovery/keys")) return "keys";
  if (rest === "oauth2/v2.0/token") return "token";
  return undefined;
}

export async function handleIdentityRequest(
  ctx: IdentityPlatformContext,
  req: IncomingMessage,
  res: ServerResponse,
  operation: string,
  path: string,
): Promise<void> {
  const tenant = path.split("/").filter(Boolean)[0] ?? "";
  const tenantKnown = tenant.toLowerCase() === ctx.tenantId.toLowerCase();

  if (operation === "keys") {
    // Tokens of the double are HS256 with a private key: there is no public key to publish.
    sendJson(res, 200, { keys: [] });
    return;
  }
  if (!tenantKnown) {
    sendAadError(ctx, req, res, 400, "invalid_tenant", 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    return;
  }
  if (operation === "openidConfiguration") {
    sendJson(res, 200, openIdConfiguration(ctx));
    return;
  }
  if (operation === "openidConfigurationV1") {
    sendJson(res, 200, openIdConfigurationV1(ctx));
    return;
  }
  await handleToken(ctx, req, res);
}

async function handleToken(ctx: IdentityPlatformContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "POST") {
    sendAadError(ctx, req, res, 400, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a GET request.");
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  const grantType = form.get("grant_type");
  const clientId = form.get("client_id");
  const clientSecret = form.get("client_secret");
  const scope = form.get("scope");

  if (grantType !== "client_credentials") {
    sendAadError(ctx, req, res, 400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grantType ?? ""}'. This double serves client_credentials only.`);
    return;
  }
  if (!clientId) {
    sendAadError(ctx, req, res, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.");
    return;
  }
  const resourceScopes = (scope ?? "").split(" ").filter((s) => s && !OIDC_SCOPES.has(s));
  if (resourceScopes.length === 0) {
    sendAadError(ctx, req, res, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.");
    return;
  }
  const resourceScope = resourceScopes[0]!;
  if (!resourceScope.endsWith("/.default")) {
    sendAadError(ctx, req, res, 400, "invalid_scope", 1002012, `The provided value for scope ${resourceScope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    return;
  }

  const trustedSecret = ctx.trustedClients.get(clientId.toLowerCase());
  const app = ctx.directory.findByAppId(clientId);
  if (trustedSecret === undefined && !app) {
    sendAadError(ctx, req, res, 400, "unauthorized_client", 700016, `Application with identifier '${clientId}' was not found in the directory '${ctx.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
    return;
  }
  if (!clientSecret) {
    sendAadError(ctx, req, res, 401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    return;
  }

  let accepted = trustedSecret !== undefined && trustedSecret === clientSecret;
  if (!accepted && app) {
    const check = ctx.directory.checkSecret(app, clientSecret);
    if (check.kind === "expired") {
      sendAadError(ctx, req, res, 401, "invalid_client", 7000222, `The provided client secret keys for app '${app.appId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`);
      return;
    }
    accepted = check.kind === "live";
  }
  if (!accepted) {
    sendAadError(ctx, req, res, 401, "invalid_client", 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`);
    return;
  }

  const audience = resourceScope.slice(0, -"/.default".length);
  const { token } = ctx.minter.mint({
    clientId: app?.appId ?? clientId,
    servicePrincipalId: ctx.servicePrincipalIdFor(clientId),
    audience,
  });
  ctx.issued.push({ clientId: app?.appId ?? clientId, scope: resourceScopes.join(" ") });
  const correlationId = correlationIdOf(req);
  sendJson(
    res,
    200,
    {
      token_type: "Bearer",
      expires_in: TOKEN_LIFETIME_SECONDS,
      ext_expires_in: TOKEN_LIFETIME_SECONDS,
      access_token: token,
    },
    correlationId ? { "client-request-id": correlationId } : {},
  );
}
