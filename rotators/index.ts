// The rotator registry: one line per kind. The kind is the `Rotator` tag value and
// the folder name. A kind missing here, or registered under another name, does not
// compile.
import type { Rotator } from "../core/rotator.js";
import { entraAppSecretRotator } from "./entra-app-secret/index.js";
import { generatedSecretRotator } from "./generated-secret/index.js";
import { postgresFlexibleAdminRotator } from "./postgres-flexible-admin/index.js";
import { postgresRoleRotator } from "./postgres-role/index.js";
import { cosmosDbKeyRotator } from "./cosmos-db-key/index.js";
import { createRegistry } from "./registry.js";
import { sqlServerAdminRotator } from "./sql-server-admin/index.js";
import { storageAccountKeyRotator } from "./storage-account-key/index.js";
import { cognitiveServicesKeyRotator } from "./cognitive-services-key/index.js";
import { serviceBusKeyRotator } from "./service-bus-key/index.js";
import { eventHubsKeyRotator } from "./event-hubs-key/index.js";
import { redisCacheKeyRotator } from "./redis-cache-key/index.js";
import { searchAdminKeyRotator } from "./search-admin-key/index.js";
import { appConfigurationKeyRotator } from "./app-configuration-key/index.js";
import { eventGridKeyRotator } from "./event-grid-key/index.js";
import { containerRegistryTokenRotator } from "./container-registry-token/index.js";

export const RotatorKinds = [
  "generated-secret",
  "storage-account-key",
  "sql-server-admin",
  "cosmos-db-key",
  "entra-app-secret",
  "postgres-role",
  "postgres-flexible-admin",
  // The ARM access-key family (rotators/arm-access-key/): one descriptor per service.
  "cognitive-services-key",
  "service-bus-key",
  "event-hubs-key",
  "redis-cache-key",
  "search-admin-key",
  "app-configuration-key",
  "event-grid-key",
  "container-registry-token",
] as const;
export type RotatorKind = (typeof RotatorKinds)[number];

export const rotators = {
  "generated-secret": generatedSecretRotator,
  "storage-account-key": storageAccountKeyRotator,
  "sql-server-admin": sqlServerAdminRotator,
  "cosmos-db-key": cosmosDbKeyRotator,
  "entra-app-secret": entraAppSecretRotator,
  "postgres-role": postgresRoleRotator,
  "postgres-flexible-admin": postgresFlexibleAdminRotator,
  "cognitive-services-key": cognitiveServicesKeyRotator,
  "service-bus-key": serviceBusKeyRotator,
  "event-hubs-key": eventHubsKeyRotator,
  "redis-cache-key": redisCacheKeyRotator,
  "search-admin-key": searchAdminKeyRotator,
  "app-configuration-key": appConfigurationKeyRotator,
  "event-grid-key": eventGridKeyRotator,
  "container-registry-token": containerRegistryTokenRotator,
} satisfies { [K in RotatorKind]: Rotator<any> & { kind: K } };

export const registry = createRegistry(rotators);
export type { RotatorRegistry } from "./registry.js";
