// Shared plumbing of the conformance suite: a bare HTTPS call (for what the SDKs hide:
// status, headers, raw bodies) and where each cited source lives.
import type { IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";

/** Recorded sessions of the Azure SDKs' own tests (repository Azure/azure-sdk-assets). */
export const RECORDINGS = {
  secrets: "Azure/azure-sdk-assets js/sdk/keyvault/keyvault-secrets/recordings/node",
  keys: "Azure/azure-sdk-assets js/sdk/keyvault/keyvault-keys/recordings/node",
  goSecrets: "Azure/azure-sdk-assets go/sdk/security/keyvault/azsecrets/testdata/recordings",
  /** The keys SDK's earlier nock recordings (2019, Azure/azure-sdk-for-js sdk/keyvault/keyvault-keys/recordings). */
  keysNock: "Azure/azure-sdk-for-js sdk/keyvault/keyvault-keys/recordings (nock, 2019)",
} as const;

/** Published REST specifications (repository Azure/azure-rest-api-specs). */
export const SPECS = {
  secrets: "Azure/azure-rest-api-specs specification/keyvault/data-plane/Microsoft.KeyVault/stable/2025-07-01/secrets.json",
  storage: "Azure/azure-rest-api-specs specification/storage/resource-manager/Microsoft.Storage/stable/2025-08-01/examples",
  sql: "Azure/azure-rest-api-specs specification/sql/resource-manager/Microsoft.Sql/stable/2025-01-01/examples",
  postgres: "Azure/azure-rest-api-specs specification/postgresql/resource-manager/Microsoft.DBforPostgreSQL/stable/2025-08-01/examples",
} as const;

export interface WireResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export function wire(
  url: string,
  ca: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown; token?: string | null } = {},
): Promise<WireResponse> {
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  const headers: Record<string, string> = {
    ...(init.token === null ? {} : { authorization: `Bearer ${init.token ?? "conformance"}` }),
    ...(body === undefined ? {} : { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }),
    ...init.headers,
  };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: init.method ?? "GET", headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}
