// The ARM double's consumers: App Service / Function apps (Microsoft.Web/sites) whose app
// settings hold Key Vault references, and Container Apps (Microsoft.App/containerApps)
// whose secrets carry a keyVaultUrl. References resolve against the Key Vault double
// through `resolveSecret`, which the test (or the local host) wires to it; the double
// keeps versions only, never a value.
//
// Sources (azure-rest-api-specs):
//   Microsoft.Web/AppService/stable/2024-04-01/examples/GetKeyVaultReferencesForAppSettings.json
//     GET {site}/config/configreferences/appsettings → { value: [ApiKVReference] }, each
//     { id: {site}/config/configreferences/appsettings/<setting>, properties: { vaultName,
//     secretName, secretVersion, … } }; status values are ResolveStatus (Initialized,
//     Resolved, InvalidSyntax, MSINotEnabled, VaultNotFound, SecretNotFound,
//     SecretVersionNotFound, AccessToKeyVaultDenied, OtherReasons, FetchTimedOut,
//     UnauthorizedClient); activeVersion is the version in use.
//   POST {site}/config/configreferences/appsettings/refresh: App Service's documented
//     "force resolution" action (Key Vault references article, "Understand rotation");
//     the cache otherwise refetches every 24 hours.
//   Microsoft.App/ContainerApps/stable/2025-01-01/examples: Revisions_List.json,
//     Revisions_Restart.json (POST → 200, no body), Replicas_Get.json (createdTime,
//     runningState, containers). A restart replaces the revision's replicas; a replica
//     reads its Key Vault secrets when it starts.
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { supportedVersions } from "./api-versions.js";
import { armError, armErrors } from "./errors.js";
import { sendEmpty, sendJson, type FaultsLike, type Headers } from "./http.js";
import { DEFAULT_LOCATION, DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID, type Placement } from "./resources.js";

/** What a Key Vault reference resolves to; `version` set only when status is Resolved. */
export interface ResolvedReference {
  readonly status: string;
  readonly vaultName: string;
  readonly version?: string;
}

/**
 * Resolves a reference against a vault, as the app's identity would: by vault name
 * (`VaultName=`) or by the secret's URI (`SecretUri=`, keyVaultUrl), latest version
 * unless one is named. Returns versions only.
 */
export type SecretResolver = (ref: { vaultName?: string; secretUri?: string; secretName: string; version?: string }) => Promise<ResolvedReference>;

export interface SiteHandle {
  readonly id: string;
  /** Settles once the app has started and resolved its references. */
  readonly ready: Promise<void>;
  /** Each reference's cached resolution, as GET shows it. */
  references(): Array<{ setting: string; status: string; activeVersion?: string }>;
  /** How many refresh actions the site received. */
  refreshes(): number;
  /**
   * While held, a refresh is accepted (200) but the cache keeps its versions: App
   * Service resolves asynchronously, and a test needs a site that has not caught up.
   */
  holdRefresh(held: boolean): void;
}

export interface ContainerAppHandle {
  readonly id: string;
  /** Settles once the replicas have started and read their secrets. */
  readonly ready: Promise<void>;
  /** The version each replica of the active revision read when it started. */
  replicaVersions(): Array<string | undefined>;
  restarts(): number;
}

export interface ConsumerDouble {
  /** Set by the test or host before adding consumers: without it every reference resolves to VaultNotFound. */
  resolveSecret: SecretResolver | undefined;
  /** A site (kind "app" or "functionapp") with app settings, started now: its references resolve at once. */
  addSite(o: Placement & { name: string; appSettings: Record<string, string>; kind?: string }): SiteHandle;
  /** A container app with Key Vault secrets, one active revision and `replicas` replicas (default 1), started now. */
  addContainerApp(o: Placement & { name: string; secrets: Array<{ name: string; keyVaultUrl: string }>; replicas?: number }): ContainerAppHandle;
}

interface SiteState {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  kind: string;
  settings: Map<string, string>;
  cache: Map<string, { status: string; vaultName?: string; secretName?: string; secretVersion?: string; activeVersion?: string; reference: string; details?: string }>;
  refreshes: number;
  held: boolean;
  /** The app's start (references resolved), begun when the site is added. */
  starting: Promise<void>;
}

interface ReplicaState {
  name: string;
  createdTime: string;
  version: string | undefined;
}

interface ContainerAppState {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  secrets: Array<{ name: string; keyVaultUrl: string }>;
  revision: { name: string; createdTime: string; replicas: ReplicaState[] };
  replicaCount: number;
  restarts: number;
  /** The replicas' first start, begun when the app is added. */
  starting: Promise<void>;
}

