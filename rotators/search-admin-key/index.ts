// search-admin-key — an admin API key (primary / secondary) of an Azure AI Search service.
//
// Model: dual credential, through the ARM access-key family (rotators/arm-access-key/).
//   list        POST {service}/listAdminKeys → { primaryKey, secondaryKey }
//   regenerate  POST {service}/regenerateAdminKey/{primary|secondary} (no body) → { primaryKey, secondaryKey } (synchronous)
//   read        GET {service}: properties.endpoint (in 2025-05-01), disableLocalAuth=true is refused
//   verify      GET {endpoint}/servicestats with the new key in `api-key`: an operation only an
//               admin key may call, so it proves the admin key itself.
// Query keys are not rotated: they are one list of named keys, not a pair.
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg/providers/Microsoft.Search/searchServices/srch-catalog
//   CredentialId=primary | secondary     written by keyturn
// Azure role: Search Service Contributor on the service, or a custom role with the actions
// actionsOf() lists (read, listAdminKeys, regenerateAdminKey).
import { ProviderError, isTransient } from "../../core/errors.js";
import { dataPlaneGet } from "../../core/dataplane.js";
import { createAccessKeyRotator, keysByProperty, prop, str, type AccessKeyService } from "../arm-access-key/family.js";

/** The Azure AI Search data-plane GA api-version. */
const SEARCH_DATA_API_VERSION = "2024-07-01";

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
  read: {
    action: "Microsoft.Search/searchServices/read",
    facts(body, a) {
      if (prop(body, "properties", "disableLocalAuth") === true) {
        throw new ProviderError(`${a.id} has API-key authentication disabled (disableLocalAuth): its keys authorise nothing. Stop rotating this secret, or enable keys`);
      }
      const endpoint = str(body, "properties", "endpoint");
      const facts: Record<string, string> = endpoint ? { endpoint } : {};
      return facts;
    },
  },
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
  dataPlane(ctx, facts, key) {
    if (!facts.endpoint) return undefined;
    const url = `${facts.endpoint.replace(/\/+$/, "")}/servicestats?api-version=${SEARCH_DATA_API_VERSION}`;
    return dataPlaneGet(ctx, url, { "api-key": key }).then(
      (status) => ({ ok: status === 200, status, transient: status === 408 || status === 429 || status >= 500 }),
      (error: unknown) => ({ ok: false, status: undefined, transient: isTransient(error) }),
    );
  },
};

export const searchAdminKeyRotator = createAccessKeyRotator(searchAdminKey);
