// The route table: the single source of truth for what keyturn serves. Both the
// Functions registration (functions/index.ts) and the local host (local/host.ts) read
// it, so the two cannot drift. Handlers are loaded on first use: registration at cold
// start loads nothing but this table.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { EventOutcome } from "./keyVaultEvents.js";

export type HttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
export type EventHandler = (event: unknown, context: InvocationContext) => Promise<EventOutcome>;
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface HttpRoute {
  readonly name: string;
  readonly trigger: "http";
  readonly methods: readonly HttpMethod[];
  /** Relative to /api, with {param} segments, as Azure Functions routes are written. */
  readonly route: string;
  readonly authLevel: "anonymous" | "function" | "admin";
  load(): Promise<HttpHandler>;
}

export interface EventGridRoute {
  readonly name: string;
  readonly trigger: "eventGrid";
  load(): Promise<EventHandler>;
}

export type Route = HttpRoute | EventGridRoute;

export const routes: readonly Route[] = [
  {
    name: "keyVaultEvents",
    trigger: "eventGrid",
    load: async () => (await import("./keyVaultEvents.js")).handleKeyVaultEvent,
  },
  {
    name: "rotateSecret",
    trigger: "http",
    methods: ["POST"],
    route: "vaults/{vault}/secrets/{name}/rotate",
    authLevel: "function",
    load: async () => (await import("./rotateSecret.js")).rotateSecret,
  },
];

/**
 * Every route is registered for all methods so that a wrong one gets a clear 405 with
 * `Allow` (the Functions host would answer a bare 404) — here, for Azure and the local
 * host alike.
 */
export const ALL_METHODS: readonly HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

export async function invokeHttpRoute(route: HttpRoute, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if (!route.methods.includes(request.method as HttpMethod)) {
    const { problem } = await import("./problem.js");
    return problem(405, "Method not allowed", `${request.method} is not allowed on this route`, { allow: route.methods.join(", ") });
  }
  return (await route.load())(request, context);
}
