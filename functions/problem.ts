// Map errors to RFC 9457 problem details (application/problem+json). The detail is
// the error's scrubbed message; stack traces and causes never leave the process.
import type { HttpResponseInit } from "@azure/functions";
import { ErrorKind, PayloadTooLargeError, describeError, triggerFailure } from "../core/errors.js";
import { redact } from "../core/redact.js";

const statusOf: Record<ErrorKind, number> = {
  [ErrorKind.BadRequest]: 400,
  [ErrorKind.Configuration]: 400,
  [ErrorKind.NotFound]: 404,
  [ErrorKind.Conflict]: 409,
  [ErrorKind.Provider]: 502,
  [ErrorKind.Verification]: 502,
  [ErrorKind.Journal]: 409,
  [ErrorKind.Transient]: 503,
  [ErrorKind.Internal]: 500,
};

const titleOf: Record<ErrorKind, string> = {
  [ErrorKind.BadRequest]: "Bad request",
  [ErrorKind.Configuration]: "The secret's rotation tags are not valid",
  [ErrorKind.NotFound]: "Not found",
  [ErrorKind.Conflict]: "Rotation in progress",
  [ErrorKind.Provider]: "The provider refused the rotation",
  [ErrorKind.Verification]: "The new credential did not verify",
  [ErrorKind.Journal]: "An interrupted rotation needs an operator",
  [ErrorKind.Transient]: "Temporarily unavailable",
  [ErrorKind.Internal]: "Internal error",
};

/**
 * `members` are RFC 9457 extension members; `errorKind` (one of ErrorKind, or
 * `forbidden`/`unauthorized`) lets clients such as the CLI map a problem to an exit
 * code without parsing titles.
 */
export function problem(status: number, title: string, detail: string, extra: Record<string, string> = {}, members: Record<string, string> = {}): HttpResponseInit {
  return {
    status,
    headers: { "content-type": "application/problem+json", ...extra },
    body: JSON.stringify({ type: "about:blank", title, status, detail: redact(detail), ...members }),
  };
}

export function problemFromError(raw: unknown): HttpResponseInit {
  // The one classification every trigger asks: a retry comes with Retry-After (503
  // transient, 409 lock held), anything else is the final answer.
  const { error, retryAfterSeconds } = triggerFailure(raw, "request", ErrorKind.Internal);
  const tooLarge = error instanceof PayloadTooLargeError;
  const status = tooLarge ? 413 : statusOf[error.kind];
  const headers: Record<string, string> = retryAfterSeconds !== undefined ? { "retry-after": String(retryAfterSeconds) } : {};
  const detail = error.kind === ErrorKind.Internal ? describeError(error) : error.message;
  return problem(status, tooLarge ? "Payload too large" : titleOf[error.kind], detail, headers, { errorKind: error.kind });
}

export function json(status: number, body: unknown): HttpResponseInit {
  return { status, headers: { "content-type": "application/json" }, body: redact(JSON.stringify(body)) };
}
