// cosmos-db-key — an account key of an Azure Cosmos DB account: the read-write pair
// (primary / secondary) or the read-only pair (primaryReadonly / secondaryReadonly),
// held in Key Vault as the bare key or as a connection string.
//
// Model: dual credential. Consumers use the key CredentialId names; a rotation
// regenerates the other key of the same pair (regenerateKey, a long-running
// operation), reads it back (listKeys / listReadOnlyKeys), proves it with a signed
// data-plane request, and commits it with CredentialId switched. The previous key keeps
// working until the next rotation; emergency mode regenerates it at once.
//
//   check current  listKeys: the value in Key Vault must be the key CredentialId names
//                  (without CredentialId: the key it matches, never a guess); a connection
//                  string must name this account's endpoint; an account with local
//                  (key) authentication disabled is refused: its keys authorise nothing.
//   create         beginRegenerateKeyAndWait(the other key of the pair), then list the keys.
//   verify         GET of the database account at documentEndpoint with a master-key
//                  token signed with the new key (Cosmos DB's documented HMAC scheme,
//                  node:crypto), through @azure/core-rest-pipeline with keyturn's TLS and
//                  retry options; retried briefly while a new key propagates.
//   revoke         (emergency) regenerate the previously active key.
//
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg-data/providers/Microsoft.DocumentDB/databaseAccounts/cosmos-orders
//                   (the Rotator tag may be left out: this resource type selects the kind)
//   Rotator=cosmos-db-key              optional
//   CredentialId=primary               primary | secondary | primaryReadonly | secondaryReadonly; written by keyturn
//   KeyKind=readwrite | readonly       optional: which pair; implied by CredentialId
//   SecretFormat=key | connection-string    connection-string: AccountEndpoint=<documentEndpoint>;AccountKey=<key>;
// Azure role: the custom role of access.ts on the account (read, listKeys, readonlykeys,
// regenerateKey and the operation results). No built-in role fits: DocumentDB Account
// Contributor could also grant itself data-plane roles, Cosmos DB Operator excludes keys.
// Failure: check current changes nothing; create or verify failing leaves the active
// key, which Key Vault holds, untouched (only the unused key was regenerated, and the
// next rotation regenerates it again); a Key Vault commit failure leaves the previous
// version, whose key still works, the latest. ARM 403 names the role, 404 is a
// configuration error naming ProviderAddress, 429/5xx and server-side operation failures
// are transient. No key ever appears in a message or a log line.
import * as z from "zod/mini";
import "../../core/schema.js";
import { armCall, parseProviderAddress, sleep, type ArmResourceId, type ArmRotatorTimings } from "../../core/arm.js";
import { armAnswer, armRest } from "../../core/arm-rest.js";
import { dataPlaneGet } from "../../core/dataplane.js";
import { ConfigurationError, ProviderError, TransientError, VerificationError } from "../../core/errors.js";
import { CredentialModel, type CurrentSecret, type PendingCredential, type Rotator, type RotatorContext } from "../../core/rotator.js";
import { Tag } from "../../core/tags.js";
import {
  CosmosKeyPair,
  CosmosSecretFormat,
  CosmosTag,
  cosmosConnectionString,
  masterKeyAuthorization,
  pairOf,
  parseCosmosFormat,
  parsePair,
  parseSlot,
  partnerOf,
  readCosmosValue,
  sameEndpoint,
  slotsOf,
  type CosmosKeySlot,
} from "./format.js";
import { cosmosDbKeyAccess } from "./access.js";

export { CosmosKeySlot, CosmosKeyPair, CosmosSecretFormat, cosmosConnectionString, masterKeyAuthorization } from "./format.js";

export const COSMOS_ACCOUNT_TYPE = "microsoft.documentdb/databaseaccounts";
export const COSMOS_ROLE = cosmosDbKeyAccess.roleName;
const EXAMPLE = "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/Microsoft.DocumentDB/databaseAccounts/<account>";
/** The data-plane API version the verifying request sends. */
const COSMOS_API_VERSION = "2018-12-31";

export interface CosmosDbKeyParams {
  readonly account: ArmResourceId;
  /** The key the current version holds, as tagged; undefined: found from the value. */
  readonly credentialId: CosmosKeySlot | undefined;
  /** The pair rotated; undefined: the pair of the key the value matches. */
  readonly pair: CosmosKeyPair | undefined;
  readonly format: CosmosSecretFormat;
}

/** `pollIntervalMs`: of regenerateKey. */
export type CosmosDbKeyOptions = ArmRotatorTimings;

const DEFAULT_VERIFY_DELAYS_MS = [0, 2_000, 5_000, 10_000] as const;

// Four ARM calls go through core/arm-rest.ts (the SDK's pipeline and core-lro poller)
// rather than @azure/arm-cosmosdb, whose models a host would compile and keep for them.
// The version that SDK (16.4.0) sends, which emulators/arm/api-versions.ts lists first.
const ARM_API_VERSION = "2025-10-15";

