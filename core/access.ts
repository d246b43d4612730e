// What keyturn is allowed to do in Azure, declared where the calls are made: the engine's
// Key Vault operations and its calls on consumers (the apps Consumers tags name) here,
// each rotator's provider operations in its own folder
// (rotators/<kind>/access.ts, referenced by the rotator as `access`). scripts/roles.ts
// joins them into the custom role definitions infra/ deploys (infra/roles.json) and the
// role table of docs/access-model.md; test/integration/access.test.ts checks that every
// call the doubles see is declared, and test/infra/roles.test.ts that the roles grant
// exactly the declarations and nothing keyturn never does.

/** A rotator kind's needs at its provider, in Azure RBAC terms. */
export interface RotatorAccess {
  /** Name of the custom role that grants exactly this (one per kind, assigned on each target). */
  readonly roleName: string;
  /** ARM resource types the role is assigned on, e.g. `Microsoft.Storage/storageAccounts`. */
  readonly resourceTypes: readonly string[];
  /** Management-plane operations the rotator calls, including reading long-running operation results. */
  readonly actions: readonly string[];
  /** Data-plane operations under Azure RBAC (none when the data plane is reached with the rotated key itself). */
  readonly dataActions: readonly string[];
  /** Why, one line (the role's description). */
  readonly why: string;
}

/** A kind that needs no Azure role of its own (the engine's Key Vault access covers it), and why. */
export interface NoAzureRole {
  readonly none: string;
  /** Permissions outside Azure RBAC, e.g. Microsoft Graph application permissions, for the docs. */
  readonly elsewhere?: string;
}

export type KindAccess = RotatorAccess | NoAzureRole;

export function grantsRole(access: KindAccess): access is RotatorAccess {
  return "roleName" in access;
}

/**
 * Key Vault REST operations (the operation ids of the data-plane API, as the Key Vault
 * double counts them) to the Azure RBAC data action each needs. Source: Microsoft's
 * access-policy-to-RBAC mapping (Key Vault "accessPolicyRbacMapping": e.g. Secret Get ->
 * secrets/getSecret/action, Secret List -> secrets/readMetadata/action, Secret Set ->
 * secrets/setSecret/action, Key Rotate -> keys/rotate/action, Key SetRotationPolicy ->
 * keyrotationpolicies/write) and each REST operation's "requires the x/y permission" note.
 */
export const KeyVaultDataActions = {
  GetSecret: "Microsoft.KeyVault/vaults/secrets/getSecret/action",
  GetSecrets: "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
  GetSecretVersions: "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
  SetSecret: "Microsoft.KeyVault/vaults/secrets/setSecret/action",
  UpdateSecret: "Microsoft.KeyVault/vaults/secrets/update/action",
  GetCertificate: "Microsoft.KeyVault/vaults/certificates/read",
  GetCertificates: "Microsoft.KeyVault/vaults/certificates/read",
  GetCertificateVersions: "Microsoft.KeyVault/vaults/certificates/read",
  GetCertificatePolicy: "Microsoft.KeyVault/vaults/certificates/read",
  GetCertificateOperation: "Microsoft.KeyVault/vaults/certificates/read",
  GetCertificateIssuer: "Microsoft.KeyVault/vaults/certificatecas/read",
  CreateCertificate: "Microsoft.KeyVault/vaults/certificates/create/action",
  UpdateCertificate: "Microsoft.KeyVault/vaults/certificates/update/action",
  GetKey: "Microsoft.KeyVault/vaults/keys/read",
  GetKeys: "Microsoft.KeyVault/vaults/keys/read",
  GetKeyVersions: "Microsoft.KeyVault/vaults/keys/read",
  UpdateKey: "Microsoft.KeyVault/vaults/keys/update/action",
  RotateKey: "Microsoft.KeyVault/vaults/keys/rotate/action",
  GetKeyRotationPolicy: "Microsoft.KeyVault/vaults/keyrotationpolicies/read",
  UpdateKeyRotationPolicy: "Microsoft.KeyVault/vaults/keyrotationpolicies/write",
} as const;
export type KeyVaultOperation = keyof typeof KeyVaultDataActions;

/** One of the engine's own roles on a vault. */
export interface VaultAccess {
  readonly roleName: string;
  /** Key Vault REST operations the engine calls (their data actions are derived). */
  readonly operations: readonly KeyVaultOperation[];
  /** Management-plane operations on the vault. */
  readonly actions: readonly string[];
  readonly why: string;
}

