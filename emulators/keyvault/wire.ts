// The wire shapes that secrets, keys and certificates share: reading a request body's
// tags and attributes, the attributes every bundle carries, and list paging.
import { kvErrors } from "./errors.js";
import type { RouteRequest, RouteResponse, VaultContext } from "./http.js";
import { recoveryAttributes } from "./store.js";
import { firstAfter, type AttributePatch, type ObjectRecord, type ObjectVersion, type VersionedObjects } from "./versioned.js";

const MAX_RESULTS = 25;

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
 * `items` is either an array in ascending `keyOf` order or, for a kind's whole listing,
 * a function giving the items in that order from the first key after a marker (so a page
 * of a large vault costs what the page holds).
 * The token names the last key served, so a page stays right when items are added or
 * removed between calls; `nextLink` is absolute and repeats api-version (and maxresults),
 * as the service's does.
 */
export function page<T>(
  request: RouteRequest,
  path: string,
  items: readonly T[] | ((marker: string | undefined) => Iterable<T>),
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
  // One item past the page tells whether a next page exists.
  const pageItems: T[] = [];
  for (const item of typeof items === "function" ? items(marker) : after(items, keyOf, marker)) {
    pageItems.push(item);
    if (pageItems.length > maxResults) break;
  }
  let nextLink: string | null = null;
  if (pageItems.length > maxResults) {
    pageItems.length = maxResults;
    const token = encodeSkipToken(keyOf(pageItems.at(-1)!));
    nextLink =
      `${request.vault.url}${path}?api-version=${encodeURIComponent(request.apiVersion)}&$skiptoken=${token}` +
      (maxResultsParam === null ? "" : `&maxresults=${maxResults}`);
  }
  return { value: pageItems.map(render), nextLink };
}

/** The items of ascending `items` after the one keyed `marker` (binary search). */
function* after<T>(items: readonly T[], keyOf: (item: T) => string, marker: string | undefined): Generator<T> {
  const from = marker === undefined ? 0 : firstAfter(items, marker, true, keyOf);
  for (let i = from; i < items.length; i++) yield items[i]!;
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

/** A create body's attributes and tags (null counts as not given). */
export function createAttributes(body: Record<string, unknown>): { tags?: Record<string, string>; enabled?: boolean; nbf?: number; exp?: number } {
  const result: { tags?: Record<string, string>; enabled?: boolean; nbf?: number; exp?: number } = {};
  const tags = optionalTags(body.tags);
  if (tags) result.tags = tags;
  if (body.attributes !== undefined && body.attributes !== null) {
    const attributes = parseAttributes(body.attributes);
    if (attributes.enabled !== undefined) result.enabled = attributes.enabled;
    if (attributes.nbf !== undefined && attributes.nbf !== null) result.nbf = attributes.nbf;
    if (attributes.exp !== undefined && attributes.exp !== null) result.exp = attributes.exp;
  }
  return result;
}

/** An update body's attributes and tags (null clears tags, nbf and exp). */
export function patchAttributes(body: Record<string, unknown>): AttributePatch {
  const patch: AttributePatch = {};
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

/** The `attributes` of a secret, key or certificate bundle. */
export function attributesBody(vault: VaultContext, version: ObjectVersion): Record<string, unknown> {
  return {
    enabled: version.enabled,
    ...(version.nbf === undefined ? {} : { nbf: version.nbf }),
    ...(version.exp === undefined ? {} : { exp: version.exp }),
    created: version.created,
    updated: version.updated,
    ...recoveryAttributes(vault.recovery),
  };
}

/** The version a GET or PATCH addresses: `/{kind}/{name}/{version}`, the current one when the version is empty. */
export function addressed<V extends ObjectVersion, R extends ObjectRecord<V>>(request: RouteRequest, objects: VersionedObjects<V, R>): { record: R; version: V } {
  const [name, version] = request.params;
  return objects.get(name!, version || undefined);
}

/** GET /{kind}/{name}/versions: one page of the versions of a name (none for a name that does not exist). */
export function versionsPage<V extends ObjectVersion, R extends ObjectRecord<V>>(
  request: RouteRequest,
  kind: "secrets" | "keys" | "certificates",
  objects: VersionedObjects<V, R>,
  render: (record: R, version: V) => unknown,
): RouteResponse {
  const name = request.params[0]!;
  const versions = objects.versions(name);
  // Versions exist only when the record does.
  const record = objects.find(name);
  return { status: 200, body: page(request, `/${kind}/${record?.name ?? name}/versions`, versions, (v) => v.version, (v) => render(record!, v)) };
}