/** ARM's answer to listKeys (all four) and readonlykeys (the read-only two). */
const keysSchema = z.object({
  primaryMasterKey: z.nullish(z.string()),
  secondaryMasterKey: z.nullish(z.string()),
  primaryReadonlyMasterKey: z.nullish(z.string()),
  secondaryReadonlyMasterKey: z.nullish(z.string()),
});
/** What keyturn reads of a Microsoft.DocumentDB/databaseAccounts resource. */
const accountSchema = z.object({ properties: z.nullish(z.object({ documentEndpoint: z.nullish(z.string()), disableLocalAuth: z.nullish(z.boolean()) })) });

const call = (account: ArmResourceId, action: string) => ({ action, resource: account, role: COSMOS_ROLE });

type Keys = Partial<Record<CosmosKeySlot, string>>;

/** The keys of `pair` (all four when undefined), registered as secrets. */
async function listKeys(ctx: RotatorContext, params: CosmosDbKeyParams, pair: CosmosKeyPair | undefined): Promise<Keys> {
  const arm = await armRest(ctx, params.account.subscriptionId);
  const id = params.account.id;
  let keys: Keys;
  if (pair === CosmosKeyPair.ReadOnly) {
    // listReadOnlyKeys (POST readonlykeys) needs only readonlykeys/action.
    const body = await armCall(call(params.account, "list the read-only keys of"), () => arm.send("POST", `${id}/readonlykeys`, ARM_API_VERSION));
    const r = armAnswer(keysSchema, body, "readonlykeys");
    keys = { primaryReadonly: r.primaryReadonlyMasterKey ?? undefined, secondaryReadonly: r.secondaryReadonlyMasterKey ?? undefined };
  } else {
    const body = await armCall(call(params.account, "list the keys of"), () => arm.send("POST", `${id}/listKeys`, ARM_API_VERSION));
    const r = armAnswer(keysSchema, body, "listKeys");
    keys = {
      primary: r.primaryMasterKey ?? undefined,
      secondary: r.secondaryMasterKey ?? undefined,
      primaryReadonly: r.primaryReadonlyMasterKey ?? undefined,
      secondaryReadonly: r.secondaryReadonlyMasterKey ?? undefined,
    };
  }
  for (const v of Object.values(keys)) if (v) ctx.registerSecret(v);
  return keys;
}

export interface AccountFacts {
  readonly documentEndpoint: string;
}

async function accountFacts(ctx: RotatorContext, account: ArmResourceId): Promise<AccountFacts> {
  const arm = await armRest(ctx, account.subscriptionId);
  const a = armAnswer(accountSchema, await armCall(call(account, "read"), () => arm.send("GET", account.id, ARM_API_VERSION)), "reading the account").properties ?? {};
  if (a.disableLocalAuth === true) {
    throw new ProviderError(
      `Cosmos DB account ${account.id} has local (key) authentication disabled: its keys authorise nothing, so keyturn cannot prove a new one works. ` +
        "Stop rotating this secret, or enable key authentication",
    );
  }
  if (!a.documentEndpoint) throw new ProviderError(`ARM reports no documentEndpoint for ${account.id}`);
  return { documentEndpoint: a.documentEndpoint };
}

/** Which key the current value holds, checked against the tags. Throws unless exactly one matches. */
function activeSlotOf(params: CosmosDbKeyParams, current: CurrentSecret, keys: Keys, documentEndpoint?: string): CosmosKeySlot {
  const { key, endpoint } = readCosmosValue(current.value);
  if (endpoint !== undefined && documentEndpoint !== undefined && !sameEndpoint(endpoint, documentEndpoint)) {
    throw new ConfigurationError(
      `names Cosmos DB account ${params.account.name} (${documentEndpoint}), but the connection string in Key Vault is for ${endpoint.slice(0, 200)}`,
      Tag.ProviderAddress,
    );
  }
  const found = slotsOf(params.pair).find((s) => keys[s] === key);
  if (!found) {
    throw new ProviderError(
      `the value in Key Vault is none of the ${params.pair ? `${params.pair} ` : ""}keys of Cosmos DB account ${params.account.id}` +
        ": ProviderAddress names another account, or the key was regenerated outside keyturn. Put the key consumers use now into Key Vault (with its CredentialId), then rotate",
    );
  }
  if (params.credentialId !== undefined && params.credentialId !== found) {
    throw new ConfigurationError(`says ${params.credentialId}, but the value in Key Vault is the ${found} key; set CredentialId=${found} if consumers use it`, Tag.CredentialId);
  }
  return found;
}

/**
 * What checkCurrent learned, for create in the same rotation (the engine passes it on);
 * absent in a roll-forward or when create runs alone: create reads it then.
 */
export interface CosmosDbKeyFacts {
  readonly active: CosmosKeySlot;
  readonly account: AccountFacts;
}

