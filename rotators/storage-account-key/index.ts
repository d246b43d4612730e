// storage-account-key — an access key of an Azure storage account (key1 / key2), held
// in Key Vault as the bare key or as a connection string.
//
// Model: dual credential. The account has two keys; consumers use the one CredentialId
// names. A rotation regenerates the *other* key (nobody uses it), proves the new value
// works with a real Shared Key request to the blob service, and commits it with
// CredentialId switched. The previously active key keeps working until the next
// rotation regenerates it, so consumers have a whole validity period to pick up the
// new version. Emergency mode also regenerates the previously active key at once.
//
//   check current  listKeys: the value in Key Vault must be the key CredentialId names
//                  (without CredentialId: the key it matches — never a guess, because
//                  regenerating the key consumers use is an outage); a value that is
//                  neither key (wrong ProviderAddress, or drift) or a connection string
//                  naming another account is refused before anything changes. An account
//                  with allowSharedKeyAccess=false is refused too: its keys authorise nothing.
//   create         regenerateKey(the other key); the new value comes back in the answer.
//   verify         Blob service GetServiceProperties signed with the new key (for the
//                  connection-string format: a client built from the connection string
//                  itself), retried briefly while a new key propagates.
//   revoke         (emergency) regenerateKey(the previously active key).
//
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg-app/providers/Microsoft.Storage/storageAccounts/stappprod
//                   (the Rotator tag may be left out: this resource type selects the kind)
//   Rotator=storage-account-key        optional
//   CredentialId=key1                  the key the current version holds; written by keyturn
//   SecretFormat=key | connection-string
//     key (default): the base64 key;
//     connection-string: DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=core.windows.net
//     (with BlobEndpoint=…;QueueEndpoint=… instead of EndpointSuffix when the account's
//     endpoints are not the cloud's standard ones).
// Azure role: the custom role of access.ts on the account (read, listKeys, regenerateKey).
// keyturn reads the account (primaryEndpoints, allowSharedKeyAccess) when it may; with a
// role without Microsoft.Storage/storageAccounts/read (the built-in Storage Account Key
// Operator Service Role) it uses the cloud's standard endpoints (public, China, US
// Government clouds).
// Failure: check current failing changes nothing. A failure in create or verify leaves
// the active key, which Key Vault holds, untouched: only the unused key was regenerated,
// and the next rotation regenerates it again. A Key Vault commit failure likewise leaves
// the previous version, whose key still works, as the latest. ARM 403 names the role;
// 404 is a configuration error naming ProviderAddress; 429/5xx are transient (retried by
// the SDK, then by the trigger). No key ever appears in a message or a log line.
import * as z from "zod/mini";
import "../../core/schema.js";
import { ArmProviderError, armCall, parseProviderAddress, sleep, type ArmResourceId, type ArmRotatorTimings } from "../../core/arm.js";
import { armAnswer, armRest } from "../../core/arm-rest.js";
import { blobRest, blobTargetFromConnectionString } from "../../core/blob-rest.js";
import { ConfigurationError, ProviderError, TransientError, VerificationError, isTransient } from "../../core/errors.js";
import { CredentialModel, type CurrentSecret, type PendingCredential, type Rotator, type RotatorContext } from "../../core/rotator.js";
import { Tag } from "../../core/tags.js";
import {
  StorageSecretFormat,
  formatStorageValue,
  keyFromValue,
  otherKey,
  parseKeyName,
  parseStorageFormat,
  standardEndpointsFor,
  type StorageEndpoints,
  type StorageKeyName,
} from "./format.js";
import { storageAccountKeyAccess } from "./access.js";

export { StorageSecretFormat, StorageKeyName, storageConnectionString } from "./format.js";

export const STORAGE_ACCOUNT_TYPE = "microsoft.storage/storageaccounts";
export const STORAGE_KEY_ROLE = storageAccountKeyAccess.roleName;
const EXAMPLE = "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/Microsoft.Storage/storageAccounts/<account>";

