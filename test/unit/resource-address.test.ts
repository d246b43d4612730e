// ProviderAddress as the resource ID of a nested resource (core/arm.ts parseResourceAddress):
// the shapes the access-key family's descriptors accept, and the refusals that name the tag.
import { describe, expect, it } from "vitest";
import { parseResourceAddress } from "../../core/arm.js";
import { ConfigurationError } from "../../core/errors.js";

const SUB = "7e57c0de-0000-4000-8000-000000000001";
const RULES = [
  "Microsoft.ServiceBus/namespaces/{namespace}/authorizationRules/{name}",
  "Microsoft.ServiceBus/namespaces/{namespace}/queues/{entity}/authorizationRules/{name}",
];
const parse = (id: string | undefined, templates = RULES) => parseResourceAddress(id === undefined ? {} : { providerAddress: id }, templates, "<example>");

function refusal(f: () => unknown): ConfigurationError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error("expected a ConfigurationError");
}

describe("parseResourceAddress", () => {
  it("takes a namespace rule and an entity rule apart, matching literals case-insensitively", () => {
    // Prepare / act
    const ns = parse(`/subscriptions/${SUB}/resourceGroups/rg-app/providers/Microsoft.ServiceBus/namespaces/sb-orders/authorizationRules/app-send/`);
    const queue = parse(`/subscriptions/${SUB}/resourcegroups/rg-app/providers/microsoft.servicebus/Namespaces/sb-orders/QUEUES/orders/authorizationRules/listen`);
    // Assess
    expect(ns).toMatchObject({
      id: `/subscriptions/${SUB}/resourceGroups/rg-app/providers/Microsoft.ServiceBus/namespaces/sb-orders/authorizationRules/app-send`,
      subscriptionId: SUB,
      resourceGroup: "rg-app",
      resourceType: "microsoft.servicebus/namespaces/authorizationrules",
      name: "app-send",
      segments: { namespace: "sb-orders", name: "app-send" },
    });
    expect(queue).toMatchObject({ resourceType: "microsoft.servicebus/namespaces/queues/authorizationrules", name: "listen", segments: { namespace: "sb-orders", entity: "orders" } });
  });

  it("refuses, naming ProviderAddress: missing, another shape, another provider, a bad subscription or group", () => {
    for (const id of [
      undefined,
      "sb-orders",
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb-orders`,
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/eh/authorizationRules/r`,
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb/topics/t/authorizationRules/r`,
      `/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb/authorizationRules/r`,
      `/subscriptions/${SUB}/resourceGroups/rg./providers/Microsoft.ServiceBus/namespaces/sb/authorizationRules/r`,
    ]) {
      const e = refusal(() => parse(id));
      expect(e.tag, String(id)).toBe("ProviderAddress");
      expect(e.message).toContain("Microsoft.ServiceBus/namespaces/authorizationRules");
    }
  });
});
