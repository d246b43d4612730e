// The route table: the single source of truth for what keyturn serves. Both the
// Functions registration (functions/index.ts) and the local host (local/host.ts) read
// it, so the two cannot drift. Handlers are loaded on first use: registration at cold
// start loads nothing but this table.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { AppRole } from "../core/auth.js";
import type { EventOutcome } from "./keyVaultEvents.js";

export type HttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
export type EventHandler = (event: unknown, context: InvocationContext) => Promise<EventOutcome>;
/** A timer function: the Functions host passes its Timer (isPastDue, schedule status); on-demand runs pass undefined. */
export type TimerHandler = (timer: { readonly isPastDue: boolean } | undefined, context: InvocationContext) => Promise<unknown>;
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface HttpRoute {
  readonly name: string;
  readonly trigger: "http";
  readonly methods: readonly HttpMethod[];
  /** Relative to /api, with {param} segments, as Azure Functions routes are written. */
  readonly route: string;
  readonly authLevel: "anonymous" | "function" | "admin";
  /**
   * The app role a caller needs when KEYTURN_REQUIRE_APP_ROLES=true (App Service
   * Authentication on); none for anonymous routes. Checked in invokeHttpRoute.
   */
  readonly role?: AppRole;
  load(): Promise<HttpHandler>;
}

export interface EventGridRoute {
  readonly name: string;
  readonly trigger: "eventGrid";
  load(): Promise<EventHandler>;
}

export interface TimerRoute {
  readonly name: string;
  readonly trigger: "timer";
  /**
   * The NCRONTAB schedule as registered: a `%SETTING%` reference, which the Functions host
   * resolves from app settings and parses itself (NCrontab); the local host resolves it
   * with core/config.ts and runs it with core/schedule.ts.
   */
  readonly schedule: string;
  load(): Promise<TimerHandler>;
}

export type Route = HttpRoute | EventGridRoute | TimerRoute;

export const routes: readonly Route[] = [
  {
    name: "keyVaultEvents",
    trigger: "eventGrid",
    load: async () => (await import("./keyVaultEvents.js")).handleKeyVaultEvent,
  },
  {
    name: "sweep",
    trigger: "timer",
    schedule: "%KEYTURN_SWEEP_SCHEDULE%",
    load: async () => (await import("./sweep.js")).sweep,
  },
  {
    name: "rotateSecret",
    trigger: "http",
    methods: ["POST"],
    route: "vaults/{vault}/secrets/{name}/rotate",
    authLevel: "function",
    role: AppRole.Operator,
    load: async () => (await import("./rotateSecret.js")).rotateSecret,
  },
  {
    name: "secretStatus",
    trigger: "http",
    methods: ["GET"],
    route: "vaults/{vault}/secrets/{name}",
    authLevel: "function",
    role: AppRole.Reader,
    load: async () => (await import("./secretStatus.js")).secretStatus,
  },
  {
    name: "dueSecrets",
    trigger: "http",
    methods: ["GET"],
    route: "vaults/{vault}/due",
    authLevel: "function",
    role: AppRole.Reader,
    load: async () => (await import("./dueSecrets.js")).dueSecrets,
  },
  {
    name: "auditVault",
    trigger: "http",
    methods: ["GET"],
    route: "vaults/{vault}/audit",
    authLevel: "function",
    role: AppRole.Reader,
    load: async () => (await import("./audit.js")).auditVault,
  },
  {
    name: "health",
    trigger: "http",
    methods: ["GET"],
    route: "health",
    authLevel: "anonymous",
    load: async () => (await import("./health.js")).health,
  },
];

/**
 * Every route is registered for all methods so that a wrong one gets a clear 405 with
 * `Allow` (the Functions host would answer a bare 404) — here, for Azure and the local
 * host alike.
 */
export const ALL_METHODS: readonly HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

export async function invokeEventRoute(route: EventGridRoute, event: unknown, context: InvocationContext): Promise<EventOutcome> {
  return (await route.load())(event, context);
}

export async function invokeTimerRoute(route: TimerRoute, timer: Parameters<TimerHandler>[0], context: InvocationContext): Promise<unknown> {
  return (await route.load())(timer, context);
}

export function invokeHttpRoute(route: HttpRoute, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return answerHttpRoute(route, request, context);
}

async function answerHttpRoute(route: HttpRoute, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if (!route.methods.includes(request.method as HttpMethod)) {
    const { problem } = await import("./problem.js");
    return problem(405, "Method not allowed", `${request.method} is not allowed on this route`, { allow: route.methods.join(", ") });
  }
  if (route.role !== undefined) {
    const refused = await (await import("./auth.js")).checkAppRole(route.role, request);
    if (refused) return refused;
  }
  return (await route.load())(request, context);
}
