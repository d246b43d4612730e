// Azure Functions entry point (package.json "main"): registers every route of the
// route table with the v4 programming model. Every invocation logs through its own
// InvocationContext (routes.ts, withInvocationLog).
import { app, type EventGridEvent, type Timer } from "@azure/functions";
import { ALL_METHODS, invokeEventRoute, invokeHttpRoute, invokeTimerRoute, routes } from "./routes.js";

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
