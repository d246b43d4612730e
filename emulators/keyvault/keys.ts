// The keys data-plane routes and store: create (RSA/EC with real key material), get,
// list, versions, update, rotate, and the rotation policy (get/update), in the shapes of
// Microsoft's published examples (RotateKey, GetKeyRotationPolicy, UpdateKeyRotationPolicy).
//
// Rotation policy, as the service behaves:
// - a key that never had a policy answers `{"lifetimeActions": null, "attributes": null}`
//   (as the service did in the SDK's recording "returns undefined if there is no rotation
//   policy");
// - `attributes.expiryTime` (ISO 8601 duration, at least P28D) is the `exp` of each version
//   that a rotation makes; a rotation without it makes a version without `exp`;
// - a `Rotate` action (`timeAfterCreate` or `timeBeforeExpiry`, at least P7D) makes the
//   vault rotate the key by itself when it comes due (the expiry scan in index.ts runs it);
// - a `Notify` action's `timeBeforeExpiry` is when KeyNearExpiry is sent (default P30D).
// Keys that back a certificate are `managed`: listed, readable, but not rotated or updated
// through /keys. Not here: delete/recover/purge, import, backup, cryptographic operations.
import { kvErrors } from "./errors.js";
import type { Route, RouteRequest, RouteResponse, VaultContext } from "./http.js";
import { VersionedObjects, applyAttributePatch, assertObjectName, assertTags, newVersionAttributes, type AttributePatch, type ObjectRecord, type ObjectVersion, type VersionInput } from "./versioned.js";
import { addressed, attributesBody, createAttributes, isObject, page, patchAttributes, versionsPage } from "./wire.js";
import { SUPPORTED_CURVES, SUPPORTED_RSA_SIZES, generateKeyMaterial, type KeyMaterial, type KeySpec } from "./x509.js";

const DAY = 86_400;
const RSA_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"];
const EC_OPS = ["sign", "verify"];
const KEY_TYPES = ["RSA", "RSA-HSM", "EC", "EC-HSM"] as const;
type KeyType = (typeof KEY_TYPES)[number];

export interface KeyVersion extends ObjectVersion {
  readonly kty: KeyType;
  readonly material: KeyMaterial;
  keyOps: string[];
}

export interface LifetimeActionState {
  trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string };
  action: { type: "Rotate" | "Notify" };
}

export interface RotationPolicyState {
  lifetimeActions: LifetimeActionState[];
  expiryTime?: string;
  created: number;
  updated: number;
}

export interface KeyRecord extends ObjectRecord<KeyVersion> {
  /** Backs a certificate: rotated and updated only through the certificate. */
  readonly managed: boolean;
  policy?: RotationPolicyState;
}

export interface KeyInput extends VersionInput {
  kty: KeyType;
  keySize?: number;
  crv?: string;
  keyOps?: string[];
  /** Certificate-backed keys (with the certificate's `version` id): its key material. */
  managed?: boolean;
  material?: KeyMaterial;
}

export interface KeyPatch extends AttributePatch {
  keyOps?: string[];
}

/** ISO 8601 duration (PnYnMnWnDTnHnMnS) in seconds; years are 365 days, months 30. Undefined when it does not parse. */
export function isoDurationSeconds(value: string): number | undefined {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(value.trim());
  if (!m || value.trim() === "P" || value.trim().endsWith("T")) return undefined;
  const [y, mo, w, d, h, mi, s] = m.slice(1).map((g) => Number(g ?? 0)) as [number, number, number, number, number, number, number];
  return ((y * 365 + mo * 30 + w * 7 + d) * 24 + h) * 3600 + mi * 60 + s;
}

export class KeyStore extends VersionedObjects<KeyVersion, KeyRecord> {
  constructor(now: () => number) {
    super(now, kvErrors.keyNotFound);
  }

