// Cosmos DB account keys: which key a tag or a value names, the secret value formats,
// and the master-key authorization token. Pure functions.
import { createHmac } from "node:crypto";
import { ConfigurationError } from "../../core/errors.js";
import { Tag, choiceTag, parseTag, type Tags } from "../../core/tags.js";
import * as z from "zod/mini";
import "../../core/schema.js";
import { connectionStringFields } from "../../core/connection-string.js";

export const CosmosTag = { KeyKind: "KeyKind" } as const;

/** The four account keys, named as ARM's regenerateKey `keyKind` names them. */
export const CosmosKeySlot = {
  Primary: "primary",
  Secondary: "secondary",
  PrimaryReadonly: "primaryReadonly",
  SecondaryReadonly: "secondaryReadonly",
} as const;
export type CosmosKeySlot = (typeof CosmosKeySlot)[keyof typeof CosmosKeySlot];
export const COSMOS_SLOTS: readonly CosmosKeySlot[] = Object.values(CosmosKeySlot);

export const CosmosKeyPair = { ReadWrite: "readwrite", ReadOnly: "readonly" } as const;
export type CosmosKeyPair = (typeof CosmosKeyPair)[keyof typeof CosmosKeyPair];

export const CosmosSecretFormat = { Key: "key", ConnectionString: "connection-string" } as const;
export type CosmosSecretFormat = (typeof CosmosSecretFormat)[keyof typeof CosmosSecretFormat];

export function pairOf(slot: CosmosKeySlot): CosmosKeyPair {
  return slot === CosmosKeySlot.Primary || slot === CosmosKeySlot.Secondary ? CosmosKeyPair.ReadWrite : CosmosKeyPair.ReadOnly;
}

/** The other key of the same pair: the one a rotation regenerates. */
export function partnerOf(slot: CosmosKeySlot): CosmosKeySlot {
  switch (slot) {
    case CosmosKeySlot.Primary:
      return CosmosKeySlot.Secondary;
    case CosmosKeySlot.Secondary:
      return CosmosKeySlot.Primary;
    case CosmosKeySlot.PrimaryReadonly:
      return CosmosKeySlot.SecondaryReadonly;
    case CosmosKeySlot.SecondaryReadonly:
      return CosmosKeySlot.PrimaryReadonly;
  }
}

export function slotsOf(pair: CosmosKeyPair | undefined): readonly CosmosKeySlot[] {
  return pair === undefined ? COSMOS_SLOTS : COSMOS_SLOTS.filter((s) => pairOf(s) === pair);
}

const slotSchema = z.optional(choiceTag(COSMOS_SLOTS, `must be one of ${COSMOS_SLOTS.join(", ")}: the account key the current version holds`));
const pairSchema = z.optional(
  choiceTag(Object.values(CosmosKeyPair), `must be '${CosmosKeyPair.ReadWrite}' (primary/secondary) or '${CosmosKeyPair.ReadOnly}' (primaryReadonly/secondaryReadonly)`),
);
const formatSchema = z._default(
  choiceTag(Object.values(CosmosSecretFormat), `must be '${CosmosSecretFormat.Key}' (the bare key, default) or '${CosmosSecretFormat.ConnectionString}'`),
  CosmosSecretFormat.Key,
);

export function parseSlot(tags: Tags): CosmosKeySlot | undefined {
  return parseTag(tags, Tag.CredentialId, slotSchema);
}

/** KeyKind, or the pair CredentialId implies; undefined when neither tag says (found from the value). */
export function parsePair(tags: Tags, slot: CosmosKeySlot | undefined): CosmosKeyPair | undefined {
  const pair = parseTag(tags, CosmosTag.KeyKind, pairSchema);
  if (pair === undefined) return slot === undefined ? undefined : pairOf(slot);
  if (slot !== undefined && pairOf(slot) !== pair) {
    throw new ConfigurationError(`is ${slot}, a ${pairOf(slot)} key, but KeyKind is ${pair}`, Tag.CredentialId);
  }
  return pair;
}

export function parseCosmosFormat(tags: Tags): CosmosSecretFormat {
  return parseTag(tags, Tag.SecretFormat, formatSchema);
}

export function cosmosConnectionString(documentEndpoint: string, key: string): string {
  return `AccountEndpoint=${documentEndpoint};AccountKey=${key};`;
}

/** The key (and endpoint) a value of either format holds. */
export function readCosmosValue(value: string): { key: string; endpoint?: string } {
  if (!/(^|;)\s*AccountKey\s*=/i.test(value)) return { key: value.trim() };
  const fields = connectionStringFields(value);
  const endpoint = fields.get("accountendpoint");
  return { key: fields.get("accountkey") ?? "", ...(endpoint ? { endpoint } : {}) };
}

/** Endpoints compare equal when they differ only in case, a default :443, or a trailing slash. */
export function sameEndpoint(a: string, b: string): boolean {
  const norm = (u: string) => {
    try {
      const url = new URL(u);
      return `${url.protocol}//${url.hostname}${url.port && url.port !== "443" ? `:${url.port}` : ""}${url.pathname.replace(/\/+$/, "")}`.toLowerCase();
    } catch {
      return u.toLowerCase();
    }
  };
  return norm(a) === norm(b);
}

/**
 * The master-key authorization header value, as documented in "Access control in the
 * Azure Cosmos DB SQL API": HMAC-SHA256 over
 * verb \n resourceType \n resourceLink \n date \n \n (all lower case but the link),
 * keyed with the base64-decoded key, then URL-encoded.
 */
export function masterKeyAuthorization(verb: string, resourceType: string, resourceLink: string, date: string, key: string): string {
  const payload = `${verb.toLowerCase()}\n${resourceType.toLowerCase()}\n${resourceLink}\n${date.toLowerCase()}\n\n`;
  const signature = createHmac("sha256", Buffer.from(key, "base64")).update(payload, "utf8").digest("base64");
  return encodeURIComponent(`type=master&ver=1.0&sig=${signature}`);
}
