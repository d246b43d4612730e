// Pacing with the real SecretClient pipeline against the Key Vault double's throttle
// (Key Vault's sliding 10 s window, 429 with Retry-After once a vault is over its limit).
// To keep the test short, the double's clock runs 20 times faster than real time, so its
// 10 s window lasts 0.5 s, and the pacer is given a 0.5 s window to match.
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { SecretClient } from "@azure/keyvault-secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getSecretClient } from "../../core/azure.js";
import { loadConfig } from "../../core/config.js";
import { KeyVaultPacer, processPacer } from "../../core/pacing.js";
import { FaultInjector, type FaultDecision, type RequestDescriptor } from "../../emulators/faults.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";

const VAULT = "pace-kv";
const SPEED = 20;
const start = Date.now();

/** The double's fault injector on a fast clock, counting the 429s it answers. */
class FastThrottle extends FaultInjector {
  throttled = 0;
  constructor() {
    super({ now: () => start + (Date.now() - start) * SPEED });
  }
  override decide(request: RequestDescriptor): FaultDecision {
    const d = super.decide(request);
    if (d.kind === "respond" && d.status === 429) this.throttled++;
    return d;
  }
}

const token: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token: "t", expiresOnTimestamp: Date.now() + 3_600_000 }) };

let kv: KeyVaultEmulator;
let faults: FastThrottle;

beforeAll(async () => {
  faults = new FastThrottle();
  kv = await startKeyVaultEmulator({ vaults: [VAULT], faults });
  faults.throttle({ perVault: { secretCreate: 3, other: 50 } });
});

afterAll(async () => {
  await kv?.stop();
});

/** A client as core/azure.ts makes one, without retries so that a 429 would surface. */
function client(pacer?: KeyVaultPacer): SecretClient {
  return new SecretClient(kv.url(VAULT), token, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: kv.tls.caPem },
    retryOptions: { maxRetries: 0 },
    ...(pacer ? { additionalPolicies: [{ policy: pacer.policy(), position: "perRetry" as const }] } : {}),
  });
}

async function settle<T>(ps: Promise<T>[]): Promise<{ ok: number; throttled: number }> {
  const results = await Promise.allSettled(ps);
  return {
    ok: results.filter((r) => r.status === "fulfilled").length,
    throttled: results.filter((r) => r.status === "rejected" && (r.reason as { statusCode?: number }).statusCode === 429).length,
  };
}

describe("pacing Key Vault calls", () => {
  it("without pacing, a burst of writes runs into the vault's limit", async () => {
    // prepare: a client without the policy; a fresh window
    await new Promise((r) => setTimeout(r, 600));
    faults.throttled = 0;
    // act
    const outcome = await settle(Array.from({ length: 9 }, (_, i) => client().setSecret(`unpaced-${i}`, `value-${i}`)));
    // assess
    expect(outcome.throttled).toBeGreaterThan(0);
    expect(faults.throttled).toBe(outcome.throttled);
  });

  it("with the pacer as a perRetry policy, the same burst gets no 429 and every write lands", async () => {
    await new Promise((r) => setTimeout(r, 600));
    faults.throttled = 0;
    const perVault = { secretCreate: 3, keyCreateSoftware: 20, keyCreateHsm: 10, other: 50 };
    const pacer = new KeyVaultPacer({ vault: perVault, subscription: perVault, windowMs: 10_000 / SPEED });
    const paced = client(pacer);
    const outcome = await settle(Array.from({ length: 9 }, (_, i) => paced.setSecret(`paced-${i}`, `value-${i}`)));
    expect(outcome).toEqual({ ok: 9, throttled: 0 });
    expect(faults.throttled).toBe(0);
    // The challenge's first, unauthenticated request and the nine writes went through the gate.
    const writes = pacer.gatesFor(new URL(kv.url(VAULT)).host).secretCreate;
    expect(writes.waited).toBeGreaterThan(0);
    expect((await paced.getSecret("paced-8")).value).toBe("value-8");
  });

  it("the engine's SecretClient (core/azure.ts) draws on the process pacer of its share", async () => {
    const config = loadConfig({
      KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`,
      KEYTURN_CREDENTIAL: "local-emulator",
      KEYTURN_TLS_CA_FILE: kv.tls.caFile,
      KEYTURN_KEYVAULT_LIMIT_SCALE: "0.37",
    });
    const gates = processPacer(0.37).gatesFor(new URL(kv.url(VAULT)).host);
    await new Promise((r) => setTimeout(r, 600));
    const engineClient = await getSecretClient(config, kv.url(VAULT));
    // The first call answers the token challenge (an unauthenticated request, then the call).
    await engineClient.getSecret("paced-0");
    const others = gates.other.counted();
    const creates = gates.secretCreate.counted();
    await engineClient.setSecret("via-runtime", "v");
    expect(gates.secretCreate.counted()).toBe(creates + 1);
    expect(gates.other.counted()).toBe(others);
    expect(gates.secretCreate.limit).toBe(111); // 300 x 0.37
    expect(processPacer(0.37).subscription.secretCreate.limit).toBe(555); // 5 x the vault's
  });
});