/**
 * The engine's Key Vault access, by what the vault opts into. Secrets: read each secret
 * and its tags (GetSecret, lists), write the new version and the journal (SetSecret), tag
 * changes (journal state, `keyturn pause`: UpdateSecret). The posture audit, which runs
 * on every allow-listed vault, reads the vault's own properties (soft delete, purge
 * protection, RBAC mode) and the metadata of its certificates and keys (expiry, policy,
 * issuer, rotation policy: no private material, no crypto), so those reads are on this
 * role too. Never delete, purge, backup or restore. Certificates and keys: only renewal and rotation, never the crypto
 * operations (decrypt, unwrap, sign) a Crypto Officer holds.
 */
export const VaultAccessByScope = {
  secrets: {
    roleName: "keyturn Secret Rotator",
    operations: [
      "GetSecret",
      "GetSecrets",
      "GetSecretVersions",
      "SetSecret",
      "UpdateSecret",
      // The posture audit's reads (core/audit.ts).
      "GetCertificates",
      "GetCertificatePolicy",
      "GetCertificateIssuer",
      "GetKeys",
      "GetKeyRotationPolicy",
    ],
    actions: ["Microsoft.KeyVault/vaults/read"],
    why: "keyturn: read secrets and tags, write new secret versions and rotation journals; the posture audit's reads of the vault, certificate and key metadata",
  },
  certificates: {
    roleName: "keyturn Certificate Renewer",
    operations: ["GetCertificate", "GetCertificates", "GetCertificateVersions", "GetCertificatePolicy", "GetCertificateOperation", "GetCertificateIssuer", "CreateCertificate", "UpdateCertificate"],
    actions: [],
    why: "keyturn: renew certificates near expiry from their own policy, and tag them",
  },
  keys: {
    roleName: "keyturn Key Rotator",
    operations: ["GetKey", "GetKeys", "GetKeyVersions", "UpdateKey", "RotateKey", "GetKeyRotationPolicy", "UpdateKeyRotationPolicy"],
    actions: [],
    why: "keyturn: rotate keys near expiry and set a default rotation policy where asked; no cryptographic operation",
  },
} as const satisfies Record<string, VaultAccess>;
export type VaultScope = keyof typeof VaultAccessByScope;

/**
 * Management-plane reads of the posture audit on the resources rotation tags name
 * (core/audit.ts: platform- or customer-managed keys), by resource type. Granted through
 * the role of the kind that rotates that type.
 */
export const AuditReads: Readonly<Record<string, readonly string[]>> = {
  "Microsoft.Storage/storageAccounts": ["Microsoft.Storage/storageAccounts/read"],
  "Microsoft.Sql/servers": ["Microsoft.Sql/servers/encryptionProtector/read"],
};

/**
 * keyturn's access on the apps that read a rotated secret (the `Consumers` tag;
 * core/consumers.ts makes the calls): one custom role, assigned on each consumer the
 * deployment names. Actions, each from Microsoft's published operations
 * (docs/access-model.md, "Consumers", has the sources and what they leave open):
 *   App Service  GET config/configreferences/appsettings -> sites/config/Read;
 *                POST config/configreferences/appsettings/refresh -> sites/config/Write
 *                (no narrower action is published for it);
 *   Container Apps  GET the app, its revisions and their replicas -> read actions;
 *                   POST revisions/{r}/restart -> revisions/restart/action.
 */
export const ConsumerAccess = {
  roleName: "keyturn Consumer Refresh",
  resourceTypes: ["Microsoft.Web/sites", "Microsoft.App/containerApps"],
  actions: [
    "Microsoft.Web/sites/config/Read",
    "Microsoft.Web/sites/config/Write",
    "Microsoft.App/containerApps/read",
    "Microsoft.App/containerApps/revisions/read",
    "Microsoft.App/containerApps/revisions/restart/action",
    "Microsoft.App/containerApps/revisions/replicas/read",
  ],
  dataActions: [],
  why: "keyturn: make the apps that read a rotated secret pick up its new version (App Service Key Vault reference refresh, Container Apps revision restart) and read whether they did",
} as const satisfies RotatorAccess;

export function dataActionsOf(operations: readonly KeyVaultOperation[]): string[] {
  return [...new Set(operations.map((op) => KeyVaultDataActions[op]))];
}
