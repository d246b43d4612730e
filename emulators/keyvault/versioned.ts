// What secrets, keys and certificates have in common in Key Vault: a case-insensitive
// name that keeps its first spelling, versions oldest first (the last is current), and
// per version the same attributes (enabled, nbf, exp, created, updated, tags). Each kind's
// store adds its own rules on top (store.ts, keys.ts, certificates.ts).
import { randomBytes } from "node:crypto";
import { kvErrors, type KeyVaultHttpError } from "./errors.js";

/** Object names of every kind: 1 to 127 letters, digits and dashes. */
export const OBJECT_NAME_PATTERN = /^[0-9a-zA-Z-]{1,127}$/;

const MAX_TAGS = 15;
const MAX_TAG_NAME = 512;
const MAX_TAG_VALUE = 256;

/** The attributes every object version has. Times are unix seconds of the double's clock. */
export interface ObjectVersion {
  readonly version: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  readonly created: number;
  updated: number;
  /** Event bookkeeping: each is sent once per version (reset when `exp` changes). */
  nearExpiryNotified: boolean;
  expiredNotified: boolean;
}

export interface ObjectRecord<V extends ObjectVersion> {
  /** The name as first created. */
  readonly name: string;
  /** Oldest first; the last one is the current version. */
  readonly versions: V[];
}

