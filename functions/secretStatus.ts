// GET /api/vaults/{vault}/secrets/{name} — rotation status of one secret: current
// version, CredentialId, rotator, expiry, last rotation and its trigger, any journal
// left behind. Property reads only (core/status.ts): never a value.
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { getRuntime } from "../app/runtime.js";
import { readSecretStatus } from "../core/status.js";
import { secretNameOf, vaultOf } from "./params.js";
import { json, problemFromError } from "./problem.js";

export async function secretStatus(request: HttpRequest): Promise<HttpResponseInit> {
  try {
    const runtime = await getRuntime();
    const vault = vaultOf(request, runtime.config);
    const name = secretNameOf(request);
    const client = await runtime.secretClient(vault.url);
    return json(200, await readSecretStatus(client, vault, name, runtime.registry));
  } catch (error) {
    return problemFromError(error);
  }
}
