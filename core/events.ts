// Key Vault system events, as Event Grid delivers them: the Event Grid schema
// (eventType/topic/eventTime) or CloudEvents 1.0 (type/source/time/specversion).
//
// Published samples differ in case (`Id`/`id`, `NBF`/`nbf`) and in types (numbers or
// numeric strings), so names are read case-insensitively with stray white space
// ignored. The vault must agree everywhere it is named (topic or source, VaultName,
// the object Id's host) and be on the allow-list: an event is untrusted input.
import { BadRequestError } from "./errors.js";
import { truncate, type VaultAllowList, type VaultRef } from "./vaults.js";

export const KeyVaultEventType = {
  SecretNewVersionCreated: "Microsoft.KeyVault.SecretNewVersionCreated",
  SecretNearExpiry: "Microsoft.KeyVault.SecretNearExpiry",
  SecretExpired: "Microsoft.KeyVault.SecretExpired",
  CertificateNewVersionCreated: "Microsoft.KeyVault.CertificateNewVersionCreated",
  CertificateNearExpiry: "Microsoft.KeyVault.CertificateNearExpiry",
  CertificateExpired: "Microsoft.KeyVault.CertificateExpired",
  KeyNewVersionCreated: "Microsoft.KeyVault.KeyNewVersionCreated",
  KeyNearExpiry: "Microsoft.KeyVault.KeyNearExpiry",
  KeyExpired: "Microsoft.KeyVault.KeyExpired",
  VaultAccessPolicyChanged: "Microsoft.KeyVault.VaultAccessPolicyChanged",
} as const;
export type KeyVaultEventType = (typeof KeyVaultEventType)[keyof typeof KeyVaultEventType];

/** The event types keyturn acts on (and the Event Grid subscription filters to). */
export const HandledEventTypes = [
  KeyVaultEventType.SecretNearExpiry,
  KeyVaultEventType.SecretExpired,
  KeyVaultEventType.CertificateNearExpiry,
  KeyVaultEventType.KeyNearExpiry,
] as const;

export type ObjectType = "Secret" | "Key" | "Certificate";
const objectTypeOf: Record<string, ObjectType> = {};
for (const t of Object.values(KeyVaultEventType)) {
  const m = /^Microsoft\.KeyVault\.(Secret|Key|Certificate)/.exec(t);
  if (m) objectTypeOf[t.toLowerCase()] = m[1] as ObjectType;
}
const canonicalType = new Map(Object.values(KeyVaultEventType).map((t) => [t.toLowerCase(), t]));

export interface KeyVaultEvent {
  readonly id: string;
  readonly type: KeyVaultEventType;
  readonly schema: "EventGridSchema" | "CloudEventSchemaV1_0";
  readonly time: Date | undefined;
  readonly vault: VaultRef;
  readonly objectType: ObjectType;
  readonly objectName: string;
  readonly version: string | undefined;
  readonly notBefore: Date | undefined;
  readonly expiresOn: Date | undefined;
  /** Whether keyturn acts on this type (see HandledEventTypes). */
  readonly handled: boolean;
}

export const SubscriptionValidationEventType = "Microsoft.EventGrid.SubscriptionValidationEvent";

/** Read an object's fields with names folded to lower case and trimmed. */
function folded(value: unknown, what: string): Map<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new BadRequestError(`${what} must be a JSON object`);
  const map = new Map<string, unknown>();
  for (const [k, v] of Object.entries(value)) map.set(k.trim().toLowerCase(), v);
  return map;
}

function str(map: Map<string, unknown>, key: string, what: string, required: true): string;
function str(map: Map<string, unknown>, key: string, what: string, required?: false): string | undefined;
function str(map: Map<string, unknown>, key: string, what: string, required = false): string | undefined {
  const v = map.get(key);
  if (v === undefined || v === null || (typeof v === "string" && v.trim() === "")) {
    if (required) throw new BadRequestError(`${what} is missing`);
    return undefined;
  }
  if (typeof v !== "string") throw new BadRequestError(`${what} must be a string`);
  return v.trim();
}

/** NBF/EXP: unix seconds as a number or a numeric string. */
function unixTime(map: Map<string, unknown>, key: string, what: string): Date | undefined {
  const v = map.get(key);
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "number" ? v : typeof v === "string" && /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > 253402300799) throw new BadRequestError(`${what} must be unix seconds (a number or numeric string)`);
  return new Date(n * 1000);
}

const vaultResourceId = /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.keyvault\/vaults\/([^/]+)$/i;
const objectIdPath = /^\/(secrets|keys|certificates)\/([^/]+)(?:\/([^/]*))?\/?$/i;

export type ParsedEvent =
  | { kind: "keyvault"; event: KeyVaultEvent }
  | { kind: "validation"; validationCode: string; validationUrl: string | undefined }
  | { kind: "ignored"; type: string; reason: string };

