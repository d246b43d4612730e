// Error classes. Each says which failures are worth retrying: only `transient` errors
// are handed back to Event Grid for redelivery; everything else is acknowledged and
// reported to the owner once.
import { redact } from "./redact.js";

export const ErrorKind = {
  /** Bad input from a caller: malformed event, bad body, unknown vault. Changes nothing. */
  BadRequest: "bad-request",
  /** A secret's tags (its rotation policy) are wrong. Reported to the owner, never retried. */
  Configuration: "configuration",
  /** The thing asked for does not exist (vault, secret). */
  NotFound: "not-found",
  /** Another rotation of the same secret holds the lock. */
  Conflict: "conflict",
  /** The provider refused, or the new credential did not work. Permanent. */
  Provider: "provider",
  Verification: "verification",
  /** Throttling, 5xx, timeouts, resets after the SDK's own retries ran out. */
  Transient: "transient",
  /** A journal left behind that cannot be rolled forward safely: needs an operator. */
  Journal: "journal",
  Internal: "internal",
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

export class KeyturnError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    // Messages are scrubbed at construction: an error can travel to a log, an HTTP
    // response or a notification, and must never carry a secret value there.
    super(redact(message), options);
    this.name = "KeyturnError";
    this.kind = kind;
  }
  get transient(): boolean {
    return this.kind === ErrorKind.Transient;
  }
}

export class BadRequestError extends KeyturnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorKind.BadRequest, message, options);
    this.name = "BadRequestError";
  }
}

/** A request body over the limit: bad input, answered 413 over HTTP. */
export class PayloadTooLargeError extends BadRequestError {
  constructor(limitBytes: number) {
    super(`body is larger than ${limitBytes} bytes`);
    this.name = "PayloadTooLargeError";
  }
}

/** A tag that does not parse. `tag` names it so the owner knows what to fix. */
export class ConfigurationError extends KeyturnError {
  readonly tag: string | undefined;
  constructor(message: string, tag?: string, options?: { cause?: unknown }) {
    super(ErrorKind.Configuration, tag ? `tag ${tag}: ${message}` : message, options);
    this.name = "ConfigurationError";
    this.tag = tag;
  }
}

export class NotFoundError extends KeyturnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorKind.NotFound, message, options);
    this.name = "NotFoundError";
  }
}

export class RotationInProgressError extends KeyturnError {
  /** Seconds after which a retry may find the lock free. */
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(ErrorKind.Conflict, message);
    this.name = "RotationInProgressError";
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class ProviderError extends KeyturnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorKind.Provider, message, options);
    this.name = "ProviderError";
  }
}

export class VerificationError extends KeyturnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorKind.Verification, message, options);
    this.name = "VerificationError";
  }
}

export class TransientError extends KeyturnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorKind.Transient, message, options);
    this.name = "TransientError";
  }
}

export class JournalError extends KeyturnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorKind.Journal, message, options);
    this.name = "JournalError";
  }
}

const transientCodes = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "REQUEST_SEND_ERROR",
]);

/** PostgreSQL SQLSTATEs worth another try: connection exceptions, insufficient resources, shutdown/startup, serialisation. */
function transientSqlState(code: string): boolean {
  return /^[0-9A-Z]{5}$/.test(code) && (code.startsWith("08") || code.startsWith("53") || ["57P01", "57P02", "57P03", "40001", "40P01"].includes(code));
}

/** Socket errors the pg driver reports without a code. */
const TRANSIENT_DRIVER_MESSAGE = /Connection terminated unexpectedly|Connection terminated due to connection timeout|timeout expired|socket hang up/i;

/**
 * Whether a failure is worth retrying later: the one answer every trigger and every
 * object kind asks (via `classify`). A KeyturnError says so itself; a raw one is
 * transient when it is an HTTP 408, 429 or 5xx (Azure SDK RestError), a socket or DNS
 * error, a timeout, or a PostgreSQL connection-class SQLSTATE — looked for along the
 * `cause` chain and inside AggregateErrors (Node reports a refused connection to
 * several addresses as one).
 */
