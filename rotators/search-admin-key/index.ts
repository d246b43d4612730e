// search-admin-key — an admin API key (primary / secondary) of an Azure AI Search service.
//
// Model: dual credential, through the ARM access-key family (rotators/arm-access-key/).
//   list        POST {service}/listAdminKeys → { primaryKey, secondaryKey }
//   regenerate  POST {service}/regenerateAdminKey/{primary|secondary} (no body) → { primaryKey, secondaryKey } (synchronous)
//   verify      list the admin keys again and find the new one in its slot (the data plane
//               lives at https://<service>.search.windows.net, a host ARM does not report;
//               ARM's list is the strongest check).
// Query keys are not rotated: they are one list of named keys, not a pair.
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg/providers/Microsoft.Search/searchServices/srch-catalog
//   CredentialId=primary | secondary     written by keyturn
// Azure role: Search Service Contributor on the service, or a custom role with the actions
// actionsOf() lists (listAdminKeys, regenerateAdminKey).
import { createAccessKeyRotator, keysByProperty, type AccessKeyService } from "../arm-access-key/family.js";

const KEYS = { primary: "primaryKey", secondary: "secondaryKey" } as const;

export const searchAdminKey: AccessKeyService<"search-admin-key"> = {
  kind: "search-admin-key",
  description: "an admin API key (primary/secondary) of an Azure AI Search service",
  resourceTypes: ["microsoft.search/searchservices"],
  addresses: ["Microsoft.Search/searchServices/{name}"],
  example: "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/Microsoft.Search/searchServices/<service>",
  apiVersion: "2025-05-01",
  pairs: [["primary", "secondary"]],
  role: "Search Service Contributor",
  list: {
    action: "Microsoft.Search/searchServices/listAdminKeys/action",
    path: (a) => `${a.id}/listAdminKeys`,
    parse: (body) => keysByProperty(body, KEYS),
  },
  regenerate: {
    action: "Microsoft.Search/searchServices/regenerateAdminKey/action",
    // keyKind is a path parameter; the request has no body.
    path: (a, slot) => `${a.id}/regenerateAdminKey/${slot}`,
    body: () => undefined,
    parse: (body) => keysByProperty(body, KEYS),
  },
  formats: { key: ({ key }) => key.value },
  keyOf: (value) => value.trim(),
};

export const searchAdminKeyRotator = createAccessKeyRotator(searchAdminKey);