/**
 * Parse one delivered event. Throws BadRequestError saying what is wrong when the
 * event is malformed or names a vault keyturn must not touch.
 */
export function parseEvent(raw: unknown, allowList: VaultAllowList): ParsedEvent {
  const env = folded(raw, "event");
  const isCloudEvent = env.has("specversion");
  if (isCloudEvent && str(env, "specversion", "specversion") !== "1.0") throw new BadRequestError("specversion must be 1.0");
  const schema = isCloudEvent ? "CloudEventSchemaV1_0" : "EventGridSchema";
  const type = str(env, isCloudEvent ? "type" : "eventtype", isCloudEvent ? "type" : "eventType", true);
  const id = str(env, "id", "id", true);

  if (type.toLowerCase() === SubscriptionValidationEventType.toLowerCase()) {
    const data = folded(env.get("data"), "data");
    return {
      kind: "validation",
      validationCode: str(data, "validationcode", "data.validationCode", true),
      validationUrl: str(data, "validationurl", "data.validationUrl"),
    };
  }
  const known = canonicalType.get(type.toLowerCase());
  if (!known) return { kind: "ignored", type: truncate(type), reason: "not a Key Vault event type" };

  const topic = str(env, isCloudEvent ? "source" : "topic", isCloudEvent ? "source" : "topic");
  const timeText = str(env, isCloudEvent ? "time" : "eventtime", isCloudEvent ? "time" : "eventTime");
  const time = timeText ? new Date(timeText) : undefined;
  if (time && Number.isNaN(time.getTime())) throw new BadRequestError("event time is not a date");

  const data = folded(env.get("data"), "data");
  const vaultNameInData = str(data, "vaultname", "data.VaultName");
  let vaultNameInTopic: string | undefined;
  if (topic) {
    const m = vaultResourceId.exec(topic);
    if (!m) throw new BadRequestError(`${isCloudEvent ? "source" : "topic"} is not a Key Vault resource ID`);
    vaultNameInTopic = m[1];
  }
  if (!vaultNameInData && !vaultNameInTopic) throw new BadRequestError("the event names no vault (topic/source or data.VaultName)");
  if (vaultNameInData && vaultNameInTopic && vaultNameInData.toLowerCase() !== vaultNameInTopic.toLowerCase()) {
    throw new BadRequestError("data.VaultName does not match the vault in topic/source");
  }
  const name = (vaultNameInData ?? vaultNameInTopic)!;
  const vault = allowList.find(name);
  if (!vault) throw new BadRequestError(`vault '${truncate(name)}' is not on the allow-list`);

  const objectType = objectTypeOf[known.toLowerCase()];
  if (!objectType) return { kind: "ignored", type: known, reason: "vault-level event" };

  const declaredType = str(data, "objecttype", "data.ObjectType");
  if (declaredType && declaredType.toLowerCase() !== objectType.toLowerCase()) {
    throw new BadRequestError(`data.ObjectType '${truncate(declaredType)}' does not match event type ${known}`);
  }
  let objectName = str(data, "objectname", "data.ObjectName");
  let version = str(data, "version", "data.Version");
  const objectId = str(data, "id", "data.Id");
  if (objectId) {
    let url: URL;
    try {
      url = new URL(objectId);
    } catch {
      throw new BadRequestError("data.Id is not a URL");
    }
    if (url.origin.toLowerCase() !== new URL(vault.url).origin.toLowerCase()) {
      throw new BadRequestError(`data.Id is not in vault ${vault.name}`);
    }
    const m = objectIdPath.exec(url.pathname);
    if (!m || m[1]!.toLowerCase() !== `${objectType.toLowerCase()}s`) throw new BadRequestError(`data.Id is not a ${objectType.toLowerCase()} identifier`);
    const idName = decodeURIComponent(m[2]!);
    const idVersion = m[3] ? decodeURIComponent(m[3]) : undefined;
    if (objectName && objectName !== idName) throw new BadRequestError("data.ObjectName does not match data.Id");
    if (version && idVersion && version !== idVersion) throw new BadRequestError("data.Version does not match data.Id");
    objectName ??= idName;
    version ??= idVersion;
  }
  if (!objectName) throw new BadRequestError("data.ObjectName is missing");
  if (!/^[0-9a-zA-Z-]{1,127}$/.test(objectName)) throw new BadRequestError(`data.ObjectName '${truncate(objectName)}' is not a Key Vault object name`);
  if (version !== undefined && !/^[0-9a-zA-Z]{1,64}$/.test(version)) throw new BadRequestError("data.Version is not a Key Vault version");

  return {
    kind: "keyvault",
    event: {
      id,
      type: known,
      schema,
      time,
      vault,
      objectType,
      objectName,
      version,
      notBefore: unixTime(data, "nbf", "data.NBF"),
      expiresOn: unixTime(data, "exp", "data.EXP"),
      handled: (HandledEventTypes as readonly string[]).includes(known),
    },
  };
}
