// Rotation status of one secret, for `GET /api/vaults/{vault}/secrets/{name}` and
// `keyturn status`: the current version and its policy, the last rotation and what
// triggered it, and any journal an interrupted rotation left behind.
//
// Property reads only: the secret's version list and the journal's version list
// (attributes and tags). No value is fetched, so none can leak from here — the
// journal's value holds a pending credential and is never read.
import type { SecretClient, SecretProperties } from "@azure/keyvault-secrets";
import type { RotatorRegistry } from "./registry.js";
import { planFromTags } from "./engine.js";
import { KeyturnError, NotFoundError } from "./errors.js";
import { JournalState, JournalTag, journalName } from "./journal.js";
import { Tag, isManaged, isPaused, tagValue } from "./tags.js";
import type { VaultRef } from "./vaults.js";

export interface JournalStatus {
  readonly name: string;
  readonly version: string;
  readonly state: JournalState | "foreign";
  /** The secret version the journalled rotation replaces. */
  readonly supersedes: string | null;
  readonly rotator: string | null;
  readonly trigger: string | null;
  readonly mode: string | null;
  readonly created: string | null;
  readonly updated: string | null;
}

export interface LastRotation {
  /** The version the rotation wrote (the current one when keyturn made it). */
  readonly version: string;
  readonly previousVersion: string | null;
  readonly at: string | null;
  /** What triggered it (event, http, sweep, cli); null when no journal records it (dual-credential kinds). */
  readonly trigger: string | null;
  readonly mode: string | null;
}

export interface SecretStatus {
  readonly vault: string;
  readonly secret: string;
  readonly managed: boolean;
  readonly paused: boolean;
  readonly rotator: string | null;
  readonly currentVersion: string;
  readonly credentialId: string | null;
  readonly owner: string | null;
  readonly validityPeriodDays: number | null;
  readonly enabled: boolean;
  readonly created: string | null;
  readonly updated: string | null;
  readonly notBefore: string | null;
  readonly expiresOn: string | null;
  readonly versions: number;
  readonly lastRotation: LastRotation | null;
  /** The journal's latest version; null for dual-credential kinds and secrets never rotated by a single-credential kind. */
  readonly journal: JournalStatus | null;
  /** The tags would not plan (the message names the tag). */
  readonly problem: string | null;
  /** What an operator should do, when something needs doing. */
  readonly attention: string | null;
}

const iso = (d: Date | undefined) => (d ? d.toISOString() : null);

async function listVersions(client: SecretClient, name: string): Promise<SecretProperties[]> {
  const out: SecretProperties[] = [];
  try {
    for await (const p of client.listPropertiesOfSecretVersions(name)) out.push(p);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return [];
    throw error;
  }
  return out;
}

/**
 * Order versions oldest first by creation time. Key Vault keeps `created` in whole
 * seconds, so versions written in the same second tie: the list order breaks the tie
 * (Key Vault and the double list in creation order).
 */
function byCreation(versions: SecretProperties[]): SecretProperties[] {
  return versions
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.createdOn?.getTime() ?? 0) - (b.p.createdOn?.getTime() ?? 0) || a.i - b.i)
    .map(({ p }) => p);
}

function journalStatus(secretName: string, p: SecretProperties): JournalStatus {
  const tags = p.tags ?? {};
  const state = tags[JournalTag.For] !== secretName
    ? "foreign"
    : tags[JournalTag.State] === JournalState.Pending
      ? JournalState.Pending
      : tags[JournalTag.State] === JournalState.RolledBack
        ? JournalState.RolledBack
        : JournalState.Committed;
  return {
    name: p.name,
    version: p.version ?? "",
    state,
    supersedes: tags[JournalTag.Supersedes] ?? null,
    rotator: tags[JournalTag.Rotator] ?? null,
    trigger: tags[JournalTag.Trigger] ?? null,
    mode: tags[JournalTag.Mode] ?? null,
    created: iso(p.createdOn),
    updated: iso(p.updatedOn),
  };
}

/** The latest version's properties (tags, attributes), without reading its value; NotFoundError when there is none. */
export async function latestVersionProperties(client: SecretClient, vault: VaultRef, name: string): Promise<SecretProperties> {
  const versions = await listVersions(client, name);
  if (versions.length === 0) throw new NotFoundError(`secret ${name} was not found in vault ${vault.name}`);
  return byCreation(versions).at(-1)!;
}

export async function readSecretStatus(client: SecretClient, vault: VaultRef, name: string, registry: RotatorRegistry): Promise<SecretStatus> {
  const [versions, journalVersions] = await Promise.all([listVersions(client, name), listVersions(client, journalName(name))]);
  if (versions.length === 0) throw new NotFoundError(`secret ${name} was not found in vault ${vault.name}`);
  const ordered = byCreation(versions);
  const current = ordered.at(-1)!;
  const previous = ordered.at(-2);
  const tags = current.tags ?? {};
  const journal = journalVersions.length > 0 ? journalStatus(name, byCreation(journalVersions).at(-1)!) : null;

  let rotator = tagValue(tags, Tag.Rotator) ?? null;
  let validityPeriodDays: number | null = null;
  let problem: string | null = null;
  const managed = isManaged(tags);
  if (managed) {
    try {
      const plan = planFromTags(tags, registry);
      rotator = plan.rotator.kind;
      validityPeriodDays = plan.validityDays;
    } catch (error) {
      problem = error instanceof KeyturnError ? error.message : String(error);
    }
  }

  // The current version is keyturn's when the journal's last committed rotation
  // replaced the version before it; otherwise all we know is when it was written.
  let lastRotation: LastRotation | null = null;
  if (previous) {
    const recorded = journal && journal.state === JournalState.Committed && journal.supersedes === previous.version;
    lastRotation = {
      version: current.version ?? "",
      previousVersion: previous.version ?? null,
      at: iso(current.createdOn),
      trigger: recorded ? journal.trigger : null,
      mode: recorded ? journal.mode : null,
    };
  }

  let attention: string | null = null;
  if (journal?.state === "foreign") {
    attention = `${journal.name} exists but is not keyturn's journal for ${name}: rename it, or rotations of ${name} fail`;
  } else if (journal?.state === JournalState.Pending) {
    attention =
      journal.supersedes === current.version
        ? "a rotation was interrupted (or is running now): rotate again to roll the journal forward"
        : `a pending journal replaces version ${journal.supersedes}, but the latest version is ${current.version}: check which credential works at the provider before rotating again`;
  } else if (problem) {
    attention = "fix the tag named above; rotation fails until then";
  } else if (current.enabled === false) {
    attention = "the latest version is disabled";
  }

  return {
    vault: vault.name,
    secret: current.name,
    managed,
    paused: isPaused(tags),
    rotator,
    currentVersion: current.version ?? "",
    credentialId: tagValue(tags, Tag.CredentialId) ?? null,
    owner: tagValue(tags, Tag.Owner) ?? null,
    validityPeriodDays,
    enabled: current.enabled !== false,
    created: iso(current.createdOn),
    updated: iso(current.updatedOn),
    notBefore: iso(current.notBefore),
    expiresOn: iso(current.expiresOn),
    versions: versions.length,
    lastRotation,
    journal,
    problem,
    attention,
  };
}
