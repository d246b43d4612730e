// The rotator registry: one line per kind. The kind is the `Rotator` tag value and
// the folder name. A kind missing here, or registered under another name, does not
// compile.
import type { Rotator } from "../core/rotator.js";
import { entraAppSecretRotator } from "./entra-app-secret/index.js";
import { generatedSecretRotator } from "./generated-secret/index.js";
import { postgresFlexibleAdminRotator } from "./postgres-flexible-admin/index.js";
import { postgresRoleRotator } from "./postgres-role/index.js";
import { cosmosDbKeyRotator } from "./cosmos-db-key/index.js";
import { createRegistry } from "../core/registry.js";
import { sqlServerAdminRotator } from "./sql-server-admin/index.js";
import { storageAccountKeyRotator } from "./storage-account-key/index.js";

export const RotatorKinds = [
  "generated-secret",
  "storage-account-key",
  "sql-server-admin",
  "cosmos-db-key",
  "entra-app-secret",
  "postgres-role",
  "postgres-flexible-admin",
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
} satisfies { [K in RotatorKind]: Rotator<any> & { kind: K } };

export const registry = createRegistry(rotators);
export type { RotatorRegistry } from "../core/registry.js";
