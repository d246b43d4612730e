// redis-cache-key — an access key (Primary / Secondary) of an Azure Cache for Redis,
// held as the bare key (default) or a StackExchange.Redis connection string.
//
// Model: dual credential, through the ARM access-key family (rotators/arm-access-key/).
//   read        GET {cache}: hostName, sslPort; disableAccessKeyAuthentication=true is refused
//   list        POST {cache}/listKeys → { primaryKey, secondaryKey }
//   regenerate  POST {cache}/regenerateKey { keyType: "Primary" | "Secondary" } → { primaryKey, secondaryKey } (synchronous)
//   verify      list the keys again and find the new one in its slot (the data plane is the
//               Redis protocol at the cache's own host name; ARM's list is the strongest check).
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg/providers/Microsoft.Cache/redis/cache-sessions
//   CredentialId=Primary | Secondary     written by keyturn
//   SecretFormat=key (default) | connection-string   <hostName>:<sslPort>,password=<key>,ssl=True,abortConnect=False
// Azure role: Redis Cache Contributor on the cache, or a custom role with the actions
// actionsOf() lists (read, listKeys, regenerateKey).
import { ProviderError } from "../../core/errors.js";
import { createAccessKeyRotator, keysByProperty, prop, str, type AccessKeyService } from "../arm-access-key/family.js";

const KEYS = { Primary: "primaryKey", Secondary: "secondaryKey" } as const;

export const redisCacheKey: AccessKeyService<"redis-cache-key"> = {
  kind: "redis-cache-key",
  description: "an access key (Primary/Secondary) of an Azure Cache for Redis",
  resourceTypes: ["microsoft.cache/redis"],
  addresses: ["Microsoft.Cache/redis/{name}"],
  example: "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/Microsoft.Cache/redis/<cache>",
  apiVersion: "2024-11-01",
  pairs: [["Primary", "Secondary"]],
  role: "Redis Cache Contributor",
  read: {
    action: "Microsoft.Cache/redis/read",
    facts(body, a) {
      if (prop(body, "properties", "disableAccessKeyAuthentication") === true) {
        throw new ProviderError(`${a.id} has access-key authentication disabled: its keys authorise nothing. Stop rotating this secret, or enable access keys`);
      }
      const hostName = str(body, "properties", "hostName");
      const sslPort = prop(body, "properties", "sslPort");
      return { ...(hostName ? { hostName } : {}), sslPort: typeof sslPort === "number" ? String(sslPort) : "6380" };
    },
  },
  list: {
    action: "Microsoft.Cache/redis/listKeys/action",
    path: (a) => `${a.id}/listKeys`,
    parse: (body) => keysByProperty(body, KEYS),
  },
  regenerate: {
    action: "Microsoft.Cache/redis/regenerateKey/action",
    path: (a) => `${a.id}/regenerateKey`,
    body: ({ slot }) => ({ keyType: slot }),
    parse: (body) => keysByProperty(body, KEYS),
  },
  formats: {
    key: ({ key }) => key.value,
    "connection-string": ({ key, facts, address }) => {
      if (!facts.hostName) throw new ProviderError(`ARM reports no hostName for ${address.id}`);
      return `${facts.hostName}:${facts.sslPort ?? "6380"},password=${key.value},ssl=True,abortConnect=False`;
    },
  },
  // StackExchange.Redis options are comma-separated; the key is base64 (no commas).
  keyOf: (value) => /(^|,)\s*password\s*=/i.test(value) ? (/(?:^|,)\s*password\s*=([^,]*)/i.exec(value)?.[1] ?? "").trim() : value.trim(),
};

export const redisCacheKeyRotator = createAccessKeyRotator(redisCacheKey);
