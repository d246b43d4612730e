// GET /api/health — anonymous liveness and configuration sanity. It reads settings
// only: no credential, no vault call, no secret, no vault names (anyone may call it).
// 200 when the settings load and name at least one vault; 503 otherwise.
import type { HttpResponseInit } from "@azure/functions";
import { loadConfig } from "../core/config.js";
import { keyturnVersion, uptimeSeconds } from "../core/version.js";

export async function health(): Promise<HttpResponseInit> {
  const problems: string[] = [];
  let config: ReturnType<typeof loadConfig> | undefined;
  try {
    config = loadConfig();
  } catch (error) {
    problems.push((error as Error).message);
  }
  if (config && config.vaults.size === 0) problems.push("KEYTURN_VAULTS names no vault: keyturn acts on nothing");
  const channels = config
    ? [
        ...(config.notifyTopicEndpoint ? ["event-grid"] : []),
        ...(config.notifyWebhookUrl ? ["webhook"] : []),
        ...(config.emailEndpoint ? ["email"] : []),
      ]
    : [];
  const body = {
    status: problems.length === 0 ? "ok" : "degraded",
    version: keyturnVersion(),
    uptimeSeconds: uptimeSeconds(),
    node: process.version,
    config: config
      ? {
          vaults: config.vaults.size,
          credential: config.credentialMode,
          notificationChannels: channels.length > 0 ? channels : ["log"],
          appRoles: config.requireAppRoles,
        }
      : null,
    problems,
  };
  return {
    status: problems.length === 0 ? 200 : 503,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
    body: JSON.stringify(body),
  };
}
