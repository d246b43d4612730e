// In-memory state of the ARM double: subscriptions, resource groups and the resources
// keyturn rotates, plus the JSON bodies ARM answers for them.
//
// Bodies follow Microsoft's published examples (StorageAccountListKeys, ServerUpdate,
// ServersUpdate, ...) in shape; values are our own. Secrets (SQL/PostgreSQL admin
// passwords) are never part of any body: the real services never return them.
import { randomBytes } from "node:crypto";

export const DEFAULT_SUBSCRIPTION_ID = "7e57c0de-0000-4000-8000-000000000001";
export const DEFAULT_RESOURCE_GROUP = "keyturn-test";
export const DEFAULT_LOCATION = "westeurope";
export const DEFAULT_TENANT_ID = "7e57c0de-0000-4000-8000-0000000000aa";

/** A new account key as Storage and Cosmos DB make them: 64 random bytes, base64. */
export function newAccountKey(): string {
  return randomBytes(64).toString("base64");
}

export interface Placement {
  subscriptionId?: string;
  resourceGroup?: string;
  location?: string;
}

interface Base {
  /** Canonical resource id, in the case the test created it. */
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  readonly location: string;
  tags: Record<string, string>;
}

export interface StoredKey {
  value: string;
  creationTime: string;
}

/** Storage encryption at rest: platform-managed (`Microsoft.Storage`) or a customer-managed key in Key Vault. */
export type StorageEncryption =
  | { keySource: "Microsoft.Storage" }
  | { keySource: "Microsoft.Keyvault"; keyVaultUri: string; keyName: string; keyVersion?: string };

export interface StorageAccountState extends Base {
  readonly type: "storage";
  keys: { key1: StoredKey; key2: StoredKey };
  allowSharedKeyAccess: boolean;
  readonly creationTime: string;
  encryption: StorageEncryption;
}

/** The TDE protector of a SQL server: service-managed, or a customer-managed key in Key Vault (`uri` = the key id). */
export type SqlEncryptionProtector = { serverKeyType: "ServiceManaged" } | { serverKeyType: "AzureKeyVault"; uri: string; autoRotationEnabled?: boolean };

export interface SqlServerState extends Base {
  readonly type: "sql";
  readonly administratorLogin: string;
  password: string;
  readonly passwordHistory: string[];
  readonly fullyQualifiedDomainName: string;
  encryptionProtector: SqlEncryptionProtector;
  /** properties.state as ARM reports it; tests set e.g. "Disabled" to make verification fail. */
  state?: string;
}

export const COSMOS_KEY_KINDS = ["primary", "secondary", "primaryReadonly", "secondaryReadonly"] as const;
export type CosmosKeyKind = (typeof COSMOS_KEY_KINDS)[number];

export interface CosmosAccountState extends Base {
  readonly type: "cosmos";
  keys: Record<CosmosKeyKind, StoredKey>;
  readonly documentEndpoint: string;
  disableLocalAuth: boolean;
}

export interface PostgresServerState extends Base {
  readonly type: "postgres";
  readonly administratorLogin: string;
  password: string;
  readonly passwordHistory: string[];
  readonly fullyQualifiedDomainName: string;
}

export interface VaultState extends Base {
  readonly type: "vault";
  softDelete: boolean;
  purgeProtection: boolean;
  rbac: boolean;
  vaultUri: string;
  tenantId: string;
}

export type ResourceState = StorageAccountState | SqlServerState | CosmosAccountState | PostgresServerState | VaultState;

/** Provider namespace and type of each kind, as they appear in resource ids. */
export const RESOURCE_TYPES = {
  storage: { namespace: "Microsoft.Storage", type: "storageAccounts" },
  sql: { namespace: "Microsoft.Sql", type: "servers" },
  cosmos: { namespace: "Microsoft.DocumentDB", type: "databaseAccounts" },
  postgres: { namespace: "Microsoft.DBforPostgreSQL", type: "flexibleServers" },
  vault: { namespace: "Microsoft.KeyVault", type: "vaults" },
} as const satisfies Record<ResourceState["type"], { namespace: string; type: string }>;

