// The rotation journal: a write-ahead record in Key Vault itself.
//
// A single-credential kind (one password) generates the new value and writes it here
// BEFORE the provider is touched. If the process dies after the provider accepted the
// new password but before the new secret version was written, the next trigger finds
// the journal and rolls forward with the same value, instead of generating another one
// and losing the only password that now works.
//
// One journal secret per rotated secret, named `keyturn-journal-<name>`. Each rotation
// writes a new version (state `pending`); the commit marks it `committed` by a tag
// update. Versions are never deleted: a soft-deleted name could not be written again
// until purged. After the commit the journal holds the same value as the live secret,
// so keeping it readable exposes nothing new.
import { createHash } from "node:crypto";
import type { SecretClient } from "@azure/keyvault-secrets";
import { JournalError } from "./errors.js";
import type { Logger } from "./log.js";
import { registerSecret } from "./redact.js";
import type { PendingCredential } from "./rotator.js";
import { Step } from "./rotation.js";

export const JOURNAL_PREFIX = "keyturn-journal-";
export const JOURNAL_CONTENT_TYPE = "application/vnd.keyturn.journal+json";
export const JournalTag = {
  For: "KeyturnJournalFor",
  State: "KeyturnJournalState",
  Supersedes: "KeyturnSupersedes",
  Rotator: "Rotator",
  /** What started the rotation (event, http, sweep, cli) and its mode: read by the status route. */
  Trigger: "KeyturnTrigger",
  Mode: "KeyturnMode",
  /** Who asked for a manual rotation (App Service Authentication's principal name and object id). */
  CallerName: "KeyturnCallerName",
  CallerId: "KeyturnCallerId",
} as const;
export const JournalState = { Pending: "pending", Committed: "committed", RolledBack: "rolled-back" } as const;
export type JournalState = (typeof JournalState)[keyof typeof JournalState];

export function journalName(secretName: string): string {
  const direct = `${JOURNAL_PREFIX}${secretName}`;
  if (direct.length <= 127) return direct;
  return `${JOURNAL_PREFIX}${createHash("sha256").update(secretName).digest("hex").slice(0, 64)}`;
}

/** Key Vault object names are case-insensitive: so is this test. */
export function isJournalName(name: string): boolean {
  return name.toLowerCase().startsWith(JOURNAL_PREFIX);
}

export interface JournalEntry {
  readonly journalVersion: string;
  readonly secretName: string;
  /** The secret version this rotation replaces. */
  readonly supersedes: string;
  readonly rotator: string;
  readonly state: JournalState;
  readonly pending: PendingCredential;
  readonly createdOn: Date | undefined;
  readonly trigger?: string;
  readonly mode?: string;
  readonly callerName?: string;
  readonly callerId?: string;
}

/** What started a journalled rotation; kept in the journal's tags (never the user's secret's). */
export interface JournalOrigin {
  readonly trigger?: string;
  readonly mode?: string;
  readonly callerName?: string;
  readonly callerId?: string;
}

function originTags(origin: JournalOrigin): Record<string, string> {
  return {
    ...(origin.trigger !== undefined ? { [JournalTag.Trigger]: origin.trigger } : {}),
    ...(origin.mode !== undefined ? { [JournalTag.Mode]: origin.mode } : {}),
    // Key Vault tag values hold 256 characters.
    ...(origin.callerName !== undefined ? { [JournalTag.CallerName]: origin.callerName.slice(0, 256) } : {}),
    ...(origin.callerId !== undefined ? { [JournalTag.CallerId]: origin.callerId } : {}),
  };
}

interface JournalBody {
  v: 1;
  credentialId?: string;
  secretValue: string;
  contentType?: string;
  state?: Record<string, string>;
}

function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number }).statusCode === 404;
}

