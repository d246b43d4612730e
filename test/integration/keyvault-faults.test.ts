// FaultInjector decisions, without servers: matching, times, probability, and the
// sliding-window throttle with a controllable clock. (The HTTP side, apply(), is covered
// against the Key Vault double in keyvault-emulator.test.ts.)
import { describe, expect, it } from "vitest";
import { FaultInjector, KEY_VAULT_SECRET_LIMITS, type RequestDescriptor } from "../../emulators/faults.js";

const get = (path: string, extra: Partial<RequestDescriptor> = {}): RequestDescriptor => ({
  service: "keyvault",
  vault: "kv1",
  method: "GET",
  path,
  operation: "GetSecret",
  ...extra,
});
const put = (path: string, extra: Partial<RequestDescriptor> = {}): RequestDescriptor =>
  get(path, { method: "PUT", operation: "SetSecret", ...extra });

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
  it("uses Key Vault's published secret limits as its reference figures", () => {
    expect(KEY_VAULT_SECRET_LIMITS).toEqual({ writesPer10s: 300, othersPer10s: 4000 });
  });

  it("throttles writes and reads separately per vault, in a sliding 10 s window", () => {
    let now = 1_000_000;
    const faults = new FaultInjector({ now: () => now });
    faults.throttle({ writesPer10s: 2, othersPer10s: 3 });

    expect(faults.decide(put("/secrets/a")).kind).toBe("pass");
    now += 4000;
    expect(faults.decide(put("/secrets/a")).kind).toBe("pass");
    const throttled = faults.decide(put("/secrets/a"));
    // The oldest write leaves the window 6 s from now.
    expect(throttled).toMatchObject({ kind: "respond", status: 429, errorCode: "Throttled", retryAfterSeconds: 6 });
    expect(faults.decide(put("/secrets/a", { vault: "kv2" })).kind).toBe("pass");
    for (let i = 0; i < 3; i++) expect(faults.decide(get("/secrets/a")).kind).toBe("pass");
    expect(faults.decide(get("/secrets/a")).kind).toBe("respond");

    // Rejected requests did not count: once the first write ages out, one more fits.
    now += 6000;
    expect(faults.decide(put("/secrets/a")).kind).toBe("pass");
    expect(faults.decide(put("/secrets/a")).kind).toBe("respond");
  });

  it("classifies writes with a custom predicate and only where it matches", () => {
    const faults = new FaultInjector({ now: () => 0 });
    const remove = faults.throttle({
      writesPer10s: 1,
      othersPer10s: 100,
      match: { service: "keyvault" },
      isWrite: (r) => r.operation === "SetSecret",
    });
    expect(faults.decide(put("/secrets/a")).kind).toBe("pass");
    expect(faults.decide(put("/secrets/a")).kind).toBe("respond");
    expect(faults.decide(get("/secrets/a", { method: "DELETE", operation: "DeleteSecret" })).kind).toBe("pass");
    expect(faults.decide(put("/x", { service: "arm" })).kind).toBe("pass");
    remove();
    expect(faults.decide(put("/secrets/a")).kind).toBe("pass");
  });
});
