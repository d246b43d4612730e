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
import { VersionedObjects, applyAttributePatch, assertObjectName, assertTags, newVersionAttributes, type AttributePatch, type ObjectRecord, type ObjectVersion, type VersionInput } from "./versioned.js";

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

const MAX_VALUE_BYTES = 25 * 1024;

export interface SecretVersion extends ObjectVersion {
  readonly value: string;
  contentType?: string;
  /** The secret backs a certificate (Key Vault sets `managed: true` and `kid`); see certificates.ts. */
  managed?: boolean;
  kid?: string;
}

export type SecretRecord = ObjectRecord<SecretVersion>;

export interface DeletedSecretRecord {
  readonly secret: SecretRecord;
  /** Unix seconds. */
  readonly deletedDate: number;
  readonly scheduledPurgeDate: number;
}

export interface SecretInput extends VersionInput {
  value: string;
  contentType?: string;
  /** Certificate-backed secrets only (with the certificate's `version` id): `managed: true` and the key id. */
  managed?: boolean;
  kid?: string;
}

/** `null` clears an attribute, `undefined` leaves it alone. */
export interface SecretPatch extends AttributePatch {
  contentType?: string | null;
}

/** A delete, recover or purge the service has accepted but not yet finished everywhere. */
type Transition = "deleting" | "recovering" | "purging";

export class SecretStore extends VersionedObjects<SecretVersion, SecretRecord> {
  private readonly deleted = new Map<string, DeletedSecretRecord>();
  private readonly transitions = new Map<string, { state: Transition; untilMs: number }>();

  /**
   * `now` returns unix seconds of the virtual clock; `settleMs` how long a delete,
   * recover or purge takes to become visible (real milliseconds); `backupKey` the
   * 32-byte key that backup blobs are sealed with (shared by the vaults of one double,
   * as restore works across vaults of a subscription).
   */
  constructor(
    now: () => number,
    private readonly settleMs: () => number = () => 0,
    private readonly backupKey: Buffer = randomBytes(32),
    private readonly recovery: RecoveryPolicy = DEFAULT_RECOVERY,
  ) {
    super(now, kvErrors.secretNotFound);
  }

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
  protected override visible(key: string): SecretRecord | undefined {
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
    assertObjectName(name);
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
    const version: SecretVersion = {
      ...newVersionAttributes(input, this.now()),
      value: input.value,
      ...(input.contentType === undefined ? {} : { contentType: input.contentType }),
      ...(input.managed ? { managed: true } : {}),
      ...(input.kid === undefined ? {} : { kid: input.kid }),
    };
    const record = this.append(name, version, () => ({ name, versions: [] }));
    return { record, version };
  }

  update(name: string, version: string | undefined, patch: SecretPatch): { record: SecretRecord; version: SecretVersion } {
    const found = this.get(name, version);
    const target = found.version;
    applyAttributePatch(target, patch, this.now()); // first: it refuses bad tags before anything changes
    if (patch.contentType === null) delete target.contentType;
    else if (patch.contentType !== undefined) target.contentType = patch.contentType;
    return found;
  }

  /** Soft-deletes the secret with all its versions; a certificate's backing secret cannot be. */
  delete(name: string): DeletedSecretRecord {
    assertObjectName(name);
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
    assertObjectName(name);
    const key = name.toLowerCase();
    // Until the delete has finished, the deleted secret is not found (recorded: the
    // SDK's delete poller reads 404 before 200).
    const deleted = this.transition(key) === "deleting" ? undefined : this.deleted.get(key);
    if (!deleted) throw kvErrors.deletedSecretNotFound(name);
    return deleted;
  }

  recover(name: string): SecretRecord {
    assertObjectName(name);
    const key = name.toLowerCase();
    if (this.transition(key) === "deleting") throw kvErrors.secretBeingDeleted(name);
    const deleted = this.getDeleted(name);
    this.deleted.delete(key);
    this.live.set(key, deleted.secret);
    this.begin(key, "recovering");
    return deleted.secret;
  }

  purge(name: string): void {
    assertObjectName(name);
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

  listDeleted(): DeletedSecretRecord[] {
    return [...this.deleted.entries()]
      .filter(([key]) => this.transition(key) !== "deleting")
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, record]) => record);
  }

  /** Removes deleted secrets whose retention ended (Key Vault purges them itself). */
  purgeExpired(): void {
    const now = this.now();
    for (const [key, deleted] of this.deleted) {
      if (deleted.scheduledPurgeDate <= now) this.deleted.delete(key);
    }
  }
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
