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

const transientCodes = new Set(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "EAI_AGAIN", "ENOTFOUND", "UND_ERR_SOCKET", "REQUEST_SEND_ERROR"]);

/** Whether a raw error (SDK RestError, driver error, socket error) is worth retrying later. */
export function isTransient(error: unknown): boolean {
  if (error instanceof KeyturnError) return error.transient;
  if (typeof error !== "object" || error === null) return false;
  const e = error as { statusCode?: unknown; status?: unknown; code?: unknown; name?: unknown };
  const status = typeof e.statusCode === "number" ? e.statusCode : typeof e.status === "number" ? e.status : undefined;
  if (status !== undefined) return status === 408 || status === 429 || status >= 500;
  if (typeof e.code === "string" && transientCodes.has(e.code)) return true;
  return e.name === "AbortError" || e.name === "TimeoutError";
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
