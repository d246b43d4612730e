// The secrets data-plane routes (api-version 2025-07-01 shapes; older 7.x are the same
// for secrets): set, get, list, versions, update, delete, deleted, recover, purge,
// backup and restore.
//
// Bodies follow the published examples: SecretBundle with `value` only where the real
// service returns one (set and get), items with base ids and no value in lists,
// DeletedSecretBundle with recoveryId / deletedDate / scheduledPurgeDate, BackupSecretResult
// `{ value: base64url }`.
// The paging and body helpers are shared with certificates.ts and keys.ts.
import { kvErrors } from "./errors.js";
import type { Route, RouteRequest, RouteResponse, VaultContext } from "./http.js";
import {
  recoveryAttributes,
  type DeletedSecretRecord,
  type SecretInput,
  type SecretPatch,
  type SecretRecord,
  type SecretVersion,
} from "./store.js";

const MAX_RESULTS = 25;

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
  const [name, version] = request.params;
  const found = request.vault.secrets.get(name!, version || undefined);
  if (!found.version.enabled) throw kvErrors.secretDisabled();
  return { status: 200, body: secretBundle(request.vault, found.record, found.version, true) };
}

function updateSecret(request: RouteRequest): RouteResponse {
  const [name, version] = request.params;
  const patch = parseUpdateBody(request.body);
  const found = request.vault.secrets.update(name!, version || undefined, patch);
  return { status: 200, body: secretBundle(request.vault, found.record, found.version, false) };
}

function getSecrets(request: RouteRequest): RouteResponse {
  const records = request.vault.secrets.list();
  return {
    status: 200,
    body: page(request, "/secrets", records, (r) => r.name.toLowerCase(), (r) => secretItem(request.vault, r)),
  };
}

function getSecretVersions(request: RouteRequest): RouteResponse {
  const name = request.params[0]!;
  const versions = request.vault.secrets.versions(name);
  const record = request.vault.secrets.find(name) ?? { name, versions: [] };
  return {
    status: 200,
    body: page(request, `/secrets/${record.name}/versions`, versions, (v) => v.version, (v) => versionItem(request.vault, record, v)),
  };
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
  const input: SecretInput = { value: body.value };
  const contentType = optionalString(body, "contentType");
  if (contentType !== undefined && contentType !== null) input.contentType = contentType;
  const tags = optionalTags(body.tags);
  if (tags) input.tags = tags;
  if (body.attributes !== undefined && body.attributes !== null) {
    const attributes = parseAttributes(body.attributes);
    if (attributes.enabled !== undefined) input.enabled = attributes.enabled;
    if (attributes.nbf !== undefined && attributes.nbf !== null) input.nbf = attributes.nbf;
    if (attributes.exp !== undefined && attributes.exp !== null) input.exp = attributes.exp;
  }
  return input;
}

function parseUpdateBody(body: unknown): SecretPatch {
  if (body === undefined) return {};
  if (!isObject(body)) throw kvErrors.badParameter("The request body must be a JSON object.");
  const patch: SecretPatch = {};
  const contentType = optionalString(body, "contentType");
  if (contentType !== undefined) patch.contentType = contentType;
  if (body.tags === null) patch.tags = null;
  else {
    const tags = optionalTags(body.tags);
    if (tags) patch.tags = tags;
  }
  if (body.attributes !== undefined && body.attributes !== null) {
    const attributes = parseAttributes(body.attributes);
    if (attributes.enabled !== undefined) patch.enabled = attributes.enabled;
    if (attributes.nbf !== undefined) patch.nbf = attributes.nbf;
    if (attributes.exp !== undefined) patch.exp = attributes.exp;
  }
  return patch;
}

