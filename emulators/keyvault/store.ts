// In-memory secret store of one vault: versions, attributes, soft delete.
//
// Pure data and Key Vault's rules (name syntax, deleted-name conflict, limits on tags);
// nothing here knows about HTTP or events. Times are unix seconds from the emulator's
// virtual clock. Secret names are case-insensitive in Key Vault: records are keyed by
// the lower-cased name and keep the spelling they were created with.
//
// Delete, recover and purge are eventually consistent in the real service (the SDK
// recordings poll through 404s and 409s after each); `settleMs` makes the store answer
// the same way for that long after each of them. 0, the default, settles at once.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { kvErrors } from "./errors.js";

export const SECRET_NAME_PATTERN = /^[0-9a-zA-Z-]{1,127}$/;
export const VERSION_PATTERN = /^[0-9a-f]{32}$/;
/** A vault's soft-delete settings: retention 7..90 days, purge protection on or off. */
export interface RecoveryPolicy {
  readonly days: number;
  readonly purgeProtection: boolean;
}

/** Key Vault's default: 90 days, purge allowed. */
export const DEFAULT_RECOVERY: RecoveryPolicy = { days: 90, purgeProtection: false };

/**
 * The `recoveryLevel` Key Vault reports for a policy (spec DeletionRecoveryLevel: 90 days
 * is "Recoverable", less is "CustomizedRecoverable"; "+Purgeable" unless purge protection).
 */
export function recoveryAttributes(policy: RecoveryPolicy): { recoveryLevel: string; recoverableDays: number } {
  const base = policy.days >= 90 ? "Recoverable" : "CustomizedRecoverable";
  return { recoveryLevel: policy.purgeProtection ? base : `${base}+Purgeable`, recoverableDays: policy.days };
}

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

/** A delete, recover or purge the service has accepted but not yet finished everywhere. */
type Transition = "deleting" | "recovering" | "purging";

export class SecretStore {
  private readonly live = new Map<string, SecretRecord>();
  private readonly deleted = new Map<string, DeletedSecretRecord>();
  private readonly transitions = new Map<string, { state: Transition; untilMs: number }>();

  /**
   * `now` returns unix seconds of the virtual clock; `settleMs` how long a delete,
   * recover or purge takes to become visible (real milliseconds); `backupKey` the
   * 32-byte key that backup blobs are sealed with (shared by the vaults of one double,
   * as restore works across vaults of a subscription).
   */
  constructor(
    private readonly now: () => number,
    private readonly settleMs: () => number = () => 0,
    private readonly backupKey: Buffer = randomBytes(32),
    private readonly recovery: RecoveryPolicy = DEFAULT_RECOVERY,
  ) {}

  /** The unfinished transition of a name, if any. */
  private transition(key: string): Transition | undefined {
    const t = this.transitions.get(key);
    if (!t) return undefined;
    if (Date.now() < t.untilMs) return t.state;
    this.transitions.delete(key);
    return undefined;
  }

  private begin(key: string, state: Transition): void {
    const ms = this.settleMs();
    if (ms > 0) this.transitions.set(key, { state, untilMs: Date.now() + ms });
    else this.transitions.delete(key);
  }

  /** The live record as readers see it: a secret being recovered is not readable yet. */
  private visible(key: string): SecretRecord | undefined {
    return this.transition(key) === "recovering" ? undefined : this.live.get(key);
  }

  /** Writes to a name in transition conflict, as the service's do. */
  private assertSettled(key: string, name: string): void {
    const state = this.transition(key);
    if (state === "deleting") throw kvErrors.secretBeingDeleted(name);
    if (state === "recovering") throw kvErrors.secretBeingRecovered(name);
    if (state === "purging") throw kvErrors.secretBeingPurged(name);
  }

