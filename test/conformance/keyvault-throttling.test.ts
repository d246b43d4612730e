// Key Vault's throttling, as published, and as the double and keyturn's pacer apply it.
//
// Sources:
//   [limits]   "Azure Key Vault service limits", learn.microsoft.com/azure/key-vault/general/service-limits:
//              key transactions, maximum allowed in 10 seconds per vault per region: CREATE key
//              10 (HSM) and 20 (software) for RSA 2,048/3,072/4,096 and every EC curve; secrets,
//              managed storage account keys and vault transactions: CREATE 300, all other
//              transactions 4,000 (certificate and key imports count as secret CREATEs).
//   [guidance] "Azure Key Vault throttling guidance", learn.microsoft.com/azure/key-vault/general/overview-throttling:
//              an exceeded threshold answers HTTP 429 (Too many requests); "Failed requests that
//              return a 429 do not count towards the throttle limits"; "the subscription-wide limit
//              for all transaction types is five times per key vault limit".
// The figures live in core/keyvault-limits.ts; the double (emulators/faults.ts) holds none and
// is given them here.
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_VAULT_LIMITS, scaledVaultLimits, subscriptionLimits, transactionClassesOf } from "../../core/keyvault-limits.js";
import { KeyVaultPacer, scaledLimits } from "../../core/pacing.js";
import { FaultInjector, type FaultDecision, type RequestDescriptor } from "../../emulators/faults.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";

const token: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token: "t", expiresOnTimestamp: Date.now() + 3_600_000 }) };
const VAULTS = ["kv-classes", "kv-keys", ...Array.from({ length: 6 }, (_, i) => `kv-sub-${i}`)];
/** The double's throttle clock runs this many times faster than real time: its 10 s window lasts 2 s. */
const SPEED = 5;
const start = Date.now();

/** Records what the double told the fault injector about each request, and counts its 429s. */
class RecordingFaults extends FaultInjector {
  readonly seen: RequestDescriptor[] = [];
  throttled = 0;
  constructor() {
    super({ now: () => start + (Date.now() - start) * SPEED });
  }
  override decide(request: RequestDescriptor): FaultDecision {
    this.seen.push(request);
    const d = super.decide(request);
    if (d.kind === "respond" && d.status === 429) this.throttled++;
    return d;
  }
}

let kv: KeyVaultEmulator;
let faults: RecordingFaults;

beforeAll(async () => {
  faults = new RecordingFaults();
  kv = await startKeyVaultEmulator({ vaults: VAULTS, faults });
});
afterAll(async () => kv?.stop());

function options(pacer?: KeyVaultPacer) {
  return {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: kv.tls.caPem },
    // Without pacing no retries, so that a 429 surfaces. With it, a connection the double
    // closed while a call waited for its turn is retried as in production; the double's own
    // count of 429s says whether any was throttled.
    retryOptions: { maxRetries: pacer ? 3 : 0 },
    ...(pacer ? { additionalPolicies: [{ policy: pacer.policy(), position: "perRetry" as const }] } : {}),
  };
}

const settle = async (ps: Promise<unknown>[]) => {
  const r = await Promise.allSettled(ps);
  return {
    ok: r.filter((x) => x.status === "fulfilled").length,
    throttled: r.filter((x) => x.status === "rejected" && (x.reason as { statusCode?: number }).statusCode === 429).length,
  };
};
/** Waits out the double's (fast) window. */
const nextWindow = () => new Promise((r) => setTimeout(r, KEY_VAULT_LIMITS.windowMs / SPEED + 100));

