// Keyless GETs to a service's data plane (an api-key, a signature): how the key rotators
// prove that a new key works. Through the SDK pipeline, so keyturn's TLS and retry
// options apply, and with no bearer token.
import type { RotatorContext } from "./rotator.js";

type DataPlane = { get(url: string, headers: Record<string, string> | ((url: URL) => Record<string, string>)): Promise<number> };
const dataPlanes = new Map<string, Promise<DataPlane>>();

/**
 * A GET to a service's data plane with the headers given (an api-key), through the SDK
 * pipeline with keyturn's TLS and retry options and no bearer token; resolves with the
 * HTTP status. One pipeline per process and CA: keep-alive connections are reused.
 */
export async function dataPlaneGet(ctx: Pick<RotatorContext, "clientOptions">, url: string, headers: Record<string, string> | ((url: URL) => Record<string, string>)): Promise<number> {
  const key = ctx.clientOptions.tlsOptions?.ca ?? "";
  let plane = dataPlanes.get(key);
  if (!plane) {
    plane = (async () => {
      const { createPipelineFromOptions, createDefaultHttpClient, createPipelineRequest, createHttpHeaders } = await import("@azure/core-rest-pipeline");
      const pipeline = createPipelineFromOptions({
        ...(ctx.clientOptions.tlsOptions ? { tlsOptions: { ...ctx.clientOptions.tlsOptions } } : {}),
        ...(ctx.clientOptions.retryOptions ? { retryOptions: { ...ctx.clientOptions.retryOptions } } : {}),
      });
      const httpClient = createDefaultHttpClient();
      return {
        async get(target, h) {
          // Headers may be a signature over the URL (App Configuration's HMAC scheme).
          const values = typeof h === "function" ? h(new URL(target)) : h;
          return (await pipeline.sendRequest(httpClient, createPipelineRequest({ url: target, method: "GET", headers: createHttpHeaders(values) }))).status;
        },
      } satisfies DataPlane;
    })();
    plane.catch(() => dataPlanes.delete(key));
    dataPlanes.set(key, plane);
  }
  return (await plane).get(url, headers);
}
