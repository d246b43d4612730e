// The rotator registry: one line per kind (and its import). The kind is the `Rotator`
// tag value and the folder name; a rotator registered under another name does not
// compile. Everything else that lists kinds derives from this table.
import { entraAppSecretRotator } from "./entra-app-secret/index.js";
import { generatedSecretRotator } from "./generated-secret/index.js";
import { postgresFlexibleAdminRotator } from "./postgres-flexible-admin/index.js";
import { postgresRoleRotator } from "./postgres-role/index.js";
import { cosmosDbKeyRotator } from "./cosmos-db-key/index.js";
import { createRegistry, defineRotators } from "../core/registry.js";
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

export const rotators = defineRotators({
  "generated-secret": generatedSecretRotator,
  "storage-account-key": storageAccountKeyRotator,
  "sql-server-admin": sqlServerAdminRotator,
  "cosmos-db-key": cosmosDbKeyRotator,
  "entra-app-secret": entraAppSecretRotator,
  "postgres-role": postgresRoleRotator,
  "postgres-flexible-admin": postgresFlexibleAdminRotator,
  // The ARM access-key family (rotators/arm-access-key/): one descriptor per service.
  "cognitive-services-key": cognitiveServicesKeyRotator,
  "service-bus-key": serviceBusKeyRotator,
  "event-hubs-key": eventHubsKeyRotator,
  "redis-cache-key": redisCacheKeyRotator,
  "search-admin-key": searchAdminKeyRotator,
  "app-configuration-key": appConfigurationKeyRotator,
  "event-grid-key": eventGridKeyRotator,
  "container-registry-token": containerRegistryTokenRotator,
});

export type RotatorKind = keyof typeof rotators;
/** Every kind, in registration order: derived, never copied. */
export const RotatorKinds = Object.keys(rotators) as RotatorKind[];

export const registry = createRegistry(rotators);
export type { RotatorRegistry } from "../core/registry.js";
