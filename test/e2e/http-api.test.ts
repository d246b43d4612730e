// The HTTP API end to end: the local host as a child process (as `npm start` runs it)
// with a function key, the Key Vault double behind it. Every
// route: rotate (normal, dry-run, emergency, paused, in progress, rolling a journal
// forward), status, due (paged), health; function keys allowed and refused; no value in any answer or in the host's output.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppRole, encodeClientPrincipal } from "../../core/auth.js";
import { generateSecret } from "../../core/generate.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { startHostProcess, type HostProcess } from "../support/host.js";
import { emulatorSettings, secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "api-kv";
const KEY = "e2e-function-key-9f8e7d6c5b4a";
const DAY = 86_400_000;
const operator = encodeClientPrincipal([AppRole.Operator]);
const reader = encodeClientPrincipal([AppRole.Reader]);

describe("HTTP API against the local host", () => {
  let kv: KeyVaultEmulator;
  let host: HostProcess;
  const values: string[] = [];

  const call = (method: string, path: string, opts: { principal?: string | null; key?: string | null; body?: unknown } = {}) => {
    const headers: Record<string, string> = {};
    const key = opts.key === undefined ? KEY : opts.key;
    if (key !== null) headers["x-functions-key"] = key;
    const principal = opts.principal === undefined ? operator : opts.principal;
    if (principal !== null) headers["x-ms-client-principal"] = principal;
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    return fetch(`${host.url}${path}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  };
  const rotate = (secret: string, body: unknown, principal?: string | null) => call("POST", `/api/vaults/${VAULT}/secrets/${secret}/rotate`, { body, ...(principal !== undefined ? { principal } : {}) });
  const status = (secret: string, principal: string | null = reader) => call("GET", `/api/vaults/${VAULT}/secrets/${secret}`, { principal });
  const seed = (name: string, tags: Record<string, string>, days: number | undefined, extra: { enabled?: boolean } = {}) => {
    const value = `api-initial-${name}-${Math.random().toString(36).slice(2)}-${Date.now()}`;
    values.push(value);
    return kv.seedSecret(VAULT, name, value, { tags, ...(days !== undefined ? { expiresOn: new Date(Date.now() + days * DAY) } : {}), ...extra });
  };
  const managed = (more: Record<string, string> = {}) => ({ Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "api-oncall@contoso.com", ...more });

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
    host = await startHostProcess({
      ...emulatorSettings(kv, VAULT),
      KEYTURN_LOCAL_FUNCTION_KEY: KEY,
    });
  });

  afterAll(async () => {
    await host?.stop();
    await kv?.stop();
  });

  it("health is anonymous and tells versions and settings, not vaults", async () => {
    const res = await call("GET", "/api/health", { key: null, principal: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const text = await res.text();
    const body = JSON.parse(text);
    expect(body).toMatchObject({ status: "ok", version: "0.1.0", config: { vaults: 1, credential: "local-emulator", appRoles: false, notificationChannels: ["log"] }, problems: [] });
    expect(body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(text).not.toContain(VAULT);
    expect(text).not.toContain(kv.url(VAULT));
  });

  it("requires the function key (header or code) on every other route", async () => {
    seed("keyed-secret", managed(), 200);
    expect((await call("GET", `/api/vaults/${VAULT}/secrets/keyed-secret`, { key: null })).status).toBe(401);
    expect((await call("GET", `/api/vaults/${VAULT}/secrets/keyed-secret`, { key: "wrong" })).status).toBe(401);
    expect((await call("GET", `/api/vaults/${VAULT}/secrets/keyed-secret?code=${KEY}`, { key: null })).status).toBe(200);
    expect((await call("GET", `/api/vaults/${VAULT}/secrets/keyed-secret`)).status).toBe(200);

    // App roles need App Service Authentication in front, which the local host does not
    // have and refuses to pretend (test/integration/http-trust.test.ts checks the roles
    // through the route table, as behind App Service Authentication).
    expect((await rotate("keyed-secret", { reason: "operator rotates" }, operator)).status).toBe(200);
  });

  it("rotates: dry-run plans, normal rotates, emergency revokes; the answer has the issue's shape", async () => {
    const client = secretClientFor(kv, VAULT);
    const seeded = seed("payments-api-key", managed(), 20);

    const dry = await rotate("payments-api-key", { reason: "check", mode: "dry-run" });
    expect(dry.status).toBe(200);
    expect(await dry.json()).toMatchObject({ status: "planned", version: seeded.version, rotator: "generated-secret", mode: "dry-run", plan: ["check-current", "create", "verify", "commit"] });
    expect(await versionsOf(client, "payments-api-key")).toHaveLength(1);

    const normal = await rotate("payments-api-key", { reason: "scheduled by hand" });
    const n = await normal.json();
    expect(Object.keys(n).sort()).toEqual(["credentialId", "expiresOn", "mode", "previousVersion", "rotator", "secret", "status", "vault", "version"]);
    expect(n).toMatchObject({ status: "rotated", previousVersion: seeded.version, rotator: "generated-secret", credentialId: null, mode: "normal", vault: VAULT });
    expect(Date.parse(n.expiresOn)).toBeGreaterThan(Date.now() + 59 * DAY);

    const emergency = await rotate("payments-api-key", { reason: "key pasted in a public channel", mode: "emergency" });
    const e = await emergency.json();
    expect(e).toMatchObject({ status: "rotated", previousVersion: n.version, mode: "emergency", revoked: true });
    const latest = await client.getSecret("payments-api-key");
    values.push(latest.value!);
    expect(latest.properties.version).toBe(e.version);

    const s = await (await status("payments-api-key")).json();
    expect(s).toMatchObject({
      vault: VAULT,
      secret: "payments-api-key",
      managed: true,
      paused: false,
      rotator: "generated-secret",
      currentVersion: e.version,
      credentialId: null,
      owner: "api-oncall@contoso.com",
      validityPeriodDays: 60,
      enabled: true,
      versions: 3,
      // generated-secret writes no journal, so nothing records what triggered it (as for dual
      // kinds), nor orders versions written within the same second.
      lastRotation: { version: e.version, trigger: null, mode: null },
      journal: null,
      problem: null,
      attention: null,
    });
    expect(s.expiresOn).toBe(new Date(Math.floor(Date.parse(e.expiresOn) / 1000) * 1000).toISOString());
  });

  it("a paused secret still rotates by hand; the sweep (due) leaves it alone", async () => {
    seed("paused-secret", managed({ RotationPaused: "true" }), 5);
    const s = await (await status("paused-secret")).json();
    expect(s.paused).toBe(true);
    const due = await (await call("GET", `/api/vaults/${VAULT}/due?within=30d`, { principal: reader })).json();
    expect(due.skipped).toContainEqual(expect.objectContaining({ secret: "paused-secret", reason: "paused" }));
    expect(due.due.map((d: { secret: string }) => d.secret)).not.toContain("paused-secret");
    const r = await rotate("paused-secret", { reason: "manual rotation ignores the pause" });
    expect((await r.json()).status).toBe("rotated");
    expect((await (await status("paused-secret")).json()).paused).toBe(true); // the tag travels to the new version
  });

  it("lists what is due across pages: expired first, journals and paused apart, tag problems named", async () => {
    // 30 unmanaged secrets push the managed ones onto the second page (Key Vault pages 25).
    for (let i = 0; i < 30; i++) seed(`filler-${String(i).padStart(2, "0")}`, {}, 3);
    seed("due-expired", managed(), -2);
    seed("due-soon", managed(), 9);
    seed("due-later", managed(), 200);
    seed("due-no-exp", managed(), undefined);
    seed("due-disabled", managed(), 4, { enabled: false });
    seed("due-bad-tags", managed({ ValidityPeriodDays: "7" }), 6);

    const res = await call("GET", `/api/vaults/${VAULT}/due?within=30d`, { principal: reader });
    expect(res.status).toBe(200);
    const r = await res.json();
    expect(r.scanned).toBeGreaterThan(36);
    expect(r.within).toBe("30d");
    const due = r.due.map((d: { secret: string }) => d.secret);
    expect(due[0]).toBe("due-expired");
    expect(due).toEqual(expect.arrayContaining(["due-expired", "due-soon", "due-bad-tags"]));
    expect(due).not.toContain("due-later");
    expect(due.some((n: string) => n.startsWith("filler-") || n.startsWith("keyturn-journal-"))).toBe(false);
    expect(r.due.find((d: { secret: string }) => d.secret === "due-expired")).toMatchObject({ reason: "expired", rotator: "generated-secret", owner: "api-oncall@contoso.com" });
    expect(r.due.find((d: { secret: string }) => d.secret === "due-expired").daysLeft).toBeLessThan(0);
    expect(r.due.find((d: { secret: string }) => d.secret === "due-bad-tags").problem).toMatch(/ValidityPeriodDays/);
    expect(r.skipped).toEqual(expect.arrayContaining([expect.objectContaining({ secret: "due-no-exp", reason: "no-expiry" }), expect.objectContaining({ secret: "due-disabled", reason: "disabled" })]));

    const wide = await (await call("GET", `/api/vaults/${VAULT}/due?within=365d`, { principal: reader })).json();
    expect(wide.due.map((d: { secret: string }) => d.secret)).toContain("due-later");
  });

  it("finds an interrupted rotation, and rotating again rolls its journal forward", async () => {
    const client = secretClientFor(kv, VAULT);
    const seeded = seed("orders-db-password", managed(), 15);
    // What a crash between the journal write and the commit leaves behind.
    const journalled = generateSecret(32);
    values.push(journalled);
    await client.setSecret("keyturn-journal-orders-db-password", JSON.stringify({ v: 1, secretValue: journalled }), {
      contentType: "application/vnd.keyturn.journal+json",
      tags: { KeyturnJournalFor: "orders-db-password", KeyturnJournalState: "pending", KeyturnSupersedes: seeded.version, Rotator: "generated-secret", KeyturnTrigger: "event", KeyturnMode: "normal" },
    });

    const before = await (await status("orders-db-password")).json();
    expect(before.journal).toMatchObject({ state: "pending", supersedes: seeded.version, trigger: "event" });
    expect(before.attention).toMatch(/rotate again to roll the journal forward/);
    const due = await (await call("GET", `/api/vaults/${VAULT}/due`, { principal: reader })).json();
    expect(due.pendingJournals).toContainEqual({ secret: "orders-db-password", journal: "keyturn-journal-orders-db-password", supersedes: seeded.version });

    const r = await (await rotate("orders-db-password", { reason: "roll the journal forward" })).json();
    expect(r).toMatchObject({ status: "rotated", previousVersion: seeded.version, rolledForward: true });
    expect((await client.getSecret("orders-db-password")).value).toBe(journalled);
    const after = await (await status("orders-db-password")).json();
    expect(after.journal.state).toBe("committed");
    expect(after.attention).toBeNull();
    expect(after.lastRotation).toMatchObject({ previousVersion: seeded.version, trigger: "event" });
  });

  it("answers 409 with Retry-After while a rotation of the same secret runs", async () => {
    seed("slow-secret", managed(), 10);
    const removeFault = kv.faults.add({ match: { operation: "SetSecret" }, latencyMs: 1500, times: 1 });
    try {
      const first = rotate("slow-secret", { reason: "first" });
      await new Promise((r) => setTimeout(r, 400));
      const second = await rotate("slow-secret", { reason: "second" });
      expect(second.status).toBe(409);
      expect(second.headers.get("retry-after")).toBe("30");
      expect(await second.json()).toMatchObject({ title: "Rotation in progress", errorKind: "conflict" });
      expect((await first).status).toBe(200);
    } finally {
      removeFault();
    }
  });

  it("never puts a value in the host's output", () => {
    for (const v of values) expect(host.output()).not.toContain(v);
  });
});
