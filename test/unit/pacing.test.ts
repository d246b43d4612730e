// core/pacing.ts: the per-vault gates that keep keyturn within Key Vault's limits.
// Time is a hand-moved clock plus vitest's fake timers; nothing touches the network.
import type { PipelineRequest, PipelineResponse } from "@azure/core-rest-pipeline";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../core/config.js";
import { KEY_VAULT_LIMITS, scaledVaultLimits, transactionClassesOf, type TransactionLimits } from "../../core/keyvault-limits.js";
import { KeyVaultPacer, PacingAbortedError, PacingPriority, SlidingWindowGate, pacingPriorityOf, scaledLimits, type PacingLimits } from "../../core/pacing.js";

const VAULT = "https://kv-one.vault.azure.net";

/** Pacing limits for a test: the given per-vault figures (others 1,000), the subscription's as given or 100x. */
function limits(vault: Partial<TransactionLimits>, windowMs: number, subscription?: Partial<TransactionLimits>): PacingLimits {
  const v = { secretCreate: 1_000, keyCreateSoftware: 1_000, keyCreateHsm: 1_000, other: 1_000, ...vault };
  const s = subscription ? { ...v, ...subscription } : (Object.fromEntries(Object.entries(v).map(([k, n]) => [k, n * 100])) as TransactionLimits);
  return { vault: v, subscription: s, windowMs };
}

/** Settles pending promise callbacks without moving time. */
const flush = () => vi.advanceTimersByTimeAsync(0);

describe("SlidingWindowGate", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("lets the limit go at once, then the next call only a window after the first answer", async () => {
    // prepare
    const gate = new SlidingWindowGate(3, 10_000, () => Date.now());
    const releases = await Promise.all([gate.acquire(), gate.acquire(), gate.acquire()]);
    let fourthWent = false;
    const fourth = gate.acquire().then((r) => {
      fourthWent = true;
      return r;
    });
    // act: the first call is answered 2 s later, the others 3 s later
    await vi.advanceTimersByTimeAsync(2_000);
    releases[0]();
    await vi.advanceTimersByTimeAsync(1_000);
    releases[1]();
    releases[2]();
    await vi.advanceTimersByTimeAsync(8_900); // 9.9 s after the first answer
    // assess
    expect(fourthWent).toBe(false);
    expect(gate.counted()).toBe(3);
    await vi.advanceTimersByTimeAsync(200); // just over 10 s after the first answer
    expect(fourthWent).toBe(true);
    expect(gate.counted()).toBe(3);
    expect(gate.waited).toBe(1);
    (await fourth)();
  });

  it("counts calls in flight: an unanswered call holds its slot for as long as it runs", async () => {
    const gate = new SlidingWindowGate(2, 1_000, () => Date.now());
    const first = await gate.acquire();
    await gate.acquire();
    let thirdWent = false;
    void gate.acquire().then(() => (thirdWent = true));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(thirdWent).toBe(false);
    first();
    await vi.advanceTimersByTimeAsync(999);
    expect(thirdWent).toBe(false);
    await vi.advanceTimersByTimeAsync(10);
    expect(thirdWent).toBe(true);
  });

  it("serves waiting calls by priority, then in arrival order", async () => {
    const gate = new SlidingWindowGate(1, 1_000, () => Date.now());
    const release = await gate.acquire();
    const order: string[] = [];
    const go = (name: string, priority: number) =>
      gate.acquire(priority).then((r) => {
        order.push(name);
        r();
      });
    const all = Promise.all([
      go("start-1", PacingPriority.Start),
      go("commit-1", PacingPriority.Commit),
      go("start-2", PacingPriority.Start),
      go("finish-1", PacingPriority.Finish),
      go("commit-2", PacingPriority.Commit),
    ]);
    release();
    await vi.advanceTimersByTimeAsync(10_000);
    await all;
    expect(order).toEqual(["finish-1", "commit-1", "commit-2", "start-1", "start-2"]);
  });

  it("a call cancelled while waiting leaves the queue and rejects", async () => {
    const gate = new SlidingWindowGate(1, 1_000, () => Date.now());
    const release = await gate.acquire();
    const controller = new AbortController();
    const waiting = gate.acquire(PacingPriority.Start, controller.signal);
    expect(gate.queued).toBe(1);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(PacingAbortedError);
    expect(gate.queued).toBe(0);
    release();
    await flush();
    await expect(gate.acquire(PacingPriority.Start, AbortSignal.abort())).rejects.toThrow(/cancelled/);
  });

  it("never has more than the limit counted, whatever the answer times", async () => {
    const gate = new SlidingWindowGate(5, 1_000, () => Date.now());
    let maxCounted = 0;
    const calls = Array.from({ length: 40 }, (_, i) =>
      gate.acquire().then(async (release) => {
        maxCounted = Math.max(maxCounted, gate.counted());
        await new Promise((r) => setTimeout(r, 10 + ((i * 37) % 300)));
        release();
      }),
    );
    await vi.advanceTimersByTimeAsync(30_000);
    await Promise.all(calls);
    expect(maxCounted).toBe(5);
    expect(gate.waited).toBe(35);
  });

  it("refuses a limit below one", () => {
    expect(() => new SlidingWindowGate(0, 1_000)).toThrow(RangeError);
  });
});