  create(name: string, input: KeyInput): { record: KeyRecord; version: KeyVersion } {
    assertObjectName(name);
    if (input.tags) assertTags(input.tags);
    const existing = this.find(name);
    if (existing?.managed && !input.managed) throw kvErrors.objectIsManaged("key", existing.name);
    const spec: KeySpec = input.kty.startsWith("EC")
      ? { kty: "EC", crv: input.crv ?? "P-256" }
      : { kty: "RSA", keySize: input.keySize ?? 2048 };
    const version: KeyVersion = {
      ...newVersionAttributes(input, this.now()),
      kty: input.kty,
      material: input.material ?? generateKeyMaterial(spec),
      keyOps: input.keyOps ?? (spec.kty === "RSA" ? [...RSA_OPS] : [...EC_OPS]),
    };
    const record = this.append(name, version, () => ({ name, versions: [], managed: input.managed ?? false }));
    return { record, version };
  }

  update(name: string, version: string | undefined, patch: KeyPatch): { record: KeyRecord; version: KeyVersion } {
    const found = this.get(name, version);
    if (found.record.managed) throw kvErrors.objectIsManaged("key", found.record.name);
    applyAttributePatch(found.version, patch, this.now()); // first: it refuses bad tags before anything changes
    if (patch.keyOps) found.version.keyOps = [...patch.keyOps];
    return found;
  }

  /** A new version with new key material of the same type, operations and tags; `exp` from the policy's expiryTime. */
  rotate(name: string): { record: KeyRecord; version: KeyVersion } {
    const { record, version: latest } = this.get(name);
    if (record.managed) throw kvErrors.objectIsManaged("key", record.name);
    const expirySeconds = record.policy?.expiryTime === undefined ? undefined : isoDurationSeconds(record.policy.expiryTime);
    const spec = latest.material.spec;
    return this.create(record.name, {
      kty: latest.kty,
      ...(spec.kty === "RSA" ? { keySize: spec.keySize } : { crv: spec.crv }),
      keyOps: [...latest.keyOps],
      ...(latest.tags === undefined ? {} : { tags: { ...latest.tags } }),
      ...(expirySeconds === undefined ? {} : { exp: this.now() + expirySeconds }),
    });
  }

  setPolicy(name: string, input: { lifetimeActions: LifetimeActionState[]; expiryTime?: string }): RotationPolicyState {
    const { record } = this.get(name);
    if (record.managed) throw kvErrors.objectIsManaged("key", record.name);
    validatePolicy(input);
    const now = this.now();
    record.policy = {
      lifetimeActions: input.lifetimeActions.map((a) => ({ trigger: { ...a.trigger }, action: { ...a.action } })),
      ...(input.expiryTime === undefined ? {} : { expiryTime: input.expiryTime }),
      created: record.policy?.created ?? now,
      updated: now,
    };
    return record.policy;
  }

  /** Seconds before `exp` that KeyNearExpiry is sent: the policy's Notify action, else the default. */
  notifyLeadSeconds(record: KeyRecord, defaultSeconds: number): number {
    const notify = record.policy?.lifetimeActions.find((a) => a.action.type === "Notify" && a.trigger.timeBeforeExpiry);
    return (notify && isoDurationSeconds(notify.trigger.timeBeforeExpiry!)) ?? defaultSeconds;
  }

  /** Whether the policy's Rotate action has come due for the current version (the vault then rotates by itself). */
  rotationDue(record: KeyRecord, now: number): boolean {
    if (record.managed || !record.policy) return false;
    const latest = record.versions.at(-1)!;
    for (const action of record.policy.lifetimeActions) {
      if (action.action.type !== "Rotate") continue;
      const after = action.trigger.timeAfterCreate ? isoDurationSeconds(action.trigger.timeAfterCreate) : undefined;
      if (after !== undefined && now >= latest.created + after) return true;
      const before = action.trigger.timeBeforeExpiry ? isoDurationSeconds(action.trigger.timeBeforeExpiry) : undefined;
      if (before !== undefined && latest.exp !== undefined && now >= latest.exp - before) return true;
    }
    return false;
  }
}

