// Azure Resource Manager plumbing shared by the rotators of Azure resources (storage
// account keys, SQL server admin password, Cosmos DB keys, and later PostgreSQL):
// the ProviderAddress resource ID, one management client per process, and ARM's
// errors turned into keyturn's (never carrying a key or password: ARM echoes neither,
// and KeyturnError scrubs every message again).
//
// Rotators call ARM through core/arm-rest.ts (the SDK's pipeline and poller, cached here
// per process): a management SDK costs 0.3–1.4 s to load and megabytes of a host's
// memory for a few calls. The audit still loads management SDKs, with a dynamic import()
// through `armClient`, so that a cold start for anything else does not pay for them.
import type { TokenCredential } from "@azure/core-auth";
import { ConfigurationError, KeyturnError, ProviderError, TransientError, isTransient } from "./errors.js";
import type { RotatorContext } from "./rotator.js";
import { Tag, tagValue, type Tags } from "./tags.js";

/** An ARM resource ID taken apart. */
export interface ArmResourceId {
  /** As the tag wrote it, without a trailing slash. */
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** Lower case, e.g. `microsoft.storage/storageaccounts`. */
  readonly resourceType: string;
  readonly name: string;
}

const RESOURCE_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+)\/([^/]+)\/([^/]+)$/i;
const SUBSCRIPTION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Resource group names: 1-90 of letters, digits, underscore, parentheses, hyphen, period (not ending in a period).
const RESOURCE_GROUP = /^[-\w.()\p{L}\p{N}]{0,89}[-\w()\p{L}\p{N}]$/u;

/** Any resource ID of the form /subscriptions/<GUID>/resourceGroups/<group>/providers/<ns>/<type>/<name>, taken apart; undefined when it is not one. */
export function parseArmResourceId(raw: string): ArmResourceId | undefined {
  const id = raw.trim().replace(/\/+$/, "");
  const m = RESOURCE_ID.exec(id);
  if (!m) return undefined;
  const [, subscriptionId, resourceGroup, namespace, type, name] = m as unknown as [string, string, string, string, string, string];
  if (!SUBSCRIPTION_ID.test(subscriptionId) || !RESOURCE_GROUP.test(resourceGroup)) return undefined;
  return { id, subscriptionId, resourceGroup, resourceType: `${namespace}/${type}`.toLowerCase(), name };
}

/**
 * Parse the ProviderAddress tag as the resource ID of one resource of `resourceType`
 * (lower case). Pure; a missing or malformed value, or a resource of another type, is a
 * ConfigurationError naming ProviderAddress. `namePattern` checks the resource name.
 */
export function parseProviderAddress(tags: Tags, resourceType: string, example: string, namePattern?: RegExp): ArmResourceId {
  const raw = tagValue(tags, Tag.ProviderAddress);
  const expected = `must be the resource ID of a ${resourceType} resource, e.g. ${example}`;
  if (raw === undefined) throw new ConfigurationError(`is required: ${expected}`, Tag.ProviderAddress);
  const id = raw.replace(/\/+$/, "");
  const m = RESOURCE_ID.exec(id);
  if (!m) throw new ConfigurationError(expected, Tag.ProviderAddress);
  const [, subscriptionId, resourceGroup, namespace, type, name] = m as unknown as [string, string, string, string, string, string];
  const actualType = `${namespace}/${type}`.toLowerCase();
  if (actualType !== resourceType.toLowerCase()) {
    throw new ConfigurationError(`names a ${actualType.slice(0, 80)} resource; ${expected}`, Tag.ProviderAddress);
  }
  if (!SUBSCRIPTION_ID.test(subscriptionId)) throw new ConfigurationError(`has a subscription ID that is not a GUID; ${expected}`, Tag.ProviderAddress);
  if (!RESOURCE_GROUP.test(resourceGroup)) throw new ConfigurationError(`has a resource group name that Azure does not allow; ${expected}`, Tag.ProviderAddress);
  if (namePattern && !namePattern.test(name)) throw new ConfigurationError(`has a resource name that is not a valid ${resourceType} name; ${expected}`, Tag.ProviderAddress);
  return { id, subscriptionId, resourceGroup, resourceType: actualType, name };
}

/**
 * Parse the ProviderAddress tag as the resource ID of a resource, possibly nested (an
 * authorization rule of a Service Bus queue, a token of a container registry), matching
 * one of `templates`: the part after `/providers/`, e.g.
 * `Microsoft.ServiceBus/namespaces/{namespace}/queues/{entity}/authorizationRules/{name}`.
 * Literal segments match case-insensitively; `{x}` captures one segment (`segments.x`).
 * The last segment is the resource's name. Pure; errors name ProviderAddress.
 */
