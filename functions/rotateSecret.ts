// POST /api/vaults/{vault}/secrets/{name}/rotate — rotate one secret now.
// Body: {"reason": "...", "mode": "normal" | "dry-run" | "emergency"}.
// `{vault}` is a vault NAME resolved against the allow-list, never a URL.
// 200 {status, version, previousVersion, credentialId, expiresOn, rotator, mode, ...}.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as z from "zod";
import { callerOf } from "../core/auth.js";
import { BadRequestError, PayloadTooLargeError } from "../core/errors.js";
import { TriggerKind } from "../core/engine.js";
import { rotationReason } from "../app/requests.js";
import { rotationResponse } from "../app/responses.js";
import { getRuntime, type Runtime } from "../app/runtime.js";
import { secretNameOf, vaultOf } from "./params.js";
import { invocationLog } from "./invocation.js";
import { json, problemFromError } from "./problem.js";

export const MAX_BODY_BYTES = 16 * 1024;

const bodySchema = z
  .object({
    reason: rotationReason,
    mode: z.enum(["normal", "dry-run", "emergency"]).default("normal"),
  })
  .strict();

export type RotateBody = z.infer<typeof bodySchema>;

/** Read and validate the body; throws BadRequestError saying what is wrong. */
export async function readRotateBody(request: HttpRequest): Promise<RotateBody> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new BadRequestError("content-type must be application/json");
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new BadRequestError("body is not valid JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new BadRequestError("body must be a JSON object");
  const parsed = bodySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw new BadRequestError(`${where}${issue?.message ?? "body is not valid"}`);
  }
  return parsed.data;
}

export async function rotateSecret(
  request: HttpRequest,
  context: InvocationContext,
  runtime: Promise<Pick<Runtime, "config" | "engine">> | Pick<Runtime, "config" | "engine"> = getRuntime(),
): Promise<HttpResponseInit> {
  try {
    const { config, engine } = await runtime;
    const log = invocationLog(context);
    const vault = vaultOf(request, config);
    const name = secretNameOf(request);
    const body = await readRotateBody(request);
    // Who asked: App Service Authentication's principal, trusted only when it guards the API.
    const caller = callerOf(request.headers, config.requireAppRoles);
    log.info("manual rotation requested", {
      vault: vault.name,
      secret: name,
      mode: body.mode,
      reason: body.reason,
      callerName: caller?.name ?? null,
      callerId: caller?.objectId ?? null,
    });
    const result = await engine.rotateSecret({
      vault,
      secret: name,
      mode: body.mode,
      trigger: { kind: TriggerKind.Http, id: context.invocationId, detail: body.reason, ...(caller ? { caller } : {}), log },
    });
    return json(200, rotationResponse(result, body.mode));
  } catch (error) {
    return problemFromError(error);
  }
}
