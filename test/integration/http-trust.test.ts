// The HTTP surface's trust and the event path's edges, against the local host in this
// process (the route table's handlers, the Key Vault double behind them):
// - the Event Grid webhook needs the function key when one is configured (as every
//   route does), handshakes included;
// - one delivery batch with two events about one secret is handled one after the other
//   (no lock fight, no 500, no redelivery);
// - keyturn's own journals are never rotation targets: a forged event is ignored, the
//   HTTP API and the CLI refuse them, the engine skips them for automatic triggers;
// - app roles are only trusted with App Service Authentication in front
//   (WEBSITE_AUTH_ENABLED); the local host refuses to pretend;
// - `keyturn --via` refuses plain http except to loopback.
import azureFunctions from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppRole, encodeClientPrincipal } from "../../core/auth.js";
import { loadConfig } from "../../core/config.js";
import { setDefaultLogSink } from "../../core/log.js";
import { getRuntime, resetRuntime } from "../../app/runtime.js";
import { normaliseViaUrl } from "../../cli/backend.js";
import { main as cliMain } from "../../cli/main.js";
import { CliError, ExitCode } from "../../cli/exit-codes.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { startLocalHost, type LocalHost } from "../../local/host.js";
import { invokeHttpRoute, routes, type HttpRoute } from "../../functions/routes.js";
import { emulatorSettings, secretClientFor, versionsOf } from "../support/keyvault.js";

const { HttpRequest, InvocationContext } = azureFunctions;

const VAULT = "trust-kv";
const KEY = "trust-function-key-4f3e2d1c";
const DAY = 86_400_000;
const TOPIC = `/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${VAULT}`;

function event(type: string, objectType: "Secret" | "Certificate" | "Key", name: string, version?: string, id = `${name}-${Math.random().toString(36).slice(2)}`) {
  return {
    id,
    topic: TOPIC,
    subject: name,
    eventType: `Microsoft.KeyVault.${type}`,
    eventTime: new Date().toISOString(),
    data: { VaultName: VAULT, ObjectType: objectType, ObjectName: name, ...(version ? { Version: version } : {}) },
    dataVersion: "1",
    metadataVersion: "1",
  };
}

