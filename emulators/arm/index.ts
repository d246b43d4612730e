// HTTPS test double of Azure Resource Manager for the providers keyturn rotates, plus
// the data planes its rotators verify new credentials against.
//
//   url         ARM: Microsoft.Storage storageAccounts (GET, listKeys, regenerateKey),
//               Microsoft.Sql servers and Microsoft.DBforPostgreSQL flexibleServers
//               (GET, PATCH as a long-running operation), Microsoft.DocumentDB
//               databaseAccounts (GET, listKeys, readonlykeys, regenerateKey as a
//               long-running operation), Microsoft.KeyVault vaults (GET).
//   blobUrl()   Blob service of each storage account, path-style, Shared Key checked for real.
//   documentEndpoint  Cosmos DB data plane of each account, path-style, master-key auth checked for real.
//   accessKeys  the providers of the access-key rotator family and their data planes (access-keys.ts).
//
// Real Azure SDK clients are pointed at it in tests: pass `endpoint: arm.url` and
// `tlsOptions: { ca: arm.tls.caPem }`, and any bearer token (see `testCredential`).
// ARM's behaviour that rotators depend on is kept: case-insensitive paths, api-version
// checks, 401/403/404 with ARM's codes, the 202 + Azure-AsyncOperation + Location
// protocol that the SDK pollers follow, and changes that take effect only when the
// operation completes. Other than the few operations above, it answers 501.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { serveHttps, type HttpsDouble } from "../shared/http.js";
import { testTls, type TestTls } from "../tls.js";
import { supportedVersions } from "./api-versions.js";
import { createAccessKeyServices, type AccessKeyDoubles } from "./access-keys.js";
import { createBlobHandler } from "./blob.js";
import { createConsumers, type ConsumerDouble } from "./consumers.js";
import { createCosmosHandler } from "./cosmos-data.js";
import { armError, armErrors } from "./errors.js";
import { armFrontDoor } from "./front-door.js";
import { BodyTooLargeError, pathSegments, sendEmpty, sendJson, splitTarget, type FaultsLike, type RecordedRequest } from "./http.js";
import { OperationFailedError, OperationRegistry, type OperationUrls } from "./lro.js";
import {
  COSMOS_KEY_KINDS,
  DEFAULT_TENANT_ID,
  RESOURCE_TYPES,
  ResourceStore,
  cosmosAccountBody,
  cosmosKeysBody,
  cosmosReadOnlyKeysBody,
  newAccountKey,
  placed,
  postgresServerBody,
  resourceId,
  sqlEncryptionProtectorBody,
  sqlServerBody,
  storageAccountBody,
  storageKeysBody,
  vaultBody,
  type CosmosAccountState,
  type Placement,
  type PostgresServerState,
  type ResourceState,
  type SqlEncryptionProtector,
  type SqlServerState,
  type StorageEncryption,
  type StorageAccountState,
  type VaultState,
} from "./resources.js";

export { DEFAULT_LOCATION, DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID } from "./resources.js";
export type { SqlEncryptionProtector, StorageEncryption } from "./resources.js";
export { SUPPORTED_API_VERSIONS } from "./api-versions.js";
export type { RecordedRequest, FaultsLike } from "./http.js";
export type { ConsumerDouble, SecretResolver } from "./consumers.js";

export interface CosmosKeys {
  primaryMasterKey: string;
  secondaryMasterKey: string;
  primaryReadonlyMasterKey: string;
  secondaryReadonlyMasterKey: string;
}

export type { AccessKeyDoubles, KeyHandle } from "./access-keys.js";

