// app-configuration-key — an access key of an Azure App Configuration store: the
// read-write pair (Primary / Secondary) or the read-only pair (Primary Read Only /
// Secondary Read Only), held as the connection string (default) or the bare secret.
//
// Model: dual credential, through the ARM access-key family (rotators/arm-access-key/).
//   list        POST {store}/listKeys → { value: [{ id, name, value, connectionString, readOnly, lastModified }] }
//   regenerate  POST {store}/regenerateKey { id: <the key's id from the list> } → that ApiKey (synchronous)
//   verify      GET {Endpoint}/kv signed with the new key by App Configuration's documented
//               HMAC-SHA256 scheme (Credential = the key's id, secret = its base64-decoded
//               value, signed headers x-ms-date;host;x-ms-content-sha256), at the Endpoint of
//               the connection string ARM handed out; read-only keys may read, so both pairs verify.
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg/providers/Microsoft.AppConfiguration/configurationStores/appcs-shop
//   CredentialId=Primary | Secondary | Primary Read Only | Secondary Read Only    written by keyturn
//   SecretFormat=connection-string (default: Endpoint=…;Id=…;Secret=…) | key
// Azure role: App Configuration Contributor on the store, or a custom role with the
// actions actionsOf() lists (listKeys, regenerateKey).
import { createHash, createHmac } from "node:crypto";
import { ProviderError, isTransient } from "../../core/errors.js";
import { dataPlaneGet } from "../../core/dataplane.js";
import { createAccessKeyRotator, keyField, prop, str, type AccessKeyService, type KeySet, type ListedKey } from "../arm-access-key/family.js";

const SLOTS = ["Primary", "Secondary", "Primary Read Only", "Secondary Read Only"] as const;
/** The App Configuration data-plane api-version of the key-value list. */
const DATA_API_VERSION = "1.0";
const EMPTY_BODY_SHA256 = createHash("sha256").update("").digest("base64");

/** The HMAC-SHA256 headers App Configuration's REST authentication documents, for a GET without body. */
export function appConfigurationHmacHeaders(url: URL, credential: string, secret: string, date = new Date().toUTCString()): Record<string, string> {
  const stringToSign = `GET\n${url.pathname}${url.search}\n${date};${url.host};${EMPTY_BODY_SHA256}`;
  const signature = createHmac("sha256", Buffer.from(secret, "base64")).update(stringToSign, "utf8").digest("base64");
  return {
    "x-ms-date": date,
    "x-ms-content-sha256": EMPTY_BODY_SHA256,
    authorization: `HMAC-SHA256 Credential=${credential}&SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${signature}`,
  };
}

function apiKey(item: unknown): [string, ListedKey] | undefined {
  const name = str(item, "name");
  const value = str(item, "value");
  const slot = SLOTS.find((s) => s.toLowerCase() === name?.toLowerCase());
  if (!slot || !value) return undefined;
  const connectionString = str(item, "connectionString");
  const id = str(item, "id");
  return [slot, { value, ...(connectionString ? { connectionString } : {}), ...(id ? { id } : {}) }];
}

export const appConfigurationKey: AccessKeyService<"app-configuration-key"> = {
  kind: "app-configuration-key",
  description: "an access key (read-write or read-only pair) of an Azure App Configuration store",
  resourceTypes: ["microsoft.appconfiguration/configurationstores"],
  addresses: ["Microsoft.AppConfiguration/configurationStores/{name}"],
  example: "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/Microsoft.AppConfiguration/configurationStores/<store>",
  apiVersion: "2024-06-01",
  pairs: [
    ["Primary", "Secondary"],
    ["Primary Read Only", "Secondary Read Only"],
  ],
  role: "App Configuration Contributor",
  list: {
    action: "Microsoft.AppConfiguration/configurationStores/ListKeys/action",
    path: (a) => `${a.id}/listKeys`,
    // A store has four keys: one page. (The list is pageable in the spec; ARM never splits four.)
    parse: (body) => {
      const items = prop(body, "value");
      return Object.fromEntries((Array.isArray(items) ? items : []).map(apiKey).filter((e) => e !== undefined)) as KeySet;
    },
  },
  regenerate: {
    action: "Microsoft.AppConfiguration/configurationStores/RegenerateKey/action",
    path: (a) => `${a.id}/regenerateKey`,
    body: ({ slot, listed, address }) => {
      const id = listed?.[slot]?.id;
      if (!id) throw new ProviderError(`ARM's key list for ${address.id} gives no id for ${slot}`);
      return { id };
    },
    parse: (body) => Object.fromEntries([apiKey(body)].filter((e) => e !== undefined)) as KeySet,
  },
  formats: {
    "connection-string": ({ key, address }) => {
      if (!key.connectionString) throw new ProviderError(`ARM answered no connection string for ${address.id}`);
      return key.connectionString;
    },
    key: ({ key }) => key.value,
  },
  keyOf: (value) => keyField(value, "Secret"),
  dataPlane(ctx, facts, key) {
    const endpoint = facts.keyEndpoint;
    const id = facts.keyId;
    if (!endpoint || !id) return undefined;
    const url = `${endpoint.replace(/\/+$/, "")}/kv?api-version=${DATA_API_VERSION}`;
    return dataPlaneGet(ctx, url, (u) => appConfigurationHmacHeaders(u, id, key)).then(
      (status) => ({ ok: status === 200, status, transient: status === 408 || status === 429 || status >= 500 }),
      (error: unknown) => ({ ok: false, status: undefined, transient: isTransient(error) }),
    );
  },
};

export const appConfigurationKeyRotator = createAccessKeyRotator(appConfigurationKey);
