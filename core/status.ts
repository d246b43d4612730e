// Rotation status of one secret, for `GET /api/vaults/{vault}/secrets/{name}` and
// `keyturn status`: the current version and its policy, the last rotation and what
// triggered it, and any journal an interrupted rotation left behind.
//
// Reads the secret's and the journal's version lists (attributes and tags). Key Vault
// lists versions by version id, not by age, and keeps `created` in whole seconds: when
// the newest versions tie, only a GET of the latest says which one is current, and its
// value is dropped unread (registered for redaction first). Nothing here returns a value.
import type { SecretClient, SecretProperties } from "@azure/keyvault-secrets";
import type { RotatorRegistry } from "./registry.js";
import { planFromTags } from "./engine.js";
import { KeyturnError, NotFoundError } from "./errors.js";
import { JournalState, JournalTag, journalName } from "./journal.js";
import { registerSecret } from "./redact.js";
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

/** Every version's properties; none for a name that does not exist (Key Vault answers 200 with an empty list). */
async function listVersions(client: SecretClient, name: string): Promise<SecretProperties[]> {
  const out: SecretProperties[] = [];
  for await (const p of client.listPropertiesOfSecretVersions(name)) out.push(p);
  return out;
}

const createdMs = (p: SecretProperties) => p.createdOn?.getTime() ?? 0;

/** The versions written in the newest second among `versions`. */
function newestSecond(versions: readonly SecretProperties[]): SecretProperties[] {
  const top = Math.max(...versions.map(createdMs));
  return versions.filter((p) => createdMs(p) === top);
}

/**
 * The current version. The newest `created` decides unless several versions share
 * that second; then GET of the latest does (no list order does: the list is sorted by
 * version id). A version written after the list was read wins as well.
 */
async function currentOf(client: SecretClient, name: string, versions: readonly SecretProperties[]): Promise<SecretProperties> {
  const newest = newestSecond(versions);
  if (newest.length === 1) return newest[0]!;
  try {
    const latest = await client.getSecret(name);
    registerSecret(latest.value);
    return versions.find((p) => p.version === latest.properties.version) ?? latest.properties;
  } catch (error) {
    // A disabled latest version cannot be read (403): it is the disabled one among them.
    if ((error as { statusCode?: number }).statusCode !== 403) throw error;
    const disabled = newest.filter((p) => p.enabled === false);
    return disabled.length === 1 ? disabled[0]! : newest.sort((a, b) => (b.updatedOn?.getTime() ?? 0) - (a.updatedOn?.getTime() ?? 0))[0]!;
  }
}

/**
 * The version before `current`: the newest of the others, or, when several of them
 * share a second, the one a journal says the current version replaced; null when
 * nothing tells them apart.
 */
function previousOf(versions: readonly SecretProperties[], current: SecretProperties, supersedes: string | null): SecretProperties | null | undefined {
  const others = versions.filter((p) => p.version !== current.version);
  if (others.length === 0) return undefined;
  const newest = newestSecond(others);
  if (newest.length === 1) return newest[0]!;
  return newest.find((p) => p.version === supersedes) ?? null;
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
  return currentOf(client, name, versions);
}

export async function readSecretStatus(client: SecretClient, vault: VaultRef, name: string, registry: RotatorRegistry): Promise<SecretStatus> {
  const journalSecret = journalName(name);
  const [versions, journalVersions] = await Promise.all([listVersions(client, name), listVersions(client, journalSecret)]);
  if (versions.length === 0) throw new NotFoundError(`secret ${name} was not found in vault ${vault.name}`);
  const [current, journalCurrent] = await Promise.all([
    currentOf(client, name, versions),
    journalVersions.length > 0 ? currentOf(client, journalSecret, journalVersions) : undefined,
  ]);
  const tags = current.tags ?? {};
  const journal = journalCurrent ? journalStatus(name, journalCurrent) : null;
  const previous = previousOf(versions, current, journal?.supersedes ?? null);

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
  if (previous !== undefined) {
    const recorded = journal && journal.state === JournalState.Committed && previous !== null && journal.supersedes === previous.version;
    lastRotation = {
      version: current.version ?? "",
      previousVersion: previous?.version ?? null,
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
