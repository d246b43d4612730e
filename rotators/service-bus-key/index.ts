// service-bus-key — a shared access key (PrimaryKey / SecondaryKey) of a Service Bus
// authorization rule: namespace-level, or of one queue or topic; held as the connection
// string (default) or the bare key.
//
// Model: dual credential, through the ARM access-key family (rotators/arm-access-key/).
//   list        POST {rule}/listKeys → { primaryKey, secondaryKey, primaryConnectionString, secondaryConnectionString, keyName }
//   regenerate  POST {rule}/regenerateKeys { keyType: "PrimaryKey" | "SecondaryKey" } → the same shape (synchronous)
//   verify      list the keys again and find the new one in its slot: the data plane is
//               AMQP/SB-REST at the namespace's own host name, which ARM does not let a
//               caller redirect, so ARM's own list is the strongest check.
// The connection string is the one Service Bus hands out (EntityPath for entity rules).
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb-orders/authorizationRules/app-send
//                   (or …/namespaces/sb-orders/queues/orders/authorizationRules/app-send, …/topics/<topic>/authorizationRules/<rule>)
//   CredentialId=PrimaryKey | SecondaryKey    written by keyturn
//   SecretFormat=connection-string (default) | key
// Azure role: a custom role with the actions actionsOf() lists (listKeys and regenerateKeys
// on authorization rules at the three levels); no built-in role narrower than Contributor has them.
import { createAccessKeyRotator, type AccessKeyService } from "../arm-access-key/family.js";
import { sharedAccessKeyService } from "../arm-access-key/shared-access.js";

export const serviceBusKey: AccessKeyService<"service-bus-key"> = sharedAccessKeyService({
  kind: "service-bus-key",
  description: "a shared access key (PrimaryKey/SecondaryKey) of a Service Bus authorization rule (namespace, queue or topic)",
  namespace: "Microsoft.ServiceBus",
  entities: ["queues", "topics"],
  apiVersion: "2021-11-01",
  exampleNamespace: "sb-orders",
});

export const serviceBusKeyRotator = createAccessKeyRotator(serviceBusKey);
