// Event Grid trigger for Key Vault system events (both schemas).
//
// Secrets go to the engine; CertificateNearExpiry to core/certificates.ts (renew, or
// remind the owner); KeyNearExpiry to core/keys.ts (rotate the key).
//
// Outcome policy: a malformed event or one about a vault that is not allow-listed is
// logged and acknowledged (redelivering it would not make it valid); a permanent
// failure was already reported to the owner and is acknowledged; only a transient
// failure (or a lock held by another invocation) throws, so that Event Grid redelivers.
import type { EventGridEvent, InvocationContext } from "@azure/functions";
import { BadRequestError, Disposition, describeError, triggerFailure } from "../core/errors.js";
import { parseEvent } from "../core/events.js";
import type { CertificateOutcome } from "../core/certificates.js";
import { TriggerKind, type RotationResult, type Trigger } from "../core/engine.js";
import type { KeyOutcome } from "../core/keys.js";
import { isJournalName } from "../core/journal.js";
import { getRuntime, type Runtime } from "../app/runtime.js";
import { invocationLog } from "./invocation.js";

/** What the handler uses of the process runtime (tests pass their own). */
export type EventRuntime = Pick<Runtime, "config" | "engine" | "certificates" | "keys">;

export type EventOutcome =
  | { status: "rotated" | "skipped" | "planned"; result: RotationResult }
  | { status: CertificateOutcome["status"]; certificate: CertificateOutcome }
  | { status: KeyOutcome["status"]; key: KeyOutcome }
  | { status: "ignored"; reason: string }
  | { status: "rejected"; error: string }
  | { status: "failed"; error: string };

export async function handleKeyVaultEvent(event: unknown, context: InvocationContext, runtime: Promise<EventRuntime> | EventRuntime = getRuntime()): Promise<EventOutcome> {
  const { config, engine, certificates, keys } = await runtime;
  const elog = invocationLog(context);
  let parsed;
  try {
    parsed = parseEvent(event, config.vaults);
  } catch (error) {
    const message = error instanceof BadRequestError ? error.message : describeError(error);
    elog.error("event rejected", { step: "parse", error: message });
    return { status: "rejected", error: message };
  }
  if (parsed.kind === "validation") {
    return { status: "ignored", reason: "subscription validation is answered by the host" };
  }
  if (parsed.kind === "ignored") {
    elog.info("event ignored", { step: "parse", eventType: parsed.type, reason: parsed.reason });
    return { status: "ignored", reason: parsed.reason };
  }
  const e = parsed.event;
  if (!e.handled) {
    elog.debug("event type not acted on", { eventType: e.type, secret: e.objectName });
    return { status: "ignored", reason: `${e.type} needs no action` };
  }
  if (e.objectType === "Secret" && isJournalName(e.objectName)) {
    elog.info("event about keyturn's own journal ignored", { eventType: e.type, secret: e.objectName });
    return { status: "ignored", reason: "keyturn's own journals are never rotated" };
  }
  const trigger: Trigger = { kind: TriggerKind.Event, id: e.id, detail: e.type, log: elog };
  const about = { vault: e.vault, name: e.objectName, ...(e.version !== undefined ? { expectedVersion: e.version } : {}), trigger };
  try {
    if (e.objectType === "Certificate") {
      const certificate = await certificates.handle(about);
      return { status: certificate.status, certificate };
    }
    if (e.objectType === "Key") {
      const key = await keys.rotateNearExpiry(about);
      return { status: key.status, key };
    }
    const result = await engine.rotateSecret({
      vault: e.vault,
      secret: e.objectName,
      ...(e.version !== undefined ? { expectedVersion: e.version } : {}),
      mode: "normal",
      trigger,
    });
    return { status: result.status, result };
  } catch (raw) {
    // One classification for every object kind: transient (Key Vault 5xx/429, a network
    // error, the lock store unreachable) or a lock held elsewhere → throw, so that Event
    // Grid redelivers; permanent → acknowledged (the service already told the owner).
    const failure = triggerFailure(raw, e.objectType.toLowerCase());
    if (failure.disposition === Disposition.Retry) throw failure.error;
    elog.warn("event acknowledged after a permanent failure", { eventType: e.type, errorKind: failure.error.kind, error: describeError(failure.error) });
    return { status: "failed", error: describeError(failure.error) };
  }
}

/** The registered Functions handler. */
export async function keyVaultEvents(event: EventGridEvent, context: InvocationContext): Promise<void> {
  await handleKeyVaultEvent(event, context);
}
