// In-memory secret store of one vault: versions, attributes, soft delete.
//
// Pure data and Key Vault's rules (name syntax, deleted-name conflict, limits on tags);
// nothing here knows about HTTP or events. Times are unix seconds from the emulator's
// virtual clock. Secret names are case-insensitive in Key Vault: records are keyed by
// the lower-cased name and keep the spelling they were created with.
import { randomBytes } from "node:crypto";
import { kvErrors } from "./errors.js";

export const SECRET_NAME_PATTERN = /^[0-9a-zA-Z-]{1,127}$/;
export const VERSION_PATTERN = /^[0-9a-f]{32}$/;
/** Soft-delete retention of the emulated vaults (Key Vault's default and maximum). */
export const RECOVERABLE_DAYS = 90;
export const RECOVERY_LEVEL = "Recoverable+Purgeable";

const MAX_TAGS = 15;
const MAX_TAG_NAME = 512;
const MAX_TAG_VALUE = 256;
const MAX_VALUE_BYTES = 25 * 1024;

export interface SecretVersion {
  readonly version: string;
  readonly value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  /** Unix seconds. */
  nbf?: number;
  /** Unix seconds. */
  exp?: number;
  readonly created: number;
  updated: number;
  /** Event bookkeeping: each is sent once per version (reset when `exp` changes). */
  nearExpiryNotified: boolean;
  expiredNotified: boolean;
  /** The secret backs a certificate (Key Vault sets `managed: true` and `kid`); see certificates.ts. */
  managed?: boolean;
  kid?: string;
}

export interface SecretRecord {
  /** The name as first created. */
  readonly name: string;
  /** Oldest first; the last one is the current version. */
  readonly versions: SecretVersion[];
}

export interface DeletedSecretRecord {
  readonly secret: SecretRecord;
  /** Unix seconds. */
  readonly deletedDate: number;
  readonly scheduledPurgeDate: number;
}

export interface SecretInput {
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  nbf?: number;
  exp?: number;
  /** Certificate-backed secrets only: the certificate's version id, `managed: true` and the key id. */
  version?: string;
  managed?: boolean;
  kid?: string;
}

/** `null` clears an attribute, `undefined` leaves it alone. */
export interface SecretPatch {
  contentType?: string | null;
  tags?: Record<string, string> | null;
  enabled?: boolean;
  nbf?: number | null;
  exp?: number | null;
}

export class SecretStore {
  private readonly live = new Map<string, SecretRecord>();
  private sorted: SecretRecord[] | undefined;
  private readonly deleted = new Map<string, DeletedSecretRecord>();

  /** `now` returns unix seconds of the virtual clock. */
  constructor(private readonly now: () => number) {}

  set(name: string, input: SecretInput): { record: SecretRecord; version: SecretVersion } {
    assertName(name);
    const key = name.toLowerCase();
    const deleted = this.deleted.get(key);
    if (deleted) throw kvErrors.secretDeletedButRecoverable(deleted.secret.name);
    if (Buffer.byteLength(input.value, "utf8") > MAX_VALUE_BYTES) {
      throw kvErrors.badParameter(`The secret value exceeds the maximum size of ${MAX_VALUE_BYTES} bytes.`);
    }
    if (input.tags) assertTags(input.tags);
    const current = this.live.get(key)?.versions.at(-1);
    if (current?.managed && !input.managed) throw kvErrors.objectIsManaged("secret", name);
    const now = this.now();
    const version: SecretVersion = {
      version: input.version ?? newVersionId(),
      value: input.value,
      ...(input.contentType === undefined ? {} : { contentType: input.contentType }),
      ...(input.tags === undefined ? {} : { tags: { ...input.tags } }),
      enabled: input.enabled ?? true,
      ...(input.nbf === undefined ? {} : { nbf: input.nbf }),
      ...(input.exp === undefined ? {} : { exp: input.exp }),
      created: now,
      updated: now,
      nearExpiryNotified: false,
      expiredNotified: false,
      ...(input.managed ? { managed: true } : {}),
      ...(input.kid === undefined ? {} : { kid: input.kid }),
    };
    let record = this.live.get(key);
    if (!record) {
      record = { name, versions: [] };
      this.live.set(key, record);
      this.sorted = undefined;
    }
    record.versions.push(version);
    return { record, version };
  }

