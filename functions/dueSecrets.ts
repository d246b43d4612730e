// GET /api/vaults/{vault}/due?within=30d — what the sweep would rotate: managed secrets
// whose latest version expires within the window or already expired (core/due.ts).
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { findDueSecrets, parseWithin } from "../core/due.js";
import { BadRequestError } from "../core/errors.js";
import { getRuntime } from "../app/runtime.js";
import { vaultOf } from "./params.js";
import { json, problemFromError } from "./problem.js";

export async function dueSecrets(request: HttpRequest): Promise<HttpResponseInit> {
  try {
    const runtime = await getRuntime();
    const vault = vaultOf(request, runtime.config);
    const values = request.query.getAll("within");
    if (values.length > 1) throw new BadRequestError("give within once");
    const within = parseWithin(values[0]);
    const client = await runtime.secretClient(vault.url);
    const report = await findDueSecrets(client, {
      vault: vault.name,
      within,
      now: new Date(),
      registry: runtime.registry,
      guardMs: runtime.config.rotationGuardMs,
    });
    return json(200, report);
  } catch (error) {
    return problemFromError(error);
  }
}