const REFERENCE = /^@Microsoft\.KeyVault\((.*)\)\s*$/i;

/** `SecretUri=…` or `VaultName=…;SecretName=…[;SecretVersion=…]`, as the Key Vault references article defines them. */
function parseReference(value: string): { vaultName?: string; secretUri?: string; secretName: string; version?: string } | "invalid" | undefined {
  const m = REFERENCE.exec(value.trim());
  if (!m) return undefined;
  const fields = new Map<string, string>();
  for (const part of m[1]!.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const uri = fields.get("secreturi");
  if (uri) {
    try {
      const parts = new URL(uri).pathname.split("/").filter(Boolean);
      if (parts[0]?.toLowerCase() !== "secrets" || !parts[1]) return "invalid";
      return { secretUri: uri, secretName: parts[1], ...(parts[2] ? { version: parts[2] } : {}) };
    } catch {
      return "invalid";
    }
  }
  const vaultName = fields.get("vaultname");
  const secretName = fields.get("secretname");
  if (!vaultName || !secretName) return "invalid";
  const version = fields.get("secretversion");
  return { vaultName, secretName, ...(version ? { version } : {}) };
}

const suffix = () => randomBytes(4).toString("hex").slice(0, 7);

export interface ConsumerRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly rawPath: string;
  readonly apiVersion: string;
  readonly headers: Headers;
  /** Answers 403 AuthorizationFailed when the scope is denied; true if it did. */
  denied(scope: string, action: string): boolean;
  setOperation(action: string): void;
}

