// A single-credential kind whose provider is a map in the test process: it journals, as
// every kind that changes a provider does (generated-secret does not), for tests of the
// journal that need no provider double.
import { generateSecret } from "../../core/generate.js";
import { createRegistry } from "../../core/registry.js";
import { CredentialModel, type Rotator } from "../../core/rotator.js";
import { rotators } from "../../rotators/index.js";

/** The "provider": secret name → the password it accepts. */
export const memoryProvider = new Map<string, string>();

export const memoryPasswordRotator: Rotator<undefined> = {
  kind: "memory-password",
  model: CredentialModel.Single,
  description: "a password held by an in-process provider (tests)",
  tags: [],
  parse: () => undefined,
  create: async () => ({ credentialId: undefined, secretValue: generateSecret(32) }),
  apply: async (_ctx, _params, pending, current) => void memoryProvider.set(current.name, pending.secretValue),
  verify: async () => undefined,
};

/** The production kinds plus memory-password. */
export const journalingRegistry = createRegistry({ ...rotators, "memory-password": memoryPasswordRotator });
