// Service Bus and Event Hubs share their authorization-rule API (the same AccessKeys and
// RegenerateAccessKeyParameters in both specs): one builder for both descriptors.
import { ProviderError } from "../../core/errors.js";
import { str, keyField, type AccessKeyService, type KeySet } from "./family.js";

function accessKeys(body: unknown): KeySet {
  const keys: Record<string, { value: string; connectionString?: string }> = {};
  for (const [slot, prefix] of [["PrimaryKey", "primary"], ["SecondaryKey", "secondary"]] as const) {
    const value = str(body, `${prefix}Key`);
    const connectionString = str(body, `${prefix}ConnectionString`);
    if (value) keys[slot] = { value, ...(connectionString ? { connectionString } : {}) };
  }
  return keys;
}

export function sharedAccessKeyService<K extends string>(o: {
  kind: K;
  description: string;
  namespace: string;
  /** Entity types that carry their own authorization rules (queues, topics; eventhubs). */
  entities: readonly string[];
  apiVersion: string;
  exampleNamespace: string;
}): AccessKeyService<K> {
  const ns = `${o.namespace}/namespaces`;
  const levels = ["", ...o.entities.map((e) => `/${e}`)];
  return {
    kind: o.kind,
    description: o.description,
    resourceTypes: [ns.toLowerCase()],
    addresses: [`${ns}/{namespace}/authorizationRules/{name}`, ...o.entities.map((e) => `${ns}/{namespace}/${e}/{entity}/authorizationRules/{name}`)],
    example: `/subscriptions/<subscription-id>/resourceGroups/<group>/providers/${ns}/${o.exampleNamespace}/authorizationRules/<rule>`,
    apiVersion: o.apiVersion,
    pairs: [["PrimaryKey", "SecondaryKey"]],
    // No built-in role narrower than Contributor lists and regenerates rule keys; a custom
    // role with actionsOf() is the least privilege (docs/access-model.md).
    role: "Contributor",
    list: {
      // The action at each level: the rule's own resource type decides which one ARM checks.
      action: levels.map((l) => `${ns}${l}/authorizationRules/listkeys/action`),
      path: (a) => `${a.id}/listKeys`,
      parse: accessKeys,
    },
    regenerate: {
      action: levels.map((l) => `${ns}${l}/authorizationRules/regenerateKeys/action`),
      path: (a) => `${a.id}/regenerateKeys`,
      body: ({ slot }) => ({ keyType: slot }),
      parse: accessKeys,
    },
    formats: {
      "connection-string": ({ key }) => {
        if (!key.connectionString) throw new ProviderError(`${o.namespace} answered no connection string with the key`);
        return key.connectionString;
      },
      key: ({ key }) => key.value,
    },
    keyOf: (value) => keyField(value, "SharedAccessKey"),
  };
}
