// What cosmos-db-key calls at the provider (core/access.ts explains the mechanism).
import type { RotatorAccess } from "../../core/access.js";

export const cosmosDbKeyAccess = {
  roleName: "keyturn Cosmos DB Key Rotator",
  resourceTypes: ["Microsoft.DocumentDB/databaseAccounts"],
  actions: [
    "Microsoft.DocumentDB/databaseAccounts/read",
    "Microsoft.DocumentDB/databaseAccounts/listKeys/action",
    "Microsoft.DocumentDB/databaseAccounts/readonlykeys/action",
    "Microsoft.DocumentDB/databaseAccounts/regenerateKey/action",
    // regenerateKey is a long-running operation: the SDK polls both of its URLs.
    "Microsoft.DocumentDB/locations/operationsStatus/read",
    "Microsoft.DocumentDB/locations/operationResults/read",
  ],
  // Verification signs a data-plane request with the new key itself: no RBAC data action,
  // and no sqlRoleAssignments (which would let keyturn grant itself data access).
  dataActions: [],
  why: "keyturn: read the account, list and regenerate the keys it rotates",
} as const satisfies RotatorAccess;