export function isTransient(error: unknown, depth = 0): boolean {
  if (error instanceof KeyturnError) return error.transient;
  if (typeof error !== "object" || error === null || depth > 5) return false;
  const e = error as { statusCode?: unknown; status?: unknown; code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  const status = typeof e.statusCode === "number" ? e.statusCode : typeof e.status === "number" ? e.status : undefined;
  if (status !== undefined) return status === 408 || status === 429 || status >= 500;
  if (typeof e.code === "string" && (transientCodes.has(e.code) || transientSqlState(e.code))) return true;
  if (e.name === "AbortError" || e.name === "TimeoutError") return true;
  if (typeof e.message === "string" && TRANSIENT_DRIVER_MESSAGE.test(e.message)) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isTransient(inner, depth + 1))) return true;
  return e.cause !== undefined && isTransient(e.cause, depth + 1);
}

/** A one-line, scrubbed description of any error, safe for logs, responses and notifications. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const e = error as Error & { code?: unknown; statusCode?: unknown };
    const parts = [e.name];
    if (typeof e.statusCode === "number") parts.push(String(e.statusCode));
    if (typeof e.code === "string" && e.code !== e.name) parts.push(e.code);
    return redact(`${parts.join(" ")}: ${firstLine(e.message)}`);
  }
  return redact(String(error));
}

function firstLine(s: string): string {
  const line = s.split("\n", 1)[0] ?? "";
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/** Wrap a raw error as a KeyturnError of the right kind, keeping the cause. */
export function classify(error: unknown, step: string, fallback: ErrorKind = ErrorKind.Provider): KeyturnError {
  if (error instanceof KeyturnError) return error;
  const kind = isTransient(error) ? ErrorKind.Transient : fallback;
  return new KeyturnError(kind, `${step} failed: ${describeError(error)}`, { cause: error });
}

/**
 * What a trigger does with a failure, decided here once for every trigger (Event Grid,
 * HTTP, sweep, CLI) and every object kind:
 * - `retry`: transient, or another invocation holds the object's lock. The trigger tries
 *   again: Event Grid redelivers (the handler throws), HTTP answers 503/409 with
 *   Retry-After, the sweep retries the item, the CLI exits 7/4.
 * - `acknowledge`: permanent. Reported once (log and owner notification, by the service
 *   that failed) and never retried by this trigger; HTTP answers 4xx/5xx, the CLI its exit code.
 */
export const Disposition = { Retry: "retry", Acknowledge: "acknowledge" } as const;
export type Disposition = (typeof Disposition)[keyof typeof Disposition];

export interface TriggerFailure {
  readonly error: KeyturnError;
  readonly disposition: Disposition;
  /** Seconds a retry should wait (Retry-After). */
  readonly retryAfterSeconds?: number;
}

/** Seconds before a transient failure is worth another try, when nothing more precise is known. */
export const TRANSIENT_RETRY_AFTER_SECONDS = 30;

export function triggerFailure(raw: unknown, step = "request", fallback: ErrorKind = ErrorKind.Internal): TriggerFailure {
  const error = classify(raw, step, fallback);
  if (error instanceof RotationInProgressError) return { error, disposition: Disposition.Retry, retryAfterSeconds: error.retryAfterSeconds };
  if (error.transient) return { error, disposition: Disposition.Retry, retryAfterSeconds: TRANSIENT_RETRY_AFTER_SECONDS };
  return { error, disposition: Disposition.Acknowledge };
}

/** A Key Vault read that found no such object (deleted meanwhile): nothing to retry, nobody to tell. */
export function classifyObjectRead(error: unknown, step: string): KeyturnError {
  if ((error as { statusCode?: unknown } | null)?.statusCode === 404) return new NotFoundError(`${step}: ${describeError(error)}`, { cause: error });
  return classify(error, step);
}

/**
 * Whether an owner must hear of this failure: permanent, and about an object that exists
 * (not a bad request, a missing object, or a lock someone else holds). Transient failures
 * are the trigger's to retry.
 */
export function mustReport(error: KeyturnError): boolean {
  return !error.transient && error.kind !== ErrorKind.NotFound && error.kind !== ErrorKind.Conflict && error.kind !== ErrorKind.BadRequest;
}