describe("the HTTP surface's trust and the event path's edges", () => {
  let kv: KeyVaultEmulator;
  let host: LocalHost;
  const logs: string[] = [];
  const webhook = (query = "") => `${host.url}/runtime/webhooks/eventgrid?functionName=keyVaultEvents${query}`;
  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json", "aeg-event-type": "Notification", ...headers }, body: JSON.stringify(body) });

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
    Object.assign(process.env, {
      ...emulatorSettings(kv, VAULT),
    });
    delete process.env.KEYTURN_REQUIRE_APP_ROLES;
    delete process.env.WEBSITE_AUTH_ENABLED;
    delete process.env.AzureWebJobsStorage;
    resetRuntime();
    setDefaultLogSink((_level, line) => logs.push(line));
    host = await startLocalHost({ port: 0, functionKey: KEY, timers: false });
  });

  afterAll(async () => {
    setDefaultLogSink(undefined);
    await host?.close();
    await kv?.stop();
  });

  it("the Event Grid webhook needs the function key, like every other route (handshakes included)", async () => {
    const seeded = kv.seedSecret(VAULT, "webhook-secret", "webhook-initial-value-1", { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60" }, expiresOn: new Date(Date.now() + 10 * DAY) });
    const e = event("SecretNearExpiry", "Secret", "webhook-secret", seeded.version);

    const none = await post(webhook(), [e]);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ status: 401, errorKind: "unauthorized" });
    expect((await post(webhook(), [e], { "x-functions-key": "wrong" })).status).toBe(401);
    const handshake = await fetch(webhook(), { method: "OPTIONS", headers: { "webhook-request-origin": "eventgrid.azure.net" } });
    expect(handshake.status).toBe(401);
    const validation = await post(webhook(), [{ id: "v1", topic: TOPIC, subject: "", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", eventTime: new Date().toISOString(), data: { validationCode: "abc" }, dataVersion: "1" }], { "aeg-event-type": "SubscriptionValidation" });
    expect(validation.status).toBe(401);
    // Nothing rotated for the callers without the key.
    expect(await versionsOf(secretClientFor(kv, VAULT), "webhook-secret")).toHaveLength(1);

    const withCode = await post(webhook(`&code=${KEY}`), [e]);
    expect(withCode.status).toBe(200);
    expect(await withCode.json()).toEqual({ outcomes: ["rotated"] });
    const withHeader = await post(webhook(), [e], { "x-functions-key": KEY });
    expect(withHeader.status).toBe(200);
    expect(await withHeader.json()).toEqual({ outcomes: ["skipped"] }); // the same event again: its version is no longer the latest
  });

  it("two events about one secret in one batch run one after the other: 200, one rotation, no redelivery", async () => {
    const seeded = kv.seedSecret(VAULT, "batch-secret", "batch-initial-value-1", { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60" }, expiresOn: new Date(Date.now() + 10 * DAY) });
    kv.seedSecret(VAULT, "batch-unmanaged", "batch-unmanaged-value-1", { expiresOn: new Date(Date.now() + 10 * DAY) });
    // Latency on every read, so that two concurrent handlers would overlap on the lock.
    kv.faults.add({ match: { operation: "GetSecret" }, latencyMs: 150 });
    try {
      const res = await post(webhook(), [
        event("SecretNearExpiry", "Secret", "batch-secret", seeded.version),
        event("SecretExpired", "Secret", "batch-secret", seeded.version),
        event("SecretNearExpiry", "Secret", "batch-unmanaged"),
        event("SecretExpired", "Secret", "batch-unmanaged"),
      ], { "x-functions-key": KEY });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ outcomes: ["rotated", "skipped", "skipped", "skipped"] });
    } finally {
      kv.faults.clear();
    }
    expect(await versionsOf(secretClientFor(kv, VAULT), "batch-secret")).toHaveLength(2);
  });

  it("journals are never rotation targets: a forged event is ignored, HTTP and the CLI refuse them, the engine skips them", async () => {
    kv.seedSecret(VAULT, "journaled", "journaled-value-1", { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "owner@contoso.com" } });
    const journal = kv.seedSecret(VAULT, "keyturn-journal-journaled", "{}", {
      tags: { KeyturnJournalFor: "journaled", KeyturnJournalState: "committed", KeyturnSupersedes: "x", Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "owner@contoso.com" },
    });
    const sentBefore = logs.filter((l) => l.includes("keyturn.RotationFailed")).length;

    for (const name of ["keyturn-journal-journaled", "KEYTURN-JOURNAL-journaled"]) {
      const res = await post(webhook(), [event("SecretNearExpiry", "Secret", name, journal.version)], { "x-functions-key": KEY });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ outcomes: ["ignored"] });
    }
    expect(logs.filter((l) => l.includes("keyturn.RotationFailed")).length).toBe(sentBefore);

    const status = await fetch(`${host.url}/api/vaults/${VAULT}/secrets/keyturn-journal-journaled`, { headers: { "x-functions-key": KEY } });
    expect(status.status).toBe(400);
    expect((await status.json()).detail).toMatch(/keyturn's own journal/);

    const { engine } = await getRuntime();
    const vault = { name: VAULT, url: kv.url(VAULT) };
    await expect(engine.rotateSecret({ vault, secret: "keyturn-journal-journaled", mode: "normal", trigger: { kind: "sweep", id: "s" } })).resolves.toMatchObject({ status: "skipped", reason: "unmanaged" });
    await expect(engine.rotateSecret({ vault, secret: "keyturn-journal-journaled", mode: "normal", trigger: { kind: "cli", id: "c" } })).rejects.toMatchObject({ kind: "bad-request" });

    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (stderr.push(String(chunk)), true));
    let code: number | undefined;
    try {
      code = await cliMain(["status", `${VAULT}/keyturn-journal-journaled`]);
    } finally {
      process.stderr.write = write;
    }
    expect(code).toBe(ExitCode.Usage);
    expect(stderr.join("")).toMatch(/keyturn's own journal/);
    expect(await versionsOf(secretClientFor(kv, VAULT), "keyturn-journal-journaled")).toHaveLength(1);
  });

  it("an undecodable path is a 400 on every route, never a 500", async () => {
    for (const [method, path] of [["POST", "/admin/functions/%zz"], ["GET", "/api/%zz"], ["POST", "/runtime/webhooks/eventgrid%zz"], ["GET", "/%E0%A4%A"]] as const) {
      const res = await fetch(`${host.url}${path}`, { method, headers: { "x-functions-key": KEY } });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
  });

  it("a body over the limit is a 413 at every size", async () => {
    for (const size of [17 * 1024, 300 * 1024, 1024 * 1024 - 100]) {
      const res = await fetch(`${host.url}/api/vaults/${VAULT}/secrets/journaled/rotate`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-functions-key": KEY },
        body: JSON.stringify({ reason: "x", pad: "p".repeat(size) }),
      });
      expect(res.status, `${size} bytes`).toBe(413);
      expect(await res.json()).toMatchObject({ status: 413, title: "Payload too large", errorKind: "bad-request" });
    }
  });

describe("app roles are trusted only with App Service Authentication in front", () => {
  const saved = { ...process.env };
  afterAll(() => {
    for (const k of ["KEYTURN_REQUIRE_APP_ROLES", "WEBSITE_AUTH_ENABLED"]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    resetRuntime();
  });

  it("refuses to start with KEYTURN_REQUIRE_APP_ROLES=true unless WEBSITE_AUTH_ENABLED says App Service Authentication is on", () => {
    const base = { KEYTURN_VAULTS: "https://trust-kv.vault.azure.net" };
    expect(() => loadConfig({ ...base, KEYTURN_REQUIRE_APP_ROLES: "true" })).toThrow(/App Service Authentication is not on \(WEBSITE_AUTH_ENABLED/);
    expect(() => loadConfig({ ...base, KEYTURN_REQUIRE_APP_ROLES: "true", WEBSITE_AUTH_ENABLED: "False" })).toThrow(/WEBSITE_AUTH_ENABLED/);
    expect(loadConfig({ ...base, KEYTURN_REQUIRE_APP_ROLES: "true", WEBSITE_AUTH_ENABLED: "True" }).requireAppRoles).toBe(true);
    expect(loadConfig({ ...base, KEYTURN_REQUIRE_APP_ROLES: "false" }).requireAppRoles).toBe(false);
  });

  it("the local host refuses to pretend to check roles", async () => {
    process.env.KEYTURN_REQUIRE_APP_ROLES = "true";
    process.env.WEBSITE_AUTH_ENABLED = "True"; // even when told so: nothing authenticates callers in front of it
    await expect(startLocalHost({ port: 0, timers: false })).rejects.toThrow(/local host does not have: it cannot trust x-ms-client-principal/);
  });

  it("behind App Service Authentication, the route table checks the roles on every route", async () => {
    process.env.KEYTURN_REQUIRE_APP_ROLES = "true";
    process.env.WEBSITE_AUTH_ENABLED = "True";
    resetRuntime();
    const route = (name: string) => routes.find((r): r is HttpRoute => r.name === name && r.trigger === "http")!;
    const call = (name: string, method: string, roles: string[] | null, params: Record<string, string>) =>
      invokeHttpRoute(
        route(name),
        new HttpRequest({
          method,
          url: "http://localhost/api/x",
          headers: { "content-type": "application/json", ...(roles ? { "x-ms-client-principal": encodeClientPrincipal(roles) } : {}) },
          params,
          ...(method === "POST" ? { body: { string: JSON.stringify({ reason: "roles", mode: "dry-run" }) } } : {}),
        }),
        new InvocationContext({ invocationId: "roles", functionName: name }),
      );
    const target = { vault: VAULT, name: "journaled" };
    expect((await call("secretStatus", "GET", null, target)).status).toBe(403);
    expect((await call("secretStatus", "GET", ["Someone.Else"], target)).status).toBe(403);
    expect((await call("secretStatus", "GET", [AppRole.Reader], target)).status).toBe(200);
    expect((await call("dueSecrets", "GET", [AppRole.Operator], { vault: VAULT })).status).toBe(200);
    const readerRotates = await call("rotateSecret", "POST", [AppRole.Reader], target);
    expect(readerRotates.status).toBe(403);
    expect(JSON.parse(readerRotates.body as string)).toMatchObject({ errorKind: "forbidden", detail: expect.stringMatching(/Rotation\.Operator/) });
    expect((await call("rotateSecret", "POST", [AppRole.Operator], target)).status).toBe(200);
  });
});

describe("keyturn --via", () => {
  it("refuses plain http except to loopback addresses: the function key would travel in clear text", () => {
    for (const url of ["http://keyturn-func.azurewebsites.net", "http://10.0.0.5:7071", "http://128.0.0.1", "http://localhost.evil.example", "http://[::2]:7071"]) {
      let error: unknown;
      try {
        normaliseViaUrl(url);
      } catch (e) {
        error = e;
      }
      expect(error, url).toBeInstanceOf(CliError);
      expect((error as CliError).exitCode).toBe(ExitCode.Usage);
      expect((error as CliError).message).toMatch(/clear text/);
    }
    for (const url of ["http://127.0.0.1:7071", "http://127.10.0.1:7071/api", "http://localhost:7071", "http://[::1]:7071", "https://keyturn-func.azurewebsites.net"]) {
      expect(() => normaliseViaUrl(url), url).not.toThrow();
    }
  });
});
});
