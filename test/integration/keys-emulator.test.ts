// The Key Vault double's keys, driven by the real @azure/keyvault-keys KeyClient: real
// RSA/EC material, versions, rotate, the rotation policy (the published examples' shapes
// and the service's rules), and KeyNearExpiry/KeyNewVersionCreated on the clock,
// including the vault's own rotation when a policy's Rotate action comes due.
import { createPublicKey } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KeyClient } from "@azure/keyvault-keys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { localToken } from "../support/keyvault.js";

const VAULT = "keys-kv";
const DAY_MS = 86_400_000;

let kv: KeyVaultEmulator;
let keys: KeyClient;
let receiver: Server;
const received: Array<{ eventType: string; subject: string; data: Record<string, unknown> }> = [];

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  kv = await startKeyVaultEmulator({ vaults: [VAULT], deliveryRetryDelaysMs: [50] });
  keys = new KeyClient(kv.url(VAULT), localToken, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: kv.tls.caPem },
    retryOptions: { maxRetries: 1, retryDelayInMs: 20 },
  });
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const events = JSON.parse(body) as Array<{ eventType: string; subject: string; data: Record<string, unknown> }>;
      if (req.headers["aeg-event-type"] === "SubscriptionValidation") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ validationResponse: events[0]!.data.validationCode }));
        return;
      }
      received.push(...events);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  await kv.subscribe({ vault: VAULT, endpoint: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, schema: "EventGridSchema" });
});

afterAll(async () => {
  await kv?.stop();
  await new Promise((r) => receiver?.close(r));
});

