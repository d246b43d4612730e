// The one classification every trigger asks: what is transient, what the trigger does.
import { RestError } from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import {
  ConfigurationError,
  Disposition,
  ErrorKind,
  NotFoundError,
  ProviderError,
  RotationInProgressError,
  TransientError,
  classifyObjectRead,
  isTransient,
  mustReport,
  triggerFailure,
} from "../../core/errors.js";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("isTransient", () => {
  it("HTTP 408, 429 and 5xx from the Azure SDKs; not 4xx", () => {
    for (const status of [408, 429, 500, 502, 503, 504]) expect(isTransient(new RestError("x", { statusCode: status })), String(status)).toBe(true);
    for (const status of [400, 401, 403, 404, 409, 412]) expect(isTransient(new RestError("x", { statusCode: status })), String(status)).toBe(false);
  });

  it("socket and DNS errors, also nested in `cause` (fetch) or an AggregateError (connect to several addresses)", () => {
    expect(isTransient(new RestError("socket hang up", { code: "ECONNRESET" }))).toBe(true);
    expect(isTransient(new RestError("request failed", { code: "REQUEST_SEND_ERROR" }))).toBe(true);
    expect(isTransient(Object.assign(new TypeError("fetch failed"), { cause: withCode("connect ECONNREFUSED 127.0.0.1:9", "ECONNREFUSED") }))).toBe(true);
    expect(isTransient(new AggregateError([withCode("connect ECONNREFUSED ::1:5432", "ECONNREFUSED"), withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED")]))).toBe(true);
    expect(isTransient(withCode("getaddrinfo EAI_AGAIN db", "EAI_AGAIN"))).toBe(true);
    expect(isTransient(Object.assign(new Error("aborted"), { name: "AbortError" }))).toBe(true);
  });

  it("PostgreSQL: connection-class SQLSTATEs and the driver's socket messages, not authentication or privilege", () => {
    for (const code of ["08006", "08001", "53300", "57P01", "57P03", "40001", "40P01"]) expect(isTransient(withCode("x", code)), code).toBe(true);
    for (const code of ["28P01", "28000", "42501", "3D000", "42601"]) expect(isTransient(withCode("x", code)), code).toBe(false);
    expect(isTransient(new Error("Connection terminated unexpectedly"))).toBe(true);
    expect(isTransient(new Error("timeout expired"))).toBe(true);
  });

  it("KeyturnErrors say so themselves; anything else is permanent", () => {
    expect(isTransient(new TransientError("x"))).toBe(true);
    expect(isTransient(new ProviderError("x", { cause: new RestError("x", { statusCode: 503 }) }))).toBe(false);
    expect(isTransient(new Error("something odd"))).toBe(false);
    expect(isTransient("a string")).toBe(false);
    expect(isTransient(undefined)).toBe(false);
  });
});

describe("triggerFailure: what a trigger does", () => {
  it("retries transient failures and a held lock, with Retry-After; acknowledges the rest", () => {
    expect(triggerFailure(new RestError("x", { statusCode: 503 }), "load")).toMatchObject({ disposition: Disposition.Retry, retryAfterSeconds: 30, error: { kind: ErrorKind.Transient } });
    expect(triggerFailure(new RotationInProgressError("busy", 12))).toMatchObject({ disposition: Disposition.Retry, retryAfterSeconds: 12 });
    expect(triggerFailure(new RestError("x", { statusCode: 403 }), "load", ErrorKind.Provider)).toMatchObject({ disposition: Disposition.Acknowledge, error: { kind: ErrorKind.Provider } });
    expect(triggerFailure(new ConfigurationError("bad", "ValidityPeriodDays")).disposition).toBe(Disposition.Acknowledge);
    expect(triggerFailure(new Error("boom")).error.kind).toBe(ErrorKind.Internal);
  });

  it("reports to an owner only permanent failures about an object that exists", () => {
    expect(mustReport(new ProviderError("x"))).toBe(true);
    expect(mustReport(new ConfigurationError("x"))).toBe(true);
    expect(mustReport(new TransientError("x"))).toBe(false);
    expect(mustReport(new NotFoundError("x"))).toBe(false);
    expect(mustReport(new RotationInProgressError("x", 1))).toBe(false);
  });

  it("a Key Vault read answering 404 is the object gone, not a failure to report", () => {
    expect(classifyObjectRead(new RestError("gone", { statusCode: 404 }), "certificate load")).toBeInstanceOf(NotFoundError);
    expect(classifyObjectRead(new RestError("x", { statusCode: 503 }), "certificate load").transient).toBe(true);
  });
});
