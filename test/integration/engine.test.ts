// The rotation protocol against the real SecretClient and the Key Vault double, with a
// single-credential test provider that keeps its one password in memory (a provider
// that can be made to fail at each step), so that every engine path is exercised.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigurationError, ProviderError, RotationInProgressError, VerificationError } from "../../core/errors.js";
import { journalName } from "../../core/journal.js";
import { InProcessLock } from "../../core/lock.js";
import type { Rotator } from "../../core/rotator.js";
import { generateSecret } from "../../core/generate.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { createRegistry } from "../../core/registry.js";
import { rotators } from "../../rotators/index.js";
import { testEngine } from "../support/engine.js";
import { HoldingFaults } from "../support/holding-faults.js";
import { secretClientFor, versionsOf } from "../support/keyvault.js";

const VAULT = "engine-kv";

/** A one-password provider: the only working password is `password`. */
class OnePasswordProvider {
  password = "";
  failAt: "apply" | "verify" | "check" | undefined;
  crashAfterApply = false;
  applied = 0;
}

function onePasswordRotator(p: OnePasswordProvider): Rotator<{}> & { kind: "one-password" } {
  return {
    kind: "one-password",
    model: "single",
    description: "test provider with exactly one working password",
    tags: [],
    parse: () => ({}),
    async checkCurrent(_ctx, _params, current) {
      if (p.failAt === "check" || current.value !== p.password) throw new ProviderError("current password is rejected by the provider");
    },
    async create(ctx) {
      const v = generateSecret(24);
      ctx.registerSecret(v);
      return { credentialId: "app", secretValue: v };
    },
    async apply(_ctx, _params, pending) {
      if (p.failAt === "apply") throw new ProviderError("provider refused the new password");
      p.password = pending.secretValue;
      p.applied++;
      if (p.crashAfterApply) throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    },
    async verify(_ctx, _params, pending) {
      // failAt "verify": new passwords (credentialId "app") do not log in; the seeded one does.
      if ((p.failAt === "verify" && pending.credentialId === "app") || pending.secretValue !== p.password) throw new VerificationError("login with the new password failed");
    },
  };
}