export function parseResourceAddress(tags: Tags, templates: readonly string[], example: string): ArmResourceId & { readonly segments: Readonly<Record<string, string>> } {
  const raw = tagValue(tags, Tag.ProviderAddress);
  const expected = `must be the resource ID of a ${templates.map((t) => t.replace(/\/\{[^}]+\}/g, "")).join(" or ")}, e.g. ${example}`;
  if (raw === undefined) throw new ConfigurationError(`is required: ${expected}`, Tag.ProviderAddress);
  const id = raw.replace(/\/+$/, "");
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/(.+)$/i.exec(id);
  if (!m) throw new ConfigurationError(expected, Tag.ProviderAddress);
  const [, subscriptionId, resourceGroup, rest] = m as unknown as [string, string, string, string];
  const parts = rest.split("/");
  for (const template of templates) {
    const want = template.split("/");
    if (want.length !== parts.length) continue;
    const segments: Record<string, string> = {};
    const fits = want.every((w, i) => {
      const part = parts[i]!;
      if (w.startsWith("{")) {
        segments[w.slice(1, -1)] = part;
        return part.length > 0;
      }
      return w.toLowerCase() === part.toLowerCase();
    });
    if (!fits) continue;
    if (!SUBSCRIPTION_ID.test(subscriptionId)) throw new ConfigurationError(`has a subscription ID that is not a GUID; ${expected}`, Tag.ProviderAddress);
    if (!RESOURCE_GROUP.test(resourceGroup)) throw new ConfigurationError(`has a resource group name that Azure does not allow; ${expected}`, Tag.ProviderAddress);
    const resourceType = want.filter((w) => !w.startsWith("{")).join("/").toLowerCase();
    return { id, subscriptionId, resourceGroup, resourceType, name: parts.at(-1)!, segments };
  }
  throw new ConfigurationError(`names a resource of another type or shape; ${expected}`, Tag.ProviderAddress);
}

/**
 * Options for an ARM management client: the configured ARM endpoint (sovereign clouds,
 * the local double), its token scope, and the process's retry and TLS options. Both
 * option spellings are set: the older SDKs (arm-sql, arm-cosmosdb) read
 * `credentialScopes`, the newer ones (arm-storage 20) `credentials.scopes`.
 */
export function armClientOptions(ctx: Pick<RotatorContext, "armEndpoint" | "clientOptions">) {
  const scopes = [`${ctx.armEndpoint.replace(/\/+$/, "")}/.default`];
  return {
    endpoint: ctx.armEndpoint,
    credentialScopes: scopes,
    credentials: { scopes },
    ...(ctx.clientOptions.retryOptions ? { retryOptions: { ...ctx.clientOptions.retryOptions } } : {}),
    ...(ctx.clientOptions.tlsOptions ? { tlsOptions: { ...ctx.clientOptions.tlsOptions } } : {}),
  };
}

// One client per credential, client kind, ARM endpoint, subscription and CA, for the life
// of the process (the SDK pipelines keep connections and tokens warm). Keyed weakly on
// the credential so that a test's engine and its clients go away together.
const clients = new WeakMap<TokenCredential, Map<string, Promise<unknown>>>();

export function cachedArmClient<T>(
  ctx: Pick<RotatorContext, "credential" | "armEndpoint" | "clientOptions">,
  kind: string,
  subscriptionId: string,
  create: () => Promise<T>,
): Promise<T> {
  let byKey = clients.get(ctx.credential);
  if (!byKey) {
    byKey = new Map();
    clients.set(ctx.credential, byKey);
  }
  const key = `${kind}|${ctx.armEndpoint}|${subscriptionId.toLowerCase()}|${ctx.clientOptions.tlsOptions?.ca ?? ""}`;
  let client = byKey.get(key) as Promise<T> | undefined;
  if (!client) {
    client = create();
    byKey.set(key, client);
    // A failed import or constructor must not be cached for ever.
    client.catch(() => byKey.delete(key));
  }
  return client;
}

/** Timings of a rotator that changes an ARM resource (tests shorten them). */
export interface ArmRotatorTimings {
  /** Poll interval of a long-running operation when ARM sends no Retry-After (SDK default 2 s). */
  readonly pollIntervalMs?: number;
  /** Pauses before each verification attempt: a change can take seconds to reach every front end. */
  readonly verifyDelaysMs?: readonly number[];
}

