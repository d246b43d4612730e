import { describe, expect, it } from "vitest";
import { BadRequestError } from "../../core/errors.js";
import { HandledEventTypes, parseEvent } from "../../core/events.js";
import { VaultAllowList } from "../../core/vaults.js";
import { TOPIC, VAULT_URL, cloudEventsSchemaEvent, eventGridSchemaEvent } from "../fixtures/events.js";

const allow = VaultAllowList.parse(`${VAULT_URL}, https://other-kv.vault.azure.net`);

function keyVaultEvent(raw: unknown) {
  const parsed = parseEvent(raw, allow);
  if (parsed.kind !== "keyvault") throw new Error(`expected a Key Vault event, got ${parsed.kind}`);
  return parsed.event;
}

describe("parseEvent on the published shapes", () => {
  it.each([
    ["Event Grid schema", eventGridSchemaEvent()],
    ["CloudEvents 1.0", cloudEventsSchemaEvent()],
  ])("reads a SecretNearExpiry in the %s", (_name, raw) => {
    const e = keyVaultEvent(raw);
    expect(e.type).toBe("Microsoft.KeyVault.SecretNearExpiry");
    expect(e.vault).toEqual({ name: "payments-kv", url: VAULT_URL });
    expect(e.objectType).toBe("Secret");
    expect(e.objectName).toBe("db-password");
    expect(e.version).toBe("0123456789abcdef0123456789abcdef");
    expect(e.notBefore?.toISOString()).toBe("2025-11-20T08:00:00.000Z");
    expect(e.expiresOn?.toISOString()).toBe("2025-12-20T08:00:00.000Z");
    expect(e.handled).toBe(true);
  });

  it("tells the schemas apart", () => {
    expect(keyVaultEvent(eventGridSchemaEvent()).schema).toBe("EventGridSchema");
    expect(keyVaultEvent(cloudEventsSchemaEvent()).schema).toBe("CloudEventSchemaV1_0");
  });

  it("reads camelCase data with numeric NBF/EXP and stray white space in names", () => {
    const raw = eventGridSchemaEvent("Microsoft.KeyVault.SecretExpired", {
      data: { " id ": `${VAULT_URL}/secrets/db-password/abc123`, vaultName: "PAYMENTS-KV", objectType: "secret", objectName: "db-password", version: "abc123", nbf: 1763625600, exp: 1766217600 },
    });
    const e = keyVaultEvent(raw);
    expect(e.type).toBe("Microsoft.KeyVault.SecretExpired");
    expect(e.version).toBe("abc123");
    expect(e.expiresOn?.getTime()).toBe(1766217600_000);
  });

  it("takes name and version from the Id when ObjectName and Version are absent", () => {
    const raw = cloudEventsSchemaEvent(undefined, { data: { Id: `${VAULT_URL}/secrets/api-key/ffee`, VaultName: "payments-kv" } });
    const e = keyVaultEvent(raw);
    expect(e.objectName).toBe("api-key");
    expect(e.version).toBe("ffee");
  });

  it("recognises but does not act on other Key Vault events", () => {
    const created = keyVaultEvent(eventGridSchemaEvent("Microsoft.KeyVault.SecretNewVersionCreated"));
    expect(created.handled).toBe(false);
    const cert = keyVaultEvent(
      eventGridSchemaEvent("Microsoft.KeyVault.CertificateNearExpiry", {
        data: { Id: `${VAULT_URL}/certificates/web-tls/0a1b`, VaultName: "payments-kv", ObjectType: "Certificate", ObjectName: "web-tls", Version: "0a1b" },
      }),
    );
    expect(cert.objectType).toBe("Certificate");
    expect(cert.handled).toBe(true);
    expect(HandledEventTypes).toContain("Microsoft.KeyVault.KeyNearExpiry");
    const policy = parseEvent(eventGridSchemaEvent("Microsoft.KeyVault.VaultAccessPolicyChanged", { data: { VaultName: "payments-kv" } }), allow);
    expect(policy.kind).toBe("ignored");
    const foreign = parseEvent(eventGridSchemaEvent("Microsoft.Storage.BlobCreated"), allow);
    expect(foreign).toMatchObject({ kind: "ignored", reason: "not a Key Vault event type" });
  });

  it("reads the subscription validation event", () => {
    const parsed = parseEvent(
      { id: "1", topic: TOPIC, subject: "", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", eventTime: "2026-11-20T08:00:00Z", data: { validationCode: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6", validationUrl: "https://rp-eastus2.eventgrid.azure.net/x" }, dataVersion: "1" },
      allow,
    );
    expect(parsed).toEqual({ kind: "validation", validationCode: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6", validationUrl: "https://rp-eastus2.eventgrid.azure.net/x" });
  });
});

describe("parseEvent rejects malformed events, saying what is wrong", () => {
  const base = eventGridSchemaEvent();
  const cases: Array<[string, unknown, RegExp]> = [
    ["not an object", "hello", /event must be a JSON object/],
    ["an array", [base], /event must be a JSON object/],
    ["no type", { ...base, eventType: undefined }, /eventType is missing/],
    ["no id", { ...base, id: "" }, /id is missing/],
    ["no data", { ...base, data: undefined }, /data must be a JSON object/],
    ["data not an object", { ...base, data: "x" }, /data must be a JSON object/],
    ["vault not allow-listed", { ...base, topic: TOPIC.replace("payments-kv", "evil-kv"), data: { ...base.data, VaultName: "evil-kv" } }, /vault 'evil-kv' is not on the allow-list/],
    ["topic and VaultName disagree", { ...base, data: { ...base.data, VaultName: "other-kv" } }, /does not match the vault in topic/],
    ["topic not a vault", { ...base, topic: "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z" }, /not a Key Vault resource ID/],
    ["Id in another vault", { ...base, data: { ...base.data, Id: "https://other-kv.vault.azure.net/secrets/db-password/0123456789abcdef0123456789abcdef" } }, /data.Id is not in vault payments-kv/],
    ["Id not a URL", { ...base, data: { ...base.data, Id: "db-password" } }, /data.Id is not a URL/],
    ["Id of a key for a secret event", { ...base, data: { ...base.data, Id: `${VAULT_URL}/keys/db-password/0123456789abcdef0123456789abcdef` } }, /not a secret identifier/],
    ["name mismatch", { ...base, data: { ...base.data, ObjectName: "other" } }, /ObjectName does not match data.Id/],
    ["version mismatch", { ...base, data: { ...base.data, Version: "ffff" } }, /Version does not match data.Id/],
    ["wrong object type", { ...base, data: { ...base.data, ObjectType: "Key" } }, /ObjectType 'Key' does not match/],
    ["bad EXP", { ...base, data: { ...base.data, EXP: "soon" } }, /data.EXP must be unix seconds/],
    ["negative NBF", { ...base, data: { ...base.data, NBF: -5 } }, /data.NBF must be unix seconds/],
    ["bad object name", { ...base, data: { VaultName: "payments-kv", ObjectName: "../etc", ObjectType: "Secret" } }, /not a Key Vault object name/],
    ["no object name", { ...base, data: { VaultName: "payments-kv", ObjectType: "Secret" } }, /ObjectName is missing/],
    ["no vault at all", { ...base, topic: undefined, data: { ObjectName: "x" } }, /names no vault/],
    ["bad time", { ...base, eventTime: "yesterday" }, /event time is not a date/],
    ["CloudEvent of another spec version", { ...cloudEventsSchemaEvent(), specversion: "0.3" }, /specversion must be 1.0/],
    ["type of the wrong JSON type", { ...base, eventType: 42 }, /eventType must be a string/],
  ];
  it.each(cases)("%s", (_name, raw, message) => {
    expect(() => parseEvent(raw, allow)).toThrow(BadRequestError);
    expect(() => parseEvent(raw, allow)).toThrow(message);
  });
});
