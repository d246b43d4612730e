// Storage account key secret values: the bare key, or a connection string.
// Pure functions, shared by the rotator's steps and its tests.
import { Tag, choiceTag, parseTag, type Tags } from "../../core/tags.js";
import * as z from "zod/mini";
import "../../core/schema.js";
import { connectionStringFields } from "../../core/connection-string.js";

export const StorageSecretFormat = { Key: "key", ConnectionString: "connection-string" } as const;
export type StorageSecretFormat = (typeof StorageSecretFormat)[keyof typeof StorageSecretFormat];

export const StorageKeyName = { Key1: "key1", Key2: "key2" } as const;
export type StorageKeyName = (typeof StorageKeyName)[keyof typeof StorageKeyName];

export function otherKey(key: StorageKeyName): StorageKeyName {
  return key === StorageKeyName.Key1 ? StorageKeyName.Key2 : StorageKeyName.Key1;
}

const formatSchema = z._default(choiceTag(Object.values(StorageSecretFormat), `must be '${StorageSecretFormat.Key}' (the bare key, default) or '${StorageSecretFormat.ConnectionString}'`), StorageSecretFormat.Key);
const keyNameSchema = z.optional(choiceTag(Object.values(StorageKeyName), `must be '${StorageKeyName.Key1}' or '${StorageKeyName.Key2}': the account key the current version holds`));

export function parseStorageFormat(tags: Tags): StorageSecretFormat {
  return parseTag(tags, Tag.SecretFormat, formatSchema);
}

export function parseKeyName(tags: Tags): StorageKeyName | undefined {
  return parseTag(tags, Tag.CredentialId, keyNameSchema);
}


/**
 * The key held by a secret value, whatever its format: a connection string's AccountKey
 * (and AccountName), or the whole value. Lenient on purpose: an owner who switches
 * SecretFormat, or onboards a secret with the bare key, is not refused.
 */
export function keyFromValue(value: string): { key: string; accountName?: string } {
  if (/(^|;)\s*AccountKey\s*=/i.test(value)) {
    const fields = connectionStringFields(value);
    const accountName = fields.get("accountname");
    return { key: fields.get("accountkey") ?? "", ...(accountName ? { accountName } : {}) };
  }
  return { key: value.trim() };
}

/** Service endpoints of a storage account, as ARM's primaryEndpoints lists them. */
export interface StorageEndpoints {
  readonly blob: string;
  readonly queue?: string;
  readonly table?: string;
  readonly file?: string;
}

const SERVICES = ["blob", "queue", "table", "file"] as const;

/** `core.windows.net` when every endpoint is `https://<account>.<service>.<suffix>/` with one suffix. */
export function standardSuffix(accountName: string, endpoints: StorageEndpoints): string | undefined {
  const prefix = `https://${accountName.toLowerCase()}.blob.`;
  const blob = endpoints.blob.toLowerCase().replace(/\/+$/, "");
  if (!blob.startsWith(prefix)) return undefined;
  const suffix = blob.slice(prefix.length);
  if (!/^[a-z0-9.-]+$/.test(suffix)) return undefined;
  for (const service of SERVICES) {
    const url = endpoints[service];
    if (url !== undefined && url.toLowerCase().replace(/\/+$/, "") !== `https://${accountName.toLowerCase()}.${service}.${suffix}`) return undefined;
  }
  return suffix;
}

/**
 * The connection string the Azure portal shows (`EndpointSuffix=`) when the account's
 * endpoints are the standard ones; otherwise (DNS-zone endpoints, Azure Stack, the local
 * double) the explicit endpoints (`BlobEndpoint=`, ...), which every Azure Storage SDK reads.
 */
export function storageConnectionString(accountName: string, key: string, endpoints: StorageEndpoints): string {
  const head = `DefaultEndpointsProtocol=https;AccountName=${accountName};AccountKey=${key}`;
  const suffix = standardSuffix(accountName, endpoints);
  if (suffix !== undefined) return `${head};EndpointSuffix=${suffix}`;
  const explicit = SERVICES.filter((s) => endpoints[s] !== undefined).map((s) => `${s[0]!.toUpperCase()}${s.slice(1)}Endpoint=${endpoints[s]}`);
  return [head, ...explicit].join(";");
}

export function formatStorageValue(format: StorageSecretFormat, accountName: string, key: string, endpoints: StorageEndpoints): string {
  return format === StorageSecretFormat.ConnectionString ? storageConnectionString(accountName, key, endpoints) : key;
}

// The storage endpoint suffix of each Azure cloud, by its ARM endpoint: used when keyturn
// may not read the account (the Storage Account Key Operator Service Role grants only
// listKeys and regenerateKey) and so cannot ask ARM for the account's endpoints.
const CLOUD_SUFFIXES: Readonly<Record<string, string>> = {
  "management.azure.com": "core.windows.net",
  "management.chinacloudapi.cn": "core.chinacloudapi.cn",
  "management.usgovcloudapi.net": "core.usgovcloudapi.net",
};

export function standardEndpointsFor(armEndpoint: string, accountName: string): StorageEndpoints | undefined {
  let host: string;
  try {
    host = new URL(armEndpoint).host.toLowerCase();
  } catch {
    return undefined;
  }
  const suffix = CLOUD_SUFFIXES[host];
  if (!suffix) return undefined;
  const url = (service: string) => `https://${accountName}.${service}.${suffix}/`;
  return { blob: url("blob"), queue: url("queue"), table: url("table"), file: url("file") };
}