export interface ArmEmulator {
  /** The providers of the access-key rotator family (access-keys.ts). */
  readonly accessKeys: AccessKeyDoubles;
  /** ARM endpoint, "https://127.0.0.1:PORT". */
  readonly url: string;
  /** Blob endpoint of a storage account, path-style: "https://127.0.0.1:PORT2/<account>/"; also its primaryEndpoints.blob. */
  blobUrl(account: string): string;
  readonly tls: TestTls;
  addStorageAccount(o: Placement & { name: string; keys?: [string, string]; allowSharedKeyAccess?: boolean; encryption?: StorageEncryption }): {
    id: string;
    keys(): { key1: string; key2: string };
  };
  addSqlServer(o: Placement & { name: string; administratorLogin: string; password: string; fullyQualifiedDomainName?: string; encryptionProtector?: SqlEncryptionProtector }): {
    id: string;
    password(): string;
    /** Every password the server has had, oldest first, the current one last. */
    passwordHistory(): string[];
    /** Set properties.state (default "Ready"), e.g. "Disabled" to make a rotation's verification fail. */
    setState(state: string): void;
  };
  addCosmosAccount(o: Placement & { name: string; keys?: Partial<CosmosKeys>; disableLocalAuth?: boolean }): {
    id: string;
    keys(): CosmosKeys;
    /** "https://127.0.0.1:PORT3/<account>/": resolve Cosmos paths against it, not against the host root. */
    documentEndpoint: string;
  };
  addPostgresFlexibleServer(o: Placement & { name: string; administratorLogin: string; password: string; fullyQualifiedDomainName?: string }): {
    id: string;
    password(): string;
    passwordHistory(): string[];
  };
  addVault(o: Placement & { name: string; softDelete?: boolean; purgeProtection?: boolean; rbac?: boolean; vaultUri?: string; tenantId?: string }): {
    id: string;
    vaultUri: string;
  };
  /**
   * Makes every ARM call on a resource, or on everything under a scope prefix (a
   * subscription, a resource group), answer 403 AuthorizationFailed, as when keyturn's
   * identity lacks the role. Case-insensitive, matched at "/" boundaries. Returns undo.
   */
  denyScope(scopePrefix: string): () => void;
  /** App Service / Function apps and Container Apps that read Key Vault secrets (emulators/arm/consumers.ts). */
  readonly consumers: ConsumerDouble;
  /**
   * Called when a PATCH that sets an admin password (SQL, PostgreSQL) completes, before
   * the double reports success, so a test can e.g. ALTER ROLE a real PostgreSQL. If it
   * throws, the operation fails (InternalServerError) and the password is not applied.
   */
  onPasswordChange?: (resourceId: string, login: string, password: string) => void | Promise<void>;
  /** Every request the three endpoints answered, in order. */
  requests(): ReadonlyArray<RecordedRequest>;
  clearRequests(): void;
  stop(): Promise<void>;
}

export interface ArmEmulatorOptions {
  tls?: TestTls;
  /** e.g. a FaultInjector from emulators/faults.ts; consulted after authentication, with service "arm", "blob" or "cosmos". */
  faults?: FaultsLike;
  /** How many "InProgress" polls a long-running operation answers before it completes; default 1. */
  lroPolls?: number;
  /** Retry-After seconds in long-running-operation answers; default 0 so tests are fast. */
  retryAfterSeconds?: number;
}

/** A TokenCredential that hands out a fixed bearer token: the double accepts any non-empty token. */
export function testCredential(token = "keyturn-arm-double-token"): TokenCredential {
  return {
    getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }),
  };
}

const SQL_OPERATION_URLS: OperationUrls = {
  namespace: "Microsoft.Sql",
  style: "sql",
  operationName: "UpsertLogicalServer",
  asyncSegment: "serverAzureAsyncOperation",
  resultSegment: "serverOperationResults",
};
const POSTGRES_OPERATION_URLS: OperationUrls = { namespace: "Microsoft.DBforPostgreSQL", style: "arm", asyncSegment: "azureAsyncOperation", resultSegment: "operationResults" };
const COSMOS_OPERATION_URLS: OperationUrls = { namespace: "Microsoft.DocumentDB", style: "cosmos", asyncSegment: "operationsStatus", resultSegment: "operationResults" };

