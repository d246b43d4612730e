// What postgres-flexible-admin calls at the provider (core/access.ts explains the mechanism).
import type { RotatorAccess } from "../../core/access.js";

export const postgresFlexibleAdminAccess = {
  roleName: "keyturn PostgreSQL Flexible Admin Password Rotator",
  resourceTypes: ["Microsoft.DBforPostgreSQL/flexibleServers"],
  actions: [
    "Microsoft.DBforPostgreSQL/flexibleServers/read",
    // PATCH administratorLoginPassword. Not firewall rules, administrators or deletion.
    "Microsoft.DBforPostgreSQL/flexibleServers/write",
    // The PATCH is a long-running operation: the SDK polls both of its URLs.
    "Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read",
    "Microsoft.DBforPostgreSQL/locations/operationResults/read",
  ],
  // Verification logs in with the new password, not through RBAC.
  dataActions: [],
  why: "keyturn: read the server and set the administrator password it rotates",
} as const satisfies RotatorAccess;
