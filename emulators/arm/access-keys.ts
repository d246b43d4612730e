// The ARM double's access-key services: the providers of the access-key rotator family
// (rotators/arm-access-key/), each answering its list and regenerate actions as its
// published spec says (azure-rest-api-specs, examples cited per service below), plus two
// data planes on one HTTPS server: the Azure OpenAI models list, which checks `api-key`
// against the account's keys, App Configuration's key-value list, which checks the
// documented HMAC-SHA256 request signature against the store's key ids and secrets, and
// AI Search's service statistics, which need an admin `api-key`.
//
//   Microsoft.CognitiveServices/accounts   GET, POST listKeys, POST regenerateKey {keyName Key1|Key2} → {key1,key2}
//        (stable/2024-10-01/examples/ListKeys.json, RegenerateKey.json; synchronous)
//   Microsoft.ServiceBus/namespaces[/queues|/topics/{e}]/authorizationRules/{r}   POST listKeys,
//        POST regenerateKeys {keyType PrimaryKey|SecondaryKey[, key]} → AccessKeys with connection strings
//        (stable/2021-11-01 …AuthorizationRuleListKey.json / …RegenerateKey.json; synchronous)
//   Microsoft.EventHub/namespaces[/eventhubs/{e}]/authorizationRules/{r}   as Service Bus (stable/2024-01-01)
//   Microsoft.Cache/redis                   GET, POST listKeys, POST regenerateKey {keyType Primary|Secondary}
//        (stable/2024-11-01/examples/RedisCacheListKeys.json, RedisCacheRegenerateKey.json; synchronous)
//   Microsoft.Search/searchServices         GET (properties.endpoint), POST listAdminKeys, POST regenerateAdminKey/{primary|secondary}
//        (stable/2025-05-01/examples/SearchListAdminKeys.json, SearchRegenerateAdminKey.json; synchronous)
//   Microsoft.AppConfiguration/configurationStores   POST listKeys → {value:[ApiKey]}, POST regenerateKey {id} → ApiKey
//        (stable/2024-06-01/examples/ConfigurationStoresListKeys.json, ConfigurationStoresRegenerateKey.json; the id stays)
//   Microsoft.EventGrid/topics, /domains    POST listKeys, POST regenerateKey {keyName key1|key2}: long-running
//        (stable/2025-02-15/examples/Topics_RegenerateKey.json answers 200 or 202): 202 + Azure-AsyncOperation
//        (operationsStatus) + Location (operationResults), the keys from Location when done
//   Microsoft.ContainerRegistry/registries/{r}/tokens/{t}   GET (password names, creation times, expiry; never values);
//        POST registries/{r}/generateCredentials {tokenId, name, expiry}: long-running, 202 + Location
//        ({registry}/operationStatuses/registries-{id}), then {username, passwords:[{name,value,expiry}]}
//        (stable/2023-07-01/examples/RegistryGenerateCredentials.json)
//
// As the rest of the double: bearer token required, api-version checked per provider,
// denyScope → 403 AuthorizationFailed before existence, 404s with ARM's codes, faults
// consulted with service "arm" and the RBAC action as `operation`, long-running work done
// when the operation completes. Keys never appear in anything but the answers that carry them.
import { createHash, createHmac, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { armError, armErrors } from "./errors.js";
import { armFrontDoor } from "./front-door.js";
import { headerValue, pathSegments, sendEmpty, sendJson, splitTarget, type FaultsLike, type Headers, type RecordedRequest } from "./http.js";
import { OperationRegistry } from "./lro.js";
import { DEFAULT_LOCATION, DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID, type Placement } from "./resources.js";

export type AccessKeyServiceName = "cognitive" | "servicebus" | "eventhub" | "redis" | "search" | "appconfig" | "eventgrid" | "acr";

// api-versions per provider: the one keyturn sends first (its descriptors), then other GA
// versions tools commonly pin. Anything else is 400 InvalidApiVersionParameter.
const API_VERSIONS: Readonly<Record<string, readonly string[]>> = {
  "microsoft.cognitiveservices": ["2024-10-01", "2025-06-01", "2023-05-01", "2022-12-01"],
  "microsoft.servicebus": ["2021-11-01", "2024-01-01", "2017-04-01"],
  "microsoft.eventhub": ["2024-01-01", "2021-11-01", "2017-04-01"],
  "microsoft.cache": ["2024-11-01", "2024-03-01", "2023-08-01"],
  "microsoft.search": ["2025-05-01", "2023-11-01", "2022-09-01"],
  "microsoft.appconfiguration": ["2024-06-01", "2024-05-01", "2023-03-01"],
  "microsoft.eventgrid": ["2025-02-15", "2022-06-15", "2020-06-01"],
  "microsoft.containerregistry": ["2023-07-01", "2025-04-01", "2023-01-01-preview"],
};

interface StoredKey {
  value: string;
  creationTime: string;
  /** App Configuration's key id. */
  readonly id?: string;
  /** Container registry token passwords. */
  expiry?: string;
}

interface KeyResource {
  readonly service: AccessKeyServiceName;
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  readonly location: string;
  readonly keys: Record<string, StoredKey>;
  readonly props: Record<string, unknown>;
}

/** A route template after `/providers/`: literal segments and `{x}` path parameters. */
interface Template {
  readonly service: AccessKeyServiceName;
  readonly segments: readonly string[];
  /** ARM resource type for the RBAC action, e.g. Microsoft.ServiceBus/namespaces/queues/authorizationRules. */
  readonly type: string;
}

const templates: readonly Template[] = [
  ["cognitive", "Microsoft.CognitiveServices/accounts/{name}"],
  ["servicebus", "Microsoft.ServiceBus/namespaces/{ns}/authorizationRules/{name}"],
  ["servicebus", "Microsoft.ServiceBus/namespaces/{ns}/queues/{entity}/authorizationRules/{name}"],
  ["servicebus", "Microsoft.ServiceBus/namespaces/{ns}/topics/{entity}/authorizationRules/{name}"],
  ["eventhub", "Microsoft.EventHub/namespaces/{ns}/authorizationRules/{name}"],
  ["eventhub", "Microsoft.EventHub/namespaces/{ns}/eventhubs/{entity}/authorizationRules/{name}"],
  ["redis", "Microsoft.Cache/redis/{name}"],
  ["search", "Microsoft.Search/searchServices/{name}"],
  ["appconfig", "Microsoft.AppConfiguration/configurationStores/{name}"],
  ["eventgrid", "Microsoft.EventGrid/topics/{name}"],
  ["eventgrid", "Microsoft.EventGrid/domains/{name}"],
  ["acr", "Microsoft.ContainerRegistry/registries/{registry}/tokens/{name}"],
  ["acr", "Microsoft.ContainerRegistry/registries/{name}"],
].map(([service, t]) => {
  const segments = t!.split("/");
  return { service: service as AccessKeyServiceName, segments, type: segments.filter((s) => !s.startsWith("{")).join("/") };
});

const NAMESPACES = new Set(templates.map((t) => t.segments[0]!.toLowerCase()));

/** Keys as each service makes them (length and alphabet of the real ones). */
function newKey(service: AccessKeyServiceName): string {
  switch (service) {
    case "cognitive":
      return randomBytes(16).toString("hex");
    case "search":
      return randomBytes(39).toString("base64").replace(/[+/=]/g, "A").slice(0, 52);
    case "acr":
      return randomBytes(39).toString("base64").slice(0, 52);
    default:
      return randomBytes(32).toString("base64");
  }
}

export interface AccessKeyDoubles {
  /** Azure OpenAI / AI services data plane of each account, path-style: "https://127.0.0.1:PORT/<account>/" (also properties.endpoint). */
  cognitiveEndpoint(account: string): string;
  addCognitiveAccount(o: Placement & { name: string; kind?: string; disableLocalAuth?: boolean }): KeyHandle;
  /** A namespace-level rule, or one of a queue/topic (Service Bus) or event hub (Event Hubs). */
  addAuthorizationRule(o: Placement & { provider: "servicebus" | "eventhub"; namespace: string; entity?: { type: "queues" | "topics" | "eventhubs"; name: string }; rule: string }): KeyHandle;
  addRedisCache(o: Placement & { name: string; disableAccessKeyAuthentication?: boolean }): KeyHandle;
  addSearchService(o: Placement & { name: string; disableLocalAuth?: boolean }): KeyHandle;
  addAppConfigurationStore(o: Placement & { name: string }): KeyHandle & { connectionString(slot: string): string };
  addEventGridTopic(o: Placement & { name: string; domain?: boolean }): KeyHandle;
  /** A token with both passwords set (expiring in `expiresInDays`, default 90). */
  addContainerRegistryToken(o: Placement & { registry: string; token: string; expiresInDays?: number; status?: "enabled" | "disabled" }): KeyHandle;
}

export interface KeyHandle {
  readonly id: string;
  /** The current keys by slot (the names CredentialId holds). */
  keys(): Record<string, string>;
  /** Whether `key` is a current, unexpired key of the resource: what the service's data plane would accept. */
  accepts(key: string): boolean;
  /** Every key the resource has had, for leak scans. */
  history(): string[];
}

export interface AccessKeyServices extends AccessKeyDoubles {
  /** Whether a request path is for one of these providers. */
  owns(rawPath: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** The data planes' requests (served by index.ts on a port of their own). */
  handleDataPlane(req: IncomingMessage, res: ServerResponse): void;
  setDataPlaneBase(url: string): void;
}

export function createAccessKeyServices(deps: {
  readonly baseUrl: () => string;
  readonly lroPolls: number;
  readonly retryAfterSeconds: number;
  readonly faults?: FaultsLike;
  readonly isDenied: (scope: string) => boolean;
  readonly callerIds: (token: string) => { clientId: string; objectId: string };
  readonly record: (service: RecordedRequest["service"]) => (entry: Omit<RecordedRequest, "service">) => void;
  readonly subscriptions: () => { has(sub: string): boolean; hasGroup(sub: string, rg: string): boolean };
}): AccessKeyServices {
  const resources = new Map<string, KeyResource>();
  const history = new Map<string, string[]>();
  const operations = new OperationRegistry({ baseUrl: deps.baseUrl, lroPolls: deps.lroPolls, retryAfterSeconds: deps.retryAfterSeconds });
  let dataPlaneBase = "";
  const record = deps.record("arm");

  const now = () => new Date().toISOString();
  function add(service: AccessKeyServiceName, o: Placement, path: string, slots: readonly string[], props: Record<string, unknown>): KeyResource {
    const subscriptionId = o.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID;
    const resourceGroup = o.resourceGroup ?? DEFAULT_RESOURCE_GROUP;
    const id = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/${path}`;
    const keys: Record<string, StoredKey> = {};
    for (const slot of slots) keys[slot] = { value: newKey(service), creationTime: now(), ...(service === "appconfig" ? { id: randomBytes(8).toString("hex").toUpperCase() } : {}) };
    const r: KeyResource = { service, id, subscriptionId, resourceGroup, name: path.split("/").at(-1)!, location: o.location ?? DEFAULT_LOCATION, keys, props };
    resources.set(id.toLowerCase(), r);
    history.set(r.id.toLowerCase(), Object.values(keys).map((k) => k.value));
    return r;
  }
  function setKey(r: KeyResource, slot: string, value = newKey(r.service), expiry?: string): void {
    const old = r.keys[slot]!;
    // A regenerated key is always newer than the one it replaces, even within a millisecond.
    const creationTime = new Date(Math.max(Date.now(), Date.parse(old.creationTime) + 1)).toISOString();
    r.keys[slot] = { ...old, value, creationTime, ...(expiry !== undefined ? { expiry } : {}) };
    history.get(r.id.toLowerCase())!.push(value);
  }
  function handle(r: KeyResource): KeyHandle {
    return {
      id: r.id,
      keys: () => Object.fromEntries(Object.entries(r.keys).map(([s, k]) => [s, k.value])),
      accepts: (key) => Object.values(r.keys).some((k) => k.value === key && (k.expiry === undefined || Date.parse(k.expiry) > Date.now())),
      history: () => [...history.get(r.id.toLowerCase())!],
    };
  }

  // ---- answers, shaped as the spec examples ---------------------------------------------
  const host = (r: KeyResource) => `${String(r.props.namespace)}.servicebus.windows.net`;
  function accessKeys(r: KeyResource): unknown {
    const rule = r.name;
    const entityPath = r.props.entity ? `;EntityPath=${r.props.entity as string}` : "";
    const cs = (key: string) => `Endpoint=sb://${host(r)}/;SharedAccessKeyName=${rule};SharedAccessKey=${key}${entityPath}`;
    return {
      primaryConnectionString: cs(r.keys.PrimaryKey!.value),
      secondaryConnectionString: cs(r.keys.SecondaryKey!.value),
      primaryKey: r.keys.PrimaryKey!.value,
      secondaryKey: r.keys.SecondaryKey!.value,
      keyName: rule,
    };
  }
  const appConfigKey = (r: KeyResource, slot: string) => {
    const k = r.keys[slot]!;
    return {
      id: k.id,
      name: slot,
      value: k.value,
      // Path-style endpoint on the double's data-plane server (the test certificate names only 127.0.0.1).
      connectionString: `Endpoint=${dataPlaneBase}/${r.name};Id=${k.id};Secret=${k.value}`,
      lastModified: k.creationTime,
      readOnly: slot.endsWith("Read Only"),
    };
  };
  function tokenBody(r: KeyResource): unknown {
    return {
      id: r.id,
      name: r.name,
      type: "Microsoft.ContainerRegistry/registries/tokens",
      properties: {
        creationDate: r.props.creationDate,
        provisioningState: "Succeeded",
        scopeMapId: `/subscriptions/${r.subscriptionId}/resourceGroups/${r.resourceGroup}/providers/Microsoft.ContainerRegistry/registries/${String(r.props.registry)}/scopeMaps/_repositories_pull`,
        status: r.props.status,
        credentials: { passwords: Object.entries(r.keys).map(([name, k]) => ({ name, creationTime: k.creationTime, ...(k.expiry ? { expiry: k.expiry } : {}) })) },
      },
    };
  }

  function resourceBody(r: KeyResource): unknown {
    const base = { id: r.id, name: r.name, location: r.location };
    switch (r.service) {
      case "cognitive":
        return {
          ...base,
          type: "Microsoft.CognitiveServices/accounts",
          kind: r.props.kind,
          sku: { name: "S0" },
          properties: { endpoint: `${dataPlaneBase}/${r.name}/`, provisioningState: "Succeeded", disableLocalAuth: r.props.disableLocalAuth, publicNetworkAccess: "Enabled" },
        };
      case "redis":
        return {
          ...base,
          type: "Microsoft.Cache/Redis",
          properties: {
            provisioningState: "Succeeded",
            hostName: `${r.name}.redis.cache.windows.net`,
            port: 6379,
            sslPort: 6380,
            enableNonSslPort: false,
            redisVersion: "6.0",
            sku: { name: "Standard", family: "C", capacity: 1 },
            disableAccessKeyAuthentication: r.props.disableAccessKeyAuthentication,
          },
        };
      case "search":
        return {
          ...base,
          type: "Microsoft.Search/searchServices",
          sku: { name: "standard" },
          properties: {
            // Path-style on the double's data-plane server (the real one is https://<name>.search.windows.net).
            endpoint: `${dataPlaneBase}/${r.name}`,
            replicaCount: 1,
            partitionCount: 1,
            hostingMode: "default",
            publicNetworkAccess: "enabled",
            status: "running",
            provisioningState: "succeeded",
            disableLocalAuth: r.props.disableLocalAuth,
          },
        };
      case "acr":
        return tokenBody(r);
      default:
        return undefined;
    }
  }

  // ---- routing ---------------------------------------------------------------------------
  interface Route {
    readonly template: Template;
    /** The resource's ID as the client wrote it. */
    readonly scope: string;
    readonly subscriptionId: string;
    readonly resourceGroup: string;
    readonly names: Readonly<Record<string, string>>;
    /** The action segment(s) after the resource, lower case ("listkeys", "regenerateadminkey/primary"). */
    readonly action: string;
    readonly rawAction: readonly string[];
  }

  function route(rawPath: string): Route | undefined {
    const segments = pathSegments(rawPath);
    if (!segments) return undefined;
    const lower = segments.map((s) => s.toLowerCase());
    if (lower[0] !== "subscriptions" || lower[2] !== "resourcegroups" || lower[4] !== "providers") return undefined;
    const rest = segments.slice(5);
    // Longest template first: a token path must not be read as a registry action.
    for (const template of [...templates].sort((a, b) => b.segments.length - a.segments.length)) {
      const n = template.segments.length;
      if (rest.length < n || rest.length > n + 2) continue;
      const names: Record<string, string> = {};
      const fits = template.segments.every((t, i) => {
        if (t.startsWith("{")) {
          names[t.slice(1, -1)] = rest[i]!;
          return true;
        }
        return t.toLowerCase() === rest[i]!.toLowerCase();
      });
      if (!fits) continue;
      const rawAction = rest.slice(n);
      return {
        template,
        scope: `/${segments.slice(0, 5 + n).join("/")}`,
        subscriptionId: segments[1]!,
        resourceGroup: segments[3]!,
        names,
        action: rawAction.join("/").toLowerCase(),
        rawAction,
      };
    }
    return undefined;
  }

  /** The RBAC action of a request (also its name for faults and the request log). */
  function actionOf(r: Route, method: string): string | undefined {
    const a = r.action;
    const t = r.template.type;
    const allowed: Record<AccessKeyServiceName, Record<string, string>> = {
      cognitive: { "GET ": `${t}/read`, "POST listkeys": `${t}/listKeys/action`, "POST regeneratekey": `${t}/regenerateKey/action` },
      servicebus: { "POST listkeys": `${t}/listkeys/action`, "POST regeneratekeys": `${t}/regenerateKeys/action` },
      eventhub: { "POST listkeys": `${t}/listkeys/action`, "POST regeneratekeys": `${t}/regenerateKeys/action` },
      redis: { "GET ": `${t}/read`, "POST listkeys": `${t}/listKeys/action`, "POST regeneratekey": `${t}/regenerateKey/action` },
      search: { "GET ": `${t}/read`, "POST listadminkeys": `${t}/listAdminKeys/action` },
      appconfig: { "POST listkeys": `${t}/ListKeys/action`, "POST regeneratekey": `${t}/RegenerateKey/action` },
      eventgrid: { "POST listkeys": `${t}/listKeys/action`, "POST regeneratekey": `${t}/regenerateKey/action` },
      acr: t.endsWith("/tokens") ? { "GET ": `${t}/read` } : { "POST generatecredentials": `${t}/generateCredentials/action` },
    };
    if (r.template.service === "search" && method === "POST" && r.rawAction.length === 2 && r.rawAction[0]!.toLowerCase() === "regenerateadminkey") return `${t}/regenerateAdminKey/action`;
    if (r.template.service === "acr" && method === "GET" && r.rawAction.length === 2 && r.rawAction[0]!.toLowerCase() === "operationstatuses") return `${t}/operationStatuses/read`;
    return allowed[r.template.service][`${method} ${a}`];
  }

  /** The resource a route addresses; a registry exists when one of its tokens does. */
  function find(r: Route): KeyResource | undefined {
    if (r.template.service === "acr" && !r.template.type.endsWith("/tokens")) {
      const prefix = `${r.scope}/tokens/`.toLowerCase();
      return [...resources.values()].find((x) => x.id.toLowerCase().startsWith(prefix));
    }
    return resources.get(r.scope.toLowerCase());
  }

  async function handleArm(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let operation: string | undefined;
    const door = await armFrontDoor(req, res, (r) => record({ ...r, ...(operation ? { operation } : {}) }));
    if (!door) return;
    const { method, rawPath, headers, bodyText, token, apiVersion } = door;

    // Operation URLs of Event Grid's long-running regenerateKey (subscription level).
    const op = /^\/subscriptions\/([^/]+)\/providers\/([^/]+)\/locations\/([^/]+)\/([^/]+)\/([^/]+)$/i.exec(rawPath);
    if (op) {
      const [, sub, namespace, , segment, id] = op as unknown as [string, string, string, string, string, string];
      operation = `${namespace}/locations/${segment}/read`;
      if (!API_VERSIONS[namespace.toLowerCase()]?.includes(apiVersion)) return armErrors.invalidApiVersion(res, headers, apiVersion, API_VERSIONS[namespace.toLowerCase()] ?? []);
      if (deps.faults && (await deps.faults.apply(req, res, { service: "arm", method, path: rawPath, operation }, { headers }))) return;
      return answerOperation(res, headers, operations.find(sub, namespace, segment, id));
    }

    const r = route(rawPath);
    if (!r) return armError(res, 404, "NotFound", `The ARM double has no route for ${method} ${rawPath}.`, headers);
    const namespace = r.template.segments[0]!;
    const versions = API_VERSIONS[namespace.toLowerCase()]!;
    if (!versions.includes(apiVersion)) return armErrors.invalidApiVersion(res, headers, apiVersion, versions);
    operation = actionOf(r, method);
    if (!operation) return armError(res, 501, "NotImplemented", `The ARM double does not implement ${method} ${r.template.type}${r.action ? `/${r.action}` : ""}.`, headers);
    if (deps.faults && (await deps.faults.apply(req, res, { service: "arm", method, path: rawPath, operation }, { headers }))) return;
    if (deps.isDenied(r.scope)) {
      const { clientId, objectId } = deps.callerIds(token);
      return armErrors.authorizationFailed(res, headers, clientId, objectId, operation, r.scope);
    }
    const subs = deps.subscriptions();
    if (!subs.has(r.subscriptionId) && ![...resources.values()].some((x) => x.subscriptionId.toLowerCase() === r.subscriptionId.toLowerCase())) {
      return armErrors.subscriptionNotFound(res, headers, r.subscriptionId);
    }
    const groupKnown = subs.hasGroup(r.subscriptionId, r.resourceGroup) || [...resources.values()].some((x) => x.resourceGroup.toLowerCase() === r.resourceGroup.toLowerCase() && x.subscriptionId.toLowerCase() === r.subscriptionId.toLowerCase());
    if (!groupKnown) return armErrors.resourceGroupNotFound(res, headers, r.resourceGroup);

    // ACR's Location URL: {registry}/operationStatuses/registries-{id}.
    if (r.template.service === "acr" && r.rawAction[0]?.toLowerCase() === "operationstatuses") {
      return answerOperation(res, headers, operations.find(r.subscriptionId, "Microsoft.ContainerRegistry", "operationStatuses", r.rawAction[1]!.replace(/^registries-/i, "")), true);
    }
    const resource = find(r);
    if (!resource) {
      const [ns, ...type] = r.template.type.split("/");
      return armErrors.resourceNotFound(res, headers, ns!, type.join("/"), r.names.name ?? "", r.resourceGroup);
    }

    let body: Record<string, unknown> = {};
    if (method === "POST" && bodyText.trim() !== "") {
      let parsed: unknown;
      try {
        parsed = JSON.parse(bodyText);
      } catch (error) {
        return armErrors.invalidRequestContent(res, headers, (error as Error).message);
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return armErrors.invalidRequestContent(res, headers, "the body must be a JSON object");
      body = parsed as Record<string, unknown>;
    }
    /** The slot an enum value names, matched case-insensitively as ARM's enum binding does. */
    const slotNamed = (value: unknown) => Object.keys(resource.keys).find((s) => typeof value === "string" && s.toLowerCase() === value.toLowerCase());
    const badValue = (field: string, value: unknown) =>
      armError(res, 400, "InvalidRequestContent", `The request content was invalid and could not be deserialized: 'Error converting value ${JSON.stringify(value ?? null)} to type '${field}'.'.`, headers);

    if (method === "GET") return sendJson(res, 200, resourceBody(resource), headers);
    switch (resource.service) {
      case "cognitive":
      case "redis":
      case "eventgrid": {
        const keysBody = () =>
          resource.service === "redis"
            ? { primaryKey: resource.keys.Primary!.value, secondaryKey: resource.keys.Secondary!.value }
            : { key1: resource.keys[resource.service === "cognitive" ? "Key1" : "key1"]!.value, key2: resource.keys[resource.service === "cognitive" ? "Key2" : "key2"]!.value };
        if (r.action === "listkeys") return sendJson(res, 200, keysBody(), headers);
        const field = resource.service === "redis" ? "keyType" : "keyName";
        const slot = slotNamed(body[field]);
        if (!slot) return badValue(field, body[field]);
        if (resource.service !== "eventgrid") {
          setKey(resource, slot);
          return sendJson(res, 200, keysBody(), headers);
        }
        const started = operations.start({
          on: resource,
          urls: { namespace: "Microsoft.EventGrid", style: "arm", asyncSegment: "operationsStatus", resultSegment: "operationResults" },
          apiVersion,
          work: async () => setKey(resource, slot),
          result: keysBody,
        });
        return sendEmpty(res, 202, { ...headers, ...started.headers });
      }
      case "servicebus":
      case "eventhub": {
        if (r.action === "listkeys") return sendJson(res, 200, accessKeys(resource), headers);
        const slot = slotNamed(body.keyType);
        if (!slot) return badValue("keyType", body.keyType);
        setKey(resource, slot, typeof body.key === "string" && body.key !== "" ? body.key : undefined);
        return sendJson(res, 200, accessKeys(resource), headers);
      }
      case "search": {
        const keysBody = () => ({ primaryKey: resource.keys.primary!.value, secondaryKey: resource.keys.secondary!.value });
        if (r.action === "listadminkeys") return sendJson(res, 200, keysBody(), headers);
        const slot = slotNamed(r.rawAction[1]);
        if (!slot) return badValue("AdminKeyKind", r.rawAction[1]);
        setKey(resource, slot);
        return sendJson(res, 200, keysBody(), headers);
      }
      case "appconfig": {
        if (r.action === "listkeys") return sendJson(res, 200, { value: Object.keys(resource.keys).map((s) => appConfigKey(resource, s)) }, headers);
        const slot = Object.keys(resource.keys).find((s) => resource.keys[s]!.id === body.id);
        if (!slot) return armError(res, 400, "BadRequest", `The specified key id '${String(body.id)}' was not found.`, headers);
        setKey(resource, slot);
        return sendJson(res, 200, appConfigKey(resource, slot), headers);
      }
      case "acr": {
        const tokenId = typeof body.tokenId === "string" ? body.tokenId.toLowerCase() : "";
        const token = resources.get(tokenId);
        if (!token || token.service !== "acr" || !tokenId.startsWith(`${r.scope}/tokens/`.toLowerCase())) {
          return armError(res, 400, "BadRequest", `The token '${String(body.tokenId)}' was not found in registry '${r.names.name}'.`, headers);
        }
        const named = body.name === undefined ? undefined : slotNamed(body.name);
        if (body.name !== undefined && !named) return badValue("TokenPasswordName", body.name);
        const expiry = typeof body.expiry === "string" ? body.expiry : undefined;
        const slots = named ? [named] : Object.keys(token.keys);
        const started = operations.start({
          on: token,
          // Only its Location URL (below) is ever announced.
          urls: { namespace: "Microsoft.ContainerRegistry", style: "arm", asyncSegment: "-", resultSegment: "operationStatuses" },
          apiVersion,
          work: async () => {
            for (const s of slots) setKey(token, s, undefined, expiry);
          },
          // The generated passwords (only the named one when a name was given).
          result: () => ({ username: token.name, passwords: slots.map((s) => ({ name: s, value: token.keys[s]!.value, ...(token.keys[s]!.expiry ? { expiry: token.keys[s]!.expiry } : {}) })) }),
        });
        const location = `${deps.baseUrl()}${r.scope}/operationStatuses/registries-${started.operation.id}?api-version=${apiVersion}`;
        return sendEmpty(res, 202, { ...headers, location, "retry-after": String(deps.retryAfterSeconds) });
      }
    }
  }

  async function answerOperation(res: ServerResponse, headers: Headers, found: ReturnType<OperationRegistry["find"]>, locationOnly = false): Promise<void> {
    if (!found) return armError(res, 404, "NotFound", "The operation was not found.", headers);
    const o = found.operation;
    await operations.advance(o);
    const retry = operations.retryAfter(o);
    if (found.which === "async" && !locationOnly) return sendJson(res, 200, operations.statusBody(o), { ...headers, ...retry });
    if (o.status === "InProgress") return sendEmpty(res, 202, { ...headers, ...retry });
    if (o.status === "Failed") return armError(res, o.errorHttpStatus ?? 500, o.error!.code, o.error!.message, headers);
    const result = o.result();
    return result === undefined ? sendEmpty(res, 204, headers) : sendJson(res, 200, result, headers);
  }

  // ---- data planes: Azure OpenAI models list (api-key), App Configuration key-values (HMAC) --
  const recordData = deps.record("openai");
  /**
   * App Configuration's HMAC-SHA256 check, as its REST authentication reference states:
   * Credential = a key id, signed headers x-ms-date;host;x-ms-content-sha256 (at least),
   * string-to-sign "VERB\npath_and_query\nsigned header values joined by ;", keyed with the
   * base64-decoded secret; the date within 15 minutes; the content hash that of the body.
   */
  function hmacValid(req: IncomingMessage, store: KeyResource, pathAndQuery: string): boolean {
    const m = /^HMAC-SHA256\s+Credential=([^&]+)&SignedHeaders=([^&]+)&Signature=(.+)$/i.exec(headerValue(req, "authorization") ?? "");
    if (!m) return false;
    const [, credential, signedHeaders, signature] = m as unknown as [string, string, string, string];
    const key = Object.values(store.keys).find((k) => k.id === credential);
    if (!key) return false;
    const names = signedHeaders.toLowerCase().split(";");
    if (!["host", "x-ms-content-sha256"].every((n) => names.includes(n)) || !(names.includes("x-ms-date") || names.includes("date"))) return false;
    const date = headerValue(req, "x-ms-date") ?? headerValue(req, "date") ?? "";
    if (!(Math.abs(Date.now() - Date.parse(date)) <= 15 * 60_000)) return false;
    if (headerValue(req, "x-ms-content-sha256") !== createHash("sha256").update("").digest("base64")) return false;
    const values = names.map((n) => headerValue(req, n) ?? "");
    const expected = createHmac("sha256", Buffer.from(key.value, "base64")).update(`${(req.method ?? "GET").toUpperCase()}\n${pathAndQuery}\n${values.join(";")}`, "utf8").digest("base64");
    return expected === signature;
  }

  const handleDataPlane = (req: IncomingMessage, res: ServerResponse): void => {
    const method = (req.method ?? "GET").toUpperCase();
    const { rawPath } = splitTarget(req.url);
    const openai = /^\/([^/]+)\/openai\/models\/?$/i.exec(rawPath);
    const appconfig = /^\/([^/]+)\/kv\/?$/i.exec(rawPath);
    const search = /^\/([^/]+)\/servicestats\/?$/i.exec(rawPath);
    const operation = openai ? "openai/models/read" : appconfig ? "appconfig/kv/read" : search ? "search/servicestats/read" : undefined;
    res.on("finish", () => recordData({ method, path: rawPath, status: res.statusCode, ...(operation ? { operation } : {}) }));
    void (async () => {
      const byName = (service: AccessKeyServiceName, name: string) => [...resources.values()].find((x) => x.service === service && x.name.toLowerCase() === name.toLowerCase());
      const account = openai ? byName("cognitive", openai[1]!) : undefined;
      const store = appconfig ? byName("appconfig", appconfig[1]!) : undefined;
      const service = search ? byName("search", search[1]!) : undefined;
      if ((!account && !store && !service) || method !== "GET") return sendJson(res, 404, { error: { code: "404", message: "Resource not found" } });
      if (deps.faults && (await deps.faults.apply(req, res, { service: "openai", method, path: rawPath, ...(operation ? { operation } : {}) }))) return;
      if (service) {
        // Service statistics need an admin key; a wrong or query key is 403 with no body.
        const key = headerValue(req, "api-key");
        if (!key || service.props.disableLocalAuth === true || !Object.values(service.keys).some((k) => k.value === key)) return sendEmpty(res, 403);
        return sendJson(res, 200, { counters: { documentCount: { usage: 0, quota: null }, indexesCount: { usage: 0, quota: 50 } }, limits: { maxFieldsPerIndex: 1000 } });
      }
      if (store) {
        if (!hmacValid(req, store, req.url ?? rawPath)) {
          return sendJson(res, 401, { type: "https://azconfig.io/errors/invalid-token", title: "Unauthorized", status: 401 }, { "www-authenticate": 'HMAC-SHA256 error="invalid_token", error_description="Invalid Signature", Bearer' });
        }
        return sendJson(res, 200, { items: [] });
      }
      const key = headerValue(req, "api-key");
      // Azure OpenAI's answer to a wrong key (401 with code "401").
      if (!key || account!.props.disableLocalAuth === true || !Object.values(account!.keys).some((k) => k.value === key)) {
        return sendJson(res, 401, { error: { code: "401", message: "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource." } });
      }
      return sendJson(res, 200, { data: [], object: "list" });
    })().catch(() => sendJson(res, 500, { error: { code: "InternalServerError", message: "the double failed" } }));
  };

  const services: AccessKeyServices = {
    owns: (rawPath) => {
      const m = /\/providers\/([^/]+)\//i.exec(rawPath);
      return m !== null && NAMESPACES.has(m[1]!.toLowerCase());
    },
    handle: handleArm,
    handleDataPlane,
    setDataPlaneBase: (url) => {
      dataPlaneBase = url;
    },
    cognitiveEndpoint: (account) => `${dataPlaneBase}/${account}/`,
    addCognitiveAccount: (o) => handle(add("cognitive", o, `Microsoft.CognitiveServices/accounts/${o.name}`, ["Key1", "Key2"], { kind: o.kind ?? "OpenAI", disableLocalAuth: o.disableLocalAuth ?? false })),
    addAuthorizationRule: (o) => {
      const ns = o.provider === "servicebus" ? "Microsoft.ServiceBus" : "Microsoft.EventHub";
      const entity = o.entity ? `/${o.entity.type}/${o.entity.name}` : "";
      return handle(add(o.provider, o, `${ns}/namespaces/${o.namespace}${entity}/authorizationRules/${o.rule}`, ["PrimaryKey", "SecondaryKey"], { namespace: o.namespace, entity: o.entity?.name }));
    },
    addRedisCache: (o) => handle(add("redis", o, `Microsoft.Cache/redis/${o.name}`, ["Primary", "Secondary"], { disableAccessKeyAuthentication: o.disableAccessKeyAuthentication ?? false })),
    addSearchService: (o) => handle(add("search", o, `Microsoft.Search/searchServices/${o.name}`, ["primary", "secondary"], { disableLocalAuth: o.disableLocalAuth ?? false })),
    addAppConfigurationStore: (o) => {
      const r = add("appconfig", o, `Microsoft.AppConfiguration/configurationStores/${o.name}`, ["Primary", "Secondary", "Primary Read Only", "Secondary Read Only"], {});
      return { ...handle(r), connectionString: (slot: string) => appConfigKey(r, slot).connectionString };
    },
    addEventGridTopic: (o) => handle(add("eventgrid", o, `Microsoft.EventGrid/${o.domain ? "domains" : "topics"}/${o.name}`, ["key1", "key2"], {})),
    addContainerRegistryToken: (o) => {
      const r = add("acr", o, `Microsoft.ContainerRegistry/registries/${o.registry}/tokens/${o.token}`, ["password1", "password2"], {
        registry: o.registry,
        status: o.status ?? "enabled",
        creationDate: now(),
      });
      const expiry = new Date(Date.now() + (o.expiresInDays ?? 90) * 86_400_000).toISOString();
      for (const k of Object.values(r.keys)) k.expiry = expiry;
      return handle(r);
    },
  };
  return services;
}