describe("the rotation engine", () => {
  let kv: KeyVaultEmulator;
  const provider = new OnePasswordProvider();
  const registry = createRegistry({ ...rotators, "one-password": onePasswordRotator(provider) });
  const faults = new HoldingFaults();

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT], faults });
  });
  afterAll(async () => kv?.stop());

  async function seedProvider(name: string, extraTags: Record<string, string> = {}) {
    provider.password = generateSecret(24);
    provider.failAt = undefined;
    provider.crashAfterApply = false;
    const client = secretClientFor(kv, VAULT);
    const s = await client.setSecret(name, provider.password, { tags: { Rotator: "one-password", ValidityPeriodDays: "60", Owner: "team@contoso.com", ...extraTags } });
    return { client, version: s.properties.version! };
  }

  it("journals first, applies, verifies, commits and marks the journal committed", async () => {
    const { engine, notifier } = testEngine(kv, { registry });
    const { client, version } = await seedProvider("db-a");
    const result = await engine.rotateSecret({ vault: { name: VAULT, url: kv.url(VAULT) }, secret: "db-a", mode: "normal", trigger: { kind: "http", id: "t1" } });
    expect(result).toMatchObject({ status: "rotated", previousVersion: version, credentialId: "app", rotator: "one-password", rolledForward: false });
    const latest = await client.getSecret("db-a");
    expect(latest.value).toBe(provider.password);
    expect(latest.properties.tags).toMatchObject({ CredentialId: "app" });
    const journal = await client.getSecret(journalName("db-a"));
    expect(journal.properties.tags).toMatchObject({ KeyturnJournalFor: "db-a", KeyturnJournalState: "committed", KeyturnSupersedes: version });
    expect(notifier.sent).toHaveLength(1);
    expect(notifier.sent[0]).toMatchObject({ type: "keyturn.SecretRotated", secret: "db-a", owner: "team@contoso.com", version: latest.properties.version });
  });

  it("rolls a crashed rotation forward with the journaled password instead of losing it", async () => {
    const { engine } = testEngine(kv, { registry });
    const { client, version } = await seedProvider("db-b");
    provider.crashAfterApply = true; // the provider took the new password, then the connection dropped
    const req = { vault: { name: VAULT, url: kv.url(VAULT) }, secret: "db-b", mode: "normal" as const, trigger: { kind: "event" as const, id: "e1" }, expectedVersion: version };
    await expect(engine.rotateSecret(req)).rejects.toMatchObject({ kind: "transient" });
    // Key Vault still holds the old value, which no longer works; the journal holds the one that does.
    expect((await client.getSecret("db-b")).value).not.toBe(provider.password);
    const journal = await client.getSecret(journalName("db-b"));
    expect(journal.properties.tags?.KeyturnJournalState).toBe("pending");
    expect(JSON.parse(journal.value!).secretValue).toBe(provider.password);

    provider.crashAfterApply = false;
    const appliedBefore = provider.applied;
    const result = await engine.rotateSecret(req); // Event Grid redelivers the same event
    expect(result).toMatchObject({ status: "rotated", rolledForward: true });
    expect(provider.applied).toBe(appliedBefore + 1); // apply ran again with the SAME value
    expect((await client.getSecret("db-b")).value).toBe(provider.password);
    expect((await client.getSecret(journalName("db-b"))).properties.tags?.KeyturnJournalState).toBe("committed");
    expect(await versionsOf(client, "db-b")).toHaveLength(2);
  });

  it("a failure before the provider changed leaves the previous credential working, and notifies once", async () => {
    for (const failAt of ["check", "apply", "verify"] as const) {
      const { engine, notifier } = testEngine(kv, { registry });
      const { client } = await seedProvider(`db-fail-${failAt}`);
      const before = provider.password;
      provider.failAt = failAt;
      const err = await engine
        .rotateSecret({ vault: { name: VAULT, url: kv.url(VAULT) }, secret: `db-fail-${failAt}`, mode: "normal", trigger: { kind: "event", id: "e" } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(failAt === "verify" ? VerificationError : ProviderError);
      expect(await versionsOf(client, `db-fail-${failAt}`)).toHaveLength(1);
      // The provider works with the value Key Vault holds: for a verification failure
      // after the provider took the new password, because the engine gave it back.
      expect(provider.password).toBe(before);
      expect((await client.getSecret(`db-fail-${failAt}`)).value).toBe(before);
      if (failAt === "check") {
        await expect(client.getSecret(journalName(`db-fail-${failAt}`))).rejects.toMatchObject({ statusCode: 404 });
      } else {
        // verify: the previous password was given back. apply: the provider refuses
        // every change, so the give-back failed too; the journal stays pending and the
        // next trigger tries the same new password again.
        const journal = await client.getSecret(journalName(`db-fail-${failAt}`));
        expect(journal.properties.tags?.KeyturnJournalState).toBe(failAt === "verify" ? "rolled-back" : "pending");
      }
      expect(notifier.sent).toHaveLength(1);
      expect(notifier.sent[0]).toMatchObject({ type: "keyturn.RotationFailed", step: failAt === "check" ? "check-current" : failAt, owner: "team@contoso.com" });
      expect(notifier.sent[0]!.rolledBack).toBe(failAt === "check" ? undefined : failAt === "verify");
    }
  });

  it("a Key Vault write failing at commit leaves a pending journal that the next trigger completes", async () => {
    const { engine } = testEngine(kv, { registry });
    const { client } = await seedProvider("db-c");
    const remove = kv.faults.add({ match: { operation: "SetSecret", path: /\/secrets\/db-c$/ }, status: 500, times: 10 });
    await expect(
      engine.rotateSecret({ vault: { name: VAULT, url: kv.url(VAULT) }, secret: "db-c", mode: "normal", trigger: { kind: "http", id: "h" } }),
    ).rejects.toMatchObject({ kind: "transient" });
    remove();
    const newPassword = provider.password;
    expect((await client.getSecret(journalName("db-c"))).properties.tags?.KeyturnJournalState).toBe("pending");
    const result = await engine.rotateSecret({ vault: { name: VAULT, url: kv.url(VAULT) }, secret: "db-c", mode: "normal", trigger: { kind: "sweep", id: "s" } });
    expect(result).toMatchObject({ status: "rotated", rolledForward: true });
    expect((await client.getSecret("db-c")).value).toBe(newPassword);
  });

  it("skips stale events, unmanaged and paused secrets, and young versions (loop guard)", async () => {
    const guarded = testEngine(kv, { registry, env: { KEYTURN_ROTATION_GUARD_MINUTES: "60" } });
    const { client, version } = await seedProvider("db-d");
    const vault = { name: VAULT, url: kv.url(VAULT) };
    expect(await guarded.engine.rotateSecret({ vault, secret: "db-d", mode: "normal", trigger: { kind: "event", id: "1" }, expectedVersion: "0".repeat(32) })).toMatchObject({ status: "skipped", reason: "stale-event" });
    expect(await guarded.engine.rotateSecret({ vault, secret: "db-d", mode: "normal", trigger: { kind: "event", id: "2" }, expectedVersion: version })).toMatchObject({ status: "skipped", reason: "recently-rotated" });
    // A person asking for a rotation is not a loop: the guard does not apply.
    expect(await guarded.engine.rotateSecret({ vault, secret: "db-d", mode: "normal", trigger: { kind: "cli", id: "3" } })).toMatchObject({ status: "rotated" });

    await client.setSecret("plain", "just-a-value-123", { tags: { Owner: "x" } });
    expect(await guarded.engine.rotateSecret({ vault, secret: "plain", mode: "normal", trigger: { kind: "sweep", id: "4" } })).toMatchObject({ status: "skipped", reason: "unmanaged" });
    await expect(guarded.engine.rotateSecret({ vault, secret: "plain", mode: "normal", trigger: { kind: "http", id: "5" } })).rejects.toBeInstanceOf(ConfigurationError);

    await seedProvider("db-paused", { RotationPaused: "true" });
    const { engine } = testEngine(kv, { registry });
    expect(await engine.rotateSecret({ vault, secret: "db-paused", mode: "normal", trigger: { kind: "event", id: "6" } })).toMatchObject({ status: "skipped", reason: "paused" });
    expect(guarded.notifier.sent.filter((n) => n.type === "keyturn.RotationFailed")).toHaveLength(1);
  });

  it("refuses a second concurrent rotation of the same secret (409 semantics)", async () => {
    const lock = new InProcessLock();
    const { engine } = testEngine(kv, { registry, lock });
    await seedProvider("db-e");
    const vault = { name: VAULT, url: kv.url(VAULT) };
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => engine.rotateSecret({ vault, secret: "db-e", mode: "normal", trigger: { kind: "http", id: String(i) } })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(losers).toHaveLength(4);
    for (const l of losers) expect(l.reason).toBeInstanceOf(RotationInProgressError);
    expect(await versionsOf(secretClientFor(kv, VAULT), "db-e")).toHaveLength(2);
  });

  it("reports bad tags as a configuration error to the owner, changes nothing, and logs no value", async () => {
    const { engine, notifier, logs } = testEngine(kv, { registry });
    const client = secretClientFor(kv, VAULT);
    const value = "bad-tags-" + generateSecret(20);
    await client.setSecret("bad-tags", value, { tags: { Rotator: "generated-secret", ValidityPeriodDays: "14", Owner: "owner@contoso.com" } });
    const err = await engine.rotateSecret({ vault: { name: VAULT, url: kv.url(VAULT) }, secret: "bad-tags", mode: "normal", trigger: { kind: "event", id: "x" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as ConfigurationError).tag).toBe("ValidityPeriodDays");
    expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "plan", errorKind: "configuration", owner: "owner@contoso.com" })]);
    expect(notifier.sent[0]!.error).toMatch(/ValidityPeriodDays/);
    expect(await versionsOf(client, "bad-tags")).toHaveLength(1);
    expect(logs.join("\n")).not.toContain(value);
  });

  it("never logs or notifies a generated value", async () => {
    const { engine, notifier, logs } = testEngine(kv);
    const client = secretClientFor(kv, VAULT);
    await client.setSecret("gen", "initial-gen-value-1", { tags: { Rotator: "generated-secret", ValidityPeriodDays: "40" } });
    const seen: string[] = ["initial-gen-value-1"];
    for (let i = 0; i < 3; i++) {
      await engine.rotateSecret({ vault: { name: VAULT, url: kv.url(VAULT) }, secret: "gen", mode: "normal", trigger: { kind: "http", id: String(i) } });
      seen.push((await client.getSecret("gen")).value!);
    }
    expect(new Set(seen).size).toBe(4);
    const captured = logs.join("\n") + JSON.stringify(notifier.sent);
    for (const v of seen) expect(captured).not.toContain(v);
  });
  it("reads the journal and checks the current credential side by side; a roll-forward neither waits for the check nor fails by it", async () => {
    const checks: Array<{ journalReadHeld: boolean }> = [];
    let failCheck = false;
    /** The journal's read, held at the double until the check has begun (or 5 s have passed: then the check came after the read). */
    let held: { reached: Promise<unknown>; released: boolean; release(): void } | undefined;
    const base = onePasswordRotator(provider);
    const sideBySide: Rotator<{}> & { kind: "side-by-side" } = {
      ...base,
      kind: "side-by-side",
      async checkCurrent(ctx, params, current) {
        if (held) {
          await held.reached;
          checks.push({ journalReadHeld: !held.released });
          held.release();
        }
        if (failCheck) throw new ProviderError("current password is rejected by the provider");
        return base.checkCurrent!(ctx, params, current);
      },
    };
    const { engine, notifier } = testEngine(kv, { registry: createRegistry({ "side-by-side": sideBySide }) });
    const name = "db-side";
    provider.password = generateSecret(24);
    provider.failAt = undefined;
    provider.crashAfterApply = false;
    const client = secretClientFor(kv, VAULT);
    const seeded = await client.setSecret(name, provider.password, { tags: { Rotator: "side-by-side", ValidityPeriodDays: "60" } });
    const req = { vault: { name: VAULT, url: kv.url(VAULT) }, secret: name, mode: "normal" as const, trigger: { kind: "event" as const, id: "sbs" }, expectedVersion: seeded.properties.version! };
    const holdJournalRead = () => {
      // oxlint-disable-next-line unicorn/no-thenable -- `then` is the held fault's option, never awaited
      const hold = faults.hold((d) => d.operation === "GetSecret" && d.path.startsWith(`/secrets/${journalName(name)}`), { then: "serve" });
      const h = {
        reached: hold.reached,
        released: false,
        release: () => {
          h.released = true;
          hold.release();
        },
      };
      void hold.reached.then(() => setTimeout(() => h.release(), 5_000).unref());
      held = h;
    };

    // A rotation that crashes after the provider took the new password; its check began while the journal's read was held.
    holdJournalRead();
    provider.crashAfterApply = true;
    await expect(engine.rotateSecret(req)).rejects.toMatchObject({ kind: "transient" });
    expect(checks).toEqual([{ journalReadHeld: true }]);

    // The redelivery finds the pending journal. The current value no longer works at the
    // provider and the check fails too: the roll-forward finishes with the journaled value.
    provider.crashAfterApply = false;
    failCheck = true;
    holdJournalRead();
    expect(await engine.rotateSecret(req)).toMatchObject({ status: "rotated", rolledForward: true });
    expect(checks).toEqual([{ journalReadHeld: true }, { journalReadHeld: true }]);
    held = undefined;
    expect((await client.getSecret(name)).value).toBe(provider.password);
    expect(await versionsOf(client, name)).toHaveLength(2);
    // The crash was transient (willRetry); the failed check was not reported.
    expect(notifier.sent.map((n) => [n.type, n.type === "keyturn.RotationFailed" ? n.willRetry : undefined])).toEqual([
      ["keyturn.RotationFailed", true],
      ["keyturn.SecretRotated", undefined],
    ]);

    // Without a journal to roll forward, the check's failure is the rotation's, at check-current.
    failCheck = true;
    const latest = (await client.getSecret(name)).properties.version!;
    await expect(engine.rotateSecret({ ...req, expectedVersion: latest, trigger: { kind: "event", id: "sbs-2" } })).rejects.toBeInstanceOf(ProviderError);
    expect(notifier.sent.at(-1)).toMatchObject({ type: "keyturn.RotationFailed", step: "check-current" });
    expect(await versionsOf(client, name)).toHaveLength(2);
  });

  it("a journal read that fails is reported at read-journal, whatever the check beside it does", async () => {
    const { engine, notifier } = testEngine(kv, { registry });
    await seedProvider("db-journal-503");
    provider.failAt = "check";
    const remove = kv.faults.add({ match: { operation: "GetSecret", path: `/secrets/${journalName("db-journal-503")}` }, status: 503, retryAfterSeconds: 0, times: 10 });
    try {
      const err = await engine.rotateSecret({ vault: { name: VAULT, url: kv.url(VAULT) }, secret: "db-journal-503", mode: "normal", trigger: { kind: "event", id: "j" } }).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: "transient" });
      expect((err as Error).message).toMatch(/^read-journal failed: RestError 503/);
      expect(notifier.sent).toEqual([expect.objectContaining({ type: "keyturn.RotationFailed", step: "read-journal", willRetry: true })]);
    } finally {
      remove();
    }
  });

  it("answers an event about a version it replaced as stale without the lock or a read; other versions and other engines still look", async () => {
    let locked = 0;
    const inner = new InProcessLock();
    const lock = { retryAfterSeconds: inner.retryAfterSeconds, tryAcquire: (key: string) => (locked++, inner.tryAcquire(key)) };
    const { engine } = testEngine(kv, { lock });
    const client = secretClientFor(kv, VAULT);
    const seeded = await client.setSecret("dup", "initial-dup-value-1", { tags: { Rotator: "generated-secret", ValidityPeriodDays: "40" } });
    const vault = { name: VAULT, url: kv.url(VAULT) };
    const event = (id: string, version: string) => ({ vault, secret: "dup", mode: "normal" as const, trigger: { kind: "event" as const, id }, expectedVersion: version });
    const rotated = await engine.rotateSecret(event("first", seeded.properties.version!));
    expect(rotated).toMatchObject({ status: "rotated" });

    const reads = () => kv.stats()[VAULT]?.GetSecret ?? 0;
    const [readsBefore, lockedBefore] = [reads(), locked];
    // Event Grid delivers the same event again (Key Vault names versions in any case).
    for (const version of [seeded.properties.version!, seeded.properties.version!.toUpperCase()]) {
      expect(await engine.rotateSecret(event("again", version))).toEqual({ status: "skipped", reason: "stale-event", vault: VAULT, secret: "dup", version: rotated.version });
    }
    expect([reads(), locked]).toEqual([readsBefore, lockedBefore]);

    // A version it did not replace is looked up as before; so does another engine (another instance).
    expect(await engine.rotateSecret(event("other", "0".repeat(32)))).toMatchObject({ status: "skipped", reason: "stale-event" });
    expect([reads(), locked]).toEqual([readsBefore + 1, lockedBefore + 1]);
    expect(await testEngine(kv).engine.rotateSecret(event("elsewhere", seeded.properties.version!))).toMatchObject({ status: "skipped", reason: "stale-event", version: rotated.version });
    expect(reads()).toBe(readsBefore + 2);
    expect(await versionsOf(client, "dup")).toHaveLength(2);
  });

  it("hands checkCurrent's facts to create, apply and verify of the same rotation (apply's to verify), and none to a roll-forward", async () => {
    type Facts = { readonly from: string };
    const seen: Array<[string, Facts | undefined]> = [];
    let crash = true;
    const factsRotator: Rotator<{}, Facts> & { kind: "facts-recorder" } = {
      kind: "facts-recorder",
      model: "single",
      description: "records the facts each step gets",
      tags: [],
      parse: () => ({}),
      checkCurrent: async () => ({ from: "check-current" }),
      async create(ctx, _params, _current, facts) {
        seen.push(["create", facts]);
        const v = generateSecret(24);
        ctx.registerSecret(v);
        return { credentialId: "app", secretValue: v };
      },
      async apply(_ctx, _params, _pending, _current, facts) {
        seen.push(["apply", facts]);
        if (crash) throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        return { from: "apply" };
      },
      async verify(_ctx, _params, _pending, facts) {
        seen.push(["verify", facts]);
      },
    };
    const { engine } = testEngine(kv, { registry: createRegistry({ "facts-recorder": factsRotator }) });
    const client = secretClientFor(kv, VAULT);
    await client.setSecret("facts", generateSecret(24), { tags: { Rotator: "facts-recorder", ValidityPeriodDays: "60" } });
    const req = { vault: { name: VAULT, url: kv.url(VAULT) }, secret: "facts", mode: "normal" as const, trigger: { kind: "http" as const, id: "f" } };
    await expect(engine.rotateSecret(req)).rejects.toMatchObject({ kind: "transient" });
    expect(seen).toEqual([
      ["create", { from: "check-current" }],
      ["apply", { from: "check-current" }],
    ]);
    // The journal carries no facts: the roll-forward's steps get none and read what they need.
    seen.length = 0;
    crash = false;
    expect(await engine.rotateSecret(req)).toMatchObject({ status: "rotated", rolledForward: true });
    expect(seen).toEqual([
      ["apply", undefined],
      ["verify", { from: "apply" }],
    ]);
  });
});
