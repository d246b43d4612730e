// Owner notification channels against local doubles: the Teams/Slack-compatible
// webhook (an HTTPS receiver whose URL carries a secret token, as the real ones do) and
// e-mail through the real @azure/communication-email EmailClient against the ACS Email
// double (202 + Operation-Location, then the SDK's poller). Then all channels at once
// through the local host child process: a rotation reaches every channel, a failing
// channel is logged and does not fail the rotation, and no value (nor the webhook URL)
// appears in anything captured.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalEmulatorCredential } from "../../core/azure.js";
import { createLogger } from "../../core/log.js";
import { EmailNotifier, NotificationType, WebhookNotifier, describeNotification, ownerEmails, type RotationNotification } from "../../core/notify.js";
import type { AzureClientOptions } from "../../core/rotator.js";
import { startAcsEmailEmulator, type AcsEmailEmulator } from "../../emulators/acs-email/index.js";
import { startEventGridTopic, type EventGridTopicEmulator } from "../../emulators/eventgrid-topic/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { testTls } from "../../emulators/tls.js";
import { startWebhookReceiver, type WebhookReceiver } from "../../emulators/webhook/index.js";
import { startHostProcess, type HostProcess } from "../support/host.js";
import { secretClientFor } from "../support/keyvault.js";

const tls = testTls();
const options: AzureClientOptions = { retryOptions: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 50 }, tlsOptions: { ca: tls.caPem } };

const rotated: RotationNotification = {
  type: NotificationType.SecretRotated,
  vault: "payments-kv",
  vaultUrl: "https://payments-kv.vault.azure.net",
  secret: "payments-api-key",
  version: "new0123456789",
  previousVersion: "old0123456789",
  credentialId: "key2",
  rotator: "generated-secret",
  trigger: "http",
  triggerId: "inv-1",
  mode: "emergency",
  owner: "payments-oncall@contoso.com; payments team",
  expiresOn: "2030-01-01T00:00:00.000Z",
  rolledForward: false,
};

const failed: RotationNotification = {
  type: NotificationType.RotationFailed,
  vault: "payments-kv",
  vaultUrl: "https://payments-kv.vault.azure.net",
  secret: "payments-db-password",
  version: "cur0123456789",
  rotator: "postgres-role",
  trigger: "event",
  triggerId: "evt-1",
  mode: "normal",
  owner: "dba@contoso.com",
  step: "verify",
  errorKind: "verification",
  error: "VerificationError: login as app_blue failed",
  rolledBack: false,
};

function capture() {
  const lines: string[] = [];
  return { lines, log: createLogger({}, (_level, line) => lines.push(line)) };
}

describe("notification text", () => {
  it("names the secret, versions and what to do, and nothing else", () => {
    const r = describeNotification(rotated);
    expect(r.subject).toBe("keyturn: payments-api-key in vault payments-kv rotated");
    expect(r.text).toContain("New version new0123456789 (credential key2), previous version old0123456789");
    expect(r.text).toContain("Emergency rotation");
    const f = describeNotification(failed);
    expect(f.subject).toContain("FAILED");
    expect(f.text).toContain("step verify failed");
    expect(f.text).toContain("could NOT be given its previous credential back");
    expect(f.text).toContain("keyturn status payments-kv/payments-db-password");
  });

  it("finds e-mail addresses in an Owner tag and ignores team names", () => {
    expect(ownerEmails("payments-oncall@contoso.com")).toEqual(["payments-oncall@contoso.com"]);
    expect(ownerEmails("a@x.com; b@y.org, a@x.com")).toEqual(["a@x.com", "b@y.org"]);
    expect(ownerEmails("payments team")).toEqual([]);
    expect(ownerEmails(undefined)).toEqual([]);
  });
});