/** Azure SQL and PostgreSQL flexible server admin password rules (8-128 characters, three of four classes, not the login). */
function passwordProblem(password: string, login: string): string | undefined {
  if (password.length < 8 || password.length > 128) return "it must be 8 to 128 characters long";
  const classes = [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
  if (classes < 3) return "it must contain characters from three of: upper case, lower case, digits, non-alphanumeric";
  if (login && password.toLowerCase().includes(login.toLowerCase())) return "it must not contain the login name";
  return undefined;
}

type Kind = ResourceState["type"];

interface ResourceRoute {
  readonly kind: "resource";
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly namespace: string;
  readonly type: string;
  readonly name: string;
  /** Lower-cased action or child segment after the name ("listkeys"), if any. */
  readonly action?: string;
  /** The resource's id as the client wrote it. */
  readonly scope: string;
}

interface OperationRoute {
  readonly kind: "operation";
  readonly subscriptionId: string;
  /** Set when the operation URL sits under a resource group (SQL's). */
  readonly resourceGroup?: string;
  readonly namespace: string;
  readonly location: string;
  readonly segment: string;
  readonly id: string;
  readonly scope: string;
}

function parseRoute(rawPath: string): ResourceRoute | OperationRoute | undefined {
  const segments = pathSegments(rawPath);
  if (!segments) return undefined;
  const lower = segments.map((s) => s.toLowerCase());
  if (lower[0] !== "subscriptions" || segments.length < 2) return undefined;
  const subscriptionId = segments[1]!;
  // An operation announced under a resource group (SQL's).
  if (lower[2] === "resourcegroups" && lower[4] === "providers" && lower[6] === "locations" && segments.length === 10) {
    const [, , , resourceGroup, , namespace, , location, segment, id] = segments as [string, string, string, string, string, string, string, string, string, string];
    return { kind: "operation", subscriptionId, resourceGroup, namespace, location, segment, id, scope: `/${segments.join("/")}` };
  }
  // 9 segments: an action (listKeys); 10: a child resource (encryptionProtector/current).
  if (lower[2] === "resourcegroups" && lower[4] === "providers" && segments.length >= 8 && segments.length <= 10) {
    const [, , , resourceGroup, , namespace, type, name] = segments as [string, string, string, string, string, string, string, string];
    return {
      kind: "resource",
      subscriptionId,
      resourceGroup,
      namespace,
      type,
      name,
      ...(segments.length > 8 ? { action: lower.slice(8).join("/") } : {}),
      scope: `/${segments.slice(0, 8).join("/")}`,
    };
  }
  if (lower[2] === "providers" && lower[4] === "locations" && segments.length === 8) {
    const [, , , namespace, , location, segment, id] = segments as [string, string, string, string, string, string, string, string];
    return { kind: "operation", subscriptionId, namespace, location, segment, id, scope: `/${segments.join("/")}` };
  }
  return undefined;
}

function kindOf(namespace: string, type: string): Kind | undefined {
  for (const [kind, t] of Object.entries(RESOURCE_TYPES) as [Kind, { namespace: string; type: string }][]) {
    if (t.namespace.toLowerCase() === namespace.toLowerCase() && t.type.toLowerCase() === type.toLowerCase()) return kind;
  }
  return undefined;
}

/** The RBAC action a request needs, which also names the operation for faults and the request log. */
function actionOf(kind: Kind, method: string, action: string | undefined): string | undefined {
  const { namespace, type } = RESOURCE_TYPES[kind];
  const base = `${namespace}/${type}`;
  const key = `${method} ${action ?? ""}`;
  const table: Record<Kind, Record<string, string>> = {
    storage: {
      "GET ": `${base}/read`,
      "POST listkeys": `${base}/listkeys/action`,
      "POST regeneratekey": `${base}/regeneratekey/action`,
    },
    sql: { "GET ": `${base}/read`, "PATCH ": `${base}/write`, "GET encryptionprotector/current": `${base}/encryptionProtector/read` },
    cosmos: {
      "GET ": `${base}/read`,
      "POST listkeys": `${base}/listKeys/action`,
      "POST readonlykeys": `${base}/readonlykeys/action`,
      "GET readonlykeys": `${base}/readonlykeys/action`,
      "POST regeneratekey": `${base}/regenerateKey/action`,
    },
    postgres: { "GET ": `${base}/read`, "PATCH ": `${base}/write` },
    vault: { "GET ": `${base}/read` },
  };
  return table[kind][key];
}

/** Client and object id for AuthorizationFailed messages, from the token when it is a JWT. */
function callerIds(token: string): { clientId: string; objectId: string } {
  const fallback = "00000000-0000-0000-0000-000000000000";
  const payload = token.split(".")[1];
  if (payload) {
    try {
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
      const objectId = typeof claims.oid === "string" ? claims.oid : fallback;
      const clientId = typeof claims.appid === "string" ? claims.appid : typeof claims.azp === "string" ? claims.azp : objectId;
      return { clientId, objectId };
    } catch {
      // not a JWT: fall through
    }
  }
  return { clientId: fallback, objectId: fallback };
}

/** What one of the three servers answers to an exception: ARM's error body, 413 for a body over the limit. */
function answerFailure(name: string) {
  return (error: unknown, req: IncomingMessage, res: ServerResponse): void => {
    if (error instanceof BodyTooLargeError) {
      armError(res, 413, "RequestEntityTooLarge", error.message);
      return;
    }
    // A bug in the double: answer 500 so the test fails loudly, and say where.
    console.error(`ARM double (${name}) failed on ${req.method} ${req.url}:`, error);
    armError(res, 500, "InternalServerError", `The ARM double failed: ${(error as Error)?.message ?? String(error)}`);
  };
}

export async function startArmEmulator(opts: ArmEmulatorOptions = {}): Promise<ArmEmulator> {
  const tls = opts.tls ?? testTls();
  const lroPolls = opts.lroPolls ?? 1;
  const retryAfterSeconds = opts.retryAfterSeconds ?? 0;
  const store = new ResourceStore();
  const log: RecordedRequest[] = [];
  const denied: string[] = [];
  let armUrl = "";
  let blobBase = "";
  let cosmosBase = "";
  const servers: HttpsDouble[] = [];

  const consumers = createConsumers(opts.faults);
  const registry = new OperationRegistry({ baseUrl: () => armUrl, lroPolls, retryAfterSeconds });
  const record = (service: RecordedRequest["service"]) => (entry: Omit<RecordedRequest, "service">) => {
    log.push({ service, ...entry });
  };

  const isDenied = (scope: string): boolean => {
    const s = scope.toLowerCase();
    return denied.some((prefix) => s === prefix || s.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`));
  };

  const accessKeys = createAccessKeyServices({
    baseUrl: () => armUrl,
    lroPolls,
    retryAfterSeconds,
    ...(opts.faults ? { faults: opts.faults } : {}),
    isDenied,
    callerIds,
    record,
    subscriptions: () => ({ has: (s) => store.hasSubscription(s), hasGroup: (s, g) => store.hasResourceGroup(s, g) }),
  });

  // Declared before the handler so the operations' work can read the hook at completion time.
  const emulator: ArmEmulator = {
    accessKeys,
    get url() {
      return armUrl;
    },
    blobUrl: (account) => `${blobBase}/${account}/`,
    tls,
    consumers: consumers.double,
    addStorageAccount(o) {
      const now = new Date().toISOString();
      const account = store.add<StorageAccountState>({
        ...placed("storage", o),
        keys: {
          key1: { value: o.keys?.[0] ?? newAccountKey(), creationTime: now },
          key2: { value: o.keys?.[1] ?? newAccountKey(), creationTime: now },
        },
        allowSharedKeyAccess: o.allowSharedKeyAccess ?? true,
        encryption: o.encryption ?? { keySource: "Microsoft.Storage" },
        creationTime: now,
      });
      return { id: account.id, keys: () => ({ key1: account.keys.key1.value, key2: account.keys.key2.value }) };
    },
    addSqlServer(o) {
      const server = store.add<SqlServerState>({
        ...placed("sql", o),
        administratorLogin: o.administratorLogin,
        password: o.password,
        passwordHistory: [o.password],
        fullyQualifiedDomainName: o.fullyQualifiedDomainName ?? `${o.name}.database.windows.net`,
        encryptionProtector: o.encryptionProtector ?? { serverKeyType: "ServiceManaged" },
      });
      return {
        id: server.id,
        password: () => server.password,
        passwordHistory: () => [...server.passwordHistory],
        setState: (state: string) => {
          server.state = state;
        },
      };
    },
    addCosmosAccount(o) {
      const now = new Date().toISOString();
      const key = (value: string | undefined) => ({ value: value ?? newAccountKey(), creationTime: now });
      const account = store.add<CosmosAccountState>({
        ...placed("cosmos", o),
        keys: {
          primary: key(o.keys?.primaryMasterKey),
          secondary: key(o.keys?.secondaryMasterKey),
          primaryReadonly: key(o.keys?.primaryReadonlyMasterKey),
          secondaryReadonly: key(o.keys?.secondaryReadonlyMasterKey),
        },
        documentEndpoint: `${cosmosBase}/${o.name}/`,
        disableLocalAuth: o.disableLocalAuth ?? false,
      });
      return {
        id: account.id,
        documentEndpoint: account.documentEndpoint,
        keys: () => cosmosKeysBody(account) as CosmosKeys,
      };
    },
    addPostgresFlexibleServer(o) {
      const server = store.add<PostgresServerState>({
        ...placed("postgres", o),
        administratorLogin: o.administratorLogin,
        password: o.password,
        passwordHistory: [o.password],
        fullyQualifiedDomainName: o.fullyQualifiedDomainName ?? `${o.name}.postgres.database.azure.com`,
      });
      return { id: server.id, password: () => server.password, passwordHistory: () => [...server.passwordHistory] };
    },
    addVault(o) {
      const vault = store.add<VaultState>({
        ...placed("vault", o),
        softDelete: o.softDelete ?? true,
        purgeProtection: o.purgeProtection ?? false,
        rbac: o.rbac ?? true,
        vaultUri: o.vaultUri ?? `https://${o.name}.vault.azure.net/`,
        tenantId: o.tenantId ?? DEFAULT_TENANT_ID,
      });
      return { id: vault.id, vaultUri: vault.vaultUri };
    },
    denyScope(scopePrefix) {
      const prefix = scopePrefix.toLowerCase().replace(/\/+$/, "");
      denied.push(prefix);
      return () => {
        const at = denied.indexOf(prefix);
        if (at >= 0) denied.splice(at, 1);
      };
    },
    requests: () => [...log],
    clearRequests: () => {
      log.length = 0;
    },
    stop: async () => {
      await Promise.all(servers.map((server) => server.stop()));
    },
  };

  /** Runs at completion of a password PATCH: validate as the service does, let the test apply it, then record it. */
  const applyPassword = async (server: SqlServerState | PostgresServerState, password: string): Promise<void> => {
    const problem = passwordProblem(password, server.administratorLogin);
    // The service's words, without saying which rule failed (a failed deployment's details show them).
    if (problem) {
      throw new OperationFailedError("PasswordNotComplex", "Password validation failed. The password does not meet policy requirements because it is not complex enough.");
    }
    await emulator.onPasswordChange?.(server.id, server.administratorLogin, password);
    server.password = password;
    server.passwordHistory.push(password);
  };

  const handleArm = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (accessKeys.owns(splitTarget(req.url).rawPath)) return accessKeys.handle(req, res);
    let operation: string | undefined;
    const door = await armFrontDoor(req, res, (r) => log.push({ service: "arm", ...r, ...(operation ? { operation } : {}) }));
    if (!door) return;
    const { method, rawPath, headers, bodyText, token, apiVersion } = door;

    // Consumers (sites, container apps) route themselves: their paths nest deeper.
    const deny = (scope: string, action: string) => {
      if (!isDenied(scope)) return false;
      const { clientId, objectId } = callerIds(token);
      armErrors.authorizationFailed(res, headers, clientId, objectId, action, scope);
      return true;
    };
    if (await consumers.handle({ req, res, method, rawPath, apiVersion, headers, denied: deny, setOperation: (a) => (operation = a) })) return;

    // 3. Route to a provider, resource type and operation.
    const route = parseRoute(rawPath);
    if (!route) return armError(res, 404, "NotFound", `The ARM double has no route for ${method} ${rawPath}.`, headers);
    const versions = supportedVersions(route.namespace);
    if (!versions) return armErrors.invalidNamespace(res, headers, route.namespace);
    if (!versions.includes(apiVersion)) return armErrors.invalidApiVersion(res, headers, apiVersion, versions);

    let kind: Kind | undefined;
    if (route.kind === "resource") {
      kind = kindOf(route.namespace, route.type);
      if (!kind) return armErrors.invalidResourceType(res, headers, route.namespace, route.type, apiVersion);
      operation = actionOf(kind, method, route.action);
      if (!operation) {
        return armError(
          res,
          501,
          "NotImplemented",
          `The ARM double does not implement ${method} ${RESOURCE_TYPES[kind].namespace}/${RESOURCE_TYPES[kind].type}${route.action ? `/${route.action}` : ""}.`,
          headers,
        );
      }
    } else {
      operation = `${route.namespace}/locations/${route.segment}/read`;
    }

    // 4. Injected faults (throttling, 5xx, latency) for requests ARM would have accepted.
    if (opts.faults && (await opts.faults.apply(req, res, { service: "arm", method, path: rawPath, operation }, { headers }))) return;

    // 5. Authorisation, before existence: without the role, ARM does not say whether a resource exists.
    if (isDenied(route.scope)) {
      const { clientId, objectId } = callerIds(token);
      return armErrors.authorizationFailed(res, headers, clientId, objectId, operation, route.scope);
    }

    // 6. Existence.
    if (!store.hasSubscription(route.subscriptionId)) return armErrors.subscriptionNotFound(res, headers, route.subscriptionId);

    if (route.kind === "operation") {
      const found = registry.find(route.subscriptionId, route.namespace, route.segment, route.id, route.resourceGroup);
      if (!found) return armError(res, 404, "NotFound", `Operation '${route.id}' was not found.`, headers);
      const op = found.operation;
      await registry.advance(op);
      const retry = registry.retryAfter(op);
      if (found.which === "async") return sendJson(res, 200, registry.statusBody(op), { ...headers, ...retry });
      if (op.status === "InProgress") return sendEmpty(res, 202, { ...headers, ...retry, location: registry.url(op, "result") });
      if (op.status === "Failed") return armError(res, op.errorHttpStatus ?? 500, op.error!.code, op.error!.message, headers);
      const result = op.result();
      return result === undefined ? sendEmpty(res, 204, headers) : sendJson(res, 200, result, headers);
    }

    if (!store.hasResourceGroup(route.subscriptionId, route.resourceGroup)) {
      return armErrors.resourceGroupNotFound(res, headers, route.resourceGroup);
    }
    const resource = store.get(resourceId(route.subscriptionId, route.resourceGroup, kind!, route.name));
    if (!resource) {
      const t = RESOURCE_TYPES[kind!];
      return armErrors.resourceNotFound(res, headers, t.namespace, t.type, route.name, route.resourceGroup);
    }

    let body: Record<string, unknown> = {};
    if (method === "POST" || method === "PATCH" || method === "PUT") {
      if (bodyText.trim() !== "") {
        let parsed: unknown;
        try {
          parsed = JSON.parse(bodyText);
        } catch (error) {
          return armErrors.invalidRequestContent(res, headers, (error as Error).message);
        }
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
          return armErrors.invalidRequestContent(res, headers, "the body must be a JSON object");
        }
        body = parsed as Record<string, unknown>;
      }
    }
    const properties = (typeof body.properties === "object" && body.properties !== null ? body.properties : {}) as Record<string, unknown>;
    const tags = typeof body.tags === "object" && body.tags !== null ? (body.tags as Record<string, string>) : undefined;

    switch (resource.type) {
      case "storage": {
        if (method === "GET") return sendJson(res, 200, storageAccountBody(resource, emulator.blobUrl(resource.name)), headers);
        if (route.action === "listkeys") return sendJson(res, 200, storageKeysBody(resource), headers);
        // regenerateKey: synchronous, answers the whole key list with the new key in it.
        const keyName = typeof body.keyName === "string" ? body.keyName.toLowerCase() : undefined;
        if (keyName !== "key1" && keyName !== "key2") {
          return armError(res, 400, "InvalidValuesForRequestParameters", "Values for request parameters are invalid: keyName.", headers);
        }
        resource.keys[keyName] = { value: newAccountKey(), creationTime: new Date().toISOString() };
        return sendJson(res, 200, storageKeysBody(resource), headers);
      }

      case "sql":
      case "postgres": {
        if (resource.type === "sql" && route.action === "encryptionprotector/current") return sendJson(res, 200, sqlEncryptionProtectorBody(resource), headers);
        const toBody = (): unknown => (resource.type === "sql" ? sqlServerBody(resource) : postgresServerBody(resource));
        if (method === "GET") return sendJson(res, 200, toBody(), headers);
        // PATCH. The SDKs flatten administratorLoginPassword into properties.
        const password = properties.administratorLoginPassword;
        if (password !== undefined && typeof password !== "string") {
          return armErrors.invalidRequestContent(res, headers, "properties.administratorLoginPassword must be a string");
        }
        const { headers: lroHeaders, body: accepted } = registry.start({
          on: resource,
          urls: resource.type === "sql" ? SQL_OPERATION_URLS : POSTGRES_OPERATION_URLS,
          apiVersion,
          work: async () => {
            if (password !== undefined) await applyPassword(resource, password);
            if (tags) resource.tags = { ...tags };
          },
          result: toBody,
        });
        return accepted === undefined ? sendEmpty(res, 202, { ...headers, ...lroHeaders }) : sendJson(res, 202, accepted, { ...headers, ...lroHeaders });
      }

      case "cosmos": {
        if (method === "GET" && route.action === undefined) return sendJson(res, 200, cosmosAccountBody(resource), headers);
        if (route.action === "listkeys") return sendJson(res, 200, cosmosKeysBody(resource), headers);
        if (route.action === "readonlykeys") return sendJson(res, 200, cosmosReadOnlyKeysBody(resource), headers);
        // regenerateKey: a long-running operation; the key changes when it completes.
        const requested = typeof body.keyKind === "string" ? body.keyKind.toLowerCase() : "";
        const keyKind = COSMOS_KEY_KINDS.find((k) => k.toLowerCase() === requested);
        if (!keyKind) {
          return armError(
            res,
            400,
            "BadRequest",
            `Invalid keyKind '${String(body.keyKind)}'. Valid values are: ${COSMOS_KEY_KINDS.join(", ")}.`,
            headers,
          );
        }
        const { headers: lroHeaders, body: accepted } = registry.start({
          on: resource,
          urls: COSMOS_OPERATION_URLS,
          apiVersion,
          work: async () => {
            resource.keys[keyKind] = { value: newAccountKey(), creationTime: new Date().toISOString() };
          },
          result: () => undefined,
        });
        return sendJson(res, 202, accepted, { ...headers, ...lroHeaders });
      }

      case "vault":
        return sendJson(res, 200, vaultBody(resource), headers);
    }
  };

  const blobHandler = createBlobHandler({
    findAccount: (name) => store.findByName("storage", name),
    baseUrl: () => blobBase,
    ...(opts.faults ? { faults: opts.faults } : {}),
    record: record("blob"),
  });
  const cosmosHandler = createCosmosHandler({
    findAccount: (name) => store.findByName("cosmos", name),
    ...(opts.faults ? { faults: opts.faults } : {}),
    record: record("cosmos"),
  });

  try {
    const serve = [["arm", handleArm], ["blob", blobHandler], ["cosmos", cosmosHandler], ["access-key data planes", accessKeys.handleDataPlane]] as const;
    for (const [name, handle] of serve) {
      servers.push(await serveHttps({ tls, handle, onError: answerFailure(name) }));
    }
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
  [armUrl, blobBase, cosmosBase] = servers.map((server) => server.url) as [string, string, string];
  accessKeys.setDataPlaneBase(servers[3]!.url);
  return emulator;
}