export interface StorageAccountKeyParams {
  readonly account: ArmResourceId;
  /** The key the current version holds, as tagged; undefined: found from the value. */
  readonly credentialId: StorageKeyName | undefined;
  readonly format: StorageSecretFormat;
}

/** regenerateKey is not long-running: only the verification pauses apply. */
export type StorageAccountKeyOptions = Pick<ArmRotatorTimings, "verifyDelaysMs">;

const DEFAULT_VERIFY_DELAYS_MS = [0, 1_000, 3_000, 6_000] as const;

// Three ARM calls go through core/arm-rest.ts (the SDK's pipeline) rather than
// @azure/arm-storage, whose models a host would compile and keep for them. The version
// that SDK (20.0.0) sends, which emulators/arm/api-versions.ts lists first.
const STORAGE_API_VERSION = "2025-08-01";

/** ARM's answer to listKeys and regenerateKey. */
const keysSchema = z.object({ keys: z.nullish(z.array(z.object({ keyName: z.nullish(z.string()), value: z.nullish(z.string()) }))) });
/** What keyturn reads of a Microsoft.Storage/storageAccounts resource. */
const accountSchema = z.object({
  properties: z.nullish(
    z.object({
      primaryEndpoints: z.nullish(z.object({ blob: z.nullish(z.string()), queue: z.nullish(z.string()), table: z.nullish(z.string()), file: z.nullish(z.string()) })),
      allowSharedKeyAccess: z.nullish(z.boolean()),
    }),
  ),
});

const call = (account: ArmResourceId, action: string) => ({ action, resource: account, role: STORAGE_KEY_ROLE });

type KeyPair = Record<StorageKeyName, string>;

function keyPair(result: z.infer<typeof keysSchema>, ctx: RotatorContext): KeyPair {
  const pair: Partial<KeyPair> = {};
  for (const k of result.keys ?? []) {
    const name = k.keyName?.toLowerCase();
    if ((name === "key1" || name === "key2") && k.value) {
      ctx.registerSecret(k.value);
      pair[name] = k.value;
    }
  }
  if (!pair.key1 || !pair.key2) throw new ProviderError("ARM's list of account keys lacks key1 or key2");
  return pair as KeyPair;
}

async function listKeys(ctx: RotatorContext, account: ArmResourceId): Promise<KeyPair> {
  const arm = await armRest(ctx, account.subscriptionId);
  const result = await armCall(call(account, "list the keys of"), () => arm.send("POST", `${account.id}/listKeys`, STORAGE_API_VERSION));
  return keyPair(armAnswer(keysSchema, result, "listKeys"), ctx);
}

async function regenerate(ctx: RotatorContext, account: ArmResourceId, keyName: StorageKeyName): Promise<KeyPair> {
  const arm = await armRest(ctx, account.subscriptionId);
  const result = await armCall(call(account, `regenerate ${keyName} of`), () => arm.send("POST", `${account.id}/regenerateKey`, STORAGE_API_VERSION, { keyName }));
  return keyPair(armAnswer(keysSchema, result, "regenerateKey"), ctx);
}

export interface AccountFacts {
  readonly endpoints: StorageEndpoints;
  /** undefined: unknown (keyturn may not read the account). */
  readonly allowSharedKeyAccess: boolean | undefined;
}

/**
 * The account's endpoints and Shared Key switch from ARM. Without read permission (the
 * Key Operator role alone) the cloud's standard endpoints stand in; for an ARM endpoint
 * that is no known cloud there is nothing to stand in, and the 403 names the role.
 */