export function createConsumers(faults: FaultsLike | undefined): { double: ConsumerDouble; handle(r: ConsumerRequest): Promise<boolean> } {
  const sites = new Map<string, SiteState>();
  const apps = new Map<string, ContainerAppState>();

  const double: ConsumerDouble = {
    resolveSecret: undefined,
    addSite(o) {
      const subscriptionId = o.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID;
      const resourceGroup = o.resourceGroup ?? DEFAULT_RESOURCE_GROUP;
      const site: SiteState = {
        id: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Web/sites/${o.name}`,
        name: o.name,
        resourceGroup,
        location: o.location ?? DEFAULT_LOCATION,
        kind: o.kind ?? "app",
        settings: new Map(Object.entries(o.appSettings)),
        cache: new Map(),
        refreshes: 0,
        held: false,
        starting: Promise.resolve(),
      };
      site.starting = resolveSite(site);
      sites.set(site.id.toLowerCase(), site);
      return {
        id: site.id,
        ready: site.starting,
        references: () =>
          [...site.cache].map(([setting, c]) => ({ setting, status: c.status, ...(c.activeVersion ? { activeVersion: c.activeVersion } : {}) })),
        refreshes: () => site.refreshes,
        holdRefresh: (held) => {
          site.held = held;
        },
      };
    },
    addContainerApp(o) {
      const subscriptionId = o.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID;
      const resourceGroup = o.resourceGroup ?? DEFAULT_RESOURCE_GROUP;
      const now = new Date().toISOString();
      const app: ContainerAppState = {
        id: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.App/containerApps/${o.name}`,
        name: o.name,
        resourceGroup,
        location: o.location ?? DEFAULT_LOCATION,
        secrets: o.secrets.map((s) => ({ ...s })),
        revision: { name: `${o.name}--${suffix()}`, createdTime: now, replicas: [] },
        replicaCount: o.replicas ?? 1,
        restarts: 0,
        starting: Promise.resolve(),
      };
      app.starting = startReplicas(app);
      apps.set(app.id.toLowerCase(), app);
      return { id: app.id, ready: app.starting, replicaVersions: () => app.revision.replicas.map((r) => r.version), restarts: () => app.restarts };
    },
  };

  const resolve = async (ref: Exclude<ReturnType<typeof parseReference>, undefined | "invalid">): Promise<ResolvedReference> =>
    double.resolveSecret ? double.resolveSecret(ref) : { status: "VaultNotFound", vaultName: ref.vaultName ?? "" };

  /** Resolve every reference of a site, as the platform does at start and on refresh. */
  async function resolveSite(site: SiteState): Promise<void> {
    site.cache.clear();
    for (const [setting, value] of site.settings) {
      const ref = parseReference(value);
      if (ref === undefined) continue;
      if (ref === "invalid") {
        site.cache.set(setting, { status: "InvalidSyntax", reference: value, details: "The reference syntax is invalid." });
        continue;
      }
      const r = await resolve(ref);
      site.cache.set(setting, {
        status: r.status,
        reference: value,
        vaultName: r.vaultName,
        secretName: ref.secretName,
        ...(ref.version ? { secretVersion: ref.version } : {}),
        ...(r.version ? { activeVersion: r.version } : {}),
        ...(r.status !== "Resolved" ? { details: `Key Vault reference was not able to be resolved: ${r.status}.` } : {}),
      });
    }
  }

  /** Start (or restart) the revision's replicas: each reads the app's Key Vault secrets as it starts. */
  async function startReplicas(app: ContainerAppState): Promise<void> {
    // ARM reports whole seconds (Replicas_Get.json: "2022-01-25T19:42:45Z").
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    const versions: Array<string | undefined> = [];
    for (const s of app.secrets) {
      const parts = new URL(s.keyVaultUrl).pathname.split("/").filter(Boolean);
      const r = await resolve({ secretUri: s.keyVaultUrl, secretName: parts[1] ?? "", ...(parts[2] ? { version: parts[2] } : {}) });
      versions.push(r.version);
    }
    app.revision.replicas = Array.from({ length: app.replicaCount }, () => ({
      name: `${app.revision.name}-${suffix()}-${suffix().slice(0, 5)}`,
      createdTime: now,
      version: versions[0],
    }));
  }

  function siteReferencesBody(site: SiteState): unknown {
    return {
      value: [...site.cache].map(([setting, c]) => ({
        id: `${site.id}/config/configreferences/appsettings/${setting}`,
        name: setting,
        type: "Microsoft.Web/sites/config/configreferences",
        properties: {
          reference: c.reference,
          status: c.status,
          ...(c.vaultName !== undefined ? { vaultName: c.vaultName } : {}),
          ...(c.secretName !== undefined ? { secretName: c.secretName } : {}),
          ...(c.secretVersion !== undefined ? { secretVersion: c.secretVersion } : {}),
          ...(c.activeVersion !== undefined ? { activeVersion: c.activeVersion } : {}),
          identityType: { type: "SystemAssigned" },
          source: "KeyVault",
          ...(c.details !== undefined ? { details: c.details } : {}),
        },
      })),
    };
  }

  function containerAppBody(app: ContainerAppState): unknown {
    return {
      id: app.id,
      name: app.name,
      type: "Microsoft.App/containerApps",
      location: app.location,
      identity: { type: "SystemAssigned" },
      properties: {
        provisioningState: "Succeeded",
        runningStatus: "Running",
        latestRevisionName: app.revision.name,
        latestReadyRevisionName: app.revision.name,
        configuration: {
          activeRevisionsMode: "Single",
          // GET never returns secret values; Key Vault secrets show their URL and identity.
          secrets: app.secrets.map((s) => ({ name: s.name, keyVaultUrl: s.keyVaultUrl, identity: "system" })),
        },
      },
    };
  }

  function revisionBody(app: ContainerAppState): unknown {
    return {
      id: `${app.id}/revisions/${app.revision.name}`,
      name: app.revision.name,
      type: "Microsoft.App/containerApps/revisions",
      properties: {
        createdTime: app.revision.createdTime,
        lastActiveTime: app.revision.createdTime,
        trafficWeight: 100,
        active: true,
        replicas: app.revision.replicas.length,
        healthState: "Healthy",
        provisioningState: "Provisioned",
        runningState: "Running",
      },
    };
  }

  function replicaBody(app: ContainerAppState, r: ReplicaState): unknown {
    return {
      id: `${app.id}/revisions/${app.revision.name}/replicas/${r.name}`,
      name: r.name,
      type: "Microsoft.App/containerApps/revisions/replicas",
      properties: {
        createdTime: r.createdTime,
        runningState: "Running",
        containers: [{ name: app.name, ready: true, started: true, restartCount: 0, runningState: "Running" }],
        initContainers: [],
      },
    };
  }

  async function handle(r: ConsumerRequest): Promise<boolean> {
    const segments = r.rawPath.split("/").filter(Boolean).map((s) => decodeURIComponent(s));
    const lower = segments.map((s) => s.toLowerCase());
    if (lower[0] !== "subscriptions" || lower[2] !== "resourcegroups" || lower[4] !== "providers") return false;
    const type = `${lower[5]}/${lower[6]}`;
    if (type !== "microsoft.web/sites" && type !== "microsoft.app/containerapps") return false;
    const namespace = segments[5]!;
    const versions = supportedVersions(namespace);
    if (!versions?.includes(r.apiVersion)) {
      if (!versions) armErrors.invalidNamespace(r.res, r.headers, namespace);
      else armErrors.invalidApiVersion(r.res, r.headers, r.apiVersion, versions);
      return true;
    }
    const scope = `/${segments.slice(0, 8).join("/")}`;
    const rest = lower.slice(8).join("/");
    const key = `${r.method} ${rest}`;

    let action: string | undefined;
    if (type === "microsoft.web/sites") {
      action = {
        "GET config/configreferences/appsettings": "Microsoft.Web/sites/config/Read",
        "POST config/configreferences/appsettings/refresh": "Microsoft.Web/sites/config/Write",
      }[key];
    } else {
      if (key === "GET ") action = "Microsoft.App/containerApps/read";
      else if (key === "GET revisions") action = "Microsoft.App/containerApps/revisions/read";
      else if (/^POST revisions\/[^/]+\/restart$/.test(key)) action = "Microsoft.App/containerApps/revisions/restart/action";
      else if (/^GET revisions\/[^/]+\/replicas$/.test(key)) action = "Microsoft.App/containerApps/revisions/replicas/read";
    }
    if (!action) {
      armError(r.res, 501, "NotImplemented", `The ARM double does not implement ${r.method} ${type}${rest ? `/${rest}` : ""}.`, r.headers);
      return true;
    }
    r.setOperation(action);
    if (faults && (await faults.apply(r.req, r.res, { service: "arm", method: r.method, path: r.rawPath, operation: action }, { headers: r.headers }))) return true;
    if (r.denied(scope, action)) return true;

    if (type === "microsoft.web/sites") {
      const site = sites.get(scope.toLowerCase());
      if (!site) {
        armErrors.resourceNotFound(r.res, r.headers, "Microsoft.Web", "sites", segments[7]!, segments[3]!);
        return true;
      }
      await site.starting;
      if (r.method === "POST") {
        site.refreshes++;
        if (!site.held) await resolveSite(site);
        sendEmpty(r.res, 200, r.headers);
        return true;
      }
      sendJson(r.res, 200, siteReferencesBody(site), r.headers);
      return true;
    }

    const app = apps.get(scope.toLowerCase());
    if (!app) {
      armErrors.resourceNotFound(r.res, r.headers, "Microsoft.App", "containerApps", segments[7]!, segments[3]!);
      return true;
    }
    await app.starting;
    if (key === "GET ") {
      sendJson(r.res, 200, containerAppBody(app), r.headers);
      return true;
    }
    if (key === "GET revisions") {
      sendJson(r.res, 200, { value: [revisionBody(app)], nextLink: null }, r.headers);
      return true;
    }
    const revision = segments[9]!;
    if (revision.toLowerCase() !== app.revision.name.toLowerCase()) {
      armErrors.resourceNotFound(r.res, r.headers, "Microsoft.App", "containerApps/revisions", `${app.name}/${revision}`, segments[3]!);
      return true;
    }
    if (r.method === "POST") {
      app.restarts++;
      await startReplicas(app);
      sendEmpty(r.res, 200, r.headers);
      return true;
    }
    sendJson(r.res, 200, { value: app.revision.replicas.map((rep) => replicaBody(app, rep)) }, r.headers);
    return true;
  }

  return { double, handle };
}