describe("classifying Key Vault requests (core/keyvault-limits.ts)", () => {
  it("a new secret version is a secret CREATE; PATCH, DELETE, GET and lists are other transactions", () => {
    expect(transactionClassesOf("PUT", "/secrets/db")).toEqual(["secretCreate"]);
    expect(transactionClassesOf("put", "/secrets/keyturn-journal-db/")).toEqual(["secretCreate"]);
    for (const [m, p] of [["PATCH", "/secrets/db/0123"], ["DELETE", "/secrets/db"], ["GET", "/secrets/db"], ["GET", "/secrets"], ["GET", "/secrets/db/versions"], ["POST", "/secrets/db/backup"]] as const) {
      expect(transactionClassesOf(m, p), `${m} ${p}`).toEqual(["other"]);
    }
  });

  it("imports count as secret CREATEs; key creates by the key's protection; a rotation of an unknown key in both", () => {
    expect(transactionClassesOf("POST", "/certificates/c/import")).toEqual(["secretCreate"]);
    expect(transactionClassesOf("PUT", "/keys/k")).toEqual(["secretCreate"]);
    expect(transactionClassesOf("POST", "/keys/k/create", "RSA")).toEqual(["keyCreateSoftware"]);
    expect(transactionClassesOf("POST", "/keys/k/create", "EC-HSM")).toEqual(["keyCreateHsm"]);
    expect(transactionClassesOf("POST", "/keys/k/rotate", "RSA-HSM")).toEqual(["keyCreateHsm"]);
    expect(transactionClassesOf("POST", "/keys/k/rotate")).toEqual(["keyCreateSoftware", "keyCreateHsm"]);
    expect(transactionClassesOf("GET", "/keys/k/rotationpolicy")).toEqual(["other"]);
  });

  it("puts a rotation's last write first and a new rotation's first write last", () => {
    expect(pacingPriorityOf("PATCH", `${VAULT}/secrets/keyturn-journal-db/0123?api-version=2025-07-01`)).toBe(PacingPriority.Finish);
    expect(pacingPriorityOf("PUT", `${VAULT}/secrets/db?api-version=2025-07-01`)).toBe(PacingPriority.Commit);
    expect(pacingPriorityOf("PUT", `${VAULT}/secrets/keyturn-journal-db?api-version=2025-07-01`)).toBe(PacingPriority.Start);
    expect(pacingPriorityOf("GET", `${VAULT}/secrets/db?api-version=2025-07-01`)).toBe(PacingPriority.Start);
  });
});

describe("limits", () => {
  it("scales Key Vault's limits per class, never below one call per window; the subscription's are 5x", () => {
    expect(scaledLimits(1)).toEqual({
      vault: { secretCreate: 300, keyCreateSoftware: 20, keyCreateHsm: 10, other: 4000 },
      subscription: { secretCreate: 1500, keyCreateSoftware: 100, keyCreateHsm: 50, other: 20_000 },
      windowMs: 10_000,
    });
    expect(scaledVaultLimits(0.5)).toEqual({ secretCreate: 150, keyCreateSoftware: 10, keyCreateHsm: 5, other: 2000 });
    expect(scaledVaultLimits(0.0001)).toEqual({ secretCreate: 1, keyCreateSoftware: 1, keyCreateHsm: 1, other: 1 });
    expect(() => scaledLimits(0)).toThrow(RangeError);
    expect(KEY_VAULT_LIMITS.windowMs).toBe(10_000);
  });

  it("reads KEYTURN_KEYVAULT_LIMIT_SCALE: default 1, 0 turns pacing off, nonsense is refused", () => {
    expect(loadConfig({}).keyVaultLimitScale).toBe(1);
    expect(loadConfig({ KEYTURN_KEYVAULT_LIMIT_SCALE: " 0.25 " }).keyVaultLimitScale).toBe(0.25);
    expect(loadConfig({ KEYTURN_KEYVAULT_LIMIT_SCALE: "0" }).keyVaultLimitScale).toBe(0);
    expect(() => loadConfig({ KEYTURN_KEYVAULT_LIMIT_SCALE: "-1" })).toThrow(/KEYTURN_KEYVAULT_LIMIT_SCALE/);
    expect(() => loadConfig({ KEYTURN_KEYVAULT_LIMIT_SCALE: "half" })).toThrow(/KEYTURN_KEYVAULT_LIMIT_SCALE/);
  });
});

