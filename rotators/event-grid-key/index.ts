// event-grid-key — an access key (key1 / key2) of an Event Grid custom topic or domain.
//
// Model: dual credential, through the ARM access-key family (rotators/arm-access-key/).
//   list        POST {topic|domain}/listKeys → { key1, key2 }
//   regenerate  POST {topic|domain}/regenerateKey { keyName: "key1" | "key2" } → long-running:
//               202 with Azure-AsyncOperation and Location, then { key1, key2 } from Location
//               (the spec answers 200 or 202; the SDK polls to the end either way)
//   verify      list the keys again and find the new one in its slot: the data-plane check
//               would publish an event to the topic's subscribers, which a rotation must not do.
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg/providers/Microsoft.EventGrid/topics/orders-events
//                   (or …/Microsoft.EventGrid/domains/<domain>)
//   CredentialId=key1 | key2     written by keyturn
// Azure role: EventGrid Contributor on the topic or domain, or a custom role with the
// actions actionsOf() lists (listKeys, regenerateKey of topics and domains).
import { createAccessKeyRotator, keysByProperty, type AccessKeyService } from "../arm-access-key/family.js";

const KEYS = { key1: "key1", key2: "key2" } as const;

export const eventGridKey: AccessKeyService<"event-grid-key"> = {
  kind: "event-grid-key",
  description: "an access key (key1/key2) of an Event Grid custom topic or domain",
  resourceTypes: ["microsoft.eventgrid/topics", "microsoft.eventgrid/domains"],
  addresses: ["Microsoft.EventGrid/topics/{name}", "Microsoft.EventGrid/domains/{name}"],
  example: "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/Microsoft.EventGrid/topics/<topic>",
  apiVersion: "2025-02-15",
  pairs: [["key1", "key2"]],
  role: "EventGrid Contributor",
  list: {
    action: ["Microsoft.EventGrid/topics/listKeys/action", "Microsoft.EventGrid/domains/listKeys/action"],
    path: (a) => `${a.id}/listKeys`,
    parse: (body) => keysByProperty(body, KEYS),
  },
  regenerate: {
    action: ["Microsoft.EventGrid/topics/regenerateKey/action", "Microsoft.EventGrid/domains/regenerateKey/action"],
    path: (a) => `${a.id}/regenerateKey`,
    body: ({ slot }) => ({ keyName: slot }),
    longRunning: "location",
    parse: (body) => keysByProperty(body, KEYS),
  },
  formats: { key: ({ key }) => key.value },
  keyOf: (value) => value.trim(),
};

export const eventGridKeyRotator = createAccessKeyRotator(eventGridKey);