/** The journal's latest version, or undefined when there is none. Idempotent read. */
export async function readJournal(client: SecretClient, secretName: string): Promise<JournalEntry | undefined> {
  const name = journalName(secretName);
  let secret;
  try {
    secret = await client.getSecret(name);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  const tags = secret.properties.tags ?? {};
  if (tags[JournalTag.For] !== secretName) {
    throw new JournalError(`secret ${name} exists but is not keyturn's journal for ${secretName}; rename it`);
  }
  let body: JournalBody;
  try {
    body = JSON.parse(secret.value ?? "") as JournalBody;
  } catch {
    throw new JournalError(`journal ${name} version ${secret.properties.version} does not parse`);
  }
  registerSecret(body.secretValue);
  return {
    journalVersion: secret.properties.version ?? "",
    secretName,
    supersedes: tags[JournalTag.Supersedes] ?? "",
    rotator: tags[JournalTag.Rotator] ?? "",
    state: tags[JournalTag.State] === JournalState.Pending ? JournalState.Pending : tags[JournalTag.State] === JournalState.RolledBack ? JournalState.RolledBack : JournalState.Committed,
    pending: {
      credentialId: body.credentialId,
      secretValue: body.secretValue,
      ...(body.contentType !== undefined ? { contentType: body.contentType } : {}),
      ...(body.state !== undefined ? { state: body.state } : {}),
    },
    createdOn: secret.properties.createdOn,
    ...(tags[JournalTag.Trigger] !== undefined ? { trigger: tags[JournalTag.Trigger] } : {}),
    ...(tags[JournalTag.Mode] !== undefined ? { mode: tags[JournalTag.Mode] } : {}),
    ...(tags[JournalTag.CallerName] !== undefined ? { callerName: tags[JournalTag.CallerName] } : {}),
    ...(tags[JournalTag.CallerId] !== undefined ? { callerId: tags[JournalTag.CallerId] } : {}),
  };
}

/** Write-ahead: record the new credential before the provider sees it. */
export async function writeJournal(
  client: SecretClient,
  secretName: string,
  supersedes: string,
  rotator: string,
  pending: PendingCredential,
  origin: JournalOrigin = {},
): Promise<string> {
  const body: JournalBody = {
    v: 1,
    secretValue: pending.secretValue,
    ...(pending.credentialId !== undefined ? { credentialId: pending.credentialId } : {}),
    ...(pending.contentType !== undefined ? { contentType: pending.contentType } : {}),
    ...(pending.state !== undefined ? { state: { ...pending.state } } : {}),
  };
  const written = await client.setSecret(journalName(secretName), JSON.stringify(body), {
    contentType: JOURNAL_CONTENT_TYPE,
    tags: {
      [JournalTag.For]: secretName,
      [JournalTag.State]: JournalState.Pending,
      [JournalTag.Supersedes]: supersedes,
      [JournalTag.Rotator]: rotator,
      ...originTags(origin),
    },
  });
  return written.properties.version ?? "";
}

/**
 * Mark the journal done: `committed` after the new version was written, `rolled-back`
 * after the provider was given the previous credential back. Running it twice is
 * harmless (the same tags are written again).
 */
export async function commitJournal(
  client: SecretClient,
  entry: { secretName: string; journalVersion: string; supersedes: string; rotator: string } & JournalOrigin,
  state: JournalState = JournalState.Committed,
): Promise<void> {
  await client.updateSecretProperties(journalName(entry.secretName), entry.journalVersion, {
    tags: {
      [JournalTag.For]: entry.secretName,
      [JournalTag.State]: state,
      [JournalTag.Supersedes]: entry.supersedes,
      [JournalTag.Rotator]: entry.rotator,
      ...originTags(entry),
    },
  });
}

/** What a journal left by an earlier rotation means now: one to roll forward, or one marked done. */
export interface SettledJournal {
  /** Pending and replacing the latest version: the rotation to finish. */
  readonly pending?: JournalEntry;
  /** A pending journal had nothing left to do and was marked (committed or rolled back). */
  readonly marked: boolean;
}

/**
 * Read the secret's journal and settle what an interrupted rotation left. A pending journal
 * whose value is already the latest version had committed (only its bookkeeping was
 * lost); one of a kind that changes no provider never became a credential anywhere. Any
 * other pending journal that does not replace the latest version is a JournalError.
 */
export async function settleJournal(
  client: SecretClient,
  secretName: string,
  current: { readonly version: string; readonly value: string },
  changesProvider: boolean,
  log: Logger,
): Promise<SettledJournal> {
  const journal = await readJournal(client, secretName);
  if (journal?.state !== JournalState.Pending) return { marked: false };
  if (journal.supersedes === current.version) return { pending: journal, marked: false };
  if (journal.pending.secretValue === current.value) {
    await commitJournal(client, journal);
    log.info("journal was already committed; marked it", { step: Step.ReadJournal });
    return { marked: true };
  }
  if (!changesProvider) {
    await commitJournal(client, journal, JournalState.RolledBack);
    log.info("journal of a kind that changes no provider was left pending; marked it rolled back", { step: Step.ReadJournal });
    return { marked: true };
  }
  throw new JournalError(
    `a pending journal for ${secretName} replaces version ${journal.supersedes}, but the latest version is ${current.version} with another value; ` +
      "check which credential works at the provider before rotating again",
  );
}
