// The bad-request corpus: more than 50 malformed, malicious or unauthorised requests to
// the HTTP API, sent byte for byte (node:http, so that `..`, `%2F` and `%00` reach the
// host unnormalised) to the local host with a function key. (App roles need App Service
// Authentication in front, which the local host refuses to pretend: test/integration/
// http-trust.test.ts checks them through the route table.)
// Each gets a clear 4xx application/problem+json answer, and afterwards every secret
// in the vault (and every journal) has exactly the versions it had before.
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppRole, encodeClientPrincipal } from "../../core/auth.js";
import { setDefaultLogSink } from "../../core/log.js";
import { resetRuntime } from "../../app/runtime.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { startLocalHost, type LocalHost } from "../../local/host.js";
import { emulatorSettings, secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "corpus-kv";
const KEY = "corpus-function-key-0123456789";
const operator = encodeClientPrincipal([AppRole.Operator]);
const reader = encodeClientPrincipal([AppRole.Reader]);
const DAY = 86_400_000;

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly body?: string | Buffer;
  /** Replaces the default headers (content-type json, the key, an Operator principal) when given. */
  readonly headers?: Record<string, string | undefined>;
  readonly status: number;
  readonly detail?: RegExp;
  readonly allow?: string;
}

const R = `/api/vaults/${VAULT}/secrets/api-key/rotate`;
const S = `/api/vaults/${VAULT}/secrets/api-key`;
const D = `/api/vaults/${VAULT}/due`;
const body = (v: unknown) => JSON.stringify(v);
const ok = { reason: "corpus" };

