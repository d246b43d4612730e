// The Key Vault data-plane double, driven by the real @azure/keyvault-secrets SecretClient
// configured the way keyturn configures it, plus raw HTTPS where the SDK hides the wire
// (challenge header, api-version errors, page shapes) and small webhook receivers for
// the Event Grid side.
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import type { TokenCredential } from "@azure/core-auth";
import { SecretClient } from "@azure/keyvault-secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";

const DAY_MS = 86_400_000;

const credential: TokenCredential = {
  getToken: async () => ({ token: "local", expiresOnTimestamp: Date.now() + 3600_000 }),
};

let emulator: KeyVaultEmulator;

function client(vault: string, options: { maxRetries?: number; serviceVersion?: "7.6" | "2025-07-01" } = {}): SecretClient {
  return new SecretClient(emulator.url(vault), credential, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: emulator.tls.caPem },
    retryOptions: { maxRetries: options.maxRetries ?? 2, retryDelayInMs: 50 },
    ...(options.serviceVersion ? { serviceVersion: options.serviceVersion } : {}),
  });
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
}

/** A bare HTTPS call, for what the SDK does not show (headers, raw bodies). */
function raw(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: init.method ?? "GET", headers: init.headers, ca: emulator.tls.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        let json: unknown;
        try {
          json = body ? JSON.parse(body) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

const AUTH = { authorization: "Bearer local" };

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Received {
  headers: IncomingHttpHeaders;
  body: any;
}

/**
 * A webhook endpoint like keyturn's: answers the schema's validation handshake and
 * records notifications. `failNext` answers that many notifications with 500.
 */
class Receiver {
  readonly validations: Received[] = [];
  readonly notifications: Received[] = [];
  failNext = 0;
  alwaysFail = false;
  /** Status of the failing answers. */
  failStatus = 500;
  private server!: Server;
  url = "";

  constructor(
    readonly schema: "EventGridSchema" | "CloudEventSchemaV1_0",
    private readonly behaviour: { https?: boolean; validation?: "echo" | "refuse" | "manual" } = {},
  ) {}

  async start(): Promise<this> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = this.behaviour.https
      ? createHttpsServer({ cert: emulator.tls.cert, key: emulator.tls.key }, handler)
      : createHttpServer(handler);
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    const { port } = this.server.address() as AddressInfo;
    this.url = `${this.behaviour.https ? "https" : "http"}://127.0.0.1:${port}/api/events`;
    return this;
  }

  /** Notifications' events, flattened (Event Grid schema sends arrays). */
  events(): Array<{ event: any; headers: IncomingHttpHeaders }> {
    return this.notifications.flatMap((n) =>
      Array.isArray(n.body) ? n.body.map((event: any) => ({ event, headers: n.headers })) : [{ event: n.body, headers: n.headers }],
    );
  }

  eventsOf(type: string, subject: string): any[] {
    return this.events()
      .map((e) => e.event)
      .filter((e) => (e.eventType ?? e.type) === type && e.subject === subject);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const body = text ? JSON.parse(text) : undefined;
    const refuse = this.behaviour.validation === "refuse";

    if (req.method === "OPTIONS") {
      this.validations.push({ headers: req.headers, body });
      const headers: Record<string, string> = refuse ? {} : { "webhook-allowed-origin": "eventgrid.azure.net", allow: "POST, OPTIONS" };
      res.writeHead(200, headers).end();
      return;
    }
    if (req.headers["aeg-event-type"] === "SubscriptionValidation") {
      this.validations.push({ headers: req.headers, body });
      if (refuse) {
        res.writeHead(403).end();
      } else if (this.behaviour.validation === "manual") {
        // Event Grid's manual handshake: answer without the code, then GET validationUrl.
        res.writeHead(200).end();
        await sleep(50);
        const validated = await raw(body[0].data.validationUrl);
        if (validated.status !== 200) throw new Error("manual validation failed");
      } else {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ validationResponse: body[0].data.validationCode }));
      }
      return;
    }
    if (this.alwaysFail || this.failNext > 0) {
      this.failNext = Math.max(0, this.failNext - 1);
      res.writeHead(this.failStatus).end();
      return;
    }
    this.notifications.push({ headers: req.headers, body });
    res.writeHead(200).end();
  }

  stop(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}

