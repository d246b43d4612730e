// One ARM call, sent through the Azure SDK's own pipeline: @azure/core-rest-pipeline
// (bearer token for the ARM audience from keyturn's credential, the SDK's retry policy
// that honours Retry-After, the process's TLS options) and, for long-running
// operations, @azure/core-lro's ARM poller — the same two pieces every @azure/arm-*
// package is built on. Why not those packages: the access-key family calls two or three
// operations of eight providers, and consumer refresh a few calls of App Service and
// Container Apps; their management SDKs would add megabytes to the artifact and seconds
// to a cold start for a handful of calls whose paths, bodies and api-versions we state.
//
// Failures come back as the SDK's RestError (statusCode, ARM's error code), so
// core/arm.ts's armFailure classifies them exactly as it does the SDK clients' errors.
import type { PipelineRequest, PipelineResponse } from "@azure/core-rest-pipeline";
import * as z from "zod/mini";
import "./schema.js";
import { ProviderError } from "./errors.js";
import { armClientOptions, cachedArmClient } from "./arm.js";
import type { RotatorContext } from "./rotator.js";

export interface ArmRest {
  /** One request; resolves with the parsed JSON body (undefined when empty). */
  send(method: "GET" | "POST", path: string, apiVersion: string, body?: unknown): Promise<unknown>;
  /**
   * A long-running operation, polled to its end; resolves with the final result. Without
   * `finalStateVia`, core-lro's default for the method (a PATCH: the Location header, else
   * the resource itself), as the management SDKs call it.
   */
  sendAndWait(
    method: "POST" | "PATCH",
    path: string,
    apiVersion: string,
    body: unknown,
    o: { pollIntervalMs?: number; finalStateVia?: "location" | "azure-async-operation" | "original-uri" },
  ): Promise<unknown>;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

/** ARM's JSON answer read with `schema` (the fields keyturn uses); an answer of another shape is a ProviderError naming `what`, never echoing the body. */
export function armAnswer<T>(schema: z.ZodMiniType<T>, body: unknown, what: string): T {
  const r = z.safeParse(schema, body ?? {});
  if (!r.success) throw new ProviderError(`ARM's answer to ${what} is not in the documented shape`);
  return r.data;
}

function parseBody(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function armRest(ctx: Pick<RotatorContext, "credential" | "armEndpoint" | "clientOptions">, subscriptionId: string): Promise<ArmRest> {
  return cachedArmClient(ctx, "arm-rest", subscriptionId, async () => {
    // Loaded on first use, like the management SDKs: cold start matters.
    const [{ bearerTokenAuthenticationPolicy, createDefaultHttpClient, createHttpHeaders, createPipelineFromOptions, createPipelineRequest, RestError }, { createHttpPoller }] =
      await Promise.all([import("@azure/core-rest-pipeline"), import("@azure/core-lro")]);
    const options = armClientOptions(ctx);
    const pipeline = createPipelineFromOptions({
      ...(options.retryOptions ? { retryOptions: options.retryOptions } : {}),
      ...(options.tlsOptions ? { tlsOptions: options.tlsOptions } : {}),
      userAgentOptions: { userAgentPrefix: "keyturn" },
    });
    pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential: ctx.credential, scopes: options.credentialScopes }));
    const httpClient = createDefaultHttpClient();
    const base = options.endpoint.replace(/\/+$/, "");

    async function raw(method: string, url: string, body?: unknown): Promise<Answer> {
      const request: PipelineRequest = createPipelineRequest({
        url,
        method: method as PipelineRequest["method"],
        headers: createHttpHeaders({ accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}) }),
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const response: PipelineResponse = await pipeline.sendRequest(httpClient, request);
      const parsed = parseBody(response.bodyAsText ?? undefined);
      if (response.status >= 400) {
        // ARM's error shape: {"error":{"code","message"}}; only code and message travel.
        const error = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
        const code = typeof error?.code === "string" ? error.code : `HTTP${response.status}`;
        const message = typeof error?.message === "string" ? error.message : `ARM answered ${response.status}`;
        throw new RestError(message, { code, statusCode: response.status });
      }
      return { status: response.status, headers: response.headers.toJSON({ preserveCase: false }), body: parsed };
    }

    const url = (path: string, apiVersion: string) => `${base}${path}?api-version=${encodeURIComponent(apiVersion)}`;

    return {
      async send(method, path, apiVersion, body) {
        return (await raw(method, url(path, apiVersion), body)).body;
      },
      async sendAndWait(method, path, apiVersion, body, o) {
        const asLro = (a: Answer) => ({ flatResponse: a.body, rawResponse: { statusCode: a.status, headers: a.headers, body: a.body } });
        const poller = await createHttpPoller(
          {
            requestMethod: method,
            requestPath: url(path, apiVersion),
            sendInitialRequest: async () => asLro(await raw(method, url(path, apiVersion), body)),
            // Polling URLs come from ARM's headers, absolute and with their own api-version.
            sendPollRequest: async (pollUrl) => asLro(await raw("GET", pollUrl)),
          },
          { ...(o.finalStateVia ? { resourceLocationConfig: o.finalStateVia } : {}), ...(o.pollIntervalMs !== undefined ? { intervalInMs: o.pollIntervalMs } : {}) },
        );
        // As the management SDKs' begin…AndWait: one poll right after the request, then
        // pollUntilDone, which polls again at once before its first wait.
        await poller.poll();
        return poller.pollUntilDone();
      },
    } satisfies ArmRest;
  });
}

