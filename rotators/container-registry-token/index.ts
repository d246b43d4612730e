// container-registry-token — a password (password1 / password2) of an Azure Container
// Registry token, with an expiry: each new password expires with the secret version that
// holds it. Held as the bare password (default) or JSON {"username","password"} for
// `docker login`.
//
// Model: dual credential, through the ARM access-key family (rotators/arm-access-key/).
//   read        GET {registry}/tokens/{token}: status (a disabled token is refused) and each
//               password's creationTime (never its value)
//   regenerate  POST {registry}/generateCredentials { tokenId, name, expiry } → long-running:
//               202 with Location, then { username, passwords: [{ name, value, expiry }] }
//   verify      read the token again and see the password's creationTime change: ARM never
//               shows a token password again (no list action), and the registry's login
//               server is a host ARM does not let a caller redirect.
// CredentialId is required: without a list, only the tag says which password is in use.
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/crshop/tokens/ci-pull
//   CredentialId=password1 | password2   required
//   SecretFormat=password (default) | json
// Azure role: a custom role with the actions actionsOf() lists (tokens/read and
// generateCredentials); the built-in Contributor is the only wider fallback.
import { ProviderError } from "../../core/errors.js";
import { createAccessKeyRotator, prop, str, type AccessKeyService } from "../arm-access-key/family.js";

export const containerRegistryToken: AccessKeyService<"container-registry-token"> = {
  kind: "container-registry-token",
  description: "a password (password1/password2) of an Azure Container Registry token, with expiry",
  resourceTypes: ["microsoft.containerregistry/registries"],
  addresses: ["Microsoft.ContainerRegistry/registries/{registry}/tokens/{name}"],
  example: "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/registries/<registry>/tokens/<token>",
  apiVersion: "2023-07-01",
  pairs: [["password1", "password2"]],
  // generateCredentials is an action of the registry: the role goes on the registry. No
  // built-in role narrower than Contributor is known to carry it; a custom role with
  // actionsOf() is the least privilege (docs/access-model.md).
  role: "Contributor",
  read: {
    action: "Microsoft.ContainerRegistry/registries/tokens/read",
    facts(body, a) {
      if (str(body, "properties", "status")?.toLowerCase() === "disabled") {
        throw new ProviderError(`token ${a.id} is disabled: its passwords authorise nothing. Enable it, or stop rotating this secret`);
      }
      const facts: Record<string, string> = {};
      const passwords = prop(body, "properties", "credentials", "passwords");
      for (const p of Array.isArray(passwords) ? passwords : []) {
        const name = str(p, "name");
        if (name) facts[`${name}.created`] = str(p, "creationTime") ?? "";
      }
      return facts;
    },
  },
  regenerate: {
    action: "Microsoft.ContainerRegistry/registries/generateCredentials/action",
    path: (a) => `/subscriptions/${a.subscriptionId}/resourceGroups/${a.resourceGroup}/providers/Microsoft.ContainerRegistry/registries/${a.segments.registry}/generateCredentials`,
    body: ({ slot, address, expiresOn }) => ({ tokenId: address.id, name: slot, expiry: expiresOn.toISOString() }),
    longRunning: "location",
    parse: (body) => {
      const keys: Record<string, { value: string }> = {};
      const passwords = prop(body, "passwords");
      for (const p of Array.isArray(passwords) ? passwords : []) {
        const name = str(p, "name");
        const value = str(p, "value");
        if (name && value) keys[name] = { value };
      }
      return keys;
    },
  },
  formats: {
    password: ({ key }) => key.value,
    json: ({ key, address }) => JSON.stringify({ username: address.name, password: key.value }),
  },
  keyOf: (value) => {
    if (value.trimStart().startsWith("{")) {
      try {
        const password = (JSON.parse(value) as { password?: unknown }).password;
        return typeof password === "string" ? password : "";
      } catch {
        return value.trim();
      }
    }
    return value.trim();
  },
  regeneratedSince: (facts, slot, before) => {
    const now = facts[`${slot}.created`];
    return now !== undefined && now !== "" && now !== before;
  },
};

export const containerRegistryTokenRotator = createAccessKeyRotator(containerRegistryToken);