describe("webhook channel", () => {
  let hook: WebhookReceiver;
  beforeAll(async () => {
    hook = await startWebhookReceiver({ tls });
  });
  afterAll(async () => hook?.stop());

  it("posts {text} as JSON", async () => {
    const { lines, log } = capture();
    await new WebhookNotifier(hook.url, options, log).notify(rotated);
    const m = await hook.waitFor((x) => x.text.includes("payments-api-key"));
    expect(m.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(m.raw)).toEqual({ text: describeNotification(rotated).text });
    expect(lines.filter((l) => l.includes("notification failed"))).toEqual([]);
  });

  it("logs a failing webhook without throwing and without its URL", async () => {
    const { lines, log } = capture();
    hook.status = 500;
    try {
      await expect(new WebhookNotifier(hook.url, options, log).notify(failed)).resolves.toBeUndefined();
    } finally {
      hook.status = 200;
    }
    const warn = lines.find((l) => l.includes("notification failed"));
    expect(warn).toBeDefined();
    expect(JSON.parse(warn!)).toMatchObject({ level: "warn", channel: "webhook", secret: "payments-db-password", error: "the webhook answered 500" });
    for (const l of lines) expect(l).not.toContain(hook.token);
  });

  it("logs an unreachable webhook", async () => {
    const { lines, log } = capture();
    await new WebhookNotifier("https://127.0.0.1:1/webhook/abcdefghijkl", options, log).notify(rotated);
    expect(lines.some((l) => l.includes("notification failed") && l.includes("webhook"))).toBe(true);
    for (const l of lines) expect(l).not.toContain("abcdefghijkl");
  });
});

describe("e-mail channel (ACS Email double, real EmailClient)", () => {
  let acs: AcsEmailEmulator;
  beforeAll(async () => {
    acs = await startAcsEmailEmulator({ tls });
  });
  afterAll(async () => acs?.stop());
  const notifier = (log: ReturnType<typeof capture>["log"]) =>
    new EmailNotifier(acs.endpoint, "DoNotReply@keyturn.example", new LocalEmulatorCredential(), options, log, { pollIntervalMs: 20, maxWaitMs: 5_000 });

  it("sends to the Owner's address, with a bearer token, and polls the operation to the end", async () => {
    acs.behaviour.pollsUntilDone = 3;
    const { lines, log } = capture();
    const before = acs.requests.length;
    await notifier(log).notify(rotated);
    acs.behaviour.pollsUntilDone = undefined;
    const m = acs.messages.at(-1)!;
    expect(m.to).toEqual(["payments-oncall@contoso.com"]);
    expect(m.senderAddress).toBe("DoNotReply@keyturn.example");
    expect(m.subject).toBe("keyturn: payments-api-key in vault payments-kv rotated");
    expect(m.plainText).toBe(describeNotification(rotated).text);
    expect(m.authorization).toBe("Bearer keyturn-local-emulator");
    const calls = acs.requests.slice(before);
    expect(calls[0]).toMatchObject({ method: "POST", path: "/emails:send", status: 202 });
    expect(calls.slice(1).map((c) => `${c.method} ${c.status}`)).toEqual(["GET 200", "GET 200", "GET 200"]);
    expect(calls.slice(1).every((c) => c.path === `/emails/operations/${m.operationId}`)).toBe(true);
    expect(lines.some((l) => l.includes("e-mail notification sent"))).toBe(true);
  });

  it("logs a delivery that fails, a refused send, and never throws", async () => {
    const { lines, log } = capture();
    acs.behaviour.finalStatus = "Failed";
    await expect(notifier(log).notify(failed)).resolves.toBeUndefined();
    acs.behaviour.finalStatus = undefined;
    acs.behaviour.sendStatus = 401;
    await expect(notifier(log).notify(failed)).resolves.toBeUndefined();
    acs.behaviour.sendStatus = undefined;
    const warns = lines.filter((l) => l.includes("notification failed")).map((l) => JSON.parse(l) as { channel: string; error: string });
    expect(warns).toHaveLength(2);
    expect(warns.every((w) => w.channel === "email")).toBe(true);
  });

  it("sends nothing when the Owner is not an e-mail address", async () => {
    const before = acs.requests.length;
    const { log } = capture();
    await notifier(log).notify({ ...rotated, owner: "payments team" });
    await notifier(log).notify({ ...rotated, owner: undefined });
    expect(acs.requests.length).toBe(before);
  });
});