/** A management client class, as each @azure/arm-* package exports one. */
type ArmClientClass<T> = new (credential: TokenCredential, subscriptionId: string, options: ReturnType<typeof armClientOptions>) => T;

/**
 * The process's client of one ARM SDK for a subscription. `load` imports the SDK on first
 * use: most take a second or more to load, and most invocations need none of them.
 */
export function armClient<T>(
  ctx: Pick<RotatorContext, "credential" | "armEndpoint" | "clientOptions">,
  kind: string,
  subscriptionId: string,
  load: () => Promise<ArmClientClass<T>>,
): Promise<T> {
  return cachedArmClient(ctx, kind, subscriptionId, async () => new (await load())(ctx.credential, subscriptionId, armClientOptions(ctx)));
}

/** A refusal from ARM, with ARM's error code (`AuthorizationFailed`, `PasswordNotComplex`, ...). */
export class ArmProviderError extends ProviderError {
  readonly code: string;
  readonly statusCode: number | undefined;
  constructor(message: string, code: string, statusCode: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ArmProviderError";
    this.code = code;
    this.statusCode = statusCode;
  }
}

export interface ArmCallContext {
  /** What keyturn tried, in words: "list the keys of". */
  readonly action: string;
  readonly resource: ArmResourceId;
  /** The built-in role keyturn needs on the resource. */
  readonly role: string;
}

// core-lro reports a failed long-running operation as a plain Error:
// "The long-running operation has failed. <code>. <message>"
const LRO_FAILED = /^The long-running operation has failed\. ([A-Za-z0-9_.]+)\. ([\s\S]*)$/;
const NOT_FOUND_CODES = new Set(["ResourceNotFound", "ResourceGroupNotFound", "SubscriptionNotFound", "NotFound", "ParentResourceNotFound"]);
const LRO_TRANSIENT_CODES = new Set(["InternalServerError", "ServiceUnavailable", "GatewayTimeout", "TooManyRequests", "ServerBusy", "OperationTimedOut"]);
// 409s that mean "busy now, try later" rather than "no".
const BUSY_CODES = new Set(["OperationInProgress", "AnotherOperationInProgress", "ConflictingServerOperation", "ServerBusy", "Conflict"]);

function shortMessage(message: string): string {
  const line = (message.split("\n", 1)[0] ?? "").trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/**
 * ARM's answer to a failed management call as a KeyturnError: 403 names the role keyturn
 * needs; 404 is a ProviderAddress naming nothing (a configuration error, never retried);
 * 408/429/5xx and socket errors are transient; everything else is an ArmProviderError
 * carrying ARM's code. Only ARM's code and message travel, never the request.
 */
export function armFailure(error: unknown, call: ArmCallContext): KeyturnError {
  if (error instanceof KeyturnError) return error;
  const e = (typeof error === "object" && error !== null ? error : {}) as { statusCode?: unknown; code?: unknown; message?: unknown; name?: unknown };
  const statusCode = typeof e.statusCode === "number" ? e.statusCode : undefined;
  const message = typeof e.message === "string" ? e.message : String(error);
  const lro = LRO_FAILED.exec(message);
  const code = lro?.[1] ?? (typeof e.code === "string" ? e.code : statusCode !== undefined ? `HTTP${statusCode}` : "Unknown");
  const detail = shortMessage(lro?.[2] ?? message);
  const what = `could not ${call.action} ${call.resource.id}`;

  if (statusCode === 403 || code === "AuthorizationFailed" || code === "LinkedAuthorizationFailed") {
    return new ArmProviderError(
      `${what}: ARM ${code}. keyturn's identity needs the '${call.role}' role on this resource (or a role with the same actions). ARM said: ${detail}`,
      code,
      statusCode,
      { cause: error },
    );
  }
  if (statusCode === 404 || NOT_FOUND_CODES.has(code)) {
    return new ConfigurationError(`names a resource that ARM does not find (${code}): ${detail}`, Tag.ProviderAddress, { cause: error });
  }
  // A long-running operation that failed with a server-side code may succeed when run again.
  if (lro ? LRO_TRANSIENT_CODES.has(code) : isTransient(error) || BUSY_CODES.has(code)) {
    return new TransientError(`${what}: ${statusCode ?? code} ${code}: ${detail}`, { cause: error });
  }
  return new ArmProviderError(`${what}: ARM ${statusCode !== undefined ? `${statusCode} ` : ""}${code}: ${detail}`, code, statusCode, { cause: error });
}

/** Run one ARM call; turn its failure into a KeyturnError (see armFailure). */
export async function armCall<T>(call: ArmCallContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw armFailure(error, call);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
