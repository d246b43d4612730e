// Key Vault's error answers: status, `{"error":{"code","message","innererror"?}}` body.
//
// The codes and messages are the ones the real service sends (as seen in SDK recordings
// and bug reports), because callers branch on them: keyturn on `RestError.code`, the
// SDK's pollers on the status. Shared by secrets, certificates and keys.

export interface KeyVaultErrorBody {
  error: { code: string; message: string; innererror?: { code: string } };
}

export class KeyVaultHttpError extends Error {
  override readonly name = "KeyVaultHttpError";

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): KeyVaultErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.innerCode ? { innererror: { code: this.innerCode } } : {}),
      },
    };
  }
}

/** The newest api-version; Key Vault names it in its "version not recognized" message. */
export const LATEST_API_VERSION = "2025-07-01";

/** The tenant named in the challenge; any token is accepted, so it is a placeholder. */
export const CHALLENGE_TENANT = "00000000-0000-0000-0000-000000000000";

export const WWW_AUTHENTICATE = `Bearer authorization="https://login.microsoftonline.com/${CHALLENGE_TENANT}", resource="https://vault.azure.net"`;

export const kvErrors = {
  unauthorized: () =>
    new KeyVaultHttpError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", undefined, {
      "www-authenticate": WWW_AUTHENTICATE,
    }),
  badApiVersion: (version: string | null) =>
    version === null || version === ""
      ? new KeyVaultHttpError(
          400,
          "BadParameter",
          `The api-version query parameter is missing. Consider using the latest supported version (${LATEST_API_VERSION}).`,
        )
      : new KeyVaultHttpError(
          400,
          "BadParameter",
          `The specified version (${version}) is not recognized. Consider using the latest supported version (${LATEST_API_VERSION}).`,
        ),
  invalidName: (name: string) => new KeyVaultHttpError(400, "BadParameter", `The request URI contains an invalid name: ${name}`),
  badParameter: (message: string) => new KeyVaultHttpError(400, "BadParameter", message),
  secretNotFound: (nameOrId: string) => objectNotFound("SecretNotFound", "secret", nameOrId),
  deletedSecretNotFound: (name: string) => new KeyVaultHttpError(404, "SecretNotFound", `Deleted Secret not found: ${name}`),
  secretDisabled: () =>
    new KeyVaultHttpError(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled"),
  secretDeletedButRecoverable: (name: string) =>
    new KeyVaultHttpError(
      409,
      "Conflict",
      `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
      "ObjectIsDeletedButRecoverable",
    ),
  // Recorded for keys ("Key is currently being deleted.", innererror ObjectIsBeingDeleted);
  // secrets answer the same way with their own noun.
  secretBeingDeleted: (name: string) =>
    new KeyVaultHttpError(409, "Conflict", `Secret ${name} is currently being deleted.`, "ObjectIsBeingDeleted"),
  secretBeingRecovered: (name: string) =>
    new KeyVaultHttpError(409, "Conflict", `Secret ${name} is currently being recovered.`, "ObjectIsBeingRecovered"),
  secretBeingPurged: (name: string) =>
    new KeyVaultHttpError(
      409,
      "Conflict",
      `Secret ${name} is currently being purged; perform operations against a secret in a sequential manner.`,
    ),
  // The messages of the recorded restore answers.
  restoreConflict: (name: string, version: string) =>
    new KeyVaultHttpError(
      409,
      "Conflict",
      `There was a conflict restoring the secret '${name}/${version}'. This can happen if either: a second secret with the same name was created after the first secret was deleted; thus trying to restore a secret whose name is already in use. To fix this, rename the second secret to something else so that the restore works. The second probable cause of this exception is when multiple operations are performed in parallel against the secret. To avoid this error, perform operations against a secret in a sequential manner.`,
    ),
  malformedBackup: () => new KeyVaultHttpError(400, "Malformed backup blob", "Backup blob contains invalid or corrupt version."),
  // Recorded for a certificate's key (innererror KeyManagedByKeyVault); the secret's twin.
  // As the service words it (quoted in published bug reports of purge under protection).
  purgeProtected: () =>
    new KeyVaultHttpError(
      403,
      "Forbidden",
      `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.`,
    ),
  managedSecretDelete: () =>
    new KeyVaultHttpError(403, "Forbidden", `Operation "delete" is not allowed as this object's lifetime is managed by Key Vault.`, "SecretManagedByKeyVault"),
  keyNotFound: (nameOrId: string) => objectNotFound("KeyNotFound", "key", nameOrId),
  certificateNotFound: (nameOrId: string) => objectNotFound("CertificateNotFound", "certificate", nameOrId),
  pendingCertificateNotFound: (name: string) => new KeyVaultHttpError(404, "PendingCertificateNotFound", `Pending certificate not found: ${name}`),
  issuerNotFound: (name: string) => new KeyVaultHttpError(404, "CertificateIssuerNotFound", `Issuer not found: ${name}`),
  operationInProgress: (name: string) =>
    new KeyVaultHttpError(409, "Conflict", `Certificate ${name} has a pending operation in progress; wait for it to finish or delete it before creating another version.`),
  noPendingOperation: (name: string, status: string) =>
    new KeyVaultHttpError(403, "Forbidden", `The certificate operation of ${name} is ${status}; only an in-progress operation of issuer 'Unknown' can be merged.`),
  objectIsManaged: (kind: "secret" | "key", name: string) =>
    new KeyVaultHttpError(403, "Forbidden", `The ${kind} ${name} is managed by a certificate; change it through the certificate.`),
  notFound: (path: string) => new KeyVaultHttpError(404, "NotFound", `The requested resource ${path} was not found.`),
  methodNotAllowed: (method: string, path: string) =>
    new KeyVaultHttpError(405, "MethodNotAllowed", `The requested method ${method} is not allowed on ${path}.`),
} as const;

/** The service's 404 for a secret, key or certificate (same words, its own noun and code). */
function objectNotFound(code: string, noun: string, nameOrId: string): KeyVaultHttpError {
  return new KeyVaultHttpError(
    404,
    code,
    `A ${noun} with (name/id) ${nameOrId} was not found in this key vault. If you recently deleted this ${noun} you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}
