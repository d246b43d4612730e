// The emergency path of the rotate route, below HTTP: what `mode: "emergency"` does in
// the engine for each credential model, and what happens when revoking the leaked
// credential fails after the new version was committed. The engine must then NOT give
// the provider its previous (leaked) credential back: the committed version is the
// one that has to keep working.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProviderError } from "../../core/errors.js";
import { generateSecret } from "../../core/generate.js";
import type { Rotator } from "../../core/rotator.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { createRegistry } from "../../core/registry.js";
import { rotators } from "../../rotators/index.js";
import { testEngine } from "../support/engine.js";
import { secretClientFor } from "../support/keyvault.js";

const VAULT = "emergency-kv";

/** A provider with one password, whose revoke can be made to fail. */
const provider = { password: "", revokeFails: false, revoked: [] as string[] };

const singleWithRevoke: Rotator<{}> & { kind: "one-password" } = {
  kind: "one-password",
  model: "single",
  description: "test provider with one password and a revoke step",
  tags: [],
  parse: () => ({}),
  async create(ctx) {
    const v = generateSecret(24);
    ctx.registerSecret(v);
    return { credentialId: "app", secretValue: v };
  },
  async apply(_ctx, _params, pending) {
    provider.password = pending.secretValue;
  },
  async verify(_ctx, _params, pending) {
    if (pending.secretValue !== provider.password) throw new ProviderError("login failed");
  },
  async revoke(_ctx, _params, previous) {
    if (provider.revokeFails) throw new ProviderError("the provider refused to end the previous sessions");
    provider.revoked.push(previous.version);
  },
};

/** Two keys, no revoke step (like a kind that cannot invalidate the other key). */
const dualWithoutRevoke: Rotator<{}> & { kind: "two-keys" } = {
  kind: "two-keys",
  model: "dual",
  description: "test provider with two keys and no revoke",
  tags: [],
  parse: () => ({}),
  async create(ctx, _params, current) {
    const v = generateSecret(24);
    ctx.registerSecret(v);
    return { credentialId: current.tags.CredentialId === "key1" ? "key2" : "key1", secretValue: v };
  },
  async verify() {},
};

describe("emergency rotation in the engine", () => {
  let kv: KeyVaultEmulator;
  const registry = createRegistry({ ...rotators, "one-password": singleWithRevoke, "two-keys": dualWithoutRevoke });
  const vault = () => ({ name: VAULT, url: kv.url(VAULT) });

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
  });
  afterAll(async () => kv?.stop());

  it("revokes the previous credential and says so", async () => {
    const { engine } = testEngine(kv, { registry });
    provider.password = generateSecret(24);
    provider.revokeFails = false;
    const seeded = await secretClientFor(kv, VAULT).setSecret("leaked-a", provider.password, { tags: { Rotator: "one-password", ValidityPeriodDays: "60" } });
    const r = await engine.rotateSecret({ vault: vault(), secret: "leaked-a", mode: "emergency", trigger: { kind: "http", id: "e1" } });
    expect(r).toMatchObject({ status: "rotated", revoked: true, previousVersion: seeded.properties.version });
    expect(provider.revoked).toContain(seeded.properties.version);
  });

  it("a failed revoke after the commit is reported, and the provider keeps the NEW credential", async () => {
    const { engine, notifier } = testEngine(kv, { registry });
    provider.password = generateSecret(24);
    provider.revokeFails = true;
    const client = secretClientFor(kv, VAULT);
    const leaked = provider.password;
    await client.setSecret("leaked-b", leaked, { tags: { Rotator: "one-password", ValidityPeriodDays: "60", Owner: "sec@contoso.com" } });
    await expect(engine.rotateSecret({ vault: vault(), secret: "leaked-b", mode: "emergency", trigger: { kind: "cli", id: "e2" } })).rejects.toThrow(/refused to end the previous sessions/);
    const latest = await client.getSecret("leaked-b");
    expect(latest.value).not.toBe(leaked);
    // Rolling back here would have restored the leaked password and broken the latest version.
    expect(provider.password).toBe(latest.value);
    const failure = notifier.sent.find((n) => n.type === "keyturn.RotationFailed" && n.secret === "leaked-b");
    expect(failure).toMatchObject({ step: "revoke", mode: "emergency", owner: "sec@contoso.com" });
    expect(failure?.rolledBack).toBeUndefined();
  });

  it("tells when a kind cannot revoke (revoked: false), and normal mode says nothing about it", async () => {
    const { engine } = testEngine(kv, { registry });
    await secretClientFor(kv, VAULT).setSecret("dual-key", generateSecret(24), { tags: { Rotator: "two-keys", ValidityPeriodDays: "60", CredentialId: "key1" } });
    const e = await engine.rotateSecret({ vault: vault(), secret: "dual-key", mode: "emergency", trigger: { kind: "http", id: "e3" } });
    expect(e).toMatchObject({ status: "rotated", credentialId: "key2", revoked: false });
    const n = await engine.rotateSecret({ vault: vault(), secret: "dual-key", mode: "normal", trigger: { kind: "http", id: "e4" } });
    expect(n.revoked).toBeUndefined();
  });
});
