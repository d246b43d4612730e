// The alerts infra/ deploys: an on-call action group from a parameter, a log alert on a
// failed rotation, one on an overdue sweep, and per-vault metric alerts on dead-lettered
// and failed Event Grid deliveries. The log alerts match on the engine's own log messages:
// they must still be what core/engine.ts and core/sweep.ts write.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { declarations } from "./bicep.js";
import { propOf, resourceBodies } from "./schema.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const read = (p: string) => readFileSync(join(root, p), "utf8");
const alertsBicep = read("infra/modules/alerts.bicep");
const eventsBicep = read("infra/modules/vault-events.bicep");
const mainBicep = read("infra/main.bicep");
const queryOf = (name: string) => declarations(alertsBicep).find((d) => d.kind === "var" && d.name === name)?.text ?? "";
const quoted = (q: string) => [...q.matchAll(/has "([^"]+)"/g)].map((m) => m[1]!);

describe("alerts", () => {
  it("go to an action group that e-mails the on-call address given as a parameter", () => {
    const group = resourceBodies("alerts", alertsBicep).find((r) => r.type === "Microsoft.Insights/actionGroups");
    expect(group).toBeDefined();
    const receivers = propOf(group!.body, "properties", "emailReceivers");
    expect(receivers?.kind === "array" && receivers.items.length).toBe(1);
    expect(alertsBicep).toMatch(/emailAddress: onCallEmail/);
    expect(mainBicep).toMatch(/^param onCallEmail string$/m);
    expect(read("infra/main.parameters.json")).toContain('"${KEYTURN_ONCALL_EMAIL}"');
  });

  it("fire on a rotation that failed for good, matching what the engine logs", () => {
    const q = queryOf("rotationFailedQuery");
    const engine = read("core/engine.ts");
    const messages = quoted(q);
    expect(messages).toEqual(expect.arrayContaining(["rotation failed", "rotation not possible"]));
    for (const m of messages) expect(engine, `core/engine.ts logs "${m}"`).toContain(m);
    // The transient failure is retried by its trigger: not an alert.
    expect(engine).toContain("rotation failed with a transient error");
    expect(q).toContain('!has "transient error"');
  });

  it("fire when the sweep has not completed on schedule, matching what the sweep logs", () => {
    const q = queryOf("sweepOverdueQuery");
    expect(quoted(q)).toEqual(["sweep completed"]);
    expect(read("core/sweep.ts")).toContain('log.info("sweep completed"');
    expect(q).toMatch(/isnull\(last\) or last < ago\(\$\{sweepOverdueHours\}h\)/);
  });

  it("fire on dead-lettered and failed Event Grid deliveries of every vault's system topic", () => {
    const metrics = [...eventsBicep.matchAll(/metricName: '([^']+)'/g)].map((m) => m[1]);
    expect(metrics.sort()).toEqual(["DeadLetteredCount", "DeliveryAttemptFailCount"]);
    expect(eventsBicep).toMatch(/scopes: \[\s*systemTopic\.id\s*\]/);
    expect(eventsBicep).toMatch(/actionGroupId: actionGroupId/);
    expect(mainBicep).toMatch(/actionGroupId: alerts\.outputs\.actionGroupId/);
  });
});
