// Exit codes of `keyturn`: one per thing an on-call engineer does next. Shown by
// `keyturn --help` and docs/runbook.md; the in-process engine's error kinds and the
// HTTP API's problem `errorKind` map to the same codes.
import type { ErrorKind } from "../core/errors.js";

export const ExitCode = {
  Ok: 0,
  /** The rotation failed: the provider refused, the new credential did not verify, or an internal error. */
  Failed: 1,
  /** Bad command line, or a request the API refused as malformed. */
  Usage: 2,
  /** The vault is not on the allow-list, or the secret does not exist. */
  NotFound: 3,
  /** Another rotation of the secret holds its lock: retry after the lock frees. */
  InProgress: 4,
  /** The secret's rotation tags are not valid: fix the tag named in the message. */
  Configuration: 5,
  /** An interrupted rotation left a journal that needs an operator. */
  Journal: 6,
  /** Transient: throttled, Key Vault / Azure / the function app unreachable: retry later. */
  Unavailable: 7,
  /** Refused: function key, app role, or Azure RBAC on the vault. */
  Denied: 8,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODE_TABLE: ReadonlyArray<readonly [ExitCode, string]> = [
  [ExitCode.Ok, "success (rotated, skipped, planned; status or scan printed)"],
  [ExitCode.Failed, "rotation failed: provider refused, new credential did not verify, internal error"],
  [ExitCode.Usage, "usage: bad arguments or settings, or a request the API refused as malformed"],
  [ExitCode.NotFound, "vault not on the allow-list, or secret not found"],
  [ExitCode.InProgress, "a rotation of this secret is in progress (its lock is held): retry later"],
  [ExitCode.Configuration, "the secret's rotation tags are not valid: fix the named tag"],
  [ExitCode.Journal, "an interrupted rotation needs an operator (see the runbook)"],
  [ExitCode.Unavailable, "transient: throttled or unreachable: retry later"],
  [ExitCode.Denied, "refused: function key, app role or Azure RBAC"],
];

const byKind: Record<ErrorKind | "forbidden" | "unauthorized", ExitCode> = {
  "bad-request": ExitCode.Usage,
  configuration: ExitCode.Configuration,
  "not-found": ExitCode.NotFound,
  conflict: ExitCode.InProgress,
  provider: ExitCode.Failed,
  verification: ExitCode.Failed,
  transient: ExitCode.Unavailable,
  journal: ExitCode.Journal,
  internal: ExitCode.Failed,
  forbidden: ExitCode.Denied,
  unauthorized: ExitCode.Denied,
};

export function exitCodeForKind(kind: string | undefined): ExitCode | undefined {
  return kind !== undefined && kind in byKind ? byKind[kind as keyof typeof byKind] : undefined;
}

/** For a problem without `errorKind` (another proxy in front of the app answered). */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return ExitCode.Denied;
  if (status === 404) return ExitCode.NotFound;
  if (status === 409) return ExitCode.InProgress;
  if (status === 408 || status === 429 || status === 503 || status === 504) return ExitCode.Unavailable;
  if (status >= 400 && status < 500) return ExitCode.Usage;
  return ExitCode.Failed;
}

/** An error the CLI reports as one line on stderr and an exit code. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}
