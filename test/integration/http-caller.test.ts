// A manual rotation names its caller. Behind App Service Authentication
// (KEYTURN_REQUIRE_APP_ROLES=true with WEBSITE_AUTH_ENABLED=True, as App Service sets it),
// the principal name and object id the platform passes (x-ms-client-principal-name / -id,
// App Service Authentication's documented request headers) reach the "manual rotation
// requested" log line, every engine log line of that rotation, the journal's tags
// (single-credential kinds) and the notification. With function keys alone, the same
// headers are anyone's to write, so none of them is recorded. (generated-secret writes no
// journal; the journal's origin is checked with an in-process kind that journals.) The route table's handler
// runs in this process, as the Functions host runs it (the local host refuses app roles:
// nothing authenticates callers in front of it).
import azureFunctions from "@azure/functions";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AppRole, encodeClientPrincipal } from "../../core/auth.js";
import { JournalTag, journalName } from "../../core/journal.js";
import { setDefaultLogSink } from "../../core/log.js";
import { NotificationType, describeNotification } from "../../core/notify.js";
import { resetRuntime } from "../../app/runtime.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { invokeHttpRoute, routes, type HttpRoute } from "../../functions/routes.js";
import { testEngine } from "../support/engine.js";
import { emulatorSettings, secretClientFor } from "../support/keyvault.js";
import { journalingRegistry } from "../support/memory-rotator.js";
import { TriggerKind } from "../../core/engine.js";

const { HttpRequest, InvocationContext } = azureFunctions;
const VAULT = "caller-kv";
const NAME = "oncall.engineer@contoso.com";
const OID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
const SETTINGS = ["KEYTURN_VAULTS", "KEYTURN_CREDENTIAL", "KEYTURN_TLS_CA_FILE", "KEYTURN_ROTATION_GUARD_MINUTES", "KEYTURN_REQUIRE_APP_ROLES", "WEBSITE_AUTH_ENABLED", "AzureWebJobsStorage", "KEYTURN_NOTIFY_TOPIC_ENDPOINT"];

let kv: KeyVaultEmulator;
const saved: Record<string, string | undefined> = {};
const logs: string[] = [];

beforeAll(async () => {
  kv = await startKeyVaultEmulator({ vaults: [VAULT] });
  for (const k of SETTINGS) saved[k] = process.env[k];
  Object.assign(process.env, emulatorSettings(kv, VAULT));
  delete process.env.AzureWebJobsStorage;
  delete process.env.KEYTURN_NOTIFY_TOPIC_ENDPOINT;
  setDefaultLogSink((_level, line) => logs.push(line));
});

afterEach(() => resetRuntime());

afterAll(async () => {
  setDefaultLogSink(undefined);
  for (const k of SETTINGS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  resetRuntime();
  await kv?.stop();
});

function behindAppServiceAuthentication(on: boolean): void {
  if (on) Object.assign(process.env, { KEYTURN_REQUIRE_APP_ROLES: "true", WEBSITE_AUTH_ENABLED: "True" });
  else {
    process.env.KEYTURN_REQUIRE_APP_ROLES = "false";
    delete process.env.WEBSITE_AUTH_ENABLED;
  }
  resetRuntime();
}

function rotate(secret: string) {
  const route = routes.find((r): r is HttpRoute => r.name === "rotateSecret" && r.trigger === "http")!;
  return invokeHttpRoute(
    route,
    new HttpRequest({
      method: "POST",
      url: `http://localhost/api/vaults/${VAULT}/secrets/${secret}/rotate`,
      headers: {
        "content-type": "application/json",
        "x-ms-client-principal": encodeClientPrincipal([AppRole.Operator]),
        "x-ms-client-principal-name": NAME,
        "x-ms-client-principal-id": OID,
        "x-ms-client-principal-idp": "aad",
      },
      params: { vault: VAULT, name: secret },
      body: { string: JSON.stringify({ reason: "INC-42: caller test", mode: "normal" }) },
    }),
    // The invocation's own log, as the Functions host collects it.
    new InvocationContext({ invocationId: `caller-${secret}`, functionName: "rotateSecret", logHandler: (_level, ...args) => logs.push(args.map(String).join(" ")) }),
  );
}

const seed = (name: string) => kv.seedSecret(VAULT, name, `caller-initial-${name}`, { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "team@contoso.com" } });
const linesAbout = (secret: string) =>
  logs
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.secret === secret);

