// Applies the app-role check (core/auth.ts) to one HTTP request, for invokeHttpRoute.
// Function keys are not checked here: the Functions host checks them before a handler
// runs (authLevel "function"), and local/host.ts does the same locally.
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { authorize, type AppRole } from "../core/auth.js";
import { getRuntime } from "../app/runtime.js";
import { problem, problemFromError } from "./problem.js";

/** undefined when the caller may go on; otherwise the 403 (or a configuration error) to answer. */
export async function checkAppRole(role: AppRole, request: HttpRequest): Promise<HttpResponseInit | undefined> {
  let enabled: boolean;
  try {
    enabled = (await getRuntime()).config.requireAppRoles;
  } catch (error) {
    return problemFromError(error);
  }
  const decision = authorize(role, request.headers, enabled);
  return decision.allowed ? undefined : problem(403, "Forbidden", decision.detail, {}, { errorKind: "forbidden" });
}
