// The few Microsoft Graph calls the entra-app-secret rotator makes, on a plain
// core-rest-pipeline pipeline (no Graph SDK: three calls do not justify its weight on a
// cold start). keyturn's own credential supplies the bearer token; the retry policy and
// TLS trust come from the engine's client options like every other Azure client's.
//
//   GET  {graph}/v1.0/applications/{objectId}?$select=id,appId,displayName,passwordCredentials
//   POST {graph}/v1.0/applications/{objectId}/addPassword     → the only answer carrying secretText
//   POST {graph}/v1.0/applications/{objectId}/removePassword  → 204
//
// Errors become keyturn errors carrying Graph's error code and never a response body
// (addPassword's body holds the secret): 403 names the permission keyturn needs, 404
// names the tag that points nowhere, throttling and 5xx are transient.
import type { TokenCredential } from "@azure/core-auth";
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type HttpClient,
  type Pipeline,
} from "@azure/core-rest-pipeline";
import { ConfigurationError, ProviderError, TransientError, type KeyturnError } from "../../core/errors.js";
import type { AzureClientOptions } from "../../core/rotator.js";
import { Tag } from "../../core/tags.js";

/** The least-privileged Graph application permission that lets keyturn manage an application's secrets. */
export const REQUIRED_GRAPH_PERMISSION = "Application.ReadWrite.OwnedBy";

export interface PasswordCredentialInfo {
  readonly keyId: string;
  readonly displayName: string;
  readonly startDateTime: string | undefined;
  readonly endDateTime: string | undefined;
  /** First three characters of the secret (Graph's `hint`). Never log it. */
  readonly hint: string | undefined;
}

export interface ApplicationInfo {
  readonly id: string;
  readonly appId: string;
  readonly displayName: string;
  readonly passwordCredentials: readonly PasswordCredentialInfo[];
}

export interface AddedPassword extends PasswordCredentialInfo {
  readonly secretText: string;
}

type GraphOperation = "getApplication" | "addPassword" | "removePassword";