describe("all channels from the local host, end to end", () => {
  const VAULT = "notify-kv";
  let kv: KeyVaultEmulator;
  let topic: EventGridTopicEmulator;
  let hook: WebhookReceiver;
  let acs: AcsEmailEmulator;
  let host: HostProcess;

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT], tls });
    [topic, hook, acs] = await Promise.all([startEventGridTopic({ tls }), startWebhookReceiver({ tls }), startAcsEmailEmulator({ tls })]);
    host = await startHostProcess({
      KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`,
      KEYTURN_CREDENTIAL: "local-emulator",
      KEYTURN_TLS_CA_FILE: tls.caFile,
      KEYTURN_NOTIFY_TOPIC_ENDPOINT: topic.endpoint,
      KEYTURN_NOTIFY_WEBHOOK_URL: hook.url,
      KEYTURN_EMAIL_ENDPOINT: acs.endpoint,
      KEYTURN_EMAIL_SENDER: "DoNotReply@keyturn.example",
      KEYTURN_LOG_LEVEL: "debug",
    });
  });
  afterAll(async () => {
    await host?.stop();
    await Promise.all([kv?.stop(), topic?.stop(), hook?.stop(), acs?.stop()]);
  });

  const rotate = (secret: string, mode = "normal") =>
    fetch(`${host.url}/api/vaults/${VAULT}/secrets/${secret}/rotate`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ reason: "notification test", mode }),
    });

  it("tells the topic, the webhook and the owner's inbox, without a value", async () => {
    const client = secretClientFor(kv, VAULT);
    const initial = `notify-initial-${Math.random().toString(36).slice(2)}-${Date.now()}`;
    await client.setSecret("orders-api-key", initial, { tags: { Rotator: "generated-secret", ValidityPeriodDays: "90", Owner: "orders-oncall@contoso.com" } });
    const res = await rotate("orders-api-key", "emergency");
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: "rotated", mode: "emergency", revoked: true });
    const latest = await client.getSecret("orders-api-key");

    const event = await topic.waitFor((e) => e.data.secret === "orders-api-key");
    const post = await hook.waitFor((m) => m.text.includes("orders-api-key"));
    const mail = await acs.waitFor((m) => m.subject.includes("orders-api-key"));
    expect(post.text).toContain(`New version ${latest.properties.version}`);
    expect(mail.to).toEqual(["orders-oncall@contoso.com"]);
    expect(mail.plainText).toContain("Emergency rotation");

    for (const value of [initial, latest.value!]) {
      expect(event.raw).not.toContain(value);
      expect(post.raw).not.toContain(value);
      expect(mail.raw).not.toContain(value);
      expect(host.output()).not.toContain(value);
    }
    expect(host.output()).not.toContain(hook.token);
  });

  it("a failing channel is logged and does not fail the rotation", async () => {
    const client = secretClientFor(kv, VAULT);
    const initial = `notify-second-${Math.random().toString(36).slice(2)}-${Date.now()}`;
    await client.setSecret("billing-api-key", initial, { tags: { Rotator: "generated-secret", ValidityPeriodDays: "90", Owner: "billing@contoso.com" } });
    hook.status = 403; // a revoked webhook
    acs.behaviour.sendStatus = 401; // the identity lost its ACS role
    try {
      const res = await rotate("billing-api-key");
      expect(res.status).toBe(200);
      expect((await res.json()).status).toBe("rotated");
    } finally {
      hook.status = 200;
      acs.behaviour.sendStatus = undefined;
    }
    // The topic still got it; the two failing channels were logged.
    await topic.waitFor((e) => e.data.secret === "billing-api-key");
    const failures = host
      .output()
      .split("\n")
      .filter((l) => l.includes("notification failed") && l.includes("billing-api-key"))
      .map((l) => JSON.parse(l) as { channel: string });
    expect(failures.map((f) => f.channel).sort()).toEqual(["email", "webhook"]);
    const latest = await client.getSecret("billing-api-key");
    for (const value of [initial, latest.value!]) expect(host.output()).not.toContain(value);
    expect(host.output()).not.toContain(hook.token);
  });
});
