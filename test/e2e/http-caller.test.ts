// A manual rotation names its caller: with App Service Authentication in front
// (KEYTURN_REQUIRE_APP_ROLES=true), the principal name and object id the platform passes
// (x-ms-client-principal-name / -id, as documented for App Service Authentication's
// request headers) reach the "manual rotation requested" log line, the engine's log
// lines, the journal's tags (single-credential kinds) and the notification. Without it
// (function keys alone) the same headers are anyone's to write, so none of them is
// recorded. The local host runs as a child process, as `npm start` runs it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppRole, encodeClientPrincipal } from "../../core/auth.js";
import { JournalTag, journalName } from "../../core/journal.js";
import { NotificationType, describeNotification } from "../../core/notify.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { eventually, startHostProcess, type HostProcess } from "../support/host.js";
import { secretClientFor } from "../support/keyvault.js";

const VAULT = "caller-kv";
const KEY = "e2e-caller-function-key-1a2b3c";
const NAME = "oncall.engineer@contoso.com";
const OID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

describe("the caller of a manual rotation", () => {
  let kv: KeyVaultEmulator;
  let withAuth: HostProcess;
  let keysOnly: HostProcess;

  const env = (requireRoles: boolean) => ({
    KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`,
    KEYTURN_CREDENTIAL: "local-emulator",
    KEYTURN_TLS_CA_FILE: kv.tls.caFile,
    KEYTURN_ROTATION_GUARD_MINUTES: "0",
    KEYTURN_LOCAL_FUNCTION_KEY: KEY,
    KEYTURN_REQUIRE_APP_ROLES: String(requireRoles),
  });

  const rotate = (host: HostProcess, secret: string) =>
    fetch(`${host.url}/api/vaults/${VAULT}/secrets/${secret}/rotate`, {
      method: "POST",
      headers: {
        "x-functions-key": KEY,
        "content-type": "application/json",
        "x-ms-client-principal": encodeClientPrincipal([AppRole.Operator]),
        "x-ms-client-principal-name": NAME,
        "x-ms-client-principal-id": OID,
        "x-ms-client-principal-idp": "aad",
      },
      body: JSON.stringify({ reason: "INC-42: caller test", mode: "normal" }),
    });

  const seed = (name: string) => kv.seedSecret(VAULT, name, `caller-initial-${name}`, { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "team@contoso.com" } });

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
    [withAuth, keysOnly] = await Promise.all([startHostProcess(env(true)), startHostProcess(env(false))]);
  });

  afterAll(async () => {
    await Promise.all([withAuth?.stop(), keysOnly?.stop()]);
    await kv?.stop();
  });

  it("is in the request's log line, the engine's log, the journal's origin and the notification when App Service Authentication vouches for it", async () => {
    seed("caller-audited");
    const res = await rotate(withAuth, "caller-audited");
    expect(res.status, await res.clone().text()).toBe(200);
    const notified = (host: HostProcess, secret: string) =>
      eventually(() => (host.output().split("\n").some((l) => l.includes('"message":"notification keyturn.SecretRotated"') && l.includes(`"secret":"${secret}"`)) ? true : undefined), 10_000, "the notification");
    await notified(withAuth, "caller-audited");
    const lines = withAuth
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const requested = lines.find((l) => l.message === "manual rotation requested");
    expect(requested).toMatchObject({ callerName: NAME, callerId: OID, secret: "caller-audited" });
    // Every engine line of that rotation carries the caller too.
    const engineLines = lines.filter((l) => l.secret === "caller-audited" && l.trigger === "http");
    expect(engineLines.length).toBeGreaterThan(0);
    for (const l of engineLines) expect(l).toMatchObject({ callerName: NAME, callerId: OID });
    // The notification (the log channel: no topic configured) says who asked; the topic's
    // CloudEvent carries the same fields, and webhook and e-mail text says "requested by".
    const notification = lines.find((l) => l.message === "notification keyturn.SecretRotated" && l.secret === "caller-audited");
    expect(notification).toMatchObject({ callerName: NAME, callerId: OID });
    // The journal (generated-secret is single-credential) records the origin.
    const journal = await secretClientFor(kv, VAULT).getSecret(journalName("caller-audited"));
    expect(journal.properties.tags).toMatchObject({ [JournalTag.Trigger]: "http", [JournalTag.CallerName]: NAME, [JournalTag.CallerId]: OID });
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
    seed("caller-forged");
    const res = await rotate(keysOnly, "caller-forged");
    expect(res.status).toBe(200);
    await eventually(
      () => (keysOnly.output().split("\n").some((l) => l.includes('"message":"notification keyturn.SecretRotated"') && l.includes('"secret":"caller-forged"')) ? true : undefined),
      10_000,
      "the notification",
    );
    expect(keysOnly.output()).not.toContain(NAME);
    expect(keysOnly.output()).not.toContain(OID);
    const journal = await secretClientFor(kv, VAULT).getSecret(journalName("caller-forged"));
    expect(journal.properties.tags?.[JournalTag.CallerName]).toBeUndefined();
    expect(journal.properties.tags?.[JournalTag.Trigger]).toBe("http");
  });
});