describe("Key Vault's published limits [limits][guidance]", () => {
  it("per vault per 10 s: 300 secret CREATEs, 20 software and 10 HSM key CREATEs, 4,000 others; the subscription 5x", () => {
    expect(KEY_VAULT_LIMITS).toEqual({
      windowMs: 10_000,
      perVault: { secretCreate: 300, keyCreateSoftware: 20, keyCreateHsm: 10, other: 4_000 },
      subscriptionFactor: 5,
    });
    expect(subscriptionLimits(scaledVaultLimits(1))).toEqual({ secretCreate: 1_500, keyCreateSoftware: 100, keyCreateHsm: 50, other: 20_000 });
  });

  it("the double counts each operation in the class the pacer expects it in [limits]", async () => {
    const secrets = new SecretClient(kv.url("kv-classes"), token, options());
    const keys = new KeyClient(kv.url("kv-classes"), token, options());
    faults.seen.length = 0;
    const s = await secrets.setSecret("classified", "v1");
    await secrets.updateSecretProperties("classified", s.properties.version!, { tags: { a: "b" } });
    await secrets.getSecret("classified");
    for await (const _ of secrets.listPropertiesOfSecrets()) continue;
    await keys.createKey("soft", "RSA");
    await keys.createKey("hsm", "EC-HSM");
    await keys.rotateKey("soft");
    await keys.rotateKey("hsm");
    await secrets.beginDeleteSecret("classified");

    const byOperation = new Map<string, string>();
    for (const d of faults.seen.filter((x) => x.vault === "kv-classes")) {
      const kty = d.operation === "CreateKey" ? (d.path.includes("/hsm/") ? "EC-HSM" : "RSA") : d.operation === "RotateKey" ? (d.path.includes("/hsm/") ? "EC-HSM" : "RSA") : undefined;
      const expected = transactionClassesOf(d.method, d.path, kty);
      expect(expected, `${d.method} ${d.path}`).toHaveLength(1);
      expect(d.transaction ?? "other", `${d.operation} ${d.method} ${d.path}`).toBe(expected[0]);
      byOperation.set(`${d.operation}${d.path.includes("/hsm/") ? " (HSM)" : ""}`, d.transaction ?? "other");
    }
    expect(Object.fromEntries(byOperation)).toMatchObject({
      SetSecret: "secretCreate",
      UpdateSecret: "other",
      GetSecret: "other",
      GetSecrets: "other",
      DeleteSecret: "other",
      CreateKey: "keyCreateSoftware",
      "CreateKey (HSM)": "keyCreateHsm",
      RotateKey: "keyCreateSoftware",
      "RotateKey (HSM)": "keyCreateHsm",
    });
  });

  it("the subscription's limit binds across vaults, and a 429 does not count [guidance]", async () => {
    // 1 % of the published limits: 3 secret CREATEs per vault, 15 for the subscription.
    const perVault = scaledVaultLimits(0.01);
    const remove = faults.throttle({ perVault, subscription: subscriptionLimits(perVault), match: { path: /^\/secrets\// } });
    try {
      await nextWindow();
      faults.throttled = 0;
      const writes = VAULTS.filter((v) => v.startsWith("kv-sub-")).flatMap((v) => {
        const c = new SecretClient(kv.url(v), token, options());
        return Array.from({ length: 3 }, (_, i) => c.setSecret(`s${i}`, "x"));
      });
      // Six vaults, each within its own 3, together 18 against the subscription's 15.
      expect(await settle(writes)).toEqual({ ok: 15, throttled: 3 });
      expect(faults.throttled).toBe(3);
    } finally {
      remove();
    }
  });
});

describe("keyturn's pacer keeps a burst under the published classes", () => {
  it("a burst of key rotations is paced under the key CREATE limit and causes no 429", async () => {
    const remove = faults.throttle({ perVault: scaledVaultLimits(1), subscription: subscriptionLimits(scaledVaultLimits(1)), match: { vault: "kv-keys" } });
    try {
      const setup = new KeyClient(kv.url("kv-keys"), token, options());
      const names = Array.from({ length: 25 }, (_, i) => `key-${i}`);
      for (const [i, n] of names.entries()) {
        await setup.createKey(n, "EC"); // EC: the double makes its material in well under a millisecond
        // Key creates count too: keep the set-up itself under 20 per window.
        if (i % 15 === 14) await nextWindow();
      }

      // Without pacing: 25 rotations of software keys against 20 per 10 s.
      await nextWindow();
      faults.throttled = 0;
      const unpaced = await settle(names.map((n) => setup.rotateKey(n)));
      // At most 20 in one window: 5 or more are refused (fewer only if the burst outlasts a window).
      expect(unpaced.throttled).toBeGreaterThan(0);
      expect(unpaced.ok + unpaced.throttled).toBe(25);
      expect(faults.throttled).toBe(unpaced.throttled);

      // With the pacer (the published limits, its window matched to the double's clock).
      await nextWindow();
      faults.throttled = 0;
      const pacer = new KeyVaultPacer({ ...scaledLimits(1), windowMs: KEY_VAULT_LIMITS.windowMs / SPEED });
      const paced = new KeyClient(kv.url("kv-keys"), token, options(pacer));
      const outcome = await settle(names.map((n) => paced.rotateKey(n)));
      expect(outcome).toEqual({ ok: 25, throttled: 0 });
      expect(faults.throttled).toBe(0);
      // The request does not show whether the key is software or HSM: the pacer kept within both.
      expect(pacer.gatesFor(new URL(kv.url("kv-keys")).host).keyCreateHsm.waited).toBeGreaterThan(0);
      for (const n of names) expect((await setup.getKey(n)).properties.version).toBeDefined();
    } finally {
      remove();
    }
  });
});
