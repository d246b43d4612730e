// FaultInjector decisions, without servers: matching, times, probability, and the
// sliding-window throttle with a controllable clock. (The HTTP side, apply(), is covered
// against the Key Vault double in keyvault-emulator.test.ts.)
import { describe, expect, it } from "vitest";
import { FaultInjector, type RequestDescriptor } from "../../emulators/faults.js";

const get = (path: string, extra: Partial<RequestDescriptor> = {}): RequestDescriptor => ({
  service: "keyvault",
  vault: "kv1",
  method: "GET",
  path,
  operation: "GetSecret",
  ...extra,
});
const put = (path: string, extra: Partial<RequestDescriptor> = {}): RequestDescriptor =>
  get(path, { method: "PUT", operation: "SetSecret", transaction: "secretCreate", ...extra });

describe("FaultInjector rules", () => {
  it("matches on service, vault, method, operation and path (RegExp or path prefix)", () => {
    const faults = new FaultInjector();
    faults.add({ match: { vault: "kv1", method: "put", path: "/secrets/a" }, status: 503 });
    expect(faults.decide(put("/secrets/a")).kind).toBe("respond");
    expect(faults.decide(put("/secrets/a/0123")).kind).toBe("respond");
    expect(faults.decide(put("/secrets/ab")).kind).toBe("pass");
    expect(faults.decide(get("/secrets/a")).kind).toBe("pass");
    expect(faults.decide(put("/secrets/a", { vault: "kv2" })).kind).toBe("pass");
    faults.clear();

    faults.add({ match: { service: "arm", path: /regenerateKey$/ }, status: 500 });
    expect(faults.decide(get("/x/regenerateKey", { service: "arm" })).kind).toBe("respond");
    expect(faults.decide(get("/x/regenerateKey")).kind).toBe("pass");
  });

  it("applies a rule `times` times, and the remover takes it away", () => {
    const faults = new FaultInjector();
    faults.add({ status: 500, times: 2 });
    expect(faults.decide(get("/a")).kind).toBe("respond");
    expect(faults.decide(get("/a")).kind).toBe("respond");
    expect(faults.decide(get("/a")).kind).toBe("pass");

    const remove = faults.add({ status: 429, retryAfterSeconds: 3 });
    const decision = faults.decide(get("/a"));
    expect(decision).toMatchObject({ kind: "respond", status: 429, retryAfterSeconds: 3, errorCode: "Throttled" });
    remove();
    expect(faults.decide(get("/a")).kind).toBe("pass");
  });

  it("adds latencies and lets the first answering rule decide", () => {
    const faults = new FaultInjector();
    faults.add({ latencyMs: 100 });
    faults.add({ drop: true, times: 1 });
    faults.add({ status: 500, latencyMs: 50, times: 1 });
    expect(faults.decide(get("/a"))).toEqual({ kind: "drop", latencyMs: 100 });
    // The 500 rule did not apply above, so its single use is still there.
    expect(faults.decide(get("/a"))).toMatchObject({ kind: "respond", status: 500, latencyMs: 150 });
    expect(faults.decide(get("/a"))).toEqual({ kind: "pass", latencyMs: 100 });
  });

  it("honours probability with the given random source", () => {
    const rolls = [0.1, 0.9, 0.49, 0.5];
    const faults = new FaultInjector({ random: () => rolls.shift()! });
    faults.add({ status: 503, probability: 0.5 });
    expect([get("/a"), get("/a"), get("/a"), get("/a")].map((r) => faults.decide(r).kind)).toEqual([
      "respond",
      "pass",
      "respond",
      "pass",
    ]);
    expect(() => faults.add({ status: 500, probability: 2 })).toThrow(RangeError);
  });
});

describe("FaultInjector throttle", () => {
  it("throttles each class separately per vault, in a sliding 10 s window", () => {
    let now = 1_000_000;
    const faults = new FaultInjector({ now: () => now });
    faults.throttle({ perVault: { secretCreate: 2, other: 3 } });

    expect(faults.decide(put("/secrets/a")).kind).toBe("pass");
    now += 4000;
    expect(faults.decide(put("/secrets/a")).kind).toBe("pass");
    const throttled = faults.decide(put("/secrets/a"));
    // The oldest create leaves the window 6 s from now.
    expect(throttled).toMatchObject({ kind: "respond", status: 429, errorCode: "Throttled", retryAfterSeconds: 6 });
    expect(faults.decide(put("/secrets/a", { vault: "kv2" })).kind).toBe("pass");
    // A PATCH or a DELETE is not a create: it counts with the reads.
    expect(faults.decide(get("/secrets/a", { method: "PATCH", operation: "UpdateSecret" })).kind).toBe("pass");
    for (let i = 0; i < 2; i++) expect(faults.decide(get("/secrets/a")).kind).toBe("pass");
    expect(faults.decide(get("/secrets/a")).kind).toBe("respond");

    // Rejected requests did not count: once the first create ages out, one more fits.
    now += 6000;
    expect(faults.decide(put("/secrets/a")).kind).toBe("pass");
    expect(faults.decide(put("/secrets/a")).kind).toBe("respond");
  });

  it("the subscription's limit binds across vaults; a class without a limit is not throttled; only where it matches", () => {
    const faults = new FaultInjector({ now: () => 0 });
    const remove = faults.throttle({ perVault: { secretCreate: 2 }, subscription: { secretCreate: 3 }, match: { service: "keyvault" } });
    expect(faults.decide(put("/secrets/a", { vault: "v1" })).kind).toBe("pass");
    expect(faults.decide(put("/secrets/a", { vault: "v1" })).kind).toBe("pass");
    expect(faults.decide(put("/secrets/a", { vault: "v1" })).kind).toBe("respond"); // the vault's 2
    expect(faults.decide(put("/secrets/a", { vault: "v2" })).kind).toBe("pass");
    expect(faults.decide(put("/secrets/a", { vault: "v3" })).kind).toBe("respond"); // the subscription's 3
    for (let i = 0; i < 10; i++) expect(faults.decide(get("/secrets/a")).kind).toBe("pass");
    expect(faults.decide(put("/x", { service: "arm" })).kind).toBe("pass");
    remove();
    expect(faults.decide(put("/secrets/a", { vault: "v3" })).kind).toBe("pass");
  });
});