const corpus: Case[] = [
  // -- wrong types and values in the body
  { name: "unknown mode", method: "POST", path: R, body: body({ reason: "x", mode: "sideways" }), status: 400, detail: /mode/ },
  { name: "empty mode", method: "POST", path: R, body: body({ reason: "x", mode: "" }), status: 400, detail: /mode/ },
  { name: "null mode", method: "POST", path: R, body: body({ reason: "x", mode: null }), status: 400, detail: /mode/ },
  { name: "numeric mode", method: "POST", path: R, body: body({ reason: "x", mode: 1 }), status: 400, detail: /mode/ },
  { name: "mode in an array", method: "POST", path: R, body: body({ reason: "x", mode: ["normal"] }), status: 400, detail: /mode/ },
  { name: "mode in capitals", method: "POST", path: R, body: body({ reason: "x", mode: "EMERGENCY" }), status: 400, detail: /mode/ },
  { name: "mode with underscore", method: "POST", path: R, body: body({ reason: "x", mode: "dry_run" }), status: 400, detail: /mode/ },
  { name: "no reason", method: "POST", path: R, body: body({ mode: "normal" }), status: 400, detail: /reason/ },
  { name: "empty reason", method: "POST", path: R, body: body({ reason: "" }), status: 400, detail: /reason/ },
  { name: "blank reason", method: "POST", path: R, body: body({ reason: "   " }), status: 400, detail: /reason/ },
  { name: "numeric reason", method: "POST", path: R, body: body({ reason: 42 }), status: 400, detail: /reason/ },
  { name: "object reason", method: "POST", path: R, body: body({ reason: {} }), status: 400, detail: /reason/ },
  { name: "reason of 501 characters", method: "POST", path: R, body: body({ reason: "r".repeat(501) }), status: 400, detail: /longer than 500/ },
  { name: "NUL in the reason", method: "POST", path: R, body: body({ reason: "leak\u0000drill" }), status: 400, detail: /control characters/ },
  { name: "newline in the reason", method: "POST", path: R, body: body({ reason: "leak\nFAKE LOG LINE" }), status: 400, detail: /control characters/ },
  { name: "unknown field", method: "POST", path: R, body: body({ reason: "x", force: true }), status: 400, detail: /force/ },
  { name: "__proto__ member", method: "POST", path: R, body: '{"reason":"x","__proto__":{"mode":"emergency"}}', status: 400 },
  { name: "duplicate key, last one wrong", method: "POST", path: R, body: '{"reason":"x","reason":1}', status: 400, detail: /reason/ },
  { name: "array body", method: "POST", path: R, body: "[]", status: 400, detail: /JSON object/ },
  { name: "string body", method: "POST", path: R, body: '"rotate please"', status: 400, detail: /JSON object/ },
  { name: "null body", method: "POST", path: R, body: "null", status: 400, detail: /JSON object/ },
  { name: "number body", method: "POST", path: R, body: "42", status: 400, detail: /JSON object/ },
  { name: "broken JSON", method: "POST", path: R, body: "{{", status: 400, detail: /not valid JSON/ },
  { name: "empty body", method: "POST", path: R, body: "", status: 400, detail: /not valid JSON/ },
  { name: "17 KB body", method: "POST", path: R, body: body({ reason: "x", pad: "p".repeat(17 * 1024) }), status: 413, detail: /larger than 16384/ },
  { name: "900 KB body", method: "POST", path: R, body: body({ reason: "x", pad: "p".repeat(900 * 1024) }), status: 413, detail: /larger than 16384/ },
  { name: "17 KB body, no content-length", method: "POST", path: R, body: body({ reason: "x", pad: "p".repeat(17 * 1024) }), headers: { "transfer-encoding": "chunked" }, status: 413 },
  { name: "journal status", method: "GET", path: `/api/vaults/${VAULT}/secrets/keyturn-journal-api-key`, status: 400, detail: /journal/ },
  { name: "journal in capitals", method: "POST", path: `/api/vaults/${VAULT}/secrets/KEYTURN-JOURNAL-api-key/rotate`, body: body(ok), status: 400, detail: /journal/ },
  { name: "undecodable admin path", method: "POST", path: "/admin/functions/%zz", status: 400, detail: /percent-encoding/ },
  { name: "undecodable webhook path", method: "POST", path: "/runtime/webhooks/%zz", status: 400, detail: /percent-encoding/ },
  { name: "2 MB body", method: "POST", path: R, body: Buffer.alloc(2 * 1024 * 1024, 0x20), status: 413, detail: /larger than/ },
  // -- wrong content types
  { name: "text/plain", method: "POST", path: R, body: body(ok), headers: { "content-type": "text/plain" }, status: 400, detail: /content-type/ },
  { name: "no content type", method: "POST", path: R, body: body(ok), headers: { "content-type": undefined }, status: 400, detail: /content-type/ },
  { name: "application/xml", method: "POST", path: R, body: "<reason>x</reason>", headers: { "content-type": "application/xml" }, status: 400, detail: /content-type/ },
  { name: "form-encoded", method: "POST", path: R, body: "reason=x&mode=emergency", headers: { "content-type": "application/x-www-form-urlencoded" }, status: 400, detail: /content-type/ },
  { name: "application/jsonp", method: "POST", path: R, body: body(ok), headers: { "content-type": "application/jsonp" }, status: 400, detail: /content-type/ },
  // -- path tricks
  { name: "raw dot-dot segment", method: "POST", path: `/api/vaults/${VAULT}/secrets/../secrets/api-key/rotate`, body: body(ok), status: 400, detail: /'\.\.'/ },
  { name: "encoded dot-dot segment", method: "POST", path: `/api/vaults/${VAULT}/secrets/%2e%2e/rotate`, body: body(ok), status: 400, detail: /'\.\.'/ },
  { name: "single dot segment", method: "GET", path: `/api/vaults/${VAULT}/./secrets/api-key`, status: 400, detail: /'\.'/ },
  { name: "%2F inside the secret name", method: "GET", path: `/api/vaults/${VAULT}/secrets/api-key%2Frotate`, status: 400, detail: /secret name/ },
  { name: "%2F inside the vault name", method: "POST", path: `/api/vaults/${VAULT}%2Fx/secrets/api-key/rotate`, body: body(ok), status: 400, detail: /not a vault name/ },
  { name: "encoded NUL in the secret name", method: "POST", path: `/api/vaults/${VAULT}/secrets/api-key%00/rotate`, body: body(ok), status: 400, detail: /secret name/ },
  { name: "encoded NUL in the vault name", method: "GET", path: `/api/vaults/${VAULT}%00/secrets/api-key`, status: 400, detail: /not a vault name/ },
  { name: "128-character secret name", method: "POST", path: `/api/vaults/${VAULT}/secrets/${"a".repeat(128)}/rotate`, body: body(ok), status: 400, detail: /secret name/ },
  { name: "4000-character secret name", method: "GET", path: `/api/vaults/${VAULT}/secrets/${"a".repeat(4000)}`, status: 400, detail: /secret name/ },
  { name: "64-character vault name", method: "GET", path: `/api/vaults/${"v".repeat(64)}/secrets/api-key`, status: 400, detail: /not a vault name/ },
  { name: "underscore in the secret name", method: "POST", path: `/api/vaults/${VAULT}/secrets/api_key/rotate`, body: body(ok), status: 400, detail: /secret name/ },
  { name: "non-ASCII secret name", method: "POST", path: `/api/vaults/${VAULT}/secrets/%C3%A4pi-key/rotate`, body: body(ok), status: 400, detail: /secret name/ },
  { name: "invalid percent-encoding", method: "GET", path: `/api/vaults/${VAULT}/secrets/%zz`, status: 400, detail: /percent-encoding/ },
  { name: "double-encoded dot-dot", method: "GET", path: `/api/vaults/${VAULT}/secrets/%252e%252e`, status: 400, detail: /secret name/ },
  { name: "a vault URL instead of a name", method: "POST", path: `/api/vaults/https%3A%2F%2Fevil.example/secrets/api-key/rotate`, body: body(ok), status: 400, detail: /not a vault name/ },
  { name: "a vault host name", method: "GET", path: `/api/vaults/${VAULT}.vault.azure.net/secrets/api-key`, status: 400, detail: /not a vault name/ },
  { name: "keyturn's own journal", method: "POST", path: `/api/vaults/${VAULT}/secrets/keyturn-journal-api-key/rotate`, body: body(ok), status: 400, detail: /journal/ },
  // -- unknown vaults and secrets, bad tags
  { name: "vault not on the allow-list", method: "POST", path: `/api/vaults/other-kv/secrets/api-key/rotate`, body: body(ok), status: 404, detail: /not on the allow-list/ },
  { name: "status in an unknown vault", method: "GET", path: `/api/vaults/other-kv/secrets/api-key`, status: 404, detail: /not on the allow-list/ },
  { name: "unknown secret", method: "POST", path: `/api/vaults/${VAULT}/secrets/no-such-secret/rotate`, body: body(ok), status: 404, detail: /not found/ },
  { name: "status of an unknown secret", method: "GET", path: `/api/vaults/${VAULT}/secrets/no-such-secret`, status: 404, detail: /not found/ },
  { name: "unmanaged secret", method: "POST", path: `/api/vaults/${VAULT}/secrets/unmanaged/rotate`, body: body(ok), status: 400, detail: /no rotation tags/ },
  { name: "secret with a bad tag", method: "POST", path: `/api/vaults/${VAULT}/secrets/bad-tags/rotate`, body: body(ok), status: 400, detail: /ValidityPeriodDays/ },
  { name: "unknown route under a vault", method: "GET", path: `/api/vaults/${VAULT}`, status: 404 },
  { name: "extra segment after rotate", method: "POST", path: `${R}/now`, body: body(ok), status: 404 },
  // -- wrong methods
  { name: "GET on rotate", method: "GET", path: R, status: 405, allow: "POST" },
  { name: "PUT on rotate", method: "PUT", path: R, body: body(ok), status: 405, allow: "POST" },
  { name: "DELETE on rotate", method: "DELETE", path: R, status: 405, allow: "POST" },
  { name: "PATCH on rotate", method: "PATCH", path: R, body: body(ok), status: 405, allow: "POST" },
  { name: "POST on status", method: "POST", path: S, body: body(ok), status: 405, allow: "GET" },
  { name: "DELETE on status", method: "DELETE", path: S, status: 405, allow: "GET" },
  { name: "POST on due", method: "POST", path: D, body: body(ok), status: 405, allow: "GET" },
  { name: "POST on health", method: "POST", path: "/api/health", body: "{}", status: 405, allow: "GET" },
  { name: "PUT on health", method: "PUT", path: "/api/health", status: 405, allow: "GET" },
  // -- bad windows
  { name: "within=abc", method: "GET", path: `${D}?within=abc`, status: 400, detail: /within/ },
  { name: "within=-1d", method: "GET", path: `${D}?within=-1d`, status: 400, detail: /within/ },
  { name: "within without a unit", method: "GET", path: `${D}?within=30`, status: 400, detail: /within/ },
  { name: "within=30x", method: "GET", path: `${D}?within=30x`, status: 400, detail: /within/ },
  { name: "within=1.5d", method: "GET", path: `${D}?within=1.5d`, status: 400, detail: /within/ },
  { name: "within=99999d", method: "GET", path: `${D}?within=99999d`, status: 400, detail: /at most 3650d/ },
  { name: "empty within", method: "GET", path: `${D}?within=`, status: 400, detail: /within/ },
  { name: "within twice", method: "GET", path: `${D}?within=30d&within=1d`, status: 400, detail: /once/ },
  { name: "due in an unknown vault", method: "GET", path: `/api/vaults/other-kv/due`, status: 404, detail: /not on the allow-list/ },
  { name: "due in a bad vault name", method: "GET", path: `/api/vaults/a_b/due`, status: 400, detail: /not a vault name/ },
  // -- function key and app roles
  { name: "no function key", method: "POST", path: R, body: body(ok), headers: { "x-functions-key": undefined }, status: 401, detail: /function key/ },
  { name: "wrong function key", method: "POST", path: R, body: body(ok), headers: { "x-functions-key": "nope" }, status: 401, detail: /function key/ },
  { name: "key in the wrong header", method: "GET", path: S, headers: { "x-functions-key": undefined, "x-function-key": KEY }, status: 401 },
  { name: "wrong key in the query", method: "GET", path: `${S}?code=${KEY}x`, headers: { "x-functions-key": undefined }, status: 401 },
];

