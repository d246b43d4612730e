// Answers shared by the HTTP functions and the CLI (which may run the engine in-process
// or call the HTTP API): one shape, whichever way a person asked.
import type { RotationResult } from "../core/engine.js";
import type { RotationMode } from "../core/rotator.js";

/** The response body of a rotation (HTTP and `keyturn rotate --json`). Never a value. */
export interface RotationResponse {
  readonly status: RotationResult["status"];
  readonly vault: string;
  readonly secret: string;
  readonly version: string;
  readonly previousVersion: string | null;
  readonly credentialId: string | null;
  readonly expiresOn: string | null;
  readonly rotator: string | null;
  readonly mode: RotationMode;
  readonly reason?: string;
  readonly plan?: readonly string[];
  readonly rolledForward?: true;
  readonly revoked?: boolean;
  /** The Consumers tag's apps and whether each resolves the version (README, "Consumers"). */
  readonly consumers?: RotationResult["consumers"];
}

/** The shape, plus what the mode adds. */
export function rotationResponse(result: RotationResult, mode: RotationMode): RotationResponse {
  return {
    status: result.status,
    vault: result.vault,
    secret: result.secret,
    version: result.version,
    previousVersion: result.previousVersion ?? null,
    credentialId: result.credentialId ?? null,
    expiresOn: result.expiresOn ?? null,
    rotator: result.rotator ?? null,
    mode,
    ...(result.reason ? { reason: result.reason } : {}),
    ...(result.plan ? { plan: result.plan } : {}),
    ...(result.rolledForward ? { rolledForward: true } : {}),
    ...(result.revoked !== undefined ? { revoked: result.revoked } : {}),
    ...(result.consumers ? { consumers: result.consumers } : {}),
  };
}
