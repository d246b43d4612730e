// event-hubs-key — a shared access key (PrimaryKey / SecondaryKey) of an Event Hubs
// authorization rule: namespace-level or of one event hub; held as the connection string
// (default) or the bare key.
//
// Model: dual credential, through the ARM access-key family (rotators/arm-access-key/).
//   list        POST {rule}/listKeys → { primaryKey, secondaryKey, primaryConnectionString, secondaryConnectionString, keyName }
//   regenerate  POST {rule}/regenerateKeys { keyType: "PrimaryKey" | "SecondaryKey" } → the same shape (synchronous)
//   verify      list the keys again and find the new one in its slot (the data plane is
//               AMQP/Kafka at the namespace's own host name; ARM's list is the strongest check).
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/eh-telemetry/authorizationRules/ingest
//                   (or …/namespaces/eh-telemetry/eventhubs/<hub>/authorizationRules/<rule>)
//   CredentialId=PrimaryKey | SecondaryKey    written by keyturn
//   SecretFormat=connection-string (default) | key
// Azure role: a custom role with the actions actionsOf() lists; no built-in role narrower
// than Contributor has them.
import { createAccessKeyRotator, type AccessKeyService } from "../arm-access-key/family.js";
import { sharedAccessKeyService } from "../arm-access-key/shared-access.js";

export const eventHubsKey: AccessKeyService<"event-hubs-key"> = sharedAccessKeyService({
  kind: "event-hubs-key",
  description: "a shared access key (PrimaryKey/SecondaryKey) of an Event Hubs authorization rule (namespace or event hub)",
  namespace: "Microsoft.EventHub",
  entities: ["eventhubs"],
  apiVersion: "2024-01-01",
  exampleNamespace: "eh-telemetry",
});

export const eventHubsKeyRotator = createAccessKeyRotator(eventHubsKey);