function send(c: Case, baseUrl: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const defaults: Record<string, string | undefined> = { "content-type": "application/json", "x-functions-key": KEY, "x-ms-client-principal": operator };
  const merged = { ...defaults, ...c.headers };
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(merged)) if (v !== undefined) headers[k] = v;
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: c.method, path: c.path, headers }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(c.body);
  });
}

describe("the bad-request corpus changes nothing and is answered clearly", () => {
  let kv: KeyVaultEmulator;
  let host: LocalHost;
  const logs: string[] = [];
  const values: string[] = [];

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
    Object.assign(process.env, {
      ...emulatorSettings(kv, VAULT),
    });
    resetRuntime();
    setDefaultLogSink((_level, line) => logs.push(line));
    const seed = (name: string, tags: Record<string, string>) => {
      const value = `corpus-${name}-${Math.random().toString(36).slice(2)}-${Date.now()}`;
      values.push(value);
      kv.seedSecret(VAULT, name, value, { tags, expiresOn: new Date(Date.now() + 10 * DAY) });
    };
    seed("api-key", { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "corpus@contoso.com" });
    seed("unmanaged", {});
    seed("bad-tags", { Rotator: "generated-secret", ValidityPeriodDays: "10" });
    // A journal that must not be touched either.
    seed("keyturn-journal-api-key", { KeyturnJournalFor: "api-key", KeyturnJournalState: "committed", KeyturnSupersedes: "x", Rotator: "generated-secret" });
    host = await startLocalHost({ port: 0, functionKey: KEY });
  });

  afterAll(async () => {
    setDefaultLogSink(undefined);
    await host?.close();
    await kv?.stop();
  });

  it(`has at least 50 cases (${corpus.length})`, () => {
    expect(corpus.length).toBeGreaterThanOrEqual(50);
    expect(new Set(corpus.map((c) => c.name)).size).toBe(corpus.length);
  });

  it("answers each with a 4xx problem+json that says what is wrong, and no version changes", async () => {
    const client = secretClientFor(kv, VAULT);
    const names = ["api-key", "unmanaged", "bad-tags", "keyturn-journal-api-key"];
    const snapshot = async () => Object.fromEntries(await Promise.all(names.map(async (n) => [n, (await versionsOf(client, n)).map((v) => `${v.version}|${JSON.stringify(v.tags)}|${v.enabled}`).sort()] as const)));
    const before = await snapshot();
    const writesBefore = kv.stats()[VAULT]?.SetSecret ?? 0;
    const updatesBefore = kv.stats()[VAULT]?.UpdateSecret ?? 0;

    const failures: string[] = [];
    for (const c of corpus) {
      const res = await send(c, host.url);
      const where = `${c.name}: ${c.method} ${c.path.slice(0, 100)} → ${res.status} ${res.text.slice(0, 200)}`;
      if (res.status !== c.status) failures.push(`expected ${c.status}; ${where}`);
      if (res.status < 400 || res.status > 499) failures.push(`not a 4xx; ${where}`);
      if (res.headers["content-type"] !== "application/problem+json") failures.push(`content-type ${String(res.headers["content-type"])}; ${where}`);
      let problem: { status?: number; title?: string; detail?: string } = {};
      try {
        problem = JSON.parse(res.text) as typeof problem;
      } catch {
        failures.push(`body is not JSON; ${where}`);
      }
      if (problem.status !== res.status || !problem.title || !problem.detail) failures.push(`incomplete problem; ${where}`);
      if (c.detail && !c.detail.test(problem.detail ?? "")) failures.push(`detail does not match ${c.detail}; ${where}`);
      if (c.allow && res.headers.allow !== c.allow) failures.push(`Allow ${String(res.headers.allow)}; ${where}`);
      for (const v of values) if (res.text.includes(v)) failures.push(`value in the answer; ${where}`);
    }
    expect(failures).toEqual([]);

    expect(await snapshot()).toEqual(before);
    expect(kv.stats()[VAULT]?.SetSecret ?? 0).toBe(writesBefore);
    expect(kv.stats()[VAULT]?.UpdateSecret ?? 0).toBe(updatesBefore);
    for (const v of values) for (const l of logs) expect(l).not.toContain(v);
  });

  it("still serves the good requests it refused above, so the refusals were the request's fault", async () => {
    const status = await send({ name: "good status", method: "GET", path: `${S}?code=${KEY}`, headers: { "x-functions-key": undefined, "x-ms-client-principal": reader }, status: 200 }, host.url);
    expect(status.status).toBe(200);
    const due = await send({ name: "good due", method: "GET", path: `${D}?within=30d`, headers: { "x-ms-client-principal": reader }, status: 200 }, host.url);
    expect(due.status).toBe(200);
    expect(JSON.parse(due.text).due.map((d: { secret: string }) => d.secret)).toEqual(["api-key", "bad-tags"]);
    const health = await send({ name: "health", method: "GET", path: "/api/health", headers: { "x-functions-key": undefined, "x-ms-client-principal": undefined }, status: 200 }, host.url);
    expect(health.status).toBe(200);
  });
});
