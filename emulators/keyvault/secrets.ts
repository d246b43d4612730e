// The secrets data-plane routes (api-version 2025-07-01 shapes; older 7.x are the same
// for secrets): set, get, list, versions, update, delete, deleted, recover, purge,
// backup and restore.
//
// Bodies follow the published examples: SecretBundle with `value` only where the real
// service returns one (set and get), items with base ids and no value in lists,
// DeletedSecretBundle with recoveryId / deletedDate / scheduledPurgeDate, BackupSecretResult
// `{ value: base64url }`.
// The paging and body helpers shared with certificates.ts and keys.ts are in wire.ts.
import { kvErrors } from "./errors.js";
import type { Route, RouteRequest, RouteResponse, VaultContext } from "./http.js";
import {
  type DeletedSecretRecord,
  type SecretInput,
  type SecretPatch,
  type SecretRecord,
  type SecretVersion,
} from "./store.js";
import { addressed, attributesBody, createAttributes, isObject, optionalString, page, patchAttributes, versionsPage } from "./wire.js";

export const secretRoutes: readonly Route[] = [
  { method: "GET", pattern: /^\/secrets\/?$/, operation: "GetSecrets", handle: getSecrets },
  { method: "GET", pattern: /^\/secrets\/([^/]+)\/versions\/?$/, operation: "GetSecretVersions", handle: getSecretVersions },
  { method: "PUT", pattern: /^\/secrets\/([^/]+)\/?$/, operation: "SetSecret", handle: setSecret },
  { method: "DELETE", pattern: /^\/secrets\/([^/]+)\/?$/, operation: "DeleteSecret", handle: deleteSecret },
  { method: "GET", pattern: /^\/secrets\/([^/]+)\/?$/, operation: "GetSecret", handle: getSecret },
  { method: "GET", pattern: /^\/secrets\/([^/]+)\/([^/]+)\/?$/, operation: "GetSecret", handle: getSecret },
  { method: "PATCH", pattern: /^\/secrets\/([^/]+)\/([^/]*)\/?$/, operation: "UpdateSecret", handle: updateSecret },
  { method: "GET", pattern: /^\/deletedsecrets\/?$/, operation: "GetDeletedSecrets", handle: getDeletedSecrets },
  { method: "GET", pattern: /^\/deletedsecrets\/([^/]+)\/?$/, operation: "GetDeletedSecret", handle: getDeletedSecret },
  { method: "DELETE", pattern: /^\/deletedsecrets\/([^/]+)\/?$/, operation: "PurgeDeletedSecret", handle: purgeDeletedSecret },
  { method: "POST", pattern: /^\/deletedsecrets\/([^/]+)\/recover\/?$/, operation: "RecoverDeletedSecret", handle: recoverDeletedSecret },
  { method: "POST", pattern: /^\/secrets\/restore\/?$/, operation: "RestoreSecret", handle: restoreSecret },
  { method: "POST", pattern: /^\/secrets\/([^/]+)\/backup\/?$/, operation: "BackupSecret", handle: backupSecret },
];

// ---- handlers ---------------------------------------------------------------------------

function setSecret(request: RouteRequest): RouteResponse {
  const name = request.params[0]!;
  const input = parseSetBody(request.body);
  const { record, version } = request.vault.secrets.set(name, input);
  request.vault.secretVersionCreated(record.name, version.version);
  return { status: 200, body: secretBundle(request.vault, record, version, true) };
}

function getSecret(request: RouteRequest): RouteResponse {
  const found = addressed(request, request.vault.secrets);
  if (!found.version.enabled) throw kvErrors.secretDisabled();
  return { status: 200, body: secretBundle(request.vault, found.record, found.version, true) };
}

function updateSecret(request: RouteRequest): RouteResponse {
  const [name, version] = request.params;
  const found = request.vault.secrets.update(name!, version || undefined, parseUpdateBody(request.body));
  return { status: 200, body: secretBundle(request.vault, found.record, found.version, false) };
}

function getSecrets(request: RouteRequest): RouteResponse {
  const secrets = request.vault.secrets;
  return {
    status: 200,
    body: page(request, "/secrets", (marker) => secrets.listAfter(marker), (r) => r.name.toLowerCase(), (r) => secretItem(request.vault, r)),
  };
}

function getSecretVersions(request: RouteRequest): RouteResponse {
  return versionsPage(request, "secrets", request.vault.secrets, (record, v) => versionItem(request.vault, record, v));
}

function backupSecret(request: RouteRequest): RouteResponse {
  const blob = request.vault.secrets.backup(request.params[0]!);
  return { status: 200, body: { value: blob.toString("base64url") } };
}