/**
 * A resolver that reads the Key Vault double with the real SecretClient, as an app's
 * managed identity would, keeping only the version it found.
 */
export function keyVaultResolver(vaults: ReadonlyArray<{ name: string; url: string }>, caPem: string): SecretResolver {
  const clients = new Map<string, Promise<import("@azure/keyvault-secrets").SecretClient>>();
  const clientFor = (url: string) => {
    let c = clients.get(url);
    if (!c) {
      c = import("@azure/keyvault-secrets").then(
        ({ SecretClient }) =>
          new SecretClient(url, { getToken: async () => ({ token: "consumer-app-identity", expiresOnTimestamp: Date.now() + 3_600_000 }) }, {
            disableChallengeResourceVerification: true,
            tlsOptions: { ca: caPem },
            retryOptions: { maxRetries: 1, retryDelayInMs: 20 },
          }),
      );
      clients.set(url, c);
    }
    return c;
  };
  return async (ref) => {
    const origin = (u: string) => new URL(u).origin.toLowerCase();
    const vault = ref.secretUri
      ? vaults.find((v) => origin(v.url) === origin(ref.secretUri!))
      : vaults.find((v) => v.name.toLowerCase() === ref.vaultName?.toLowerCase());
    if (!vault) return { status: "VaultNotFound", vaultName: ref.vaultName ?? "" };
    try {
      const secret = await (await clientFor(vault.url)).getSecret(ref.secretName, ref.version ? { version: ref.version } : {});
      return { status: "Resolved", vaultName: vault.name, ...(secret.properties.version ? { version: secret.properties.version } : {}) };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return { status: ref.version ? "SecretVersionNotFound" : "SecretNotFound", vaultName: vault.name };
      return { status: "OtherReasons", vaultName: vault.name };
    }
  };
}
