// Logs belong to their invocation: what a function logs (the engine's steps, the
// notifier, the handler itself) goes through its InvocationContext — context.info, warn,
// error, debug — so that in Azure the line is tied to the invocation and Application
// Insights keeps its operation id. The lines keep their JSON fields (invocationId,
// functionName, vault, secret, step) and stay redacted. The InvocationContext is
// @azure/functions' own, in test mode (a logHandler of ours receives what the worker
// would), and the functions are invoked as functions/index.ts registers them.
import azureFunctions from "@azure/functions";
import type { LogLevel as FunctionsLogLevel } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setDefaultLogSink } from "../../core/log.js";
import { resetRuntime } from "../../app/runtime.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { invokeEventRoute, invokeHttpRoute, invokeTimerRoute, routes, type EventGridRoute, type HttpRoute, type TimerRoute } from "../../functions/routes.js";
import { eventGridSchemaEvent } from "../fixtures/events.js";
import { emulatorSettings, secretClientFor } from "../support/keyvault.js";

const { HttpRequest, InvocationContext } = azureFunctions;
const VAULT = "invlog-kv";
const DAY = 86_400_000;
const MANAGED = { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "team@contoso.com" };

interface Captured {
  readonly level: FunctionsLogLevel;
  readonly line: string;
}

function testContext(functionName: string, invocationId: string) {
  const lines: Captured[] = [];
  const context = new InvocationContext({
    invocationId,
    functionName,
    logHandler: (level, ...args) => lines.push({ level, line: args.map(String).join(" ") }),
  });
  return { context, lines };
}

const route = <T extends { name: string }>(name: string) => routes.find((r) => r.name === name) as unknown as T;