/** What a new version is given; every field optional. */
export interface VersionInput {
  /** A given version id (a certificate's backing key and secret share the certificate's). */
  version?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

/** `null` clears an attribute, `undefined` leaves it alone. */
export interface AttributePatch {
  tags?: Record<string, string> | null;
  enabled?: boolean;
  nbf?: number | null;
  exp?: number | null;
}

/**
 * A map that keeps its keys sorted as keys come and go (a binary-search insert or removal),
 * so a list page of a large vault is found in O(log n) and cut in O(page), never by sorting
 * or scanning the whole vault.
 */
class SortedKeyMap<V> extends Map<string, V> {
  private readonly sorted: string[] = [];
  override set(key: string, value: V): this {
    // Map's constructor calls set() before the field exists; none is constructed with entries.
    if (!this.has(key)) this.sorted.splice(firstAfter(this.sorted, key, false), 0, key);
    return super.set(key, value);
  }
  override delete(key: string): boolean {
    const deleted = super.delete(key);
    if (deleted) this.sorted.splice(firstAfter(this.sorted, key, false), 1);
    return deleted;
  }
  override clear(): void {
    this.sorted.length = 0;
    super.clear();
  }
  /** Keys in ascending order from the first one after `marker` (all of them without one). */
  *keysAfter(marker: string | undefined): Generator<string> {
    for (let i = marker === undefined ? 0 : firstAfter(this.sorted, marker, true); i < this.sorted.length; i++) yield this.sorted[i]!;
  }
}

/** The index of the first item keyed greater than `key` (`strictly`) or not less than it, in `items` ascending by `keyOf`. */
export function firstAfter<T>(items: readonly T[], key: string, strictly: boolean, keyOf: (item: T) => string = String): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = keyOf(items[mid]!);
    if (k < key || (strictly && k === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The live objects of one kind in one vault, keyed by lower-cased name. */
export class VersionedObjects<V extends ObjectVersion, R extends ObjectRecord<V>> {
  protected readonly live = new SortedKeyMap<R>();

  constructor(
    protected readonly now: () => number,
    /** The kind's 404 (SecretNotFound, KeyNotFound, CertificateNotFound). */
    private readonly notFound: (nameOrId: string) => KeyVaultHttpError,
  ) {}

  /** The live record as readers see it (secrets hide one being recovered). */
  protected visible(key: string): R | undefined {
    return this.live.get(key);
  }

  /** The named version, or the current one when `version` is empty; the kind's 404 otherwise. */
  get(name: string, version?: string): { record: R; version: V } {
    assertObjectName(name);
    const record = this.visible(name.toLowerCase());
    const found = record && (version ? record.versions.find((v) => v.version === version) : record.versions.at(-1));
    if (!record || !found) throw this.notFound(version ? `${name}/${version}` : name);
    return { record, version: found };
  }

  /** The live record, or undefined. */
  find(name: string): R | undefined {
    return this.visible(name.toLowerCase());
  }

  /**
   * Live records as readers see them, in ascending lower-cased name (the order list pages
   * are cut in) from the first name after `marker`: a page reads only what it serves.
   */
  *listAfter(marker?: string): Generator<R> {
    for (const key of this.live.keysAfter(marker)) {
      const record = this.visible(key);
      if (record) yield record;
    }
  }

  /** Live records in no particular order (for scans that do not need list()'s sort). */
  records(): IterableIterator<R> {
    return this.live.values();
  }

  /**
   * Versions of a live object in ascending version-id order, which is how Key Vault
   * lists them (not by age); none for a name that does not exist (the service answers
   * 200 with an empty list, not 404; recorded: "list 0 versions of a nonexisting key").
   */
  versions(name: string): V[] {
    assertObjectName(name);
    const record = this.visible(name.toLowerCase());
    return record ? byVersionId(record.versions) : [];
  }

  /** Appends a version, making the record (with `create`) for a new name. */
  protected append(name: string, version: V, create: () => R): R {
    const key = name.toLowerCase();
    let record = this.live.get(key);
    if (!record) {
      record = create();
      this.live.set(key, record);
    }
    record.versions.push(version);
    return record;
  }
}

/** The common attributes of a new version made now. */
export function newVersionAttributes(input: VersionInput, now: number): ObjectVersion {
  return {
    version: input.version ?? newVersionId(),
    ...(input.tags === undefined ? {} : { tags: { ...input.tags } }),
    enabled: input.enabled ?? true,
    ...(input.nbf === undefined ? {} : { nbf: input.nbf }),
    ...(input.exp === undefined ? {} : { exp: input.exp }),
    created: now,
    updated: now,
    nearExpiryNotified: false,
    expiredNotified: false,
  };
}

/** Applies an update's attributes and tags to a version. */
export function applyAttributePatch(target: ObjectVersion, patch: AttributePatch, now: number): void {
  if (patch.tags) assertTags(patch.tags);
  if (patch.tags === null) delete target.tags;
  else if (patch.tags !== undefined) target.tags = { ...patch.tags };
  if (patch.enabled !== undefined) target.enabled = patch.enabled;
  if (patch.nbf === null) delete target.nbf;
  else if (patch.nbf !== undefined) target.nbf = patch.nbf;
  if (patch.exp !== undefined && (patch.exp ?? undefined) !== target.exp) {
    // A new expiry is a new deadline: its near-expiry and expiry events are due again.
    target.nearExpiryNotified = false;
    target.expiredNotified = false;
    if (patch.exp === null) delete target.exp;
    else target.exp = patch.exp;
  }
  target.updated = now;
}

/** Key Vault's version listings are in ascending version-id order (see versions()). */
export function byVersionId<T extends { readonly version: string }>(versions: readonly T[]): T[] {
  return [...versions].sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
}

/** A new object version id: 32 lower-case hex digits, as Key Vault makes them. */
export function newVersionId(): string {
  return randomBytes(16).toString("hex");
}

export function assertObjectName(name: string): void {
  if (!OBJECT_NAME_PATTERN.test(name)) throw kvErrors.invalidName(name);
}

/** Key Vault's limits on tags, shared by secrets, keys and certificates. */
export function assertTags(tags: Record<string, string>): void {
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS) {
    throw kvErrors.badParameter(`A secret can have at most ${MAX_TAGS} tags; ${entries.length} were given.`);
  }
  for (const [name, value] of entries) {
    if (typeof value !== "string") throw kvErrors.badParameter(`The value of tag '${name}' must be a string.`);
    if (name.length > MAX_TAG_NAME) throw kvErrors.badParameter(`Tag name '${name.slice(0, 32)}...' is longer than ${MAX_TAG_NAME} characters.`);
    if (value.length > MAX_TAG_VALUE) throw kvErrors.badParameter(`The value of tag '${name}' is longer than ${MAX_TAG_VALUE} characters.`);
  }
}
