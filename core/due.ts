// What the sweep would rotate: managed secrets whose latest version expires within a
// window (or already expired), found by paging through the vault's secret list.
//
// Property reads only: the list carries each secret's current-version attributes and
// tags, never a value. Shared by `GET /api/vaults/{vault}/due`, `keyturn scan` and the
// sweep timer, so the three cannot disagree about what is due.
import type { SecretClient, SecretProperties } from "@azure/keyvault-secrets";
import type { RotatorRegistry } from "./registry.js";
import { planFromTags } from "./engine.js";
import { BadRequestError, KeyturnError } from "./errors.js";
import { JournalState, JournalTag, isJournalName } from "./journal.js";
import { Tag, isManaged, isPaused, tagValue } from "./tags.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
export const DEFAULT_WITHIN = "30d";
/** Ten years: the longest validity a tag may ask for. */
const MAX_WITHIN_DAYS = 3650;

export interface Within {
  /** As the caller wrote it, normalised (`30d`, `12h`). */
  readonly text: string;
  readonly ms: number;
}

/** Parse a window such as `30d` or `12h`; throws BadRequestError saying what is wrong. */
export function parseWithin(raw: string | undefined | null): Within {
  const text = (raw ?? DEFAULT_WITHIN).trim();
  const m = /^(\d{1,5})([dh])$/i.exec(text);
  if (!m) throw new BadRequestError(`within must be a whole number of days or hours, such as 30d or 12h (got '${text.slice(0, 32)}')`);
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  const ms = n * (unit === "d" ? DAY_MS : HOUR_MS);
  if (ms > MAX_WITHIN_DAYS * DAY_MS) throw new BadRequestError(`within must be at most ${MAX_WITHIN_DAYS}d`);
  return { text: `${n}${unit}`, ms };
}

export const DueReason = {
  /** exp is within the window. */
  NearExpiry: "near-expiry",
  /** exp has passed. */
  Expired: "expired",
} as const;
export type DueReason = (typeof DueReason)[keyof typeof DueReason];

export const NotDueReason = {
  Paused: "paused",
  Disabled: "disabled",
  NoExpiry: "no-expiry",
  RecentlyRotated: "recently-rotated",
} as const;
export type NotDueReason = (typeof NotDueReason)[keyof typeof NotDueReason];

export interface DueSecret {
  readonly secret: string;
  readonly reason: DueReason;
  readonly expiresOn: string;
  /** Whole days until exp, toward zero: negative once expired a day or more ago. */
  readonly daysLeft: number;
  readonly rotator: string | null;
  readonly credentialId: string | null;
  readonly owner: string | null;
  /** The tags would not plan: the sweep will report this to the owner instead of rotating. */
  readonly problem?: string;
}

export interface SkippedSecret {
  readonly secret: string;
  readonly reason: NotDueReason;
  readonly expiresOn: string | null;
}

export interface PendingJournal {
  /** The secret whose rotation was interrupted. */
  readonly secret: string;
  readonly journal: string;
  readonly supersedes: string | null;
}

export interface DueReport {
  readonly vault: string;
  readonly within: string;
  readonly asOf: string;
  /** Secrets listed (all of them, managed or not). */
  readonly scanned: number;
  /** Sorted by expiry, soonest (or longest expired) first. */
  readonly due: readonly DueSecret[];
  /** Managed and within the window, but the sweep would leave them alone. */
  readonly skipped: readonly SkippedSecret[];
  /** Interrupted single-credential rotations: the sweep rolls these forward. */
  readonly pendingJournals: readonly PendingJournal[];
}

export interface FindDueOptions {
  readonly vault: string;
  readonly within: Within;
  readonly now: Date;
  readonly registry: RotatorRegistry;
  /** The loop guard: a version younger than this is not rotated by the sweep. */
  readonly guardMs?: number;
  /** Called after each page with the number of secrets listed so far. */
  readonly onProgress?: (scanned: number) => void;
  /** Page size asked of Key Vault (1..25). */
  readonly pageSize?: number;
}

/** Classify one listed secret; pure, for the sweep and tests. */
export function classifySecret(
  p: Pick<SecretProperties, "name" | "tags" | "expiresOn" | "enabled" | "createdOn">,
  opts: Pick<FindDueOptions, "within" | "now" | "registry" | "guardMs">,
): { due: DueSecret } | { skipped: SkippedSecret } | { journal: PendingJournal } | undefined {
  const tags = p.tags ?? {};
  if (isJournalName(p.name)) {
    if (tags[JournalTag.State] === JournalState.Pending && tags[JournalTag.For]) {
      return { journal: { secret: tags[JournalTag.For]!, journal: p.name, supersedes: tags[JournalTag.Supersedes] ?? null } };
    }
    return undefined;
  }
  if (!isManaged(tags)) return undefined;
  const exp = p.expiresOn;
  const now = opts.now.getTime();
  if (!exp) return { skipped: { secret: p.name, reason: NotDueReason.NoExpiry, expiresOn: null } };
  if (exp.getTime() > now + opts.within.ms) return undefined;
  const expiresOn = exp.toISOString();
  if (isPaused(tags)) return { skipped: { secret: p.name, reason: NotDueReason.Paused, expiresOn } };
  if (p.enabled === false) return { skipped: { secret: p.name, reason: NotDueReason.Disabled, expiresOn } };
  if (opts.guardMs && p.createdOn && now - p.createdOn.getTime() < opts.guardMs) {
    return { skipped: { secret: p.name, reason: NotDueReason.RecentlyRotated, expiresOn } };
  }
  let rotator = tagValue(tags, Tag.Rotator) ?? null;
  let problem: string | undefined;
  try {
    rotator = planFromTags(tags, opts.registry).rotator.kind;
  } catch (error) {
    problem = error instanceof KeyturnError ? error.message : String(error);
  }
  const left = exp.getTime() - now;
  return {
    due: {
      secret: p.name,
      reason: left <= 0 ? DueReason.Expired : DueReason.NearExpiry,
      expiresOn,
      daysLeft: Math.trunc(left / DAY_MS) || 0, // `|| 0`: no -0
      rotator,
      credentialId: tagValue(tags, Tag.CredentialId) ?? null,
      owner: tagValue(tags, Tag.Owner) ?? null,
      ...(problem !== undefined ? { problem } : {}),
    },
  };
}

/** Page through the vault and report what is due. Reads properties only. */
export async function findDueSecrets(client: SecretClient, opts: FindDueOptions): Promise<DueReport> {
  const due: DueSecret[] = [];
  const skipped: SkippedSecret[] = [];
  const pendingJournals: PendingJournal[] = [];
  let scanned = 0;
  for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: opts.pageSize ?? 25 })) {
    for (const p of page) {
      scanned++;
      const c = classifySecret(p, opts);
      if (!c) continue;
      if ("due" in c) due.push(c.due);
      else if ("skipped" in c) skipped.push(c.skipped);
      else pendingJournals.push(c.journal);
    }
    opts.onProgress?.(scanned);
  }
  due.sort((a, b) => a.expiresOn.localeCompare(b.expiresOn) || a.secret.localeCompare(b.secret));
  skipped.sort((a, b) => a.secret.localeCompare(b.secret));
  pendingJournals.sort((a, b) => a.secret.localeCompare(b.secret));
  return { vault: opts.vault, within: opts.within.text, asOf: opts.now.toISOString(), scanned, due, skipped, pendingJournals };
}
