// End to end: the Key Vault double announces near-expiry over HTTP to the local host
// (a real child process, as `npm start` runs it), which rotates the secret through the
// real SecretClient, publishes a notification to a local topic, and ignores redelivery.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEventGridTopic, type EventGridTopicEmulator } from "../../emulators/eventgrid-topic/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { eventually, startHostProcess, type HostProcess } from "../support/host.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "e2e-kv";
const DAY = 86_400_000;

describe("a near-expiry event becomes a new secret version, end to end", () => {
  let kv: KeyVaultEmulator;
  let topic: EventGridTopicEmulator;
  let host: HostProcess;
  let tap: Server;
  let tapped: unknown[][] = [];
  const values: string[] = [];

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
    topic = await startEventGridTopic({ tls: kv.tls });
    host = await startHostProcess({
      KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`,
      KEYTURN_CREDENTIAL: "local-emulator",
      KEYTURN_TLS_CA_FILE: kv.tls.caFile,
      KEYTURN_NOTIFY_TOPIC_ENDPOINT: topic.endpoint,
      // Seeded versions are seconds old; the loop guard has its own test.
      KEYTURN_ROTATION_GUARD_MINUTES: "0",
    });
    await kv.subscribe({ vault: VAULT, endpoint: host.webhookUrl("keyVaultEvents"), schema: "EventGridSchema" });
    // A second subscriber that records the raw events, so the test can redeliver one.
    tap = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const events = JSON.parse(body) as Array<{ eventType: string; data: { validationCode?: string } }>;
        if (req.headers["aeg-event-type"] === "SubscriptionValidation") {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ validationResponse: events[0]!.data.validationCode }));
          return;
        }
        tapped.push(events);
        res.writeHead(200);
        res.end();
      });
    });
    await new Promise<void>((r) => tap.listen(0, "127.0.0.1", r));
    await kv.subscribe({ vault: VAULT, endpoint: `http://127.0.0.1:${(tap.address() as AddressInfo).port}/`, schema: "EventGridSchema" });
  });

  afterAll(async () => {
    await host?.stop();
    await kv?.stop();
    await topic?.stop();
    await new Promise((r) => tap?.close(r));
  });

  it("rotates once, keeps the tags, notifies without the value, and ignores redelivery", async () => {
    const client = secretClientFor(kv, VAULT);
    const tags = { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "payments-oncall@contoso.com", SecretLength: "40" };
    const initial = "initial-value-" + Math.random().toString(36).slice(2);
    values.push(initial);
    const seeded = await client.setSecret("payments-api-key", initial, { tags, expiresOn: new Date(Date.now() + 45 * DAY) });

    // Not yet near expiry: nothing happens.
    await new Promise((r) => setTimeout(r, 600));
    expect(await versionsOf(client, "payments-api-key")).toHaveLength(1);

    // 20 days later the version is within 30 days of exp: Key Vault announces it.
    await kv.clock.advance(20 * DAY);
    const rotatedAt = Date.now();
    const notification = await topic.waitFor((e) => e.type === "keyturn.SecretRotated" && e.data.secret === "payments-api-key");

    const nearExpiry = kv.deliveries.filter((d) => d.eventType === "Microsoft.KeyVault.SecretNearExpiry" && d.subject === "payments-api-key");
    expect(nearExpiry.some((d) => d.status === 200)).toBe(true);

    const versions = await versionsOf(client, "payments-api-key");
    expect(versions).toHaveLength(2);
    const latest = await client.getSecret("payments-api-key");
    values.push(latest.value!);
    expect(latest.properties.version).not.toBe(seeded.properties.version);
    expect(latest.value).toHaveLength(40);
    expect(latest.value).not.toBe(initial);
    expect(latest.properties.tags).toEqual(tags);
    const exp = latest.properties.expiresOn!.getTime();
    expect(exp).toBeGreaterThan(rotatedAt + 60 * DAY - 60_000);
    expect(exp).toBeLessThan(rotatedAt + 60 * DAY + 60_000);
    expect(latest.properties.notBefore).toBeDefined();

    expect(notification.source).toBe(`keyturn/vaults/${VAULT}`);
    expect(notification.data).toMatchObject({
      vault: VAULT,
      secret: "payments-api-key",
      version: latest.properties.version,
      previousVersion: seeded.properties.version,
      rotator: "generated-secret",
      trigger: "event",
      owner: "payments-oncall@contoso.com",
    });

    // Redeliver the very event that caused the rotation: nothing rotates.
    const original = await eventually(
      () => tapped.flat().find((e) => (e as { eventType: string }).eventType === "Microsoft.KeyVault.SecretNearExpiry"),
      10_000,
      "the tapped near-expiry event",
    );
    const again = await fetch(host.webhookUrl("keyVaultEvents"), {
      method: "POST",
      headers: { "content-type": "application/json", "aeg-event-type": "Notification" },
      body: JSON.stringify([original]),
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ outcomes: ["skipped"] });
    expect(await versionsOf(client, "payments-api-key")).toHaveLength(2);
    expect(topic.events.filter((e) => e.data.secret === "payments-api-key")).toHaveLength(1);

    // No value in any notification or host output.
    for (const v of values) {
      for (const e of topic.events) expect(e.raw).not.toContain(v);
      expect(host.output()).not.toContain(v);
    }
  });

  it("answers Event Grid's handshakes and rejects malformed events without changing anything", async () => {
    const options = await fetch(host.webhookUrl("keyVaultEvents"), { method: "OPTIONS", headers: { "WebHook-Request-Origin": "eventgrid.azure.net" } });
    expect(options.status).toBe(200);
    expect(options.headers.get("webhook-allowed-origin")).toBe("eventgrid.azure.net");

    const bad = await fetch(host.webhookUrl("keyVaultEvents"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ id: "1", eventType: "Microsoft.KeyVault.SecretNearExpiry", topic: "/subscriptions/x/resourceGroups/y/providers/Microsoft.KeyVault/vaults/not-ours", data: { VaultName: "not-ours", ObjectName: "s" } }]),
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).detail).toMatch(/vault 'not-ours' is not on the allow-list/);

    const notJson = await fetch(host.webhookUrl("keyVaultEvents"), { method: "POST", body: "{{" });
    expect(notJson.status).toBe(400);
    const unknownFunction = await fetch(host.webhookUrl("nope"), { method: "POST", body: "[]" });
    expect(unknownFunction.status).toBe(404);
    const wrongMethod = await fetch(host.webhookUrl("keyVaultEvents"), { method: "GET" });
    expect(wrongMethod.status).toBe(405);
  });

  it("rotates on a manual HTTP request, dry-run first, and refuses bad requests", async () => {
    const client = secretClientFor(kv, VAULT);
    const initial = "manual-initial-" + Math.random().toString(36).slice(2);
    values.push(initial);
    const seeded = await client.setSecret("shared-password", initial, { tags: { Rotator: "generated-secret", ValidityPeriodDays: "90" } });
    const rotate = (body: unknown, path = `/api/vaults/${VAULT}/secrets/shared-password/rotate`, method = "POST") =>
      fetch(`${host.url}${path}`, { method, headers: { "content-type": "application/json" }, body: method === "GET" ? undefined : JSON.stringify(body) });

    const dry = await rotate({ reason: "check the plan", mode: "dry-run" });
    expect(dry.status).toBe(200);
    const planned = await dry.json();
    expect(planned).toMatchObject({ status: "planned", version: seeded.properties.version, rotator: "generated-secret" });
    // generated-secret changes no provider: no journal.
    expect(planned.plan).toEqual(["check-current", "create", "verify", "commit"]);
    expect(await versionsOf(client, "shared-password")).toHaveLength(1);

    const res = await rotate({ reason: "suspected leak in a CI log" });
    expect(res.status).toBe(200);
    const text = await res.text();
    const body = JSON.parse(text);
    expect(body).toMatchObject({ status: "rotated", previousVersion: seeded.properties.version, rotator: "generated-secret" });
    const latest = await client.getSecret("shared-password");
    values.push(latest.value!);
    expect(body.version).toBe(latest.properties.version);
    expect(text).not.toContain(latest.value!);

    const cases: Array<[unknown, string | undefined, string | undefined, number, RegExp]> = [
      [{ reason: "x", mode: "sideways" }, undefined, undefined, 400, /mode/],
      [{ mode: "normal" }, undefined, undefined, 400, /reason/],
      [{ reason: "x", extra: 1 }, undefined, undefined, 400, /extra/],
      [{ reason: "x" }, `/api/vaults/other-kv/secrets/shared-password/rotate`, undefined, 404, /not on the allow-list/],
      [{ reason: "x" }, `/api/vaults/${VAULT}/secrets/no-such-secret/rotate`, undefined, 404, /not found/],
      [{ reason: "x" }, `/api/vaults/${VAULT}/secrets/bad_name!/rotate`, undefined, 400, /secret name/],
      [{ reason: "x" }, `/api/vaults/https%3A%2F%2Fevil.example/secrets/x/rotate`, undefined, 400, /not a vault name/],
      [undefined, undefined, "GET", 405, /not allowed/],
    ];
    for (const [b, path, method, status, detail] of cases) {
      const r = await rotate(b, path, method);
      expect(r.status, JSON.stringify([b, path, method])).toBe(status);
      expect(r.headers.get("content-type")).toBe("application/problem+json");
      expect((await r.json()).detail).toMatch(detail);
    }
    expect(await versionsOf(client, "shared-password")).toHaveLength(2);
    for (const v of values) expect(host.output()).not.toContain(v);
  });
});
