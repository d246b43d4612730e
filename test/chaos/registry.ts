// The rotators as the chaos run uses them: the production kinds, with shorter pauses
// between verification attempts and long-running-operation polls than in production
// (where they wait for Azure's propagation), so that a few hundred rotations with
// injected faults fit in minutes. Behaviour is otherwise the production code's.
import { createAccessKeyRotator, type AccessKeyRotator } from "../../rotators/arm-access-key/family.js";
import { createCosmosDbKeyRotator } from "../../rotators/cosmos-db-key/index.js";
import { createEntraAppSecretRotator } from "../../rotators/entra-app-secret/index.js";
import { rotators } from "../../rotators/index.js";
import { createRegistry } from "../../core/registry.js";
import { createSqlServerAdminRotator } from "../../rotators/sql-server-admin/index.js";
import { createStorageAccountKeyRotator } from "../../rotators/storage-account-key/index.js";

export const chaosRegistry = createRegistry({
  ...rotators,
  "storage-account-key": createStorageAccountKeyRotator({ verifyDelaysMs: [0, 100, 300] }),
  "sql-server-admin": createSqlServerAdminRotator({ pollIntervalMs: 20, verifyDelaysMs: [0, 100, 300] }),
  "cosmos-db-key": createCosmosDbKeyRotator({ pollIntervalMs: 20, verifyDelaysMs: [0, 100, 300] }),
  "entra-app-secret": createEntraAppSecretRotator({ verifyAttempts: 4, verifyDelayMs: 100, maxVerifyDelayMs: 400 }),
  // Every kind of the access-key family, found by its descriptor.
  ...Object.fromEntries(
    Object.values(rotators)
      .filter((r): r is AccessKeyRotator & typeof r => "service" in r)
      .map((r) => [r.kind, createAccessKeyRotator(r.service, { pollIntervalMs: 20, verifyDelaysMs: [0, 100, 300] })]),
  ),
});

export { withConcurrency } from "../../core/concurrency.js";