async function accountFacts(ctx: RotatorContext, account: ArmResourceId): Promise<AccountFacts> {
  const arm = await armRest(ctx, account.subscriptionId);
  try {
    const body = await armCall({ action: "read", resource: account, role: STORAGE_KEY_ROLE }, () => arm.send("GET", account.id, STORAGE_API_VERSION));
    const props = armAnswer(accountSchema, body, "reading the account").properties;
    const e = props?.primaryEndpoints;
    if (!e?.blob) throw new ProviderError(`ARM reports no blob endpoint for ${account.id}; keyturn verifies keys against the blob service`);
    const endpoints: StorageEndpoints = {
      blob: e.blob,
      ...(e.queue ? { queue: e.queue } : {}),
      ...(e.table ? { table: e.table } : {}),
      ...(e.file ? { file: e.file } : {}),
    };
    // ARM omits allowSharedKeyAccess when nobody set it: null means allowed.
    return { endpoints, allowSharedKeyAccess: props?.allowSharedKeyAccess ?? true };
  } catch (error) {
    const standard = standardEndpointsFor(ctx.armEndpoint, account.name);
    if (error instanceof ArmProviderError && error.statusCode === 403 && standard) {
      ctx.log.debug("may not read the storage account; using the cloud's standard endpoints", { step: "create" });
      return { endpoints: standard, allowSharedKeyAccess: undefined };
    }
    throw error;
  }
}

/** Which key the current value holds, checked against the tag. Throws unless exactly one matches. */
function activeKeyOf(params: StorageAccountKeyParams, current: CurrentSecret, keys: KeyPair): StorageKeyName {
  const { key, accountName } = keyFromValue(current.value);
  if (accountName !== undefined && accountName.toLowerCase() !== params.account.name.toLowerCase()) {
    throw new ConfigurationError(
      `names storage account ${params.account.name}, but the connection string in Key Vault is for account ${accountName.slice(0, 64)}; fix the tag or the value`,
      Tag.ProviderAddress,
    );
  }
  const matches = (["key1", "key2"] as const).filter((k) => keys[k] === key);
  const found = matches[0];
  if (!found) {
    throw new ProviderError(
      `the value in Key Vault is neither key of storage account ${params.account.id}: ProviderAddress names another account, ` +
        "or the key was regenerated outside keyturn. Put the key consumers use now into Key Vault (with CredentialId key1 or key2), then rotate",
    );
  }
  if (params.credentialId !== undefined && params.credentialId !== found) {
    throw new ConfigurationError(
      `says ${params.credentialId}, but the value in Key Vault is ${found} of the account; set CredentialId=${found} if consumers use ${found}`,
      Tag.CredentialId,
    );
  }
  return found;
}

/**
 * What checkCurrent learned, for create in the same rotation (the engine passes it on);
 * absent in a roll-forward or when create runs alone: create reads it then.
 */
export interface StorageAccountKeyFacts {
  readonly active: StorageKeyName;
  readonly account: AccountFacts;
}

/**
 * One signed data-plane request with `value`: GetServiceProperties on the blob service
 * (core/blob-rest.ts, Shared Key), with the process's TLS options and retries.
 * Resolves when the service accepts the signature; otherwise says why.
 */
async function tryBlobRequest(ctx: RotatorContext, accountName: string, blobEndpoint: string, format: StorageSecretFormat, value: string): Promise<{ ok: true } | { ok: false; status: number | undefined; code: string; transient: boolean }> {
  try {
    const target =
      format === StorageSecretFormat.ConnectionString
        ? blobTargetFromConnectionString(value)
        : { endpoint: blobEndpoint, auth: { sharedKey: { accountName, accountKey: keyFromValue(value).key } } };
    const blob = await blobRest(target, ctx.clientOptions);
    await blob.send("GET", "", { query: { restype: "service", comp: "properties" } });
    return { ok: true };
  } catch (error) {
    const e = error as { statusCode?: number; code?: string };
    return { ok: false, status: e.statusCode, code: e.code ?? "Unknown", transient: isTransient(error) };
  }
}

