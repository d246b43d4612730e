// Rotation policy, read from a secret's tags. Tag names are matched case-insensitively
// (people type `validityPeriodDays`); values are trimmed. Every failure names the tag,
// so the owner knows what to fix; a bad tag is never retried.
import * as z from "zod/mini";
import { transformed } from "./schema.js";
import { ConfigurationError } from "./errors.js";

export const Tag = {
  ProviderAddress: "ProviderAddress",
  CredentialId: "CredentialId",
  ValidityPeriodDays: "ValidityPeriodDays",
  Rotator: "Rotator",
  Owner: "Owner",
  SecretFormat: "SecretFormat",
  /** `true` pauses automatic rotation of this secret (events and sweep); manual rotation still works. */
  RotationPaused: "RotationPaused",
  /** ARM resource IDs of the apps that read this secret through Key Vault references (core/consumers.ts). */
  Consumers: "Consumers",
} as const;

/** Key Vault's near-expiry event fires this many days before `exp`. */
export const NEAR_EXPIRY_DAYS = 30;
export const MAX_VALIDITY_DAYS = 3650;
export const MAX_TAGS = 15;
export const MAX_TAG_VALUE = 256;

export type Tags = Readonly<Record<string, string>>;

/** The actual key under which a tag is stored, matched case-insensitively. */
export function tagKey(tags: Tags, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return Object.keys(tags).find((k) => k.trim().toLowerCase() === wanted);
}

export function tagValue(tags: Tags, name: string): string | undefined {
  const key = tagKey(tags, name);
  if (key === undefined) return undefined;
  const v = tags[key]?.trim();
  return v === "" ? undefined : v;
}

/** Return tags with `name` set to `value`, keeping the owner's spelling of the key. */
export function withTag(tags: Tags, name: string, value: string): Record<string, string> {
  const out: Record<string, string> = { ...tags };
  out[tagKey(tags, name) ?? name] = value;
  return out;
}

/** Parse a tag with a zod schema; failures become ConfigurationError naming the tag. */
export function parseTag<T>(tags: Tags, name: string, schema: z.ZodMiniType<T>): T {
  const raw = tagValue(tags, name);
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    // A missing tag is "is required", or the schema's own "is required: …" that says what goes there.
    const detail = raw === undefined ? (issue?.message.startsWith("is required") ? issue.message : "is required") : issue?.message ?? "is not valid";
    throw new ConfigurationError(detail, name);
  }
  return result.data;
}

/** One of `values` in any case (people type tags), read as `values` spells it; `message` says what is allowed. */
export function choiceTag<V extends string>(values: readonly V[], message: string) {
  return transformed(z.string(), (raw, ctx) => {
    const found = values.find((v) => v.toLowerCase() === raw.toLowerCase());
    if (found === undefined) ctx.addIssue({ code: "custom", message });
    return found as V;
  });
}

/** A boolean tag: true/yes/1 or false/no/0, any case. */
export const booleanTag = transformed(z.string().check(z.regex(/^(true|yes|1|false|no|0)$/i, { message: "must be true or false" })), (v) => /^(true|yes|1)$/i.test(v));

export const integerTag = (min: number, max: number) =>
  z.pipe(
    transformed(z.string({ message: "is required" }).check(z.regex(/^\d{1,6}$/, { message: "must be a whole number" })), Number),
    z.int().check(z.gte(min, { message: `must be at least ${min}` }), z.lte(max, { message: `must be at most ${max}` })),
  );

export const validityDaysSchema = z.pipe(
  transformed(z.string({ message: "is required" }).check(z.regex(/^\d{1,6}$/, { message: "must be a whole number of days" })), Number),
  z.int().check(
    z.gte(NEAR_EXPIRY_DAYS + 1, {
      message: `must be more than ${NEAR_EXPIRY_DAYS}: Key Vault announces near-expiry ${NEAR_EXPIRY_DAYS} days before exp, so a shorter validity would rotate again at once, forever`,
    }),
    z.lte(MAX_VALIDITY_DAYS, { message: `must be at most ${MAX_VALIDITY_DAYS}` }),
  ),
);

/** Whether keyturn manages this secret at all: it carries one of the rotation tags. */
export function isManaged(tags: Tags): boolean {
  return [Tag.Rotator, Tag.ValidityPeriodDays, Tag.ProviderAddress].some((t) => tagValue(tags, t) !== undefined);
}

export function isPaused(tags: Tags): boolean {
  return /^(true|yes|1)$/i.test(tagValue(tags, Tag.RotationPaused) ?? "");
}

const armResourceId = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/([^/]+\/[^/]+)\/[^/]+/i;

/** The ARM resource type named by a ProviderAddress, lower case, e.g. `microsoft.storage/storageaccounts`. */
export function resourceTypeOf(providerAddress: string | undefined): string | undefined {
  if (!providerAddress) return undefined;
  return armResourceId.exec(providerAddress)?.[1]?.toLowerCase();
}
