// The ARM access-key family: one dual-credential rotator for every Azure service that
// keeps two keys (or two passwords) behind Azure Resource Manager, listed and regenerated
// by POST actions. Each service is a descriptor (AccessKeyService): the resource IDs its
// ProviderAddress may name, the api-version, the list and regenerate actions with their
// paths, bodies and answers, the two key names of each pair, the secret formats, and the
// ARM actions it calls (from which a least-privilege role is derived). A further service
// is one descriptor in a folder of its own plus one registry line.
//
// Model: dual credential, as storage-account-key. Consumers use the key CredentialId names;
// a rotation regenerates the other key of its pair (nobody uses it), proves the new key,
// and commits it with CredentialId switched. The previous key keeps working until the
// next rotation; emergency mode regenerates it at once.
//
//   check current  list the keys: the value in Key Vault must be the key CredentialId names
//                  (without CredentialId: the one it matches, never a guess); a value that
//                  is neither key is refused before anything changes. Services whose keys
//                  ARM does not list (container registry token passwords) need CredentialId,
//                  and the resource is read instead (the token exists and is enabled).
//                  A service whose key authentication is off is refused.
//   create         regenerate the other key (long-running where the service's is); the new
//                  value comes from the answer, or from one more list where the answer
//                  lacks it.
//   verify         a data-plane request signed with the new key where the double and the
//                  service make one cheap (the descriptor's dataPlane); otherwise the
//                  strongest check ARM allows: list the keys again and find the new one in
//                  its slot (or, for unlisted passwords, read the resource and see the slot
//                  regenerated). docs/rotators.md states which, per kind, and why.
//   revoke         (emergency) regenerate the previously active key.
// Failure: as storage-account-key: check current changes nothing; a failure in create or
// verify leaves the active key untouched (only the unused key was regenerated, and the next
// rotation regenerates it again); a failed commit leaves the previous version, whose key
// still works, the latest. ARM 403 names the role; 404 is a configuration error naming
// ProviderAddress; 429/5xx are retried by the pipeline, then by the trigger. No key ever
// appears in a message or a log line.
import type { RotatorAccess } from "../../core/access.js";
import { armCall, parseResourceAddress, sleep, type ArmResourceId } from "../../core/arm.js";
import { ConfigurationError, ProviderError, TransientError, VerificationError } from "../../core/errors.js";
import { CredentialModel, type CurrentSecret, type PendingCredential, type Rotator, type RotatorContext } from "../../core/rotator.js";
import { Tag, tagValue, type Tags } from "../../core/tags.js";
import { armRest } from "../../core/arm-rest.js";
import { connectionStringFields } from "../../core/connection-string.js";

/** A ProviderAddress taken apart: the resource ID and the named segments of its template. */
export type AccessKeyAddress = ArmResourceId & { readonly segments: Readonly<Record<string, string>> };

/** One key as ARM answers it: the value, and what else the service hands out with it. */
export interface ListedKey {
  readonly value: string;
  /** The service's own connection string for this key (Service Bus, Event Hubs, App Configuration). */
  readonly connectionString?: string;
  /** The service's identifier of the key, where regenerating needs it (App Configuration). */
  readonly id?: string;
}
/** Keys by slot (the CredentialId values), as far as an answer carries them. */
export type KeySet = Readonly<Record<string, ListedKey>>;

/** What a read of the resource tells: endpoints and the like, for formats and verification. */
export type ResourceFacts = Readonly<Record<string, string>>;

export interface FormatInput {
  readonly slot: string;
  readonly key: ListedKey;
  readonly facts: ResourceFacts;
  readonly address: AccessKeyAddress;
}

export interface DataPlaneOutcome {
  readonly ok: boolean;
  readonly status: number | undefined;
  readonly transient: boolean;
}

/** An ARM action (RBAC name), or one per resource level the address may name. */
export type Action = string | readonly string[];