describe("the pipeline policy", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("paces secret CREATEs and other calls separately, per vault host", async () => {
    // prepare: 2 creates and 3 other calls per 1 s; every call takes 50 ms
    const pacer = new KeyVaultPacer(limits({ secretCreate: 2, other: 3 }, 1_000), () => Date.now());
    const policy = pacer.policy();
    const sent: Array<{ at: number; method: string; host: string }> = [];
    const next = async (request: PipelineRequest): Promise<PipelineResponse> => {
      sent.push({ at: Date.now(), method: request.method, host: new URL(request.url).host });
      await new Promise((r) => setTimeout(r, 50));
      return { request, status: 200, headers: {} as PipelineResponse["headers"] };
    };
    const call = (method: "GET" | "PUT", vault: string) => policy.sendRequest({ method, url: `${vault}/secrets/s?api-version=2025-07-01` } as PipelineRequest, next);
    const start = Date.now();
    // act: 4 writes and 4 reads to one vault, 2 writes to another
    const all = Promise.all([
      ...Array.from({ length: 4 }, () => call("PUT", VAULT)),
      ...Array.from({ length: 4 }, () => call("GET", VAULT)),
      ...Array.from({ length: 2 }, () => call("PUT", "https://kv-two.vault.azure.net")),
    ]);
    await vi.advanceTimersByTimeAsync(5_000);
    await all;
    // assess
    const at = (method: string, host: string) => sent.filter((s) => s.method === method && s.host === host).map((s) => s.at - start);
    expect(at("PUT", "kv-one.vault.azure.net")).toEqual([0, 0, 1_051, 1_051]);
    expect(at("GET", "kv-one.vault.azure.net")).toEqual([0, 0, 0, 1_051]);
    expect(at("PUT", "kv-two.vault.azure.net")).toEqual([0, 0]);
  });

  it("releases the slot when the call fails, so a failed call cannot block the vault", async () => {
    const pacer = new KeyVaultPacer(limits({ secretCreate: 1, other: 1 }, 100), () => Date.now());
    const policy = pacer.policy();
    const failing = async (): Promise<PipelineResponse> => {
      throw new Error("socket hang up");
    };
    await expect(policy.sendRequest({ method: "PUT", url: `${VAULT}/secrets/s` } as PipelineRequest, failing)).rejects.toThrow("socket hang up");
    expect(pacer.gatesFor("kv-one.vault.azure.net").secretCreate.counted()).toBe(1);
    await vi.advanceTimersByTimeAsync(101);
    expect(pacer.gatesFor("KV-ONE.vault.azure.net").secretCreate.counted()).toBe(0);
  });

  it("the subscription's limit binds across vaults: each vault within its own, all of them within the subscription's", async () => {
    const pacer = new KeyVaultPacer(limits({ secretCreate: 2 }, 1_000, { secretCreate: 3 }), () => Date.now());
    const policy = pacer.policy();
    const sent: Array<{ at: number; host: string }> = [];
    const next = async (request: PipelineRequest): Promise<PipelineResponse> => {
      sent.push({ at: Date.now(), host: new URL(request.url).host });
      await new Promise((r) => setTimeout(r, 50));
      return { request, status: 200, headers: {} as PipelineResponse["headers"] };
    };
    const put = (vault: string) => policy.sendRequest({ method: "PUT", url: `https://${vault}.vault.azure.net/secrets/s` } as PipelineRequest, next);
    const start = Date.now();
    const all = Promise.all([put("kv-a"), put("kv-a"), put("kv-a"), put("kv-b"), put("kv-c")]);
    await vi.advanceTimersByTimeAsync(5_000);
    await all;
    const first = sent.filter((s) => s.at - start < 1_000);
    expect(first).toHaveLength(3);
    expect(first.filter((s) => s.host === "kv-a.vault.azure.net").length).toBeLessThanOrEqual(2);
    expect(sent).toHaveLength(5);
    expect(Math.max(...sent.map((s) => s.at - start))).toBeGreaterThanOrEqual(1_000);
  });

  it("a key rotation of a key whose protection the request does not show waits for both key CREATE limits", async () => {
    const pacer = new KeyVaultPacer(limits({ keyCreateSoftware: 2, keyCreateHsm: 1 }, 1_000), () => Date.now());
    const policy = pacer.policy();
    const sent: number[] = [];
    const next = async (request: PipelineRequest): Promise<PipelineResponse> => {
      sent.push(Date.now());
      return { request, status: 200, headers: {} as PipelineResponse["headers"] };
    };
    const start = Date.now();
    const rotate = () => policy.sendRequest({ method: "POST", url: `${VAULT}/keys/k/rotate?api-version=7.6` } as PipelineRequest, next);
    const create = (kty: string) => policy.sendRequest({ method: "POST", url: `${VAULT}/keys/k2/create?api-version=7.6`, body: JSON.stringify({ kty }) } as PipelineRequest, next);
    const all = Promise.all([rotate(), rotate(), create("RSA"), create("RSA-HSM")]);
    await vi.advanceTimersByTimeAsync(5_000);
    await all;
    // The HSM gate admits one per second: the two rotations and the HSM create went in three different seconds.
    expect(sent).toHaveLength(4);
    expect(new Set(sent.map((t) => Math.floor((t - start) / 1_000))).size).toBeGreaterThanOrEqual(3);
    expect(pacer.gatesFor("kv-one.vault.azure.net").keyCreateHsm.waited).toBe(2);
  });
});