export function parseAttributes(value: unknown): { enabled?: boolean; nbf?: number | null; exp?: number | null } {
  if (!isObject(value)) throw kvErrors.badParameter("Property 'attributes' must be an object.");
  const result: { enabled?: boolean; nbf?: number | null; exp?: number | null } = {};
  if (value.enabled !== undefined && value.enabled !== null) {
    if (typeof value.enabled !== "boolean") throw kvErrors.badParameter("Property 'attributes.enabled' must be a boolean.");
    result.enabled = value.enabled;
  }
  for (const key of ["nbf", "exp"] as const) {
    const time = value[key];
    if (time === undefined) continue;
    if (time !== null && (typeof time !== "number" || !Number.isInteger(time))) {
      throw kvErrors.badParameter(`Property 'attributes.${key}' must be a unix time in seconds.`);
    }
    result[key] = time;
  }
  return result;
}

export function optionalString(body: Record<string, unknown>, key: string): string | null | undefined {
  const value = body[key];
  if (value === undefined || value === null) return value;
  if (typeof value !== "string") throw kvErrors.badParameter(`Property '${key}' must be a string.`);
  return value;
}

export function optionalTags(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw kvErrors.badParameter("Property 'tags' must be an object of strings.");
  for (const [name, tag] of Object.entries(value)) {
    if (typeof tag !== "string") throw kvErrors.badParameter(`The value of tag '${name}' must be a string.`);
  }
  return value as Record<string, string>;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// ---- paging -----------------------------------------------------------------------------

/**
 * Cuts one page of at most `maxresults` (1..25, default 25) items after `$skiptoken`.
 * The token names the last key served, so a page stays right when items are added or
 * removed between calls; `nextLink` is absolute and repeats api-version (and maxresults),
 * as the service's does.
 */
export function page<T>(
  request: RouteRequest,
  path: string,
  items: readonly T[],
  keyOf: (item: T) => string,
  render: (item: T) => unknown,
): { value: unknown[]; nextLink: string | null } {
  const maxResultsParam = request.query.get("maxresults");
  let maxResults = MAX_RESULTS;
  if (maxResultsParam !== null) {
    maxResults = Number(maxResultsParam);
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > MAX_RESULTS) {
      throw kvErrors.badParameter(`The value ${maxResultsParam} of maxresults is invalid: it must be an integer from 1 to ${MAX_RESULTS}.`);
    }
  }
  const skipToken = request.query.get("$skiptoken");
  const marker = skipToken === null ? undefined : decodeSkipToken(skipToken);
  const remaining = marker === undefined ? items : items.filter((item) => keyOf(item) > marker);
  const pageItems = remaining.slice(0, maxResults);
  let nextLink: string | null = null;
  if (remaining.length > pageItems.length) {
    const token = encodeSkipToken(keyOf(pageItems.at(-1)!));
    nextLink =
      `${request.vault.url}${path}?api-version=${encodeURIComponent(request.apiVersion)}&$skiptoken=${token}` +
      (maxResultsParam === null ? "" : `&maxresults=${maxResults}`);
  }
  return { value: pageItems.map(render), nextLink };
}

function encodeSkipToken(marker: string): string {
  return Buffer.from(JSON.stringify({ NextMarker: marker, TargetLocation: 0 })).toString("base64url");
}

function decodeSkipToken(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { NextMarker?: unknown };
    if (typeof parsed.NextMarker === "string") return parsed.NextMarker;
  } catch {
    // fall through
  }
  throw kvErrors.badParameter("The $skiptoken is invalid.");
}

// ---- bodies the service returns -----------------------------------------------------------

export function secretId(vault: VaultContext, name: string, version?: string): string {
  return version ? `${vault.url}/secrets/${name}/${version}` : `${vault.url}/secrets/${name}`;
}

function attributes(vault: VaultContext, version: SecretVersion): Record<string, unknown> {
  return {
    enabled: version.enabled,
    ...(version.nbf === undefined ? {} : { nbf: version.nbf }),
    ...(version.exp === undefined ? {} : { exp: version.exp }),
    created: version.created,
    updated: version.updated,
    ...recoveryAttributes(vault.recovery),
  };
}

function metadata(vault: VaultContext, version: SecretVersion): Record<string, unknown> {
  return {
    ...(version.contentType === undefined ? {} : { contentType: version.contentType }),
    attributes: attributes(vault, version),
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
