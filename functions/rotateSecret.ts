// POST /api/vaults/{vault}/secrets/{name}/rotate — rotate one secret now.
// Body: {"reason": "...", "mode": "normal" | "dry-run" | "emergency"}.
// `{vault}` is a vault NAME resolved against the allow-list, never a URL.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { z } from "zod";
import { BadRequestError } from "../core/errors.js";
import { TriggerKind } from "../core/engine.js";
import { getRuntime } from "../core/runtime.js";
import { checkVaultName } from "../core/vaults.js";
import { json, problemFromError } from "./problem.js";

export const MAX_BODY_BYTES = 16 * 1024;
const secretName = /^[0-9a-zA-Z-]{1,127}$/;

const bodySchema = z
  .object({
    reason: z.string().trim().min(1, "reason must not be empty").max(500, "reason is longer than 500 characters"),
    mode: z.enum(["normal", "dry-run", "emergency"]).default("normal"),
  })
  .strict();

export type RotateBody = z.infer<typeof bodySchema>;

/** Read and validate the body; throws BadRequestError saying what is wrong. */
export async function readRotateBody(request: HttpRequest): Promise<RotateBody> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) throw new BadRequestError("content-type must be application/json");
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new BadRequestError(`body is larger than ${MAX_BODY_BYTES} bytes`);
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new BadRequestError(`body is larger than ${MAX_BODY_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new BadRequestError("body is not valid JSON");
  }
  const parsed = bodySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw new BadRequestError(`${where}${issue?.message ?? "body is not valid"}`);
  }
  return parsed.data;
}

export async function rotateSecret(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const { config, engine, log } = await getRuntime();
    const vaultParam = request.params.vault ?? "";
    const name = request.params.name ?? "";
    const vault = config.vaults.byNameOrThrow(checkVaultName(vaultParam));
    if (!secretName.test(name)) throw new BadRequestError("secret name must be 1-127 letters, digits and dashes");
    const body = await readRotateBody(request);
    log.info("manual rotation requested", { vault: vault.name, secret: name, mode: body.mode, invocationId: context.invocationId, reason: body.reason });
    const result = await engine.rotateSecret({
      vault,
      secret: name,
      mode: body.mode,
      trigger: { kind: TriggerKind.Http, id: context.invocationId, detail: body.reason },
    });
    return json(200, {
      status: result.status,
      version: result.version,
      previousVersion: result.previousVersion ?? null,
      credentialId: result.credentialId ?? null,
      expiresOn: result.expiresOn ?? null,
      rotator: result.rotator ?? null,
      ...(result.reason ? { reason: result.reason } : {}),
      ...(result.plan ? { plan: result.plan } : {}),
    });
  } catch (error) {
    return problemFromError(error);
  }
}
