// App roles for the HTTP API, read from App Service Authentication ("Easy Auth").
//
// With App Service Authentication on, the platform validates the caller's Entra token
// and passes its claims to the app as `x-ms-client-principal`: base64 of
// `{"auth_typ", "claims": [{"typ", "val"}], "name_typ", "role_typ"}`. App roles are
// the claims whose `typ` is the principal's `role_typ` (or `roles`, the token's own
// claim name, when the platform did not map it). External requests cannot set this
// header when the module is on; WITHOUT the module anyone holding a function key could
// forge it, so KEYTURN_REQUIRE_APP_ROLES=true must only be set together with App
// Service Authentication. Function keys are checked by the Functions host before any
// of this runs (and by local/host.ts locally).
//
// One place decides: `authorize(route role, headers, enabled)`, applied to every HTTP
// route from the route table (functions/routes.ts).

import { hasControlCharacter } from "./text.js";

export const AppRole = {
  /** May rotate (and read). */
  Operator: "Rotation.Operator",
  /** May read status and what is due. */
  Reader: "Rotation.Reader",
} as const;
export type AppRole = (typeof AppRole)[keyof typeof AppRole];

export const CLIENT_PRINCIPAL_HEADER = "x-ms-client-principal";
/** Set by App Service Authentication beside the principal: the caller's name and object id. */
export const CLIENT_PRINCIPAL_NAME_HEADER = "x-ms-client-principal-name";
export const CLIENT_PRINCIPAL_ID_HEADER = "x-ms-client-principal-id";

/** Roles that satisfy a route's requirement: an Operator may do whatever a Reader may. */
const satisfiedBy: Record<AppRole, readonly AppRole[]> = {
  [AppRole.Operator]: [AppRole.Operator],
  [AppRole.Reader]: [AppRole.Reader, AppRole.Operator],
};