/** The service's rules for rotation policies (its 400 messages, paraphrased). */
function validatePolicy(input: { lifetimeActions: LifetimeActionState[]; expiryTime?: string }): void {
  let expiry: number | undefined;
  if (input.expiryTime !== undefined) {
    expiry = isoDurationSeconds(input.expiryTime);
    if (expiry === undefined) throw kvErrors.badParameter(`expiryTime '${input.expiryTime}' is not an ISO 8601 duration.`);
    if (expiry < 28 * DAY) throw kvErrors.badParameter("expiryTime must be at least 28 days (P28D).");
  }
  const seen = new Set<string>();
  for (const action of input.lifetimeActions) {
    const type = action.action.type;
    if (type !== "Rotate" && type !== "Notify") throw kvErrors.badParameter(`Unknown lifetime action type '${String(type)}'.`);
    if (seen.has(type)) throw kvErrors.badParameter(`A rotation policy can have only one ${type} action.`);
    seen.add(type);
    const { timeAfterCreate, timeBeforeExpiry } = action.trigger;
    if ((timeAfterCreate === undefined) === (timeBeforeExpiry === undefined)) {
      throw kvErrors.badParameter(`The ${type} action's trigger needs exactly one of timeAfterCreate and timeBeforeExpiry.`);
    }
    if (type === "Notify" && timeAfterCreate !== undefined) throw kvErrors.badParameter("A Notify action's trigger must be timeBeforeExpiry.");
    const duration = isoDurationSeconds((timeAfterCreate ?? timeBeforeExpiry)!);
    if (duration === undefined) throw kvErrors.badParameter(`'${timeAfterCreate ?? timeBeforeExpiry}' is not an ISO 8601 duration.`);
    if (duration < 7 * DAY) throw kvErrors.badParameter(`The ${type} action's trigger must be at least 7 days (P7D).`);
    if (timeBeforeExpiry !== undefined) {
      if (expiry === undefined) throw kvErrors.badParameter("A timeBeforeExpiry trigger needs attributes.expiryTime.");
      if (duration >= expiry) throw kvErrors.badParameter("timeBeforeExpiry must be shorter than expiryTime.");
    }
    if (timeAfterCreate !== undefined && expiry !== undefined && duration >= expiry) {
      throw kvErrors.badParameter("timeAfterCreate must be shorter than expiryTime.");
    }
  }
}

// ---- routes -----------------------------------------------------------------------------

export const keyRoutes: readonly Route[] = [
  { method: "GET", pattern: /^\/keys\/?$/, operation: "GetKeys", handle: getKeys },
  { method: "POST", pattern: /^\/keys\/([^/]+)\/create\/?$/, operation: "CreateKey", handle: createKey },
  { method: "POST", pattern: /^\/keys\/([^/]+)\/rotate\/?$/, operation: "RotateKey", handle: rotateKey },
  { method: "GET", pattern: /^\/keys\/([^/]+)\/rotationpolicy\/?$/, operation: "GetKeyRotationPolicy", handle: getRotationPolicy },
  { method: "PUT", pattern: /^\/keys\/([^/]+)\/rotationpolicy\/?$/, operation: "UpdateKeyRotationPolicy", handle: updateRotationPolicy },
  { method: "GET", pattern: /^\/keys\/([^/]+)\/versions\/?$/, operation: "GetKeyVersions", handle: getKeyVersions },
  { method: "GET", pattern: /^\/keys\/([^/]+)\/?$/, operation: "GetKey", handle: getKey },
  { method: "GET", pattern: /^\/keys\/([^/]+)\/([^/]+)\/?$/, operation: "GetKey", handle: getKey },
  { method: "PATCH", pattern: /^\/keys\/([^/]+)\/([^/]*)\/?$/, operation: "UpdateKey", handle: updateKey },
];