  set(name: string, input: SecretInput): { record: SecretRecord; version: SecretVersion } {
    assertName(name);
    const key = name.toLowerCase();
    this.assertSettled(key, name);
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
    }
    record.versions.push(version);
    return { record, version };
  }

  /** The named version, or the current one when `version` is empty. Throws SecretNotFound. */
  get(name: string, version?: string): { record: SecretRecord; version: SecretVersion } {
    assertName(name);
    const record = this.visible(name.toLowerCase());
    const found = record && (version ? record.versions.find((v) => v.version === version) : record.versions.at(-1));
    if (!record || !found) throw kvErrors.secretNotFound(version ? `${name}/${version}` : name);
    return { record, version: found };
  }

  /** The live record, or undefined. */
  find(name: string): SecretRecord | undefined {
    return this.visible(name.toLowerCase());
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

  /** Soft-deletes the secret with all its versions; a certificate's backing secret cannot be. */
  delete(name: string): DeletedSecretRecord {
    assertName(name);
    const key = name.toLowerCase();
    const record = this.visible(key);
    if (!record) throw kvErrors.secretNotFound(name);
    if (record.versions.at(-1)?.managed) throw kvErrors.managedSecretDelete();
    const deletedDate = this.now();
    const deleted: DeletedSecretRecord = {
      secret: record,
      deletedDate,
      scheduledPurgeDate: deletedDate + this.recovery.days * 86_400,
    };
    this.live.delete(key);
    this.deleted.set(key, deleted);
    this.begin(key, "deleting");
    return deleted;
  }

  getDeleted(name: string): DeletedSecretRecord {
    assertName(name);
    const key = name.toLowerCase();
    // Until the delete has finished, the deleted secret is not found (recorded: the
    // SDK's delete poller reads 404 before 200).
    const deleted = this.transition(key) === "deleting" ? undefined : this.deleted.get(key);
    if (!deleted) throw kvErrors.deletedSecretNotFound(name);
    return deleted;
  }

  recover(name: string): SecretRecord {
    assertName(name);
    const key = name.toLowerCase();
    if (this.transition(key) === "deleting") throw kvErrors.secretBeingDeleted(name);
    const deleted = this.getDeleted(name);
    this.deleted.delete(key);
    this.live.set(key, deleted.secret);
    this.begin(key, "recovering");
    return deleted.secret;
  }

  purge(name: string): void {
    assertName(name);
    const key = name.toLowerCase();
    if (this.transition(key) === "deleting") throw kvErrors.secretBeingDeleted(name);
    this.getDeleted(name);
    if (this.recovery.purgeProtection) throw kvErrors.purgeProtected();
    this.deleted.delete(key);
    this.begin(key, "purging");
  }

  /**
   * The backup blob of a live secret: all its versions, sealed with AES-256-GCM under
   * the double's key behind the service's format prefix, so no value is readable in it.
   */
  backup(name: string): Buffer {
    const { record } = this.get(name);
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.backupKey, iv);
    const sealed = Buffer.concat([cipher.update(JSON.stringify(record), "utf8"), cipher.final()]);
    return Buffer.concat([BACKUP_PREFIX, iv, cipher.getAuthTag(), sealed]);
  }

  /** Restores every version of a backed-up secret; 400 for a blob that does not open, 409 when the name is taken. */
  restore(blob: Buffer): SecretRecord {
    const record = openBackup(blob, this.backupKey);
    const key = record.name.toLowerCase();
    if (this.live.has(key) || this.deleted.has(key) || this.transition(key) !== undefined) {
      throw kvErrors.restoreConflict(record.name, record.versions.at(-1)?.version ?? "");
    }
    this.live.set(key, record);
    return record;
  }

  /** Live secrets sorted by lower-cased name (the order list pages are cut in). */
  list(): SecretRecord[] {
    return [...this.live.entries()]
      .filter(([key]) => this.transition(key) !== "recovering")
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, record]) => record);
  }

  /** Live secrets in no particular order (for scans that do not need list()'s sort). */
  records(): IterableIterator<SecretRecord> {
    return this.live.values();
  }

  listDeleted(): DeletedSecretRecord[] {
    return [...this.deleted.entries()]
      .filter(([key]) => this.transition(key) !== "deleting")
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, record]) => record);
  }

  /**
   * Versions of a live secret in ascending version-id order, which is how Key Vault
   * lists them (not by age); none for a name that does not exist (the service answers
   * 200 with an empty list, not 404).
   */
  versions(name: string): SecretVersion[] {
    assertName(name);
    const record = this.visible(name.toLowerCase());
    return record ? byVersionId(record.versions) : [];
  }

  /** Removes deleted secrets whose retention ended (Key Vault purges them itself). */
  purgeExpired(): void {
    const now = this.now();
    for (const [key, deleted] of this.deleted) {
      if (deleted.scheduledPurgeDate <= now) this.deleted.delete(key);
    }
  }
}

/** Key Vault's version listings are in ascending version-id order (see versions()). */
export function byVersionId<T extends { readonly version: string }>(versions: readonly T[]): T[] {
  return [...versions].sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
}

/** The first bytes of the service's secret backup blobs (seen in the SDK's recordings). */
const BACKUP_PREFIX = Buffer.from(")AzureKeyVaultSecretBackupV1.microsoft.com", "ascii");

function openBackup(blob: Buffer, key: Buffer): SecretRecord {
  const headerLength = BACKUP_PREFIX.length + 12 + 16;
  if (blob.length <= headerLength || !blob.subarray(0, BACKUP_PREFIX.length).equals(BACKUP_PREFIX)) throw kvErrors.malformedBackup();
  try {
    const iv = blob.subarray(BACKUP_PREFIX.length, BACKUP_PREFIX.length + 12);
    const tag = blob.subarray(BACKUP_PREFIX.length + 12, headerLength);
    const decipher = createDecipheriv("aes-256-gcm", key, iv);
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([decipher.update(blob.subarray(headerLength)), decipher.final()]).toString("utf8");
    const record = JSON.parse(plain) as SecretRecord;
    if (typeof record.name !== "string" || !Array.isArray(record.versions) || record.versions.length === 0) throw new Error("empty");
    return record;
  } catch {
    throw kvErrors.malformedBackup();
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