describe("keys in the Key Vault double", () => {
  it("creates RSA and EC keys with real public material, versions and tags", async () => {
    const rsa = await keys.createRsaKey("storage-cmk", { keySize: 3072, tags: { Owner: "storage@contoso.com" } });
    expect(rsa.keyType).toBe("RSA");
    expect(rsa.keyOperations).toEqual(["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]);
    const publicKey = createPublicKey({
      key: { kty: "RSA", n: Buffer.from(rsa.key!.n!).toString("base64url"), e: Buffer.from(rsa.key!.e!).toString("base64url") },
      format: "jwk",
    });
    expect(publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    const ec = await keys.createEcKey("signing", { curve: "P-384" });
    expect(ec.key?.crv).toBe("P-384");
    expect(Buffer.from(ec.key!.x!).length).toBe(48);

    const names: string[] = [];
    for await (const p of keys.listPropertiesOfKeys()) names.push(p.name);
    expect(names).toEqual(expect.arrayContaining(["storage-cmk", "signing"]));
    await keys.updateKeyProperties("storage-cmk", rsa.properties.version!, { tags: { Owner: "new@contoso.com" } });
    expect((await keys.getKey("storage-cmk")).properties.tags).toEqual({ Owner: "new@contoso.com" });
    await expect(keys.createKey("bad", "oct")).rejects.toMatchObject({ statusCode: 400 });
  });

  it("has no rotation policy until one is set; validates and returns it in the published shape", async () => {
    await keys.createRsaKey("sql-tde");
    const none = await keys.getKeyRotationPolicy("sql-tde");
    expect(none.lifetimeActions).toBeUndefined();
    expect(none.expiresIn).toBeUndefined();

    await expect(keys.updateKeyRotationPolicy("sql-tde", { expiresIn: "P10D" })).rejects.toMatchObject({ statusCode: 400 });
    await expect(keys.updateKeyRotationPolicy("sql-tde", { lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }] })).rejects.toMatchObject({
      statusCode: 400,
    });
    await expect(keys.updateKeyRotationPolicy("sql-tde", { lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P2D" }] })).rejects.toMatchObject({
      statusCode: 400,
    });

    const set = await keys.updateKeyRotationPolicy("sql-tde", {
      expiresIn: "P2Y",
      lifetimeActions: [
        { action: "Rotate", timeAfterCreate: "P90D" },
        { action: "Notify", timeBeforeExpiry: "P30D" },
      ],
    });
    expect(set).toMatchObject({ id: `${kv.url(VAULT)}/keys/sql-tde/rotationpolicy`, expiresIn: "P2Y" });
    expect((await keys.getKeyRotationPolicy("sql-tde")).lifetimeActions).toEqual([
      { action: "Rotate", timeAfterCreate: "P90D", timeBeforeExpiry: undefined },
      { action: "Notify", timeAfterCreate: undefined, timeBeforeExpiry: "P30D" },
    ]);
  });

  it("rotates: a new version with new material, the same tags, and exp from the policy's expiryTime (none without one)", async () => {
    const before = await keys.createRsaKey("rotate-me", { tags: { Owner: "x@contoso.com" }, expiresOn: new Date(kv.clock.now().getTime() + 40 * DAY_MS) });
    const plain = await keys.rotateKey("rotate-me");
    expect(plain.properties.version).not.toBe(before.properties.version);
    expect(Buffer.from(plain.key!.n!).equals(Buffer.from(before.key!.n!))).toBe(false);
    expect(plain.properties.tags).toEqual({ Owner: "x@contoso.com" });
    expect(plain.properties.expiresOn).toBeUndefined();

    await keys.updateKeyRotationPolicy("rotate-me", { expiresIn: "P1Y", lifetimeActions: [{ action: "Notify", timeBeforeExpiry: "P30D" }] });
    const withPolicy = await keys.rotateKey("rotate-me");
    const expected = kv.clock.now().getTime() + 365 * DAY_MS;
    expect(Math.abs(withPolicy.properties.expiresOn!.getTime() - expected)).toBeLessThan(5000);
    await waitFor("KeyNewVersionCreated", () => received.find((e) => e.eventType === "Microsoft.KeyVault.KeyNewVersionCreated" && e.data.Version === withPolicy.properties.version));
  });

  it("sends KeyNearExpiry at the Notify lead (default 30 days) and rotates by itself when the Rotate action comes due", async () => {
    const now = kv.clock.now().getTime();
    const plain = kv.seedKey(VAULT, "near-default", { expiresOn: new Date(now + 40 * DAY_MS) });
    const early = kv.seedKey(VAULT, "near-45", {
      expiresOn: new Date(now + 50 * DAY_MS),
      rotationPolicy: { expiryTime: "P1Y", lifetimeActions: [{ trigger: { timeBeforeExpiry: "P45D" }, action: { type: "Notify" } }] },
    });
    const auto = kv.seedKey(VAULT, "auto-rotate", {
      expiresOn: new Date(now + 300 * DAY_MS),
      rotationPolicy: { expiryTime: "P1Y", lifetimeActions: [{ trigger: { timeAfterCreate: "P8D" }, action: { type: "Rotate" } }] },
    });
    await kv.clock.advance(6 * DAY_MS);
    const near45 = await waitFor("KeyNearExpiry for near-45", () => received.find((e) => e.subject === "near-45" && e.eventType === "Microsoft.KeyVault.KeyNearExpiry"));
    expect(near45.data).toMatchObject({ ObjectType: "Key", Version: early.version, Id: early.id });
    expect(received.find((e) => e.subject === "near-default" && e.eventType === "Microsoft.KeyVault.KeyNearExpiry")).toBeUndefined();
    await kv.clock.advance(5 * DAY_MS);
    await waitFor("KeyNearExpiry for near-default", () => received.find((e) => e.subject === "near-default" && e.data.Version === plain.version && e.eventType === "Microsoft.KeyVault.KeyNearExpiry"));
    const rotated = await keys.getKey("auto-rotate");
    expect(rotated.properties.version).not.toBe(auto.version);
  });

  it("does not let /keys rotate or change a certificate's backing key", async () => {
    kv.seedCertificate(VAULT, "backed-tls", { expiresOn: new Date(kv.clock.now().getTime() + 200 * DAY_MS) });
    const key = await keys.getKey("backed-tls");
    expect(key.properties.managed).toBe(true);
    await expect(keys.rotateKey("backed-tls")).rejects.toMatchObject({ statusCode: 403 });
    await expect(keys.updateKeyRotationPolicy("backed-tls", { lifetimeActions: [] })).rejects.toMatchObject({ statusCode: 403 });
  });
});