const receivers: Receiver[] = [];
async function receiver(...args: ConstructorParameters<typeof Receiver>): Promise<Receiver> {
  const r = await new Receiver(...args).start();
  receivers.push(r);
  return r;
}

beforeAll(async () => {
  emulator = await startKeyVaultEmulator({
    vaults: ["kv-main", "kv-list", "kv-faults", "kv-throttle", "kv-events", "kv-cloud", "kv-retry"],
    deliveryRetryDelaysMs: [100, 200, 300],
    scanIntervalMs: 100,
  });
});

afterAll(async () => {
  await emulator?.stop();
  await Promise.all(receivers.map((r) => r.stop()));
});

describe("challenge authentication and api-version", () => {
  it("answers a request without a token with 401 and Key Vault's challenge", async () => {
    const response = await raw(`${emulator.url("kv-main")}/secrets?api-version=2025-07-01`);
    expect(response.status).toBe(401);
    expect(response.headers["www-authenticate"]).toBe(
      'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"',
    );
    expect(response.json.error.code).toBe("Unauthorized");
    expect(response.headers["x-ms-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("the SDK goes through the challenge once, then sends its token", async () => {
    emulator.resetStats();
    const secrets = client("kv-main");
    await secrets.setSecret("challenge-probe", "v1");
    await secrets.getSecret("challenge-probe");
    const stats = emulator.stats()["kv-main"]!;
    // One 401 for the first, body-less probe; the retried PUT and the GET carry the token.
    expect(stats).toEqual({ AuthChallenge: 1, SetSecret: 1, GetSecret: 1 });
  });

  it("rejects an unknown or missing api-version with 400 BadParameter", async () => {
    const base = emulator.url("kv-main");
    const wrong = await raw(`${base}/secrets?api-version=1999-01-01`, { headers: AUTH });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.code).toBe("BadParameter");
    expect(wrong.json.error.message).toContain("The specified version (1999-01-01) is not recognized");
    expect(wrong.headers["content-type"]).toBe("application/json; charset=utf-8");

    const missing = await raw(`${base}/secrets`, { headers: AUTH });
    expect(missing.status).toBe(400);
    expect(missing.json.error.code).toBe("BadParameter");
  });

  it("accepts the SDK's older service versions", async () => {
    const secrets = client("kv-main", { serviceVersion: "7.6" });
    const set = await secrets.setSecret("old-api", "value");
    expect((await secrets.getSecret("old-api")).value).toBe("value");
    expect(set.properties.version).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe("secrets", () => {
  it("sets, gets the latest and a given version, with tags, contentType, nbf and exp", async () => {
    const secrets = client("kv-main");
    const notBefore = new Date(Math.floor(emulator.clock.now().getTime() / 1000) * 1000);
    const expiresOn = new Date(notBefore.getTime() + 60 * DAY_MS);
    const first = await secrets.setSecret("db-password", "first-value", {
      tags: { Rotator: "generated", ValidityPeriodDays: "60" },
      contentType: "text/plain",
      notBefore,
      expiresOn,
    });
    const second = await secrets.setSecret("db-password", "second-value");

    expect(first.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(first.properties.id).toBe(`${emulator.url("kv-main")}/secrets/db-password/${first.properties.version}`);
    expect(second.properties.version).not.toBe(first.properties.version);

    const latest = await secrets.getSecret("db-password");
    expect(latest.value).toBe("second-value");
    expect(latest.properties.version).toBe(second.properties.version);

    const older = await secrets.getSecret("db-password", { version: first.properties.version! });
    expect(older.value).toBe("first-value");
    expect(older.properties.tags).toEqual({ Rotator: "generated", ValidityPeriodDays: "60" });
    expect(older.properties.contentType).toBe("text/plain");
    expect(older.properties.notBefore?.getTime()).toBe(notBefore.getTime());
    expect(older.properties.expiresOn?.getTime()).toBe(expiresOn.getTime());
    expect(older.properties.enabled).toBe(true);
    expect(older.properties.recoveryLevel).toBe("Recoverable+Purgeable");
    expect(older.properties.recoverableDays).toBe(90);
    expect(Math.abs(older.properties.createdOn!.getTime() - emulator.clock.now().getTime())).toBeLessThan(5000);
  });

  it("stamps created/updated from the virtual clock", async () => {
    await emulator.clock.advance(400 * DAY_MS);
    const secrets = client("kv-main");
    const set = await secrets.setSecret("clocked", "x");
    const expected = emulator.clock.now().getTime();
    expect(Math.abs(set.properties.createdOn!.getTime() - expected)).toBeLessThan(5000);
    expect(set.properties.createdOn!.getTime() - Date.now()).toBeGreaterThan(399 * DAY_MS);
  });

  it("reports SecretNotFound as RestError code and status", async () => {
    await expect(client("kv-main").getSecret("does-not-exist")).rejects.toMatchObject({
      statusCode: 404,
      code: "SecretNotFound",
    });
    await expect(client("kv-main").getSecret("db-password", { version: "0".repeat(32) })).rejects.toMatchObject({
      statusCode: 404,
      code: "SecretNotFound",
    });
  });

  it("rejects invalid names with 400 BadParameter", async () => {
    await expect(client("kv-main").setSecret("bad_name", "x")).rejects.toMatchObject({ statusCode: 400, code: "BadParameter" });
  });

  it("updates properties of a version; a disabled version answers 403 Forbidden", async () => {
    const secrets = client("kv-main");
    const v1 = await secrets.setSecret("toggle", "one");
    const v2 = await secrets.setSecret("toggle", "two");
    const updated = await secrets.updateSecretProperties("toggle", v2.properties.version!, {
      enabled: false,
      tags: { Owner: "payments-oncall@contoso.com" },
      contentType: "application/x-password",
    });
    expect(updated.enabled).toBe(false);
    expect(updated.tags).toEqual({ Owner: "payments-oncall@contoso.com" });
    expect(updated.contentType).toBe("application/x-password");

    await expect(secrets.getSecret("toggle")).rejects.toMatchObject({ statusCode: 403, code: "Forbidden" });
    await expect(secrets.getSecret("toggle", { version: v2.properties.version! })).rejects.toThrow(
      "Operation get is not allowed on a disabled secret.",
    );
    expect((await secrets.getSecret("toggle", { version: v1.properties.version! })).value).toBe("one");

    const versions: string[] = [];
    for await (const p of secrets.listPropertiesOfSecretVersions("toggle")) versions.push(`${p.version}:${p.enabled}`);
    // Listed by version id, as the service lists them (see test/conformance/).
    expect(versions).toEqual([`${v1.properties.version}:true`, `${v2.properties.version}:false`].sort());
  });

  it("deletes softly, recovers, refuses the name while deleted, purges", async () => {
    const secrets = client("kv-main");
    const set = await secrets.setSecret("doomed", "keep-me", { tags: { a: "b" } });

    const deletePoller = await secrets.beginDeleteSecret("doomed", { intervalInMs: 10 });
    const deleted = await deletePoller.pollUntilDone();
    expect(deleted.properties.recoveryId).toBe(`${emulator.url("kv-main")}/deletedsecrets/doomed`);
    expect(deleted.properties.deletedOn).toBeInstanceOf(Date);
    expect(deleted.properties.scheduledPurgeDate!.getTime() - deleted.properties.deletedOn!.getTime()).toBe(90 * DAY_MS);
    expect(deleted.value).toBeUndefined();

    const fetched = await secrets.getDeletedSecret("doomed");
    expect(fetched.properties.id).toBe(set.properties.id);
    expect(fetched.properties.tags).toEqual({ a: "b" });
    await expect(secrets.getSecret("doomed")).rejects.toMatchObject({ statusCode: 404, code: "SecretNotFound" });

    const conflict = secrets.setSecret("doomed", "again");
    await expect(conflict).rejects.toMatchObject({ statusCode: 409, code: "Conflict" });
    await expect(conflict).rejects.toThrow("is currently in a deleted but recoverable state");

    const names: string[] = [];
    for await (const d of secrets.listDeletedSecrets()) names.push(d.name);
    expect(names).toContain("doomed");

    const recoverPoller = await secrets.beginRecoverDeletedSecret("doomed", { intervalInMs: 10 });
    const recovered = await recoverPoller.pollUntilDone();
    expect(recovered.id).toBe(set.properties.id);
    expect((await secrets.getSecret("doomed")).value).toBe("keep-me");

    await (await secrets.beginDeleteSecret("doomed", { intervalInMs: 10 })).pollUntilDone();
    await secrets.purgeDeletedSecret("doomed");
    await expect(secrets.getDeletedSecret("doomed")).rejects.toMatchObject({ statusCode: 404, code: "SecretNotFound" });
    expect((await secrets.setSecret("doomed", "reborn")).value).toBe("reborn");
  });

  it("keeps vaults apart", async () => {
    await client("kv-main").setSecret("only-in-main", "x");
    expect(emulator.url("kv-main")).not.toBe(emulator.url("kv-list"));
    await expect(client("kv-list").getSecret("only-in-main")).rejects.toMatchObject({ statusCode: 404 });
    expect(() => emulator.url("nope")).toThrow(/Unknown vault/);
  });
});

describe("paging", () => {
  it("lists more than 25 secrets over nextLink pages, without values", async () => {
    for (let i = 0; i < 31; i++) emulator.seedSecret("kv-list", `app-secret-${String(i).padStart(2, "0")}`, `value-${i}`);
    emulator.resetStats();
    const names: string[] = [];
    for await (const p of client("kv-list").listPropertiesOfSecrets()) {
      names.push(p.name);
      expect(p).not.toHaveProperty("value");
    }
    expect(names).toHaveLength(31);
    expect(new Set(names).size).toBe(31);
    expect(emulator.stats()["kv-list"]!.GetSecrets).toBe(2);

    // The wire: 25 items with base ids and no value, an absolute nextLink with api-version.
    const first = await raw(`${emulator.url("kv-list")}/secrets?api-version=2025-07-01`, { headers: AUTH });
    expect(first.json.value).toHaveLength(25);
    for (const item of first.json.value) {
      expect(item).not.toHaveProperty("value");
      expect(item.id).toMatch(new RegExp(`^${emulator.url("kv-list")}/secrets/app-secret-\\d\\d$`));
    }
    const nextLink: string = first.json.nextLink;
    expect(nextLink.startsWith(`${emulator.url("kv-list")}/secrets?api-version=2025-07-01&$skiptoken=`)).toBe(true);
    const second = await raw(nextLink, { headers: AUTH });
    expect(second.json.value).toHaveLength(6);
    expect(second.json.nextLink).toBeNull();

    const small = await raw(`${emulator.url("kv-list")}/secrets?api-version=2025-07-01&maxresults=30`, { headers: AUTH });
    expect(small.status).toBe(400);
  });

  it("cuts each page after the last name served, as names come and go between pages; a name being recovered is left out until it is readable", async () => {
    const own = await startKeyVaultEmulator({ vaults: ["kv-pages"], tls: emulator.tls, scanIntervalMs: 3_600_000 });
    try {
      const url = own.url("kv-pages");
      for (const n of ["b", "d", "f", "h", "j", "l"]) own.seedSecret("kv-pages", `page-${n}`, "v");
      const names = (body: any) => (body.value as Array<{ id: string }>).map((i) => i.id.slice(`${url}/secrets/`.length));
      const first = await raw(`${url}/secrets?api-version=2025-07-01&maxresults=2`, { headers: AUTH });
      expect(names(first.json)).toEqual(["page-b", "page-d"]);
      // Between pages: a name before the marker, one after it, and one already served go or come.
      own.seedSecret("kv-pages", "page-a", "v");
      own.seedSecret("kv-pages", "page-e", "v");
      expect((await raw(`${url}/secrets/page-d?api-version=2025-07-01`, { method: "DELETE", headers: AUTH })).status).toBe(200);
      expect((await raw(`${url}/secrets/page-h?api-version=2025-07-01`, { method: "DELETE", headers: AUTH })).status).toBe(200);
      // A recover that has not settled hides the name from reads, the list included.
      own.setSettleMs(2_000);
      expect((await raw(`${url}/deletedsecrets/page-h/recover?api-version=2025-07-01`, { method: "POST", headers: AUTH })).status).toBe(200);
      const second = await raw(first.json.nextLink, { headers: AUTH });
      expect(names(second.json)).toEqual(["page-e", "page-f"]);
      expect(second.json.nextLink).toMatch(/&maxresults=2$/);
      const third = await raw(second.json.nextLink, { headers: AUTH });
      expect(names(third.json)).toEqual(["page-j", "page-l"]);
      expect(third.json.nextLink).toBeNull();
      own.setSettleMs(0);
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      const all = await raw(`${url}/secrets?api-version=2025-07-01`, { headers: AUTH });
      expect(names(all.json)).toEqual(["page-a", "page-b", "page-e", "page-f", "page-h", "page-j", "page-l"]);
    } finally {
      await own.stop();
    }
  });

  it("lists more than 25 versions of a secret", async () => {
    const versions = new Set<string>();
    for (let i = 0; i < 27; i++) versions.add(emulator.seedSecret("kv-list", "many-versions", `v${i}`).version);
    emulator.resetStats();
    const listed: string[] = [];
    for await (const p of client("kv-list").listPropertiesOfSecretVersions("many-versions")) {
      listed.push(p.version!);
      expect(p).not.toHaveProperty("value");
    }
    expect(listed).toHaveLength(27);
    expect(new Set(listed)).toEqual(versions);
    expect(emulator.stats()["kv-list"]!.GetSecretVersions).toBe(2);
  });
});

describe("fault injection", () => {
  it("a 429 with Retry-After is retried by the SDK and succeeds", async () => {
    const secrets = client("kv-faults");
    await secrets.setSecret("flaky", "v");
    emulator.resetStats();
    const remove = emulator.faults.add({
      match: { vault: "kv-faults", operation: "GetSecret" },
      status: 429,
      retryAfterSeconds: 1,
      times: 1,
    });
    const started = Date.now();
    const got = await secrets.getSecret("flaky");
    remove();
    expect(got.value).toBe("v");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(emulator.stats()["kv-faults"]!.GetSecret).toBe(2);
  });

  it("a 500 that happens once is retried", async () => {
    const secrets = client("kv-faults");
    emulator.resetStats();
    emulator.faults.add({ match: { vault: "kv-faults", method: "PUT", path: /^\/secrets\// }, status: 500, times: 1 });
    const set = await secrets.setSecret("flaky", "v2");
    expect(set.value).toBe("v2");
    expect(emulator.stats()["kv-faults"]!.SetSecret).toBe(2);
  });

  it("a dropped connection is retried, and latency is added", async () => {
    const secrets = client("kv-faults");
    emulator.resetStats();
    emulator.faults.add({ match: { vault: "kv-faults", operation: "GetSecret" }, drop: true, times: 1 });
    emulator.faults.add({ match: { vault: "kv-faults", operation: "GetSecret" }, latencyMs: 200, times: 1 });
    const started = Date.now();
    expect((await secrets.getSecret("flaky")).value).toBe("v2");
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(emulator.stats()["kv-faults"]!.GetSecret).toBe(2);
  });

  it("the throttle answers 429 Throttled past the secret CREATE limit, with Retry-After", async () => {
    const remove = emulator.faults.throttle({ perVault: { secretCreate: 3, other: 100 }, match: { vault: "kv-throttle" } });
    try {
      const secrets = client("kv-throttle", { maxRetries: 0 });
      for (let i = 0; i < 3; i++) await secrets.setSecret(`w${i}`, "x");
      await expect(secrets.setSecret("w3", "x")).rejects.toMatchObject({ statusCode: 429, code: "Throttled" });

      const rejected = await raw(`${emulator.url("kv-throttle")}/secrets/w4?api-version=2025-07-01`, {
        method: "PUT",
        headers: { ...AUTH, "content-type": "application/json" },
        body: JSON.stringify({ value: "x" }),
      });
      expect(rejected.status).toBe(429);
      expect(Number(rejected.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      expect(Number(rejected.headers["retry-after"])).toBeLessThanOrEqual(10);
      expect(rejected.json.error.code).toBe("Throttled");

      // Reads have their own budget.
      expect((await secrets.getSecret("w0")).value).toBe("x");
      // Other vaults are not affected.
      await client("kv-faults", { maxRetries: 0 }).setSecret("unthrottled", "x");
    } finally {
      remove();
    }
  });
});

describe("events", () => {
  it("validates an Event Grid schema endpoint and delivers SecretNewVersionCreated in the published shape", async () => {
    const endpoint = await receiver("EventGridSchema");
    const subscription = await emulator.subscribe({ vault: "kv-events", endpoint: endpoint.url, schema: "EventGridSchema" });

    expect(endpoint.validations).toHaveLength(1);
    const validation = endpoint.validations[0]!;
    expect(validation.headers["aeg-event-type"]).toBe("SubscriptionValidation");
    expect(validation.body).toHaveLength(1);
    expect(validation.body[0].eventType).toBe("Microsoft.EventGrid.SubscriptionValidationEvent");
    expect(validation.body[0].data.validationCode).toEqual(expect.any(String));
    expect(validation.body[0].data.validationUrl).toMatch(/^https:\/\//);

    const set = await client("kv-events").setSecret("storage-key", "secret-value", { expiresOn: new Date(emulator.clock.now().getTime() + 90 * DAY_MS) });
    const [event] = await waitFor("SecretNewVersionCreated", () => {
      const events = endpoint.eventsOf("Microsoft.KeyVault.SecretNewVersionCreated", "storage-key");
      return events.length > 0 && events;
    });
    expect(Object.keys(event).sort()).toEqual(["data", "dataVersion", "eventTime", "eventType", "id", "metadataVersion", "subject", "topic"]);
    expect(event.topic).toBe(
      "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/keyturn-local/providers/Microsoft.KeyVault/vaults/kv-events",
    );
    expect(event.dataVersion).toBe("1");
    expect(event.metadataVersion).toBe("1");
    expect(new Date(event.eventTime).toISOString()).toBe(event.eventTime);
    expect(Object.keys(event.data)).toEqual(["Id", "VaultName", "ObjectType", "ObjectName", "Version", "NBF", "EXP"]);
    expect(event.data).toEqual({
      Id: set.properties.id,
      VaultName: "kv-events",
      ObjectType: "Secret",
      ObjectName: "storage-key",
      Version: set.properties.version,
      NBF: null,
      EXP: String(set.properties.expiresOn!.getTime() / 1000),
    });
    expect(JSON.stringify(endpoint.notifications.map((n) => n.body))).not.toContain("secret-value");

    const delivery = endpoint.events().find((e) => e.event.id === event.id)!;
    expect(delivery.headers["aeg-event-type"]).toBe("Notification");
    expect(delivery.headers["aeg-subscription-name"]).toBe(subscription.id.toUpperCase());
    expect(delivery.headers["aeg-delivery-count"]).toBe("0");
    expect(delivery.headers["content-type"]).toBe("application/json; charset=utf-8");
    // The receiver records before it answers; the emulator records the attempt once the answer is in.
    const record = await waitFor("delivery record", () => emulator.deliveries.find((d) => d.eventId === event.id));
    expect(record).toMatchObject({ subscriptionId: subscription.id, eventType: "Microsoft.KeyVault.SecretNewVersionCreated", attempt: 1, status: 200 });
  });

  it("validates a CloudEvents endpoint over HTTPS with the OPTIONS handshake and posts single events", async () => {
    const endpoint = await receiver("CloudEventSchemaV1_0", { https: true });
    await emulator.subscribe({ vault: "kv-cloud", endpoint: endpoint.url, schema: "CloudEventSchemaV1_0" });
    expect(endpoint.validations).toHaveLength(1);
    expect(endpoint.validations[0]!.headers["webhook-request-origin"]).toBe("eventgrid.azure.net");

    const { version } = emulator.seedSecret("kv-cloud", "sql-admin", "pw", { notBefore: new Date(1_700_000_000_000) });
    const [event] = await waitFor("CloudEvent", () => {
      const events = endpoint.eventsOf("Microsoft.KeyVault.SecretNewVersionCreated", "sql-admin");
      return events.length > 0 && events;
    });
    expect(Object.keys(event).sort()).toEqual(["data", "id", "source", "specversion", "subject", "time", "type"]);
    expect(event.specversion).toBe("1.0");
    expect(event.source).toBe(
      "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/keyturn-local/providers/Microsoft.KeyVault/vaults/kv-cloud",
    );
    expect(event.data).toMatchObject({ Version: version, ObjectName: "sql-admin", NBF: "1700000000", EXP: null });
    const headers = endpoint.notifications[0]!.headers;
    expect(headers["content-type"]).toBe("application/cloudevents+json; charset=utf-8");
    expect(Array.isArray(endpoint.notifications[0]!.body)).toBe(false);
  });

  it("accepts Event Grid's manual handshake (GET of validationUrl)", async () => {
    const endpoint = await receiver("EventGridSchema", { validation: "manual" });
    const subscription = await emulator.subscribe({ vault: "kv-events", endpoint: endpoint.url, schema: "EventGridSchema" });
    expect(subscription.id).toMatch(/^keyturn-kv-events-/);
    subscription.unsubscribe();
  });

  it("rejects subscribe when the endpoint fails the handshake", async () => {
    const refusing = await receiver("EventGridSchema", { validation: "refuse" });
    await expect(emulator.subscribe({ vault: "kv-events", endpoint: refusing.url, schema: "EventGridSchema" })).rejects.toThrow(
      /validation handshake .* HTTP 403/,
    );
    const refusingCe = await receiver("CloudEventSchemaV1_0", { validation: "refuse" });
    await expect(
      emulator.subscribe({ vault: "kv-events", endpoint: refusingCe.url, schema: "CloudEventSchemaV1_0" }),
    ).rejects.toThrow(/WebHook-Allowed-Origin/);
    await expect(
      emulator.subscribe({ vault: "kv-events", endpoint: "http://127.0.0.1:1/nothing", schema: "EventGridSchema" }),
    ).rejects.toThrow(/validation handshake/);
  });

  it("sends SecretNearExpiry once within the lead time, and SecretExpired past exp", async () => {
    const endpoint = await receiver("EventGridSchema");
    await emulator.subscribe({
      vault: "kv-events",
      endpoint: endpoint.url,
      schema: "EventGridSchema",
      eventTypes: ["Microsoft.KeyVault.SecretNearExpiry", "Microsoft.KeyVault.SecretExpired"],
    });
    const exp = new Date(emulator.clock.now().getTime() + 10 * DAY_MS);
    const { version } = emulator.seedSecret("kv-events", "expiring", "v", { expiresOn: exp });

    await emulator.clock.advance(0);
    const near = endpoint.eventsOf("Microsoft.KeyVault.SecretNearExpiry", "expiring");
    expect(near).toHaveLength(1);
    expect(near[0].data).toMatchObject({ Version: version, EXP: String(Math.floor(exp.getTime() / 1000)) });

    await emulator.clock.advance(DAY_MS);
    await sleep(250); // a periodic scan runs in between too
    expect(endpoint.eventsOf("Microsoft.KeyVault.SecretNearExpiry", "expiring")).toHaveLength(1);
    expect(endpoint.eventsOf("Microsoft.KeyVault.SecretExpired", "expiring")).toHaveLength(0);

    await emulator.clock.advance(10 * DAY_MS);
    expect(endpoint.eventsOf("Microsoft.KeyVault.SecretExpired", "expiring")).toHaveLength(1);
    await emulator.clock.advance(DAY_MS);
    expect(endpoint.eventsOf("Microsoft.KeyVault.SecretExpired", "expiring")).toHaveLength(1);
    expect(endpoint.eventsOf("Microsoft.KeyVault.SecretNearExpiry", "expiring")).toHaveLength(1);
    // The subscription's filter kept SecretNewVersionCreated out.
    expect(endpoint.events().every((e) => e.event.eventType !== "Microsoft.KeyVault.SecretNewVersionCreated")).toBe(true);
  });

  it("a new version that is not near expiry gets no near-expiry event, and supersedes the old one", async () => {
    const endpoint = await receiver("EventGridSchema");
    await emulator.subscribe({ vault: "kv-events", endpoint: endpoint.url, schema: "EventGridSchema" });
    const now = emulator.clock.now().getTime();
    emulator.seedSecret("kv-events", "rotated", "old", { expiresOn: new Date(now + 5 * DAY_MS) });
    await emulator.clock.advance(0);
    expect(endpoint.eventsOf("Microsoft.KeyVault.SecretNearExpiry", "rotated")).toHaveLength(1);

    // The rotation: a new version valid for 90 days.
    const fresh = await client("kv-events").setSecret("rotated", "new", { expiresOn: new Date(now + 90 * DAY_MS) });
    await waitFor("new version event", () => endpoint.eventsOf("Microsoft.KeyVault.SecretNewVersionCreated", "rotated").length === 2);
    // Past the old version's exp, but far from the new one's.
    await emulator.clock.advance(10 * DAY_MS);
    await sleep(250);
    expect(endpoint.eventsOf("Microsoft.KeyVault.SecretNearExpiry", "rotated")).toHaveLength(1);
    expect(endpoint.eventsOf("Microsoft.KeyVault.SecretExpired", "rotated")).toHaveLength(0);

    // Far from expiry from the start: nothing but the creation event.
    emulator.seedSecret("kv-events", "long-lived", "v", { expiresOn: new Date(emulator.clock.now().getTime() + 60 * DAY_MS) });
    await emulator.clock.advance(0);
    await sleep(250);
    expect(endpoint.eventsOf("Microsoft.KeyVault.SecretNearExpiry", "long-lived")).toHaveLength(0);
    expect(endpoint.eventsOf("Microsoft.KeyVault.SecretNewVersionCreated", "long-lived")).toHaveLength(1);

    // The new version's own turn comes 30 days before its exp.
    await emulator.clock.advance(55 * DAY_MS);
    const near = endpoint.eventsOf("Microsoft.KeyVault.SecretNearExpiry", "rotated");
    expect(near).toHaveLength(2);
    expect(near[1].data.Version).toBe(fresh.properties.version);
  });

  it("redelivers after a 500 (delivery count 2) and drops after the last retry", async () => {
    const endpoint = await receiver("EventGridSchema");
    const subscription = await emulator.subscribe({ vault: "kv-retry", endpoint: endpoint.url, schema: "EventGridSchema" });
    endpoint.failNext = 1;
    emulator.seedSecret("kv-retry", "once-failed", "v");
    const [event] = await waitFor("redelivered event", () => {
      const events = endpoint.eventsOf("Microsoft.KeyVault.SecretNewVersionCreated", "once-failed");
      return events.length > 0 && events;
    });
    await waitFor("second attempt recorded", () => emulator.deliveries.some((d) => d.eventId === event.id && d.attempt === 2));
    const attempts = emulator.deliveries.filter((d) => d.eventId === event.id);
    expect(attempts.map((d) => [d.attempt, d.status])).toEqual([
      [1, 500],
      [2, 200],
    ]);
    expect(endpoint.events().find((e) => e.event.id === event.id)!.headers["aeg-delivery-count"]).toBe("1");
    expect(endpoint.eventsOf("Microsoft.KeyVault.SecretNewVersionCreated", "once-failed")).toHaveLength(1);

    endpoint.alwaysFail = true;
    emulator.seedSecret("kv-retry", "never-delivered", "v");
    const last = await waitFor("dropped event", () =>
      emulator.deliveries.find((d) => d.subscriptionId === subscription.id && d.subject === "never-delivered" && d.dropped),
    );
    // One attempt plus one per retry delay ([100, 200, 300]).
    expect(last.attempt).toBe(4);
    expect(emulator.deliveries.filter((d) => d.subject === "never-delivered").map((d) => d.status)).toEqual([500, 500, 500, 500]);

    // Like Event Grid, a 400 from a webhook is final: no retry.
    endpoint.failStatus = 400;
    emulator.seedSecret("kv-retry", "bad-request", "v");
    const only = await waitFor("400 attempt", () => emulator.deliveries.find((d) => d.subject === "bad-request"));
    expect(only).toMatchObject({ attempt: 1, status: 400, dropped: true });
    await sleep(250);
    expect(emulator.deliveries.filter((d) => d.subject === "bad-request")).toHaveLength(1);
  });
});

describe("lifecycle", () => {
  it("stop() cancels pending retries and closes the servers", async () => {
    const own = await startKeyVaultEmulator({ vaults: ["kv-short"], deliveryRetryDelaysMs: [5000], tls: emulator.tls });
    const endpoint = await receiver("EventGridSchema");
    endpoint.alwaysFail = true;
    await own.subscribe({ vault: "kv-short", endpoint: endpoint.url, schema: "EventGridSchema" });
    own.seedSecret("kv-short", "pending", "v");
    await waitFor("first attempt", () => own.deliveries.length === 1);
    const url = own.url("kv-short");

    const started = Date.now();
    await own.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(raw(`${url}/secrets?api-version=2025-07-01`)).rejects.toThrow();
    expect(own.deliveries).toHaveLength(1);
  });
});