function restoreSecret(request: RouteRequest): RouteResponse {
  const body = request.body;
  if (!isObject(body) || typeof body.value !== "string") throw kvErrors.badParameter("Property 'value' (the backup blob, base64url) is required.");
  const record = request.vault.secrets.restore(Buffer.from(body.value, "base64url"));
  return { status: 200, body: secretBundle(request.vault, record, record.versions.at(-1)!, false) };
}

function deleteSecret(request: RouteRequest): RouteResponse {
  const deleted = request.vault.secrets.delete(request.params[0]!);
  return { status: 200, body: deletedBundle(request.vault, deleted) };
}

function getDeletedSecrets(request: RouteRequest): RouteResponse {
  const records = request.vault.secrets.listDeleted();
  return {
    status: 200,
    body: page(request, "/deletedsecrets", records, (r) => r.secret.name.toLowerCase(), (r) => deletedItem(request.vault, r)),
  };
}

function getDeletedSecret(request: RouteRequest): RouteResponse {
  return { status: 200, body: deletedBundle(request.vault, request.vault.secrets.getDeleted(request.params[0]!)) };
}

function purgeDeletedSecret(request: RouteRequest): RouteResponse {
  request.vault.secrets.purge(request.params[0]!);
  return { status: 204 };
}

function recoverDeletedSecret(request: RouteRequest): RouteResponse {
  const record = request.vault.secrets.recover(request.params[0]!);
  return { status: 200, body: secretBundle(request.vault, record, record.versions.at(-1)!, false) };
}

// ---- bodies -----------------------------------------------------------------------------

function parseSetBody(body: unknown): SecretInput {
  if (!isObject(body)) throw kvErrors.badParameter("The request body must be a JSON object with a 'value'.");
  if (typeof body.value !== "string") throw kvErrors.badParameter("Property 'value' is required and must be a string.");
  const contentType = optionalString(body, "contentType");
  return {
    value: body.value,
    ...(contentType === undefined || contentType === null ? {} : { contentType }),
    ...createAttributes(body),
  };
}

function parseUpdateBody(body: unknown): SecretPatch {
  if (body === undefined) return {};
  if (!isObject(body)) throw kvErrors.badParameter("The request body must be a JSON object.");
  const contentType = optionalString(body, "contentType");
  return { ...(contentType === undefined ? {} : { contentType }), ...patchAttributes(body) };
}

// ---- bodies the service returns -----------------------------------------------------------

export function secretId(vault: VaultContext, name: string, version?: string): string {
  return version ? `${vault.url}/secrets/${name}/${version}` : `${vault.url}/secrets/${name}`;
}

function metadata(vault: VaultContext, version: SecretVersion): Record<string, unknown> {
  return {
    ...(version.contentType === undefined ? {} : { contentType: version.contentType }),
    attributes: attributesBody(vault, version),
    ...(version.tags === undefined ? {} : { tags: { ...version.tags } }),
    // A certificate's backing secret says so, as the service's does.
    ...(version.kid === undefined ? {} : { kid: version.kid }),
    ...(version.managed ? { managed: true } : {}),
  };
}

function secretBundle(vault: VaultContext, record: SecretRecord, version: SecretVersion, withValue: boolean): Record<string, unknown> {
  return {
    ...(withValue ? { value: version.value } : {}),
    id: secretId(vault, record.name, version.version),
    ...metadata(vault, version),
  };
}

/** A list entry of GET /secrets: the base id and the current version's metadata. */
function secretItem(vault: VaultContext, record: SecretRecord): Record<string, unknown> {
  return { id: secretId(vault, record.name), ...metadata(vault, record.versions.at(-1)!) };
}

function versionItem(vault: VaultContext, record: SecretRecord, version: SecretVersion): Record<string, unknown> {
  return { id: secretId(vault, record.name, version.version), ...metadata(vault, version) };
}

function deletedFields(vault: VaultContext, deleted: DeletedSecretRecord): Record<string, unknown> {
  return {
    recoveryId: `${vault.url}/deletedsecrets/${deleted.secret.name}`,
    deletedDate: deleted.deletedDate,
    scheduledPurgeDate: deleted.scheduledPurgeDate,
  };
}

function deletedBundle(vault: VaultContext, deleted: DeletedSecretRecord): Record<string, unknown> {
  const current = deleted.secret.versions.at(-1)!;
  return { ...deletedFields(vault, deleted), ...secretBundle(vault, deleted.secret, current, false) };
}

function deletedItem(vault: VaultContext, deleted: DeletedSecretRecord): Record<string, unknown> {
  return { ...deletedFields(vault, deleted), ...secretItem(vault, deleted.secret) };
}