describe("the caller of a manual rotation", () => {
  it("is in the request's log line, the engine's log, the journal's origin and the notification when App Service Authentication vouches for it", async () => {
    behindAppServiceAuthentication(true);
    seed("caller-audited");
    const res = await rotate("caller-audited");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const lines = linesAbout("caller-audited");
    expect(lines.find((l) => l.message === "manual rotation requested")).toMatchObject({ callerName: NAME, callerId: OID });
    // Every engine line of that rotation carries the caller too.
    const engineLines = lines.filter((l) => l.trigger === "http");
    expect(engineLines.length).toBeGreaterThan(0);
    for (const l of engineLines) expect(l).toMatchObject({ callerName: NAME, callerId: OID });
    // The notification (the log channel: no topic configured); the topic's CloudEvent
    // carries the same fields, and webhook and e-mail text says "requested by".
    expect(lines.find((l) => l.message === "notification keyturn.SecretRotated")).toMatchObject({ callerName: NAME, callerId: OID });
    // generated-secret changes no provider and writes no journal; the journal's origin is
    // checked below with a kind that journals.
    await expect(secretClientFor(kv, VAULT).getSecret(journalName("caller-audited"))).rejects.toMatchObject({ statusCode: 404 });
  });

  it("is named in the notification's text (webhook, e-mail)", () => {
    const { text } = describeNotification({
      type: NotificationType.SecretRotated,
      vault: VAULT,
      vaultUrl: "https://caller-kv.vault.azure.net",
      secret: "caller-audited",
      version: "v2",
      trigger: "http",
      triggerId: "i-1",
      callerName: NAME,
      callerId: OID,
      mode: "normal",
    });
    expect(text).toContain(`requested by ${NAME} (${OID})`);
  });

  it("is not recorded from headers a function-key caller could have written (no App Service Authentication)", async () => {
    behindAppServiceAuthentication(false);
    seed("caller-forged");
    const res = await rotate("caller-forged");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const text = JSON.stringify(linesAbout("caller-forged"));
    expect(text).toContain("manual rotation requested");
    expect(text).not.toContain(NAME);
    expect(text).not.toContain(OID);
  });

  // The engine receives the caller the HTTP route vouched for (above) or none (forged
  // headers); a kind that changes a provider writes it into the journal's origin.
  it.each([
    ["with App Service Authentication", "journal-audited", { name: NAME, objectId: OID }],
    ["with forged headers (no caller)", "journal-forged", undefined],
  ] as const)("is in the journal's origin %s", async (_case, secret, caller) => {
    const seeded = kv.seedSecret(VAULT, secret, `caller-initial-${secret}`, { tags: { Rotator: "memory-password", ValidityPeriodDays: "60" } });
    const { engine } = testEngine(kv, { registry: journalingRegistry });
    const trigger = { kind: TriggerKind.Http, id: `caller-${secret}`, ...(caller ? { caller } : {}) };
    const result = await engine.rotateSecret({ vault: { name: VAULT, url: kv.url(VAULT) }, secret, expectedVersion: seeded.version, mode: "normal", trigger });
    expect(result.status).toBe("rotated");
    const journal = await secretClientFor(kv, VAULT).getSecret(journalName(secret));
    expect(journal.properties.tags?.[JournalTag.Trigger]).toBe("http");
    if (caller) expect(journal.properties.tags).toMatchObject({ [JournalTag.CallerName]: NAME, [JournalTag.CallerId]: OID });
    else expect(journal.properties.tags?.[JournalTag.CallerName]).toBeUndefined();
  });
});
