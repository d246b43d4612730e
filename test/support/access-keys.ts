// Provider-side fixtures of the access-key family, in one place for the integration test,
// the fleet (crash and chaos tests) and the bench: a resource in the ARM double and the
// tags and value of a Key Vault secret that holds one of its keys, as docs/rotators.md
// describes them. `variant` cycles through each kind's formats and address shapes.
import type { ArmEmulator, KeyHandle } from "../../emulators/arm/index.js";
import { rotators } from "../../rotators/index.js";
import type { AccessKeyRotator } from "../../rotators/arm-access-key/family.js";

/** The registry's access-key kinds, derived from the registry (never listed twice). */
export const ACCESS_KEY_KINDS = Object.values(rotators)
  .filter((r): r is AccessKeyRotator & (typeof rotators)[keyof typeof rotators] => "service" in r)
  .map((r) => r.kind);
export type AccessKeyKind = (typeof ACCESS_KEY_KINDS)[number];

export interface AccessKeyFixture {
  readonly handle: KeyHandle;
  readonly tags: Record<string, string>;
  readonly value: string;
  /** Whether the provider accepts the key a secret value holds now. */
  works(value: string): boolean;
}

export function isAccessKeyKind(kind: string): kind is AccessKeyKind {
  return (ACCESS_KEY_KINDS as readonly string[]).includes(kind);
}

/** A name the provider allows, from a test's secret name. */
function resourceName(prefix: string, name: string, max = 24): string {
  return `${prefix}${name}`.toLowerCase().replace(/[^a-z0-9-]/g, "").replace(/-+$/, "").slice(0, max);
}

export function addAccessKeySecret(arm: ArmEmulator, kind: string, name: string, variant = 0): AccessKeyFixture {
  if (!isAccessKeyKind(kind)) throw new Error(`${kind} is not an access-key kind`);
  const service = (rotators[kind] as unknown as AccessKeyRotator).service;
  const d = arm.accessKeys;
  const keyOf = (value: string) => service.keyOf(value);
  const fixture = (handle: KeyHandle, slot: string, value: string, tags: Record<string, string>): AccessKeyFixture => ({
    handle,
    tags: { ProviderAddress: handle.id, CredentialId: slot, ...tags },
    value,
    works: (v) => handle.accepts(keyOf(v)),
  });
  switch (kind) {
    case "cognitive-services-key": {
      const h = d.addCognitiveAccount({ name: resourceName("oai-", name, 60), kind: variant % 2 === 1 ? "TextAnalytics" : "OpenAI" });
      return fixture(h, "Key1", h.keys().Key1!, {});
    }
    case "service-bus-key":
    case "event-hubs-key": {
      const provider = kind === "service-bus-key" ? "servicebus" : "eventhub";
      const entityType: "queues" | "topics" | "eventhubs" = kind === "service-bus-key" ? (variant % 3 === 2 ? "topics" : "queues") : "eventhubs";
      const entity = variant % 3 === 0 ? undefined : { type: entityType, name: "orders" };
      const h = d.addAuthorizationRule({ provider, namespace: resourceName("ns-", name, 50), ...(entity ? { entity } : {}), rule: "app-send" });
      const bare = variant % 2 === 1;
      const key = h.keys().PrimaryKey!;
      const ns = resourceName("ns-", name, 50);
      const value = bare ? key : `Endpoint=sb://${ns}.servicebus.windows.net/;SharedAccessKeyName=app-send;SharedAccessKey=${key}${entity ? ";EntityPath=orders" : ""}`;
      return fixture(h, "PrimaryKey", value, bare ? { SecretFormat: "key" } : {});
    }
    case "redis-cache-key": {
      const h = d.addRedisCache({ name: resourceName("redis-", name, 60) });
      const conn = variant % 2 === 1;
      const key = h.keys().Primary!;
      return fixture(h, "Primary", conn ? `${resourceName("redis-", name, 60)}.redis.cache.windows.net:6380,password=${key},ssl=True,abortConnect=False` : key, conn ? { SecretFormat: "connection-string" } : {});
    }
    case "search-admin-key": {
      const h = d.addSearchService({ name: resourceName("srch-", name, 60) });
      return fixture(h, "primary", h.keys().primary!, {});
    }
    case "app-configuration-key": {
      const h = d.addAppConfigurationStore({ name: resourceName("appcs-", name, 50) });
      const slot = variant % 3 === 2 ? "Primary Read Only" : "Primary";
      const bare = variant % 3 === 1;
      return fixture(h, slot, bare ? h.keys()[slot]! : h.connectionString(slot), bare ? { SecretFormat: "key" } : {});
    }
    case "event-grid-key": {
      const h = d.addEventGridTopic({ name: resourceName("egt-", name, 50), domain: variant % 2 === 1 });
      return fixture(h, "key1", h.keys().key1!, {});
    }
    case "container-registry-token": {
      const h = d.addContainerRegistryToken({ registry: resourceName("cr", name, 40).replace(/-/g, ""), token: "ci-pull" });
      const json = variant % 2 === 1;
      const password = h.keys().password1!;
      return fixture(h, "password1", json ? JSON.stringify({ username: "ci-pull", password }) : password, json ? { SecretFormat: "json" } : {});
    }
  }
  throw new Error(`no fixture for ${String(kind)}`);
}