  /** The named version, or the current one when `version` is empty. Throws SecretNotFound. */
  get(name: string, version?: string): { record: SecretRecord; version: SecretVersion } {
    assertName(name);
    const record = this.live.get(name.toLowerCase());
    const found = record && (version ? record.versions.find((v) => v.version === version) : record.versions.at(-1));
    if (!record || !found) throw kvErrors.secretNotFound(version ? `${name}/${version}` : name);
    return { record, version: found };
  }

  /** The live record, or undefined. */
  find(name: string): SecretRecord | undefined {
    return this.live.get(name.toLowerCase());
  }

  update(name: string, version: string | undefined, patch: SecretPatch): { record: SecretRecord; version: SecretVersion } {
    const found = this.get(name, version);
    const target = found.version;
    if (patch.tags) assertTags(patch.tags);
    if (patch.contentType === null) delete target.contentType;
    else if (patch.contentType !== undefined) target.contentType = patch.contentType;
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
    target.updated = this.now();
    return found;
  }

  /** Soft-deletes the secret with all its versions. */
  delete(name: string): DeletedSecretRecord {
    assertName(name);
    const key = name.toLowerCase();
    const record = this.live.get(key);
    if (!record) throw kvErrors.secretNotFound(name);
    const deletedDate = this.now();
    const deleted: DeletedSecretRecord = {
      secret: record,
      deletedDate,
      scheduledPurgeDate: deletedDate + RECOVERABLE_DAYS * 86_400,
    };
    this.live.delete(key);
    this.sorted = undefined;
    this.deleted.set(key, deleted);
    return deleted;
  }

  getDeleted(name: string): DeletedSecretRecord {
    assertName(name);
    const deleted = this.deleted.get(name.toLowerCase());
    if (!deleted) throw kvErrors.deletedSecretNotFound(name);
    return deleted;
  }

  recover(name: string): SecretRecord {
    const deleted = this.getDeleted(name);
    const key = name.toLowerCase();
    this.deleted.delete(key);
    this.live.set(key, deleted.secret);
    this.sorted = undefined;
    return deleted.secret;
  }

  purge(name: string): void {
    this.getDeleted(name);
    this.deleted.delete(name.toLowerCase());
  }

  /** Live secrets sorted by lower-cased name (the order list pages are cut in); kept until a name comes or goes, so that paging a large vault does not sort it for every page. */
  list(): readonly SecretRecord[] {
    this.sorted ??= [...this.live.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, record]) => record);
    return this.sorted;
  }

  /** Live secrets in no particular order (for scans that do not need list()'s sort). */
  records(): IterableIterator<SecretRecord> {
    return this.live.values();
  }

  listDeleted(): DeletedSecretRecord[] {
    return [...this.deleted.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, record]) => record);
  }

  /** Versions of a live secret, oldest first. */
  versions(name: string): SecretVersion[] {
    return this.get(name).record.versions;
  }

  /** Removes deleted secrets whose retention ended (Key Vault purges them itself). */
  purgeExpired(): void {
    const now = this.now();
    for (const [key, deleted] of this.deleted) {
      if (deleted.scheduledPurgeDate <= now) this.deleted.delete(key);
    }
  }
}

/** A new object version id: 32 lower-case hex digits, as Key Vault makes them. */
export function newVersionId(): string {
  return randomBytes(16).toString("hex");
}

function assertName(name: string): void {
  if (!SECRET_NAME_PATTERN.test(name)) throw kvErrors.invalidName(name);
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