describe("function invocations log through their InvocationContext", () => {
  let kv: KeyVaultEmulator;
  const console: string[] = [];

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
    Object.assign(process.env, {
      ...emulatorSettings(kv, VAULT),
      KEYTURN_LOG_LEVEL: "debug",
    });
    resetRuntime();
    setDefaultLogSink((_level, line) => console.push(line));
  });

  afterAll(async () => {
    setDefaultLogSink(undefined);
    delete process.env.KEYTURN_LOG_LEVEL;
    await kv?.stop();
  });

  it("an HTTP rotation: every line to the context, with the invocation's fields, redacted, none to the console", async () => {
    const initial = `initial-${Math.random().toString(36).slice(2)}-value`;
    kv.seedSecret(VAULT, "api-key", initial, { tags: MANAGED, expiresOn: new Date(Date.now() + 10 * DAY) });
    const { context, lines } = testContext("rotateSecret", "inv-http-1");
    const request = new HttpRequest({
      method: "POST",
      url: `http://localhost/api/vaults/${VAULT}/secrets/api-key/rotate`,
      headers: { "content-type": "application/json" },
      params: { vault: VAULT, name: "api-key" },
      body: { string: JSON.stringify({ reason: "INC-42 pasted as Password=leaked-in-a-ticket;", mode: "normal" }) },
    });

    const response = await invokeHttpRoute(route<HttpRoute>("rotateSecret"), request, context);

    expect(response.status).toBe(200);
    const rotated = (await secretClientFor(kv, VAULT).getSecret("api-key")).value!;
    expect(rotated).not.toBe(initial);
    const records = lines.map((l) => ({ level: l.level, record: JSON.parse(l.line) as Record<string, unknown> }));
    const messages = records.map((r) => r.record.message);
    expect(messages).toContain("manual rotation requested");
    expect(messages).toContain("rotated");
    // Lines logged deep inside the engine and the notifier carry the invocation too.
    expect(messages.some((m) => typeof m === "string" && m.startsWith("notification "))).toBe(true);
    for (const { level, record } of records) {
      expect(record).toMatchObject({ invocationId: "inv-http-1", functionName: "rotateSecret" });
      expect(level).toBe(record.level === "info" ? "information" : record.level === "warn" ? "warning" : record.level);
    }
    expect(records.find((r) => r.record.message === "rotated")?.record).toMatchObject({ vault: VAULT, secret: "api-key", step: "commit" });
    const all = lines.map((l) => l.line).join("\n");
    expect(all).toContain("Password=[REDACTED]");
    expect(all).not.toContain("leaked-in-a-ticket");
    expect(all).not.toContain(initial);
    expect(all).not.toContain(rotated);
    expect(console.filter((line) => line.includes("inv-http-1"))).toEqual([]);
  });

  it("an event: a rejected one is logged at error level on the context; a handled one carries the event's invocation", async () => {
    const { context, lines } = testContext("keyVaultEvents", "inv-event-bad");
    const outcome = await invokeEventRoute(route<EventGridRoute>("keyVaultEvents"), eventGridSchemaEvent(), context); // payments-kv: not allow-listed

    expect(outcome.status).toBe("rejected");
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe("error");
    expect(JSON.parse(lines[0]!.line)).toMatchObject({ level: "error", message: "event rejected", invocationId: "inv-event-bad", functionName: "keyVaultEvents" });

    const initial = `event-initial-${Math.random().toString(36).slice(2)}`;
    const { version } = kv.seedSecret(VAULT, "db-password", initial, { tags: MANAGED, expiresOn: new Date(Date.now() + 10 * DAY) });
    const base = eventGridSchemaEvent();
    const event = { ...base, topic: base.topic.replace(/payments-kv$/, VAULT), data: { ...base.data, Id: `${kv.url(VAULT)}/secrets/db-password/${version}`, VaultName: VAULT, Version: version } };
    const handled = testContext("keyVaultEvents", "inv-event-ok");

    const result = await invokeEventRoute(route<EventGridRoute>("keyVaultEvents"), event, handled.context);

    expect(result.status).toBe("rotated");
    const records = handled.lines.map((l) => JSON.parse(l.line) as Record<string, unknown>);
    expect(records.map((r) => r.message)).toContain("rotated");
    // Every line came through this invocation's context; the engine labels its own lines
    // with the trigger's id, which for an event is the event's id (stable across redeliveries).
    expect(records.filter((r) => r.functionName !== "keyVaultEvents" || (r.invocationId !== "inv-event-ok" && r.invocationId !== event.id))).toEqual([]);
    expect(records.some((r) => r.invocationId === "inv-event-ok")).toBe(true);
    expect(handled.lines.map((l) => l.line).join("\n")).not.toContain(initial);
    expect(console.filter((line) => line.includes("inv-event-") || line.includes(event.id))).toEqual([]);
  });

  it("the sweep: a late timer is a warning on the context, and its summary an info line", async () => {
    const { context, lines } = testContext("sweep", "inv-timer-1");

    await invokeTimerRoute(route<TimerRoute>("sweep"), { isPastDue: true }, context);

    expect(lines.find((l) => l.line.includes("running late"))?.level).toBe("warning");
    const summary = lines.find((l) => l.line.includes("sweep completed"));
    expect(summary?.level).toBe("information");
    expect(JSON.parse(summary!.line)).toMatchObject({ invocationId: "inv-timer-1", functionName: "sweep", step: "sweep" });
    expect(console.filter((line) => line.includes("inv-timer-1"))).toEqual([]);
  });

  it("the sweep: the rotations it runs log through its context too (the logger travels with the trigger)", async () => {
    const initial = `sweep-initial-${Math.random().toString(36).slice(2)}`;
    kv.seedSecret(VAULT, "sweep-due", initial, { tags: MANAGED, expiresOn: new Date(Date.now() + 2 * DAY) });
    const { context, lines } = testContext("sweep", "inv-timer-2");

    await invokeTimerRoute(route<TimerRoute>("sweep"), { isPastDue: false }, context);

    const records = lines.map((l) => JSON.parse(l.line) as Record<string, unknown>);
    expect(records.find((r) => r.message === "rotated" && r.secret === "sweep-due")).toMatchObject({ functionName: "sweep", step: "commit" });
    expect(records.some((r) => typeof r.message === "string" && r.message.startsWith("notification ") && r.secret === "sweep-due")).toBe(true);
    expect(lines.map((l) => l.line).join("\n")).not.toContain(initial);
    expect(console.filter((line) => line.includes("sweep-due"))).toEqual([]);
  });

  it("outside an invocation (CLI, local host) lines still go to the console", async () => {
    const { getRuntime } = await import("../../app/runtime.js");
    (await getRuntime()).log.info("outside any invocation", { step: "check" });
    expect(console.some((line) => line.includes("outside any invocation"))).toBe(true);
  });
});
