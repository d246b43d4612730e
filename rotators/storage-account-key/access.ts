// What storage-account-key calls at the provider (core/access.ts explains the mechanism).
import type { RotatorAccess } from "../../core/access.js";

export const storageAccountKeyAccess = {
  roleName: "keyturn Storage Account Key Rotator",
  resourceTypes: ["Microsoft.Storage/storageAccounts"],
  actions: [
    // The account's endpoints and allowSharedKeyAccess (checkCurrent).
    "Microsoft.Storage/storageAccounts/read",
    "Microsoft.Storage/storageAccounts/listkeys/action",
    "Microsoft.Storage/storageAccounts/regeneratekey/action",
  ],
  // Verification signs a blob request with the new key itself: no RBAC data action.
  dataActions: [],
  why: "keyturn: list and regenerate the account keys it rotates, and read the account's endpoints",
} as const satisfies RotatorAccess;
