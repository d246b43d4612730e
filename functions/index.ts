// Azure Functions entry point (package.json "main"): registers every route of the
// route table with the v4 programming model. Every invocation logs through its own
// InvocationContext (functions/invocation.ts).
import { app, type EventGridEvent, type Timer } from "@azure/functions";
import { checkAppRolesTrustworthy } from "../core/config.js";
import { ALL_METHODS, invokeEventRoute, invokeHttpRoute, invokeTimerRoute, routes } from "./routes.js";

// Refuse to start when app roles are required but App Service Authentication is not in
// front to vouch for x-ms-client-principal (a clear error in the host's log at startup).
checkAppRolesTrustworthy((process.env.KEYTURN_REQUIRE_APP_ROLES ?? "").trim().toLowerCase() === "true", process.env);

for (const route of routes) {
  if (route.trigger === "http") {
    app.http(route.name, {
      methods: [...ALL_METHODS],
      route: route.route,
      authLevel: route.authLevel,
      handler: (request, context) => invokeHttpRoute(route, request, context),
    });
  } else if (route.trigger === "timer") {
    app.timer(route.name, {
      schedule: route.schedule,
      handler: async (timer: Timer, context) => {
        await invokeTimerRoute(route, timer, context);
      },
    });
  } else {
    app.eventGrid(route.name, {
      handler: async (event: EventGridEvent, context) => {
        await invokeEventRoute(route, event, context);
      },
    });
  }
}