export interface AccessKeyService<K extends string = string> {
  /** The Rotator tag value and folder name. */
  readonly kind: K;
  /** One line for operators. */
  readonly description: string;
  /** ARM resource types (lower case, first level) whose ProviderAddress selects this kind without a Rotator tag. */
  readonly resourceTypes: readonly string[];
  /** The resource IDs ProviderAddress may name, after `/providers/`; `{x}` is one segment, the last is the name. */
  readonly addresses: readonly string[];
  readonly example: string;
  /** The api-version of every call (the provider's current stable one, from azure-rest-api-specs). */
  readonly apiVersion: string;
  /** Pairs of keys, by the names CredentialId holds; a rotation regenerates the partner of the key in use. */
  readonly pairs: readonly (readonly [string, string])[];
  /** The narrowest built-in role with these actions, for messages and docs (a custom role with `actions` is narrower). */
  readonly role: string;
  /** GET of the resource (or of another one, by `path`), when the kind needs facts or must refuse a resource with key authentication off. */
  readonly read?: {
    readonly action: Action;
    readonly path?: (a: AccessKeyAddress) => string;
    /** Facts from the body; throws ProviderError when the resource cannot use keys. */
    facts(body: unknown, a: AccessKeyAddress): ResourceFacts;
  };
  /** The list action; absent where ARM never shows a key again (container registry token passwords). */
  readonly list?: {
    readonly action: Action;
    readonly path: (a: AccessKeyAddress) => string;
    parse(body: unknown): KeySet;
  };
  readonly regenerate: {
    readonly action: Action;
    path(a: AccessKeyAddress, slot: string): string;
    /** The request body; `listed` is the list answer of this rotation, when there is one. */
    body(o: { slot: string; address: AccessKeyAddress; expiresOn: Date; listed: KeySet | undefined }): unknown;
    /** How ARM finishes a long-running regenerate; absent: it answers at once. */
    readonly longRunning?: "location" | "azure-async-operation";
    parse(body: unknown): KeySet;
  };
  /** Secret formats, the default first. */
  readonly formats: Readonly<Record<string, (i: FormatInput) => string>>;
  /** The key (or password) a stored value holds, whatever its format. */
  keyOf(value: string): string;
  /**
   * A data-plane request with `key`; absent (or answering undefined): verification is by ARM
   * (see the header). `facts` holds the read facts and, from the regenerate answer,
   * `keyId` and `keyEndpoint` (the Endpoint of the key's connection string).
   */
  dataPlane?(ctx: RotatorContext, facts: ResourceFacts, key: string): Promise<DataPlaneOutcome> | undefined;
  /** For kinds without a list: whether a fresh read shows `slot` regenerated since `before` (its creation time then). */
  regeneratedSince?(facts: ResourceFacts, slot: string, before: string | undefined): boolean;
}

/** The ARM actions a kind calls: the least-privilege role's action list. */
export function actionsOf(service: AccessKeyService): string[] {
  return [...new Set([service.read?.action, service.list?.action, service.regenerate.action].flat().filter((a): a is string => a !== undefined))];
}

/**
 * The kind's custom role (core/access.ts), derived from its descriptor: exactly
 * actionsOf(), assigned on the resource each address template starts with (the registry
 * for a container registry token, the namespace for an authorization rule).
 */
export function accessOf(service: AccessKeyService): RotatorAccess {
  const resourceTypes = [...new Set(service.addresses.map((a) => a.split("/").slice(0, 2).join("/")))];
  return {
    roleName: `keyturn ${service.kind} rotator`,
    resourceTypes,
    actions: actionsOf(service),
    dataActions: [],
    why: `keyturn: ${service.description}: list or read it, and regenerate the key it rotates`,
  };
}

export interface AccessKeyParams {
  readonly address: AccessKeyAddress;
  /** The key the current version holds, as tagged (canonical spelling); undefined: found from the value. */
  readonly credentialId: string | undefined;
  readonly format: string;
}

export interface AccessKeyOptions {
  /** Poll interval of long-running regenerates when ARM sends no Retry-After. */
  readonly pollIntervalMs?: number;
  /** Pauses before each verification attempt: a new key can take seconds to reach every front end. */
  readonly verifyDelaysMs?: readonly number[];
}

const DEFAULT_VERIFY_DELAYS_MS = [0, 1_000, 3_000, 6_000] as const;

export function slotsOf(service: AccessKeyService): string[] {
  return service.pairs.flat();
}

export function partnerOf(service: AccessKeyService, slot: string): string {
  for (const [a, b] of service.pairs) {
    if (a === slot) return b;
    if (b === slot) return a;
  }
  throw new ConfigurationError(`'${slot}' is no key of a ${service.kind} resource`, Tag.CredentialId);
}

function parseSlot(service: AccessKeyService, tags: Tags): string | undefined {
  const raw = tagValue(tags, Tag.CredentialId);
  if (raw === undefined) return undefined;
  const slot = slotsOf(service).find((s) => s.toLowerCase() === raw.toLowerCase());
  if (!slot) throw new ConfigurationError(`must be one of ${slotsOf(service).join(", ")}: the key the current version holds`, Tag.CredentialId);
  return slot;
}

function parseFormat(service: AccessKeyService, tags: Tags): string {
  const names = Object.keys(service.formats);
  const raw = tagValue(tags, Tag.SecretFormat);
  if (raw === undefined) return names[0]!;
  const format = names.find((n) => n === raw.toLowerCase());
  if (!format) throw new ConfigurationError(`must be ${names.map((n) => `'${n}'`).join(" or ")} (default '${names[0]}')`, Tag.SecretFormat);
  return format;
}