export function createStorageAccountKeyRotator(options: StorageAccountKeyOptions = {}) {
  const verifyDelaysMs = options.verifyDelaysMs ?? DEFAULT_VERIFY_DELAYS_MS;

  return {
    kind: "storage-account-key",
    access: storageAccountKeyAccess,
    model: CredentialModel.Dual,
    description: "an access key (key1/key2) of an Azure storage account",
    resourceTypes: [STORAGE_ACCOUNT_TYPE],
    tags: [Tag.SecretFormat],

    parse(tags): StorageAccountKeyParams {
      return {
        account: parseProviderAddress(tags, STORAGE_ACCOUNT_TYPE, EXAMPLE, /^[a-z0-9]{3,24}$/i),
        credentialId: parseKeyName(tags),
        format: parseStorageFormat(tags),
      };
    },

    // Read-only: listKeys and the account's properties.
    async checkCurrent(ctx, params, current) {
      // Two independent reads, side by side: a rotation holds its delivery while it waits.
      const [keys, facts] = await Promise.all([listKeys(ctx, params.account), accountFacts(ctx, params.account)]);
      const active = activeKeyOf(params, current, keys);
      if (facts.allowSharedKeyAccess === false) {
        throw new ProviderError(
          `storage account ${params.account.id} does not allow Shared Key authorization (allowSharedKeyAccess is false): ` +
            "its keys authorise nothing, so keyturn cannot prove a new one works. Enable Shared Key access, or stop rotating this secret",
        );
      }
      return { active, account: facts };
    },

    // Regenerates the key consumers do not use; running it twice only regenerates that
    // unused key again.
    async create(ctx, params, current, checked): Promise<PendingCredential> {
      // What checkCurrent just read and checked in this rotation; otherwise read it now.
      const active = checked?.active ?? params.credentialId ?? activeKeyOf(params, current, await listKeys(ctx, params.account));
      const target = otherKey(active);
      const facts = checked?.account ?? (await accountFacts(ctx, params.account));
      const keys = await regenerate(ctx, params.account, target);
      const value = formatStorageValue(params.format, params.account.name, keys[target], facts.endpoints);
      ctx.registerSecret(value);
      ctx.log.info(`regenerated ${target}, the key consumers do not use`, { step: "create" });
      return {
        credentialId: target,
        secretValue: value,
        state: { accountName: params.account.name, blobEndpoint: facts.endpoints.blob, format: params.format },
      };
    },

    // A real Shared Key request: the blob service checks the signature against the
    // account's current keys. Read-only, so running it twice is harmless.
    async verify(ctx, params, pending) {
      const blobEndpoint = pending.state?.blobEndpoint ?? (await accountFacts(ctx, params.account)).endpoints.blob;
      const format = (pending.state?.format as StorageSecretFormat | undefined) ?? params.format;
      let last: { status: number | undefined; code: string; transient: boolean } | undefined;
      for (const delay of verifyDelaysMs) {
        if (delay > 0) await sleep(delay);
        const outcome = await tryBlobRequest(ctx, params.account.name, blobEndpoint, format, pending.secretValue);
        if (outcome.ok) return;
        last = outcome;
        // The account refuses Shared Key altogether: waiting will not change that.
        if (outcome.code === "KeyBasedAuthenticationNotPermitted") break;
      }
      const what = `the blob service of ${params.account.name} refused ${pending.credentialId ?? "the new key"}: ${last?.status ?? "no answer"} ${last?.code ?? ""}`.trim();
      // Throttling and 5xx outlasted the SDK's retries: the key may be fine; try again later.
      if (last?.transient) throw new TransientError(what);
      throw new VerificationError(what);
    },

    // Emergency: the previously active key stops working now.
    async revoke(ctx, params, _previous, committed) {
      // The tags parsed are the previous version's: its CredentialId is the key to revoke.
      const previousKey = params.credentialId ?? otherKey(committed.credentialId as StorageKeyName);
      await regenerate(ctx, params.account, previousKey);
      ctx.log.warn(`regenerated ${previousKey}, the previously active key`, { step: "revoke" });
    },
  } satisfies Rotator<StorageAccountKeyParams, StorageAccountKeyFacts> & { kind: "storage-account-key" };
}

export const storageAccountKeyRotator = createStorageAccountKeyRotator();