function createKey(request: RouteRequest): RouteResponse {
  const name = request.params[0]!;
  const body = request.body;
  if (!isObject(body)) throw kvErrors.badParameter("The request body must be a JSON object with a 'kty'.");
  const kty = body.kty;
  if (typeof kty !== "string" || !(KEY_TYPES as readonly string[]).includes(kty)) {
    throw kvErrors.badParameter(`Property 'kty' must be one of ${KEY_TYPES.join(", ")} (the double does not make oct keys).`);
  }
  const input: KeyInput = { kty: kty as KeyType };
  if (kty.startsWith("RSA")) {
    const size = body.key_size ?? 2048;
    if (!(SUPPORTED_RSA_SIZES as readonly unknown[]).includes(size)) throw kvErrors.badParameter(`key_size must be one of ${SUPPORTED_RSA_SIZES.join(", ")}.`);
    input.keySize = size as number;
  } else {
    const crv = body.crv ?? "P-256";
    if (typeof crv !== "string" || !SUPPORTED_CURVES.includes(crv)) throw kvErrors.badParameter(`crv must be one of ${SUPPORTED_CURVES.join(", ")}.`);
    input.crv = crv;
  }
  if (body.key_ops !== undefined && body.key_ops !== null) input.keyOps = parseKeyOps(body.key_ops);
  const { record, version } = request.vault.keys.create(name, { ...input, ...createAttributes(body) });
  request.vault.keyVersionCreated(record.name, version.version);
  return { status: 200, body: keyBundle(request.vault, record, version) };
}

function rotateKey(request: RouteRequest): RouteResponse {
  const { record, version } = request.vault.keys.rotate(request.params[0]!);
  request.vault.keyVersionCreated(record.name, version.version);
  return { status: 200, body: keyBundle(request.vault, record, version) };
}

function getKey(request: RouteRequest): RouteResponse {
  const found = addressed(request, request.vault.keys);
  return { status: 200, body: keyBundle(request.vault, found.record, found.version) };
}

function updateKey(request: RouteRequest): RouteResponse {
  const [name, version] = request.params;
  const body = request.body;
  const patch: KeyPatch = {};
  if (body !== undefined) {
    if (!isObject(body)) throw kvErrors.badParameter("The request body must be a JSON object.");
    if (body.key_ops !== undefined && body.key_ops !== null) patch.keyOps = parseKeyOps(body.key_ops);
    Object.assign(patch, patchAttributes(body));
  }
  const found = request.vault.keys.update(name!, version || undefined, patch);
  return { status: 200, body: keyBundle(request.vault, found.record, found.version) };
}

function getKeys(request: RouteRequest): RouteResponse {
  const keys = request.vault.keys;
  return {
    status: 200,
    body: page(request, "/keys", (marker) => keys.listAfter(marker), (r) => r.name.toLowerCase(), (r) => keyItem(request.vault, r, r.versions.at(-1)!, false)),
  };
}

// Like secrets: ascending version-id order, and 200 with no items for a key that does
// not exist (recorded: "list 0 versions of a nonexisting key").
// Like secrets: ascending version-id order, and 200 with no items for a key that does not exist.
function getKeyVersions(request: RouteRequest): RouteResponse {
  return versionsPage(request, "keys", request.vault.keys, (record, v) => keyItem(request.vault, record, v, true));
}

function getRotationPolicy(request: RouteRequest): RouteResponse {
  const { record } = request.vault.keys.get(request.params[0]!);
  return { status: 200, body: policyBody(request.vault, record) };
}