/**
 * What checkCurrent learned, handed by the engine to create in the same rotation (never
 * journaled; undefined on a roll-forward or when create runs alone: create reads again).
 */
export interface AccessKeyFacts {
  readonly active: string;
  readonly facts: ResourceFacts;
  readonly listed: KeySet | undefined;
}

export type AccessKeyRotator<K extends string = string> = Rotator<AccessKeyParams, AccessKeyFacts> & { readonly kind: K; readonly service: AccessKeyService<K>; readonly access: RotatorAccess };

export function createAccessKeyRotator<K extends string>(service: AccessKeyService<K>, options: AccessKeyOptions = {}): AccessKeyRotator<K> {
  const verifyDelaysMs = options.verifyDelaysMs ?? DEFAULT_VERIFY_DELAYS_MS;
  const access = accessOf(service);
  // 403s name the custom role keyturn is deployed with.
  const call = (address: AccessKeyAddress, action: string) => ({ action, resource: address, role: access.roleName });

  async function listKeys(ctx: RotatorContext, address: AccessKeyAddress): Promise<KeySet> {
    const list = service.list!;
    const arm = await armRest(ctx, address.subscriptionId);
    const keys = service.list!.parse(await armCall(call(address, "list the keys of"), () => arm.send("POST", list.path(address), service.apiVersion)));
    register(ctx, keys);
    return keys;
  }

  function register(ctx: RotatorContext, keys: KeySet): void {
    for (const k of Object.values(keys)) {
      ctx.registerSecret(k.value);
      if (k.connectionString) ctx.registerSecret(k.connectionString);
    }
  }

  async function readFacts(ctx: RotatorContext, address: AccessKeyAddress): Promise<ResourceFacts> {
    const read = service.read;
    if (!read) return {};
    const arm = await armRest(ctx, address.subscriptionId);
    const body = await armCall(call(address, "read"), () => arm.send("GET", read.path?.(address) ?? address.id, service.apiVersion));
    return read.facts(body, address);
  }

  async function regenerate(ctx: RotatorContext, address: AccessKeyAddress, slot: string, listed: KeySet | undefined): Promise<ListedKey> {
    const r = service.regenerate;
    const arm = await armRest(ctx, address.subscriptionId);
    const body = r.body({ slot, address, expiresOn: ctx.expiresOn, listed });
    const answer = await armCall(call(address, `regenerate ${slot} of`), () =>
      r.longRunning
        ? arm.sendAndWait("POST", r.path(address, slot), service.apiVersion, body, {
            finalStateVia: r.longRunning,
            ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
          })
        : arm.send("POST", r.path(address, slot), service.apiVersion, body),
    );
    const keys = r.parse(answer);
    register(ctx, keys);
    const key = keys[slot] ?? (service.list ? (await listKeys(ctx, address))[slot] : undefined);
    if (!key?.value) throw new ProviderError(`ARM's answer for ${address.id} lacks the regenerated ${slot}`);
    return key;
  }

  /** Which key the current value holds, checked against the tag. Throws unless exactly one matches. */
  function activeOf(params: AccessKeyParams, current: CurrentSecret, keys: KeySet): string {
    const key = service.keyOf(current.value);
    const found = slotsOf(service).find((s) => keys[s]?.value === key);
    if (!found) {
      throw new ProviderError(
        `the value in Key Vault is none of the keys of ${params.address.id}: ProviderAddress names another resource, ` +
          `or the key was regenerated outside keyturn. Put the key consumers use now into Key Vault (with its CredentialId), then rotate`,
      );
    }
    if (params.credentialId !== undefined && params.credentialId !== found) {
      throw new ConfigurationError(`says ${params.credentialId}, but the value in Key Vault is ${found}; set CredentialId=${found} if consumers use it`, Tag.CredentialId);
    }
    return found;
  }

  async function check(ctx: RotatorContext, params: AccessKeyParams, current: CurrentSecret): Promise<AccessKeyFacts> {
    const facts = await readFacts(ctx, params.address);
    // ARM never shows container registry token passwords again: the tag is the only record of which one is in use.
    if (!service.list) return { active: params.credentialId!, facts, listed: undefined };
    const listed = await listKeys(ctx, params.address);
    return { active: activeOf(params, current, listed), facts, listed };
  }

  async function relistShows(ctx: RotatorContext, params: AccessKeyParams, pending: PendingCredential): Promise<boolean> {
    const slot = pending.credentialId!;
    if (service.list) return (await listKeys(ctx, params.address))[slot]?.value === service.keyOf(pending.secretValue);
    return service.regeneratedSince?.(await readFacts(ctx, params.address), slot, pending.state?.before) ?? false;
  }

  return {
    kind: service.kind,
    access,
    service,
    model: CredentialModel.Dual,
    description: service.description,
    resourceTypes: service.resourceTypes,
    tags: Object.keys(service.formats).length > 1 ? [Tag.SecretFormat] : [],

    parse(tags): AccessKeyParams {
      const address = parseResourceAddress(tags, service.addresses, service.example);
      const credentialId = parseSlot(service, tags);
      if (!service.list && credentialId === undefined) {
        throw new ConfigurationError(`is required for ${service.kind}: ARM never shows these passwords again, so only the tag says which one consumers use (${slotsOf(service).join(" or ")})`, Tag.CredentialId);
      }
      return { address, credentialId, format: parseFormat(service, tags) };
    },

    // Read-only: the resource and its keys.
    checkCurrent: check,

    // Regenerates the key of the pair consumers do not use; doing it twice only
    // regenerates that unused key again.
    async create(ctx, params, current, facts): Promise<PendingCredential> {
      // What checkCurrent just read in this rotation; otherwise read it now.
      const checked = facts ?? (await check(ctx, params, current));
      const target = partnerOf(service, checked.active);
      const key = await regenerate(ctx, params.address, target, checked.listed);
      const value = service.formats[params.format]!({ slot: target, key, facts: checked.facts, address: params.address });
      ctx.registerSecret(value);
      ctx.log.info(`regenerated ${target}, the key consumers do not use`, { step: "create" });
      const before = checked.facts[`${target}.created`];
      // What verification needs besides the secret: the key's id and the endpoint its
      // connection string names (App Configuration signs requests with both).
      const keyEndpoint = key.connectionString ? connectionStringFields(key.connectionString).get("endpoint") : undefined;
      return {
        credentialId: target,
        secretValue: value,
        state: {
          ...checked.facts,
          ...(before !== undefined ? { before } : {}),
          ...(key.id !== undefined ? { keyId: key.id } : {}),
          ...(keyEndpoint !== undefined ? { keyEndpoint } : {}),
        },
      };
    },

    // Read-only, so running it twice is harmless.
    async verify(ctx, params, pending) {
      const key = service.keyOf(pending.secretValue);
      const facts = pending.state ?? (await readFacts(ctx, params.address));
      let last: DataPlaneOutcome | undefined;
      let byDataPlane = false;
      for (const delay of verifyDelaysMs) {
        if (delay > 0) await sleep(delay);
        const probe = service.dataPlane?.(ctx, facts, key);
        byDataPlane = probe !== undefined;
        if (probe) {
          last = await probe;
          if (last.ok) return;
        } else {
          if (await relistShows(ctx, params, pending)) return;
          last = { ok: false, status: undefined, transient: false };
        }
      }
      const what = byDataPlane
        ? `${params.address.id} refused ${pending.credentialId ?? "the new key"}: ${last?.status ?? "no answer"}`
        : `ARM does not show ${pending.credentialId ?? "the new key"} of ${params.address.id} regenerated`;
      if (last?.transient) throw new TransientError(what);
      throw new VerificationError(what);
    },

    // Emergency: the previously active key stops working now.
    async revoke(ctx, params, _previous, committed) {
      // The tags parsed are the previous version's: its CredentialId is the key to revoke.
      const previous = params.credentialId ?? partnerOf(service, committed.credentialId!);
      await regenerate(ctx, params.address, previous, service.list ? await listKeys(ctx, params.address) : undefined);
      ctx.log.warn(`regenerated ${previous}, the previously active key`, { step: "revoke" });
    },
  } satisfies AccessKeyRotator<K>;
}


/** The value of `field` when `value` is a connection string that has it; otherwise the whole value. */
export function keyField(value: string, field: string): string {
  if (!new RegExp(`(^|;)\\s*${field}\\s*=`, "i").test(value)) return value.trim();
  return connectionStringFields(value).get(field.toLowerCase()) ?? "";
}

/** A JSON object's property, or undefined. */
export function prop(body: unknown, ...path: string[]): unknown {
  let v: unknown = body;
  for (const p of path) v = typeof v === "object" && v !== null ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

/** A string property, or undefined. */
export function str(body: unknown, ...path: string[]): string | undefined {
  const v = prop(body, ...path);
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** A KeySet from an answer that names each slot's key by a property (`{ key1: "…", key2: "…" }`). */
export function keysByProperty(body: unknown, bySlot: Readonly<Record<string, string>>): KeySet {
  const keys: Record<string, ListedKey> = {};
  for (const [slot, property] of Object.entries(bySlot)) {
    const value = str(body, property);
    if (value) keys[slot] = { value };
  }
  return keys;
}