export function resourceId(subscriptionId: string, resourceGroup: string, kind: ResourceState["type"], name: string): string {
  const { namespace, type } = RESOURCE_TYPES[kind];
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/${namespace}/${type}/${name}`;
}

/** The fields a seeded resource starts with: its id and place (defaults filled in), no tags. */
export function placed<K extends ResourceState["type"]>(type: K, o: Placement & { name: string }): Base & { type: K } {
  const subscriptionId = o.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID;
  const resourceGroup = o.resourceGroup ?? DEFAULT_RESOURCE_GROUP;
  return {
    type,
    id: resourceId(subscriptionId, resourceGroup, type, o.name),
    subscriptionId,
    resourceGroup,
    name: o.name,
    location: o.location ?? DEFAULT_LOCATION,
    tags: {},
  };
}

export class ResourceStore {
  private readonly subscriptions = new Set<string>();
  private readonly resourceGroups = new Set<string>();
  private readonly resources = new Map<string, ResourceState>();

  hasSubscription(subscriptionId: string): boolean {
    return this.subscriptions.has(subscriptionId.toLowerCase());
  }

  hasResourceGroup(subscriptionId: string, resourceGroup: string): boolean {
    return this.resourceGroups.has(`${subscriptionId}/${resourceGroup}`.toLowerCase());
  }

  get(id: string): ResourceState | undefined {
    return this.resources.get(id.toLowerCase());
  }

  /** Storage accounts, SQL servers and Cosmos accounts have globally unique names (they are DNS names). */
  findByName<K extends ResourceState["type"]>(kind: K, name: string): Extract<ResourceState, { type: K }> | undefined {
    for (const resource of this.resources.values()) {
      if (resource.type === kind && resource.name.toLowerCase() === name.toLowerCase()) {
        return resource as Extract<ResourceState, { type: K }>;
      }
    }
    return undefined;
  }

  add<R extends ResourceState>(resource: R): R {
    if (this.resources.has(resource.id.toLowerCase())) throw new Error(`ARM double: ${resource.id} already exists`);
    if (resource.type !== "vault" && this.findByName(resource.type, resource.name)) {
      throw new Error(`ARM double: a ${RESOURCE_TYPES[resource.type].type} named '${resource.name}' already exists (names are global)`);
    }
    this.subscriptions.add(resource.subscriptionId.toLowerCase());
    this.resourceGroups.add(`${resource.subscriptionId}/${resource.resourceGroup}`.toLowerCase());
    this.resources.set(resource.id.toLowerCase(), resource);
    return resource;
  }
}

function armResource(r: Base, kind: ResourceState["type"]): { id: string; name: string; type: string; location: string; tags: Record<string, string> } {
  const { namespace, type } = RESOURCE_TYPES[kind];
  return { id: r.id, name: r.name, type: `${namespace}/${type}`, location: r.location, tags: { ...r.tags } };
}

// ---- Microsoft.Storage ----------------------------------------------------------

export function storageAccountBody(a: StorageAccountState, blobEndpoint: string): unknown {
  return {
    ...armResource(a, "storage"),
    sku: { name: "Standard_LRS", tier: "Standard" },
    kind: "StorageV2",
    properties: {
      provisioningState: "Succeeded",
      creationTime: a.creationTime,
      primaryLocation: a.location,
      statusOfPrimary: "available",
      // Only the blob endpoint is served by the double, so only it is advertised.
      primaryEndpoints: { blob: blobEndpoint },
      keyCreationTime: { key1: a.keys.key1.creationTime, key2: a.keys.key2.creationTime },
      allowSharedKeyAccess: a.allowSharedKeyAccess,
      supportsHttpsTrafficOnly: true,
      minimumTlsVersion: "TLS1_2",
      accessTier: "Hot",
      encryption: {
        keySource: a.encryption.keySource,
        ...(a.encryption.keySource === "Microsoft.Keyvault"
          ? {
              keyvaultproperties: {
                keyname: a.encryption.keyName,
                keyvaulturi: a.encryption.keyVaultUri,
                ...(a.encryption.keyVersion ? { keyversion: a.encryption.keyVersion } : {}),
              },
              identity: { userAssignedIdentity: null },
            }
          : {}),
        services: {
          blob: { enabled: true, keyType: "Account", lastEnabledTime: a.creationTime },
          file: { enabled: true, keyType: "Account", lastEnabledTime: a.creationTime },
        },
      },
    },
  };
}

export function storageKeysBody(a: StorageAccountState): unknown {
  return {
    keys: (["key1", "key2"] as const).map((keyName) => ({
      keyName,
      value: a.keys[keyName].value,
      permissions: "FULL",
      creationTime: a.keys[keyName].creationTime,
    })),
  };
}

// ---- Microsoft.Sql --------------------------------------------------------------

export function sqlServerBody(s: SqlServerState): unknown {
  return {
    ...armResource(s, "sql"),
    kind: "v12.0",
    properties: {
      administratorLogin: s.administratorLogin,
      version: "12.0",
      state: s.state ?? "Ready",
      fullyQualifiedDomainName: s.fullyQualifiedDomainName,
      privateEndpointConnections: [],
      minimalTlsVersion: "1.2",
      publicNetworkAccess: "Enabled",
      restrictOutboundNetworkAccess: "Disabled",
    },
  };
}

/** GET …/servers/{name}/encryptionProtector/current, in the shape of Microsoft's EncryptionProtectorGet example. */
export function sqlEncryptionProtectorBody(s: SqlServerState): unknown {
  const p = s.encryptionProtector;
  const cmk = p.serverKeyType === "AzureKeyVault";
  // The server key name of a Key Vault key: <vault>_<key>_<version>, as the service makes it.
  const keyName = cmk ? (/^https:\/\/([^./]+)[^/]*\/keys\/([^/]+)\/([^/]+)/.exec(p.uri)?.slice(1).join("_") ?? p.uri) : "ServiceManaged";
  return {
    id: `${s.id}/encryptionProtector/current`,
    name: "current",
    type: "Microsoft.Sql/servers/encryptionProtector",
    kind: cmk ? "azurekeyvault" : "servicemanaged",
    location: s.location,
    properties: {
      serverKeyName: keyName,
      serverKeyType: p.serverKeyType,
      ...(cmk ? { uri: p.uri, autoRotationEnabled: p.autoRotationEnabled ?? false } : {}),
    },
  };
}

// ---- Microsoft.DocumentDB -------------------------------------------------------

export function cosmosAccountBody(c: CosmosAccountState): unknown {
  const region = { id: `${c.name}-${c.location}`, locationName: c.location, documentEndpoint: c.documentEndpoint, provisioningState: "Succeeded", failoverPriority: 0, isZoneRedundant: false };
  return {
    ...armResource(c, "cosmos"),
    kind: "GlobalDocumentDB",
    properties: {
      provisioningState: "Succeeded",
      documentEndpoint: c.documentEndpoint,
      databaseAccountOfferType: "Standard",
      disableLocalAuth: c.disableLocalAuth,
      consistencyPolicy: { defaultConsistencyLevel: "Session", maxIntervalInSeconds: 5, maxStalenessPrefix: 100 },
      writeLocations: [region],
      readLocations: [region],
      locations: [region],
      failoverPolicies: [{ id: region.id, locationName: c.location, failoverPriority: 0 }],
      // When each key was last generated: a rotator can tell which key is older.
      keysMetadata: {
        primaryMasterKey: { generationTime: c.keys.primary.creationTime },
        secondaryMasterKey: { generationTime: c.keys.secondary.creationTime },
        primaryReadonlyMasterKey: { generationTime: c.keys.primaryReadonly.creationTime },
        secondaryReadonlyMasterKey: { generationTime: c.keys.secondaryReadonly.creationTime },
      },
    },
  };
}

export function cosmosKeysBody(c: CosmosAccountState): unknown {
  return {
    primaryMasterKey: c.keys.primary.value,
    secondaryMasterKey: c.keys.secondary.value,
    primaryReadonlyMasterKey: c.keys.primaryReadonly.value,
    secondaryReadonlyMasterKey: c.keys.secondaryReadonly.value,
  };
}

export function cosmosReadOnlyKeysBody(c: CosmosAccountState): unknown {
  return {
    primaryReadonlyMasterKey: c.keys.primaryReadonly.value,
    secondaryReadonlyMasterKey: c.keys.secondaryReadonly.value,
  };
}

// ---- Microsoft.DBforPostgreSQL --------------------------------------------------

export function postgresServerBody(p: PostgresServerState): unknown {
  return {
    ...armResource(p, "postgres"),
    sku: { name: "Standard_B1ms", tier: "Burstable" },
    properties: {
      fullyQualifiedDomainName: p.fullyQualifiedDomainName,
      version: "16",
      minorVersion: "8",
      administratorLogin: p.administratorLogin,
      state: "Ready",
      availabilityZone: "1",
      authConfig: { activeDirectoryAuth: "Disabled", passwordAuth: "Enabled" },
      dataEncryption: { type: "SystemManaged" },
      storage: { storageSizeGB: 32, autoGrow: "Disabled", tier: "P4", iops: 120 },
      backup: { backupRetentionDays: 7, geoRedundantBackup: "Disabled" },
      network: { publicNetworkAccess: "Enabled" },
      highAvailability: { mode: "Disabled" },
    },
  };
}

// ---- Microsoft.KeyVault ---------------------------------------------------------

export function vaultBody(v: VaultState): unknown {
  return {
    ...armResource(v, "vault"),
    properties: {
      tenantId: v.tenantId,
      sku: { family: "A", name: "standard" },
      accessPolicies: [],
      vaultUri: v.vaultUri,
      enabledForDeployment: false,
      enabledForDiskEncryption: false,
      enabledForTemplateDeployment: false,
      enableSoftDelete: v.softDelete,
      softDeleteRetentionInDays: 90,
      enableRbacAuthorization: v.rbac,
      // ARM omits enablePurgeProtection until it has been turned on (it can never be turned off).
      ...(v.purgeProtection ? { enablePurgeProtection: true } : {}),
      provisioningState: "Succeeded",
      publicNetworkAccess: "Enabled",
    },
  };
}
