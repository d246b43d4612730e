// Blob storage's REST API for the few requests keyturn makes: a lock blob's lease
// (core/blob-lock.ts) and one Shared Key-signed read that proves a storage key
// (rotators/storage-account-key). They travel through the Azure SDK's own pipeline
// (@azure/core-rest-pipeline: retries that honour Retry-After, the process's TLS options),
// signed by @azure/storage-common's Shared Key policy, or with a bearer token for Storage
// from keyturn's credential — the two pieces @azure/storage-blob itself signs with. Why not
// that package: its client is a 519 kB chunk that a cold instance compiled before its
// first rotation could take the lock, for five kinds of request whose URLs and headers
// the Blob service's REST reference states.
//
// A failure comes back as the SDK's RestError: statusCode and Storage's error code (the
// x-ms-error-code header), never the body.
import type { TokenCredential } from "@azure/core-auth";
import type { HttpClient, PipelineRequest } from "@azure/core-rest-pipeline";
// Static, so that the bundle keeps only the policy and what it uses (a dynamic import
// keeps every export of the package, its CRC64 WebAssembly included).
import { storageSharedKeyCredentialPolicy } from "@azure/storage-common";
import { connectionStringFields } from "./connection-string.js";
import { ConfigurationError } from "./errors.js";
import type { AzureClientOptions } from "./rotator.js";

/** The Blob service version the requests state (x-ms-version); Azurite 3.35 serves it too. */
export const BLOB_API_VERSION = "2025-01-05";
const STORAGE_SCOPE = "https://storage.azure.com/.default";

// The storage emulator's published account, which `UseDevelopmentStorage=true` names
// (learn.microsoft.com/azure/storage/common/storage-use-azurite, "Well-known storage
// account and key"): a public constant, not a credential of any real account.
export const DEVELOPMENT_STORAGE = {
  endpoint: "http://127.0.0.1:10000/devstoreaccount1",
  accountName: "devstoreaccount1",
  accountKey: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
};

export type BlobAuth = { readonly sharedKey: { readonly accountName: string; readonly accountKey: string } } | { readonly credential: TokenCredential };

/** A Blob service and how to sign requests to it. */
export interface BlobTarget {
  /** The blob endpoint, e.g. https://account.blob.core.windows.net (Azurite: http://127.0.0.1:10000/devstoreaccount1). */
  readonly endpoint: string;
  readonly auth: BlobAuth;
}

/** The blob endpoint and Shared Key a storage connection string names. */
export function blobTargetFromConnectionString(value: string): BlobTarget {
  const fields = connectionStringFields(value);
  if (fields.get("usedevelopmentstorage")?.toLowerCase() === "true") {
    const { endpoint, accountName, accountKey } = DEVELOPMENT_STORAGE;
    return { endpoint, auth: { sharedKey: { accountName, accountKey } } };
  }
  const accountName = fields.get("accountname");
  const accountKey = fields.get("accountkey");
  if (!accountName || !accountKey) throw new ConfigurationError("the storage connection string names no AccountName and AccountKey");
  const endpoint = fields.get("blobendpoint") ?? `${fields.get("defaultendpointsprotocol") ?? "https"}://${accountName}.blob.${fields.get("endpointsuffix") ?? "core.windows.net"}`;
  return { endpoint, auth: { sharedKey: { accountName, accountKey } } };
}

export interface BlobAnswer {
  readonly status: number;
  /** Storage's error code (x-ms-error-code), on an error status. */
  readonly code?: string;
}

export interface BlobRest {
  /**
   * One request to `path` under the endpoint (a container, or container/blob; "" for the
   * service), with `query` (e.g. comp=lease) and `headers`. Resolves with a 2xx answer
   * or one whose status is in `expected`; any other status is thrown as a RestError.
   */
  send(method: "GET" | "PUT", path: string, o?: { query?: Record<string, string>; headers?: Record<string, string>; expected?: readonly number[] }): Promise<BlobAnswer>;
}

/** A path's segments percent-encoded, its slashes kept (a blob name may hold "/"). */
function encodePath(path: string): string {
  return path
    .split("/")
    .map((segment) => encodeURIComponent(segment))
    .join("/");
}

let sharedHttpClient: HttpClient | undefined;

export async function blobRest(target: BlobTarget, options: AzureClientOptions): Promise<BlobRest> {
  // Loaded on first use: cold start matters.
  const { auth } = target;
  const { bearerTokenAuthenticationPolicy, createDefaultHttpClient, createHttpHeaders, createPipelineFromOptions, createPipelineRequest, RestError } = await import("@azure/core-rest-pipeline");
  const pipeline = createPipelineFromOptions({
    ...(options.retryOptions ? { retryOptions: options.retryOptions } : {}),
    ...(options.tlsOptions ? { tlsOptions: options.tlsOptions } : {}),
    userAgentOptions: { userAgentPrefix: "keyturn" },
  });
  // In the Sign phase, as @azure/storage-blob adds them: every retry is signed afresh (x-ms-date).
  pipeline.addPolicy(
    "sharedKey" in auth
      ? storageSharedKeyCredentialPolicy({ accountName: auth.sharedKey.accountName, accountKey: Buffer.from(auth.sharedKey.accountKey, "base64") })
      : bearerTokenAuthenticationPolicy({ credential: auth.credential, scopes: STORAGE_SCOPE }),
    { phase: "Sign" },
  );
  // One HTTP client for the process, as the SDK's clients share theirs: it keeps the
  // kept-alive connections (one agent per TLS options object).
  const httpClient = (sharedHttpClient ??= createDefaultHttpClient());
  const base = target.endpoint.replace(/\/+$/, "");
  // Azurite listens on plain HTTP; a bearer token never travels there (the SDK refuses it).
  const insecure = base.toLowerCase().startsWith("http://");

  return {
    async send(method, path, o = {}) {
      const query = new URLSearchParams(o.query ?? {}).toString();
      const request: PipelineRequest = createPipelineRequest({
        url: `${base}/${encodePath(path)}${query ? `?${query}` : ""}`,
        method,
        headers: createHttpHeaders({ "x-ms-version": BLOB_API_VERSION, ...o.headers }),
        allowInsecureConnection: insecure,
      });
      const response = await pipeline.sendRequest(httpClient, request);
      const code = response.headers.get("x-ms-error-code") ?? undefined;
      if ((response.status >= 200 && response.status < 300) || o.expected?.includes(response.status)) return { status: response.status, ...(code ? { code } : {}) };
      throw new RestError(`Blob storage answered ${response.status}${code ? ` ${code}` : ""} to ${method} ${path || "the service"}`, {
        statusCode: response.status,
        ...(code ? { code } : {}),
      });
    },
  };
}
