// What sql-server-admin calls at the provider (core/access.ts explains the mechanism).
import type { RotatorAccess } from "../../core/access.js";

export const sqlServerAdminAccess = {
  roleName: "keyturn SQL Server Admin Password Rotator",
  resourceTypes: ["Microsoft.Sql/servers"],
  actions: [
    "Microsoft.Sql/servers/read",
    // PATCH administratorLoginPassword. Not firewall rules, Entra administrators or deletion.
    "Microsoft.Sql/servers/write",
    // The PATCH is a long-running operation: the SDK polls both of its URLs.
    "Microsoft.Sql/locations/serverAzureAsyncOperation/read",
    "Microsoft.Sql/locations/serverOperationResults/read",
  ],
  // Verification logs in with the new password (SQL authentication), not through RBAC.
  dataActions: [],
  why: "keyturn: read the server and set the administrator password it rotates",
} as const satisfies RotatorAccess;