const ROLE_CLAIM_TYPES = ["roles", "role", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"];
/** A principal header is a few KB at most; refuse to decode anything much larger. */
const MAX_PRINCIPAL_CHARS = 16 * 1024;

export interface ClientPrincipal {
  readonly authType: string | undefined;
  readonly roles: readonly string[];
  /** The name claim (name_typ; e.g. the user principal name), when present. */
  readonly name?: string;
  /** The object id claim (oid), when present. */
  readonly objectId?: string;
}

/** Who asked for a manual rotation, as App Service Authentication vouches for it. */
export interface Caller {
  readonly name?: string;
  readonly objectId?: string;
}

const NAME_CLAIM_TYPES = ["name", "preferred_username", "upn", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"];
const OID_CLAIM_TYPES = ["oid", "http://schemas.microsoft.com/identity/claims/objectidentifier"];
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A name fit for a log line, a tag (256 characters) and a notification: no control characters. */
function cleanName(v: string | null | undefined): string | undefined {
  const t = v?.trim();
  if (!t || hasControlCharacter(t)) return undefined;
  return t.slice(0, 256);
}

function cleanId(v: string | null | undefined): string | undefined {
  const t = v?.trim();
  return t && GUID.test(t) ? t.toLowerCase() : undefined;
}

/**
 * The identity an access token was issued to (the CLI's own credential: the operator's
 * `az login`, a runbook's managed identity), from its upn / preferred_username / name and
 * oid claims. Not a verification: the token is keyturn's own, from its own credential.
 */
export function callerFromAccessToken(token: string): Caller | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const str = (k: string) => {
    const value = claims[k];
    return typeof value === "string" ? value : undefined;
  };
  const name = cleanName(str("upn") ?? str("preferred_username") ?? str("unique_name") ?? str("name") ?? str("appid"));
  const objectId = cleanId(str("oid"));
  if (name === undefined && objectId === undefined) return undefined;
  return { ...(name !== undefined ? { name } : {}), ...(objectId !== undefined ? { objectId } : {}) };
}

/**
 * The caller of a request, from App Service Authentication's headers
 * (`x-ms-client-principal-name`, `-id`, else the principal's name and oid claims).
 * Only when `trusted` (authentication is on, KEYTURN_REQUIRE_APP_ROLES): without the
 * module in front, anyone with a function key could write those headers.
 */
export function callerOf(headers: { get(name: string): string | null }, trusted: boolean): Caller | undefined {
  if (!trusted) return undefined;
  const principal = parseClientPrincipal(headers.get(CLIENT_PRINCIPAL_HEADER));
  const name = cleanName(headers.get(CLIENT_PRINCIPAL_NAME_HEADER)) ?? principal?.name;
  const objectId = cleanId(headers.get(CLIENT_PRINCIPAL_ID_HEADER)) ?? principal?.objectId;
  if (name === undefined && objectId === undefined) return undefined;
  return { ...(name !== undefined ? { name } : {}), ...(objectId !== undefined ? { objectId } : {}) };
}

/** Decode `x-ms-client-principal`; undefined when it is missing or not a principal. */
export function parseClientPrincipal(header: string | null | undefined): ClientPrincipal | undefined {
  if (!header || header.length > MAX_PRINCIPAL_CHARS || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(header.trim())) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(header.trim(), "base64").toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null || !Array.isArray((raw as { claims?: unknown }).claims)) return undefined;
  const p = raw as { auth_typ?: unknown; role_typ?: unknown; name_typ?: unknown; claims: unknown[] };
  const roleTypes = new Set(ROLE_CLAIM_TYPES);
  if (typeof p.role_typ === "string" && p.role_typ !== "") roleTypes.add(p.role_typ.toLowerCase());
  const nameTypes = [...(typeof p.name_typ === "string" && p.name_typ !== "" ? [p.name_typ.toLowerCase()] : []), ...NAME_CLAIM_TYPES];
  const roles: string[] = [];
  const values = new Map<string, string>();
  for (const c of p.claims) {
    if (typeof c !== "object" || c === null) continue;
    const { typ, val } = c as { typ?: unknown; val?: unknown };
    if (typeof typ !== "string" || typeof val !== "string") continue;
    if (roleTypes.has(typ.toLowerCase())) roles.push(val);
    if (!values.has(typ.toLowerCase())) values.set(typ.toLowerCase(), val);
  }
  const name = nameTypes.map((t) => cleanName(values.get(t))).find((v) => v !== undefined);
  const objectId = OID_CLAIM_TYPES.map((t) => cleanId(values.get(t))).find((v) => v !== undefined);
  return {
    authType: typeof p.auth_typ === "string" ? p.auth_typ : undefined,
    roles,
    ...(name !== undefined ? { name } : {}),
    ...(objectId !== undefined ? { objectId } : {}),
  };
}

/** Encode a principal the way App Service Authentication does (tests, local tooling). */
export function encodeClientPrincipal(roles: readonly string[], authType = "aad"): string {
  const principal = {
    auth_typ: authType,
    claims: roles.map((val) => ({ typ: "roles", val })),
    name_typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    role_typ: "roles",
  };
  return Buffer.from(JSON.stringify(principal)).toString("base64");
}

export type AuthDecision = { readonly allowed: true } | { readonly allowed: false; readonly detail: string };

/**
 * Whether a request may call a route that requires `role`. With role checks off (the
 * default) or on a route without a role (health), everything is allowed.
 */
export function authorize(required: AppRole | undefined, headers: { get(name: string): string | null }, enabled: boolean): AuthDecision {
  if (!enabled || required === undefined) return { allowed: true };
  const header = headers.get(CLIENT_PRINCIPAL_HEADER);
  if (!header) return { allowed: false, detail: `this route needs the app role ${required}; no authenticated principal came with the request (is App Service Authentication on?)` };
  const principal = parseClientPrincipal(header);
  if (!principal) return { allowed: false, detail: `${CLIENT_PRINCIPAL_HEADER} is not a valid client principal` };
  const accepted = satisfiedBy[required];
  if (principal.roles.some((r) => (accepted as readonly string[]).includes(r))) return { allowed: true };
  return { allowed: false, detail: `this route needs the app role ${accepted.join(" or ")}` };
}