function updateRotationPolicy(request: RouteRequest): RouteResponse {
  const name = request.params[0]!;
  const body = request.body;
  if (!isObject(body)) throw kvErrors.badParameter("The request body must be a key rotation policy object.");
  const actions: LifetimeActionState[] = [];
  if (body.lifetimeActions !== undefined && body.lifetimeActions !== null) {
    if (!Array.isArray(body.lifetimeActions)) throw kvErrors.badParameter("lifetimeActions must be an array.");
    for (const raw of body.lifetimeActions as unknown[]) {
      if (!isObject(raw) || !isObject(raw.trigger) || !isObject(raw.action)) throw kvErrors.badParameter("Each lifetime action needs a trigger and an action.");
      const type = typeof raw.action.type === "string" ? raw.action.type : "";
      // The service accepts the type in any case ("rotate", "Rotate").
      const normalized = type.toLowerCase() === "rotate" ? "Rotate" : type.toLowerCase() === "notify" ? "Notify" : type;
      const trigger: LifetimeActionState["trigger"] = {};
      for (const key of ["timeAfterCreate", "timeBeforeExpiry"] as const) {
        const v = raw.trigger[key];
        if (v === undefined || v === null) continue;
        if (typeof v !== "string") throw kvErrors.badParameter(`trigger.${key} must be an ISO 8601 duration string.`);
        trigger[key] = v;
      }
      actions.push({ trigger, action: { type: normalized as "Rotate" | "Notify" } });
    }
  }
  let expiryTime: string | undefined;
  if (isObject(body.attributes) && body.attributes.expiryTime !== undefined && body.attributes.expiryTime !== null) {
    if (typeof body.attributes.expiryTime !== "string") throw kvErrors.badParameter("attributes.expiryTime must be an ISO 8601 duration string.");
    expiryTime = body.attributes.expiryTime;
  }
  const { record } = request.vault.keys.get(name);
  request.vault.keys.setPolicy(record.name, { lifetimeActions: actions, ...(expiryTime === undefined ? {} : { expiryTime }) });
  return { status: 200, body: policyBody(request.vault, record) };
}

function parseKeyOps(value: unknown): string[] {
  const allowed = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export"];
  if (!Array.isArray(value) || value.some((op) => typeof op !== "string" || !allowed.includes(op))) {
    throw kvErrors.badParameter(`key_ops must be an array of: ${allowed.join(", ")}.`);
  }
  return value as string[];
}

// ---- bodies the service returns -----------------------------------------------------------

export function keyId(vault: VaultContext, name: string, version?: string): string {
  return version ? `${vault.url}/keys/${name}/${version}` : `${vault.url}/keys/${name}`;
}

function keyBundle(vault: VaultContext, record: KeyRecord, version: KeyVersion): Record<string, unknown> {
  return {
    key: { kid: keyId(vault, record.name, version.version), kty: version.kty, key_ops: [...version.keyOps], ...version.material.publicJwk },
    attributes: attributesBody(vault, version),
    ...(version.tags === undefined ? {} : { tags: { ...version.tags } }),
    ...(record.managed ? { managed: true } : {}),
  };
}

function keyItem(vault: VaultContext, record: KeyRecord, version: KeyVersion, withVersion: boolean): Record<string, unknown> {
  return {
    kid: keyId(vault, record.name, withVersion ? version.version : undefined),
    attributes: attributesBody(vault, version),
    ...(version.tags === undefined ? {} : { tags: { ...version.tags } }),
    ...(record.managed ? { managed: true } : {}),
  };
}

function policyBody(vault: VaultContext, record: KeyRecord): Record<string, unknown> {
  const policy = record.policy;
  // What the service answered for a key that never had a policy (SDK recording, 2021).
  if (!policy) return { lifetimeActions: null, attributes: null };
  return {
    id: `${keyId(vault, record.name)}/rotationpolicy`,
    lifetimeActions: policy.lifetimeActions.map((a) => ({ trigger: { ...a.trigger }, action: { ...a.action } })),
    attributes: {
      ...(policy.expiryTime === undefined ? {} : { expiryTime: policy.expiryTime }),
      created: policy.created,
      updated: policy.updated,
    },
  };
}