/** GET of the database account, signed with `key`: 200 when Cosmos DB accepts the key. */
async function signedAccountRead(ctx: RotatorContext, documentEndpoint: string, key: string): Promise<number> {
  const date = new Date().toUTCString();
  return dataPlaneGet(ctx, documentEndpoint, {
    authorization: masterKeyAuthorization("GET", "", "", date, key),
    "x-ms-date": date,
    "x-ms-version": COSMOS_API_VERSION,
    accept: "application/json",
  });
}

export function createCosmosDbKeyRotator(options: CosmosDbKeyOptions = {}) {
  const verifyDelaysMs = options.verifyDelaysMs ?? DEFAULT_VERIFY_DELAYS_MS;
  const pollOptions = options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {};

  async function regenerate(ctx: RotatorContext, params: CosmosDbKeyParams, slot: CosmosKeySlot): Promise<string> {
    const arm = await armRest(ctx, params.account.subscriptionId);
    // No finalStateVia: core-lro's default, as @azure/arm-cosmosdb's beginRegenerateKeyAndWait polls.
    await armCall(call(params.account, `regenerate the ${slot} key of`), () =>
      arm.sendAndWait("POST", `${params.account.id}/regenerateKey`, ARM_API_VERSION, { keyKind: slot }, pollOptions),
    );
    const key = (await listKeys(ctx, params, pairOf(slot)))[slot];
    if (!key) throw new ProviderError(`ARM's key list for ${params.account.id} lacks the ${slot} key`);
    return key;
  }

  return {
    kind: "cosmos-db-key",
    access: cosmosDbKeyAccess,
    model: CredentialModel.Dual,
    description: "an account key (primary/secondary, or the read-only pair) of an Azure Cosmos DB account",
    resourceTypes: [COSMOS_ACCOUNT_TYPE],
    tags: [CosmosTag.KeyKind, Tag.SecretFormat],

    parse(tags): CosmosDbKeyParams {
      const account = parseProviderAddress(tags, COSMOS_ACCOUNT_TYPE, EXAMPLE, /^[a-z0-9][a-z0-9-]{1,48}[a-z0-9]$/i);
      const credentialId = parseSlot(tags);
      return { account, credentialId, pair: parsePair(tags, credentialId), format: parseCosmosFormat(tags) };
    },

    // Read-only: the account and its keys.
    async checkCurrent(ctx, params, current) {
      // Two independent reads, side by side: a rotation holds its delivery while it waits.
      const [facts, keys] = await Promise.all([accountFacts(ctx, params.account), listKeys(ctx, params, params.pair)]);
      const active = activeSlotOf(params, current, keys, facts.documentEndpoint);
      return { active, account: facts };
    },

    // Regenerates the key of the pair that consumers do not use; doing it twice only
    // regenerates that unused key again.
    async create(ctx, params, current, checked): Promise<PendingCredential> {
      // What checkCurrent just read and checked in this rotation; otherwise read it now.
      const facts = checked?.account ?? (await accountFacts(ctx, params.account));
      const active = checked?.active ?? params.credentialId ?? activeSlotOf(params, current, await listKeys(ctx, params, params.pair), facts.documentEndpoint);
      const target = partnerOf(active);
      const key = await regenerate(ctx, params, target);
      const value = params.format === CosmosSecretFormat.ConnectionString ? cosmosConnectionString(facts.documentEndpoint, key) : key;
      ctx.registerSecret(value);
      ctx.log.info(`regenerated the ${target} key, which consumers do not use`, { step: "create" });
      return { credentialId: target, secretValue: value, state: { documentEndpoint: facts.documentEndpoint } };
    },

    // A read signed with the new key; Cosmos DB checks it against the current keys.
    async verify(ctx, params, pending) {
      const documentEndpoint = pending.state?.documentEndpoint ?? (await accountFacts(ctx, params.account)).documentEndpoint;
      const { key } = readCosmosValue(pending.secretValue);
      let status: number | undefined;
      for (const delay of verifyDelaysMs) {
        if (delay > 0) await sleep(delay);
        status = await signedAccountRead(ctx, documentEndpoint, key);
        if (status === 200) return;
        // 403: key authentication is off for the account; waiting will not help.
        if (status === 403) break;
      }
      const what = `Cosmos DB account ${params.account.name} refused the ${pending.credentialId ?? "new"} key: HTTP ${status ?? "no answer"}`;
      if (status !== undefined && (status === 408 || status === 429 || status >= 500)) throw new TransientError(what);
      throw new VerificationError(what);
    },

    // Emergency: the previously active key stops working now.
    async revoke(ctx, params, _previous, committed) {
      // The tags parsed are the previous version's: its CredentialId is the key to revoke.
      const previous = params.credentialId ?? partnerOf(committed.credentialId as CosmosKeySlot);
      await regenerate(ctx, params, previous);
      ctx.log.warn(`regenerated the ${previous} key, the previously active one`, { step: "revoke" });
    },
  } satisfies Rotator<CosmosDbKeyParams, CosmosDbKeyFacts> & { kind: "cosmos-db-key" };
}

export const cosmosDbKeyRotator = createCosmosDbKeyRotator();
