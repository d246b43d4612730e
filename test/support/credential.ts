// keyturn's own identity for tests that rotate entra-app-secret outside the test process
// (crash children, chaos workers) or with testEngine.
//
// KEYTURN_CREDENTIAL=local-emulator hands every service one fixed bearer token. The Key
// Vault, ARM and Event Grid topic doubles accept any token, but the Graph double checks
// that it issued the token itself (as Graph checks Entra's signature). So this credential
// answers Graph scopes with a real client-credentials token from the Graph double's token
// endpoint, as a "trusted client" (see startGraphEmulator's `trustedClients`), and every
// other scope with the local emulator token.
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential } from "@azure/identity";
import { LocalEmulatorCredential } from "../../core/azure.js";

/** keyturn's identity in the Graph double: pass `trustedClients: { [KEYTURN_TEST_CLIENT_ID]: KEYTURN_TEST_CLIENT_SECRET }`. */
export const KEYTURN_TEST_CLIENT_ID = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b";
export const KEYTURN_TEST_CLIENT_SECRET = "keyturn-test-identity-secret-not-rotated-0042";

export interface GraphIdentity {
  /** The Graph double's URL: KEYTURN_GRAPH_ENDPOINT and KEYTURN_AUTHORITY_HOST. */
  readonly graphUrl: string;
  readonly tenantId: string;
  readonly caPem: string;
  readonly clientId?: string;
  readonly clientSecret?: string;
}

export function graphAwareCredential(id: GraphIdentity): TokenCredential {
  const graph = new ClientSecretCredential(id.tenantId, id.clientId ?? KEYTURN_TEST_CLIENT_ID, id.clientSecret ?? KEYTURN_TEST_CLIENT_SECRET, {
    authorityHost: id.graphUrl,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: id.caPem },
    retryOptions: { maxRetries: 3, retryDelayInMs: 50, maxRetryDelayInMs: 1000 },
  });
  const local = new LocalEmulatorCredential();
  const isGraph = (scopes: string | string[]) => [scopes].flat().some((s) => s.startsWith(id.graphUrl) || s.startsWith("https://graph.microsoft.com"));
  return {
    getToken: (scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> =>
      isGraph(scopes) ? graph.getToken(scopes, options) : local.getToken(),
  };
}

/**
 * The same, configured from the environment of a child process: KEYTURN_GRAPH_ENDPOINT,
 * KEYTURN_TEST_GRAPH_TENANT and KEYTURN_TLS_CA_FILE's contents (passed as `caPem`).
 * Undefined when KEYTURN_TEST_GRAPH_TENANT is not set.
 */
export function graphAwareCredentialFromEnv(caPem: string | undefined, env: NodeJS.ProcessEnv = process.env): TokenCredential | undefined {
  const tenantId = env.KEYTURN_TEST_GRAPH_TENANT?.trim();
  const graphUrl = env.KEYTURN_GRAPH_ENDPOINT?.trim();
  if (!tenantId || !graphUrl || !caPem) return undefined;
  return graphAwareCredential({ graphUrl, tenantId, caPem });
}
