// cognitive-services-key — an API key (Key1 / Key2) of an Azure AI services account:
// Azure OpenAI, AI services multi-service, and the single-service kinds.
//
// Model: dual credential, through the ARM access-key family (rotators/arm-access-key/):
// regenerate the key consumers do not use, prove it, switch CredentialId.
//   list        POST {account}/listKeys            → { key1, key2 }
//   regenerate  POST {account}/regenerateKey { keyName: "Key1" | "Key2" } → { key1, key2 } (synchronous)
//   read        GET {account}: properties.endpoint, kind; disableLocalAuth=true is refused (keys authorise nothing)
//   verify      OpenAI and AIServices accounts: GET {endpoint}openai/models with the new key in
//               `api-key` (the Azure OpenAI data plane's cheapest authenticated read); other
//               kinds have no data-plane request common to all, so: list the keys again.
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/oai-orders
//   CredentialId=Key1 | Key2          written by keyturn
// Azure role: Cognitive Services Contributor on the account, or a custom role with the
// actions actionsOf() lists (read, listKeys, regenerateKey).
// Failure: as every access-key kind (rotators/arm-access-key/family.ts).
import { ProviderError, isTransient } from "../../core/errors.js";
import { dataPlaneGet } from "../../core/dataplane.js";
import { createAccessKeyRotator, keysByProperty, prop, str, type AccessKeyService } from "../arm-access-key/family.js";

/** Azure OpenAI data-plane GA api-version of the models list. */
const OPENAI_DATA_API_VERSION = "2024-10-21";
const KEYS = { Key1: "key1", Key2: "key2" } as const;

export const cognitiveServicesKey: AccessKeyService<"cognitive-services-key"> = {
  kind: "cognitive-services-key",
  description: "an API key (Key1/Key2) of an Azure OpenAI or other Azure AI services account",
  resourceTypes: ["microsoft.cognitiveservices/accounts"],
  addresses: ["Microsoft.CognitiveServices/accounts/{name}"],
  example: "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/Microsoft.CognitiveServices/accounts/<account>",
  apiVersion: "2024-10-01",
  pairs: [["Key1", "Key2"]],
  role: "Cognitive Services Contributor",
  read: {
    action: "Microsoft.CognitiveServices/accounts/read",
    facts(body, a) {
      if (prop(body, "properties", "disableLocalAuth") === true) {
        throw new ProviderError(`${a.id} has local (key) authentication disabled: its keys authorise nothing. Stop rotating this secret, or enable key authentication`);
      }
      const endpoint = str(body, "properties", "endpoint");
      return { ...(endpoint ? { endpoint } : {}), accountKind: str(body, "kind") ?? "" };
    },
  },
  list: {
    action: "Microsoft.CognitiveServices/accounts/listKeys/action",
    path: (a) => `${a.id}/listKeys`,
    parse: (body) => keysByProperty(body, KEYS),
  },
  regenerate: {
    action: "Microsoft.CognitiveServices/accounts/regenerateKey/action",
    path: (a) => `${a.id}/regenerateKey`,
    body: ({ slot }) => ({ keyName: slot }),
    parse: (body) => keysByProperty(body, KEYS),
  },
  formats: { key: ({ key }) => key.value },
  keyOf: (value) => value.trim(),
  dataPlane(ctx, facts, key) {
    if (!facts.endpoint || !/^(openai|aiservices)$/i.test(facts.accountKind ?? "")) return undefined;
    const url = new URL(`openai/models?api-version=${OPENAI_DATA_API_VERSION}`, facts.endpoint.endsWith("/") ? facts.endpoint : `${facts.endpoint}/`).toString();
    return dataPlaneGet(ctx, url, { "api-key": key }).then(
      (status) => ({ ok: status === 200, status, transient: status === 408 || status === 429 || status >= 500 }),
      (error: unknown) => ({ ok: false, status: undefined, transient: isTransient(error) }),
    );
  },
};

export const cognitiveServicesKeyRotator = createAccessKeyRotator(cognitiveServicesKey);