// One HTTP client (and so one keep-alive agent per TLS setting) for the process.
let sharedHttpClient: HttpClient | undefined;
function httpClient(): HttpClient {
  sharedHttpClient ??= createDefaultHttpClient();
  return sharedHttpClient;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function toPasswordCredential(raw: unknown): PasswordCredentialInfo | undefined {
  const r = asRecord(raw);
  const keyId = str(r?.["keyId"]);
  if (!r || !keyId) return undefined;
  return {
    keyId,
    displayName: str(r["displayName"]) ?? "",
    startDateTime: str(r["startDateTime"]),
    endDateTime: str(r["endDateTime"]),
    hint: str(r["hint"]),
  };
}

export class GraphApplicationClient {
  private readonly pipeline: Pipeline;

  constructor(
    private readonly graphEndpoint: string,
    credential: TokenCredential,
    options: AzureClientOptions,
  ) {
    this.pipeline = createPipelineFromOptions({
      ...(options.retryOptions ? { retryOptions: options.retryOptions } : {}),
      ...(options.tlsOptions ? { tlsOptions: options.tlsOptions } : {}),
      userAgentOptions: { userAgentPrefix: "keyturn" },
    });
    this.pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential, scopes: `${graphEndpoint}/.default` }));
  }

  private applicationUrl(objectId: string, suffix = ""): string {
    return `${this.graphEndpoint}/v1.0/applications/${encodeURIComponent(objectId)}${suffix}`;
  }

  private async send(
    operation: GraphOperation,
    objectId: string,
    method: "GET" | "POST",
    url: string,
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> | undefined }> {
    const headers = createHttpHeaders({ accept: "application/json" });
    if (body !== undefined) headers.set("content-type", "application/json");
    const request = createPipelineRequest({
      url,
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const response = await this.pipeline.sendRequest(httpClient(), request);
    const text = response.bodyAsText ?? "";
    let json: Record<string, unknown> | undefined;
    try {
      json = text ? asRecord(JSON.parse(text)) : undefined;
    } catch {
      json = undefined;
    }
    if (response.status >= 200 && response.status < 300) return { status: response.status, json };
    throw graphError(operation, objectId, response.status, json);
  }

  async getApplication(objectId: string): Promise<ApplicationInfo> {
    const { json } = await this.send(
      "getApplication",
      objectId,
      "GET",
      this.applicationUrl(objectId, "?$select=id,appId,displayName,passwordCredentials"),
    );
    const id = str(json?.["id"]);
    const appId = str(json?.["appId"]);
    const list = json?.["passwordCredentials"];
    if (!id || !appId || !Array.isArray(list)) {
      throw new ProviderError(`Graph answered GET application ${objectId} without id, appId or passwordCredentials`);
    }
    return {
      id,
      appId,
      displayName: str(json?.["displayName"]) ?? "",
      passwordCredentials: list.map(toPasswordCredential).filter((c): c is PasswordCredentialInfo => c !== undefined),
    };
  }

  /** Adds a client secret. The answer is the only time Graph reveals `secretText`. */
  async addPassword(objectId: string, o: { displayName: string; endDateTime: Date }): Promise<AddedPassword> {
    const { json } = await this.send("addPassword", objectId, "POST", this.applicationUrl(objectId, "/addPassword"), {
      passwordCredential: { displayName: o.displayName, endDateTime: o.endDateTime.toISOString() },
    });
    const credential = toPasswordCredential(json);
    const secretText = str(json?.["secretText"]);
    if (!credential || !secretText) throw new ProviderError(`Graph answered addPassword on application ${objectId} without keyId or secretText`);
    return { ...credential, secretText };
  }

  /**
   * Removes a client secret. Idempotent: when Graph refuses because the keyId is
   * already gone (a retried request, a removal by hand), a fresh read confirms it and
   * the call succeeds; `false` says there was nothing to remove.
   */
  async removePassword(objectId: string, keyId: string): Promise<boolean> {
    try {
      await this.send("removePassword", objectId, "POST", this.applicationUrl(objectId, "/removePassword"), { keyId });
      return true;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== 400 && status !== 404) throw error;
      const app = await this.getApplication(objectId);
      if (app.passwordCredentials.some((c) => sameId(c.keyId, keyId))) throw error;
      return false;
    }
  }
}

export function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

class GraphProviderError extends ProviderError {
  constructor(
    message: string,
    readonly statusCode: number,
    readonly code: string,
  ) {
    super(message);
    this.name = "GraphProviderError";
  }
}

class GraphTransientError extends TransientError {
  constructor(
    message: string,
    readonly statusCode: number,
    readonly code: string,
  ) {
    super(message);
    this.name = "GraphTransientError";
  }
}

/** Graph's `{"error":{"code","message"}}` answer as a keyturn error. Never includes anything but code and message. */
function graphError(operation: GraphOperation, objectId: string, status: number, json: Record<string, unknown> | undefined): KeyturnError {
  const error = asRecord(json?.["error"]);
  const code = str(error?.["code"]) ?? `HTTP${status}`;
  const detail = (str(error?.["message"]) ?? "").split("\n", 1)[0]!.slice(0, 300);
  const what = `Graph ${operation} on application ${objectId} failed: ${status} ${code}${detail ? ` (${detail})` : ""}`;
  if (status === 403) {
    return new GraphProviderError(
      `${what}. keyturn's identity needs the Microsoft Graph application permission ${REQUIRED_GRAPH_PERMISSION} ` +
        "(admin-consented) and must be an owner of this application",
      status,
      code,
    );
  }
  if (status === 404 && operation === "getApplication") {
    return new ConfigurationError(`names application ${objectId}, which does not exist (${status} ${code})`, Tag.ProviderAddress);
  }
  if (status === 401) {
    return new GraphProviderError(`${what}. Graph refused keyturn's own token: check the Graph endpoint setting and keyturn's identity`, status, code);
  }
  if (status === 408 || status === 429 || status >= 500) return new GraphTransientError(what, status, code);
  return new GraphProviderError(what, status, code);
}
