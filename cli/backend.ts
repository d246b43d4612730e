// Where `keyturn` does its work:
//   - in-process (default): the engine and the property reads of core/, with the
//     process-wide runtime (DefaultAzureCredential, the vault allow-list of
//     KEYTURN_VAULTS, the lock of AzureWebJobsStorage when set);
//   - `--via <function app URL>`: the HTTP API, with the function key from
//     KEYTURN_FUNCTION_KEY (for Azure Automation runbooks and anyone without Key Vault
//     rights of their own). The key travels in the x-functions-key header, never in
//     the URL, and is never printed.
// Both return the same shapes (the HTTP API's bodies), and both turn failures into a
// CliError carrying the exit code.
import { randomUUID } from "node:crypto";
import { isIPv4 } from "node:net";
import type { AuditReport } from "../core/audit.js";
import type { DueReport, Within } from "../core/due.js";
import { ErrorKind, KeyturnError, describeError, triggerFailure } from "../core/errors.js";
import type { RotationMode } from "../core/rotator.js";
import type { SecretStatus } from "../core/status.js";
import type { RotationResponse } from "../app/responses.js";
import { CliError, ExitCode, exitCodeForKind, exitCodeForStatus } from "./exit-codes.js";

export interface PauseResult {
  readonly vault: string;
  readonly secret: string;
  readonly version: string;
  readonly paused: boolean;
  /** False when the tag already said so. */
  readonly changed: boolean;
}

export interface Backend {
  /** For progress lines: "in-process" or the function app's origin. */
  readonly where: string;
  rotate(vault: string, secret: string, mode: RotationMode, reason: string): Promise<RotationResponse>;
  status(vault: string, secret: string): Promise<SecretStatus>;
  scan(vault: string, within: Within, onProgress: (scanned: number) => void): Promise<DueReport>;
  setPaused(vault: string, secret: string, paused: boolean): Promise<PauseResult>;
  /** The posture audit of a vault (core/audit.ts); certificates expiring within `withinDays` are findings. */
  audit(vault: string, withinDays: number): Promise<AuditReport>;
}

const CREDENTIAL_ERRORS = new Set(["CredentialUnavailableError", "AuthenticationError", "AggregateAuthenticationError"]);

/** Map anything the in-process path throws to an exit code and one scrubbed line. */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const cause = error instanceof KeyturnError ? (error.cause as { statusCode?: unknown; name?: unknown } | undefined) : (error as { statusCode?: unknown; name?: unknown });
  const status = typeof cause?.statusCode === "number" ? cause.statusCode : undefined;
  const message = error instanceof KeyturnError ? error.message : describeError(error);
  if (status === 401 || status === 403 || (typeof cause?.name === "string" && CREDENTIAL_ERRORS.has(cause.name))) {
    return new CliError(ExitCode.Denied, `${message} (check your sign-in and your Key Vault role on the vault)`);
  }
  if (!(error instanceof KeyturnError) && status === 404) return new CliError(ExitCode.NotFound, message);
  // The classification every trigger asks: transient → 7 (retry later), lock held → 4.
  const { error: classified } = triggerFailure(error, "request", ErrorKind.Internal);
  return new CliError(exitCodeForKind(classified.kind) ?? ExitCode.Failed, message);
}

export function inProcessBackend(): Backend {
  // Loaded on first use: `keyturn --help` and `--via` never build the runtime.
  const runtime = async () => {
    const { getRuntime } = await import("../app/runtime.js");
    try {
      return await getRuntime();
    } catch (error) {
      throw new CliError(ExitCode.Usage, `keyturn settings: ${(error as Error).message}`);
    }
  };
  const vaultRef = async (vault: string) => {
    const rt = await runtime();
    if (rt.config.vaults.size === 0) throw new CliError(ExitCode.NotFound, `vault '${vault}' is not on the allow-list: KEYTURN_VAULTS is empty`);
    return { rt, ref: rt.config.vaults.byNameOrThrow(vault) };
  };
  const wrap = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw toCliError(error);
    }
  };
  return {
    where: "in-process",
    rotate: (vault, secret, mode, reason) =>
      wrap(async () => {
        const { rt, ref } = await vaultRef(vault);
        const [{ TriggerKind }, { rotationResponse }] = await Promise.all([import("../core/engine.js"), import("../app/responses.js")]);
        // Who runs the CLI: the identity of its own credential (the token is cached and
        // reused by the engine's clients). Unknown when no token has claims to read.
        const [{ callerFromAccessToken }, { getCredential }] = await Promise.all([import("../core/auth.js"), import("../core/azure.js")]);
        const token = await (await getCredential(rt.config)).getToken(`${rt.config.armEndpoint}/.default`).catch(() => null);
        const caller = token ? callerFromAccessToken(token.token) : undefined;
        rt.log.info("CLI rotation requested", { vault: ref.name, secret, mode, reason, callerName: caller?.name ?? null, callerId: caller?.objectId ?? null });
        const result = await rt.engine.rotateSecret({ vault: ref, secret, mode, trigger: { kind: TriggerKind.Cli, id: randomUUID(), detail: reason, ...(caller ? { caller } : {}) } });
        return rotationResponse(result, mode);
      }),
    status: (vault, secret) =>
      wrap(async () => {
        const { rt, ref } = await vaultRef(vault);
        const { readSecretStatus } = await import("../core/status.js");
        return readSecretStatus(await rt.secretClient(ref.url), ref, secret, rt.registry);
      }),
    scan: (vault, within, onProgress) =>
      wrap(async () => {
        const { rt, ref } = await vaultRef(vault);
        const { findDueSecrets } = await import("../core/due.js");
        return findDueSecrets(await rt.secretClient(ref.url), {
          vault: ref.name,
          within,
          now: new Date(),
          registry: rt.registry,
          guardMs: rt.config.rotationGuardMs,
          onProgress,
        });
      }),
    setPaused: (vault, secret, paused) =>
      wrap(async () => {
        const { rt, ref } = await vaultRef(vault);
        const [{ latestVersionProperties }, { MAX_TAGS, Tag, isPaused, tagKey }, { ConfigurationError }] = await Promise.all([
          import("../core/status.js"),
          import("../core/tags.js"),
          import("../core/errors.js"),
        ]);
        const client = await rt.secretClient(ref.url);
        const latest = await latestVersionProperties(client, ref, secret);
        const tags: Record<string, string> = { ...latest.tags };
        const version = latest.version ?? "";
        if (isPaused(tags) === paused) return { vault: ref.name, secret, version, paused, changed: false };
        // Only the pause tag changes; every other tag is written back as it was (a
        // tag update replaces the whole set, which is why `az ... --tags` is unsafe here).
        const key = tagKey(tags, Tag.RotationPaused);
        if (key !== undefined) delete tags[key];
        if (paused) tags[key ?? Tag.RotationPaused] = "true";
        if (Object.keys(tags).length > MAX_TAGS) throw new ConfigurationError(`the secret already carries ${MAX_TAGS} tags; remove one to pause it`, Tag.RotationPaused);
        await client.updateSecretProperties(secret, version, { tags });
 rt.log.info(paused ? "rotation paused by operator" : "rotation resumed by operator", { vault: ref.name, secret, version });
        return { vault: ref.name, secret, version, paused, changed: true };
      }),
    audit: (vault, withinDays) =>
      wrap(async () => {
        const { rt, ref } = await vaultRef(vault);
        const [{ runAudit }, { auditDeps }] = await Promise.all([import("../core/audit.js"), import("../app/runtime.js")]);
        return runAudit(await auditDeps(rt), ref, { withinDays });
      }),
  };
}

export interface ViaOptions {
  readonly url: string;
  readonly functionKey: string | undefined;
  /**
   * With App Service Authentication in front of the app (app roles required), the
   * Entra scope to get a token for, e.g. `api://<client id>/.default`: the token comes
   * from the same credential as in-process work (DefaultAzureCredential; in an
   * Automation account, its managed identity) and is sent as a bearer token.
   */
  readonly tokenScope?: string | undefined;
  readonly timeoutMs?: number;
}

/** localhost, 127.0.0.0/8 or ::1 (URL keeps IPv6 hosts in brackets). */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host === "::1") return true;
  return isIPv4(host) && host.startsWith("127.");
}

/** The function app's base URL: `https://app.azurewebsites.net` (a trailing `/api` is accepted). */
export function normaliseViaUrl(raw: string): { origin: string; apiBase: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(ExitCode.Usage, `--via must be the function app's URL, such as https://keyturn-func.azurewebsites.net`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new CliError(ExitCode.Usage, "--via must be an http(s) URL");
  // The function key (and any bearer token) would cross the network in clear text.
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    throw new CliError(ExitCode.Usage, `--via must be https: plain http would send the function key in clear text (http is accepted only for loopback addresses, such as a local host)`);
  }
  if (url.username || url.password || url.search || url.hash) throw new CliError(ExitCode.Usage, "--via must be a bare URL (put the key in KEYTURN_FUNCTION_KEY, not in the URL)");
  const path = url.pathname.replace(/\/+$/, "").replace(/\/api$/i, "");
  return { origin: url.origin, apiBase: `${url.origin}${path}/api` };
}

async function bearerToken(scope: string): Promise<string> {
  const [{ loadConfig }, { getCredential }] = await Promise.all([import("../core/config.js"), import("../core/azure.js")]);
  try {
    const token = await (await getCredential(loadConfig())).getToken(scope);
    if (!token) throw new Error("no token");
    return token.token;
  } catch (error) {
    throw new CliError(ExitCode.Denied, `could not get a token for ${scope}: ${(error as Error).message}`);
  }
}

export function viaBackend(opts: ViaOptions): Backend {
  const base = normaliseViaUrl(opts.url);
  const prefix = base.apiBase;
  const call = async <T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { accept: "application/json" };
    if (opts.functionKey) headers["x-functions-key"] = opts.functionKey;
    if (opts.tokenScope) headers.authorization = `Bearer ${await bearerToken(opts.tokenScope)}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(`${prefix}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 300_000),
        redirect: "error", // a redirect would carry the key elsewhere
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(ExitCode.Unavailable, `could not reach ${base.origin}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
    const text = await res.text();
    if (res.ok) {
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new CliError(ExitCode.Failed, `${base.origin} answered ${res.status} with a body that is not JSON`);
      }
    }
    let p: { title?: unknown; detail?: unknown; errorKind?: unknown } = {};
    try {
      p = JSON.parse(text) as typeof p;
    } catch {
      // not a problem document: a gateway or the platform answered
    }
    const code = exitCodeForKind(typeof p.errorKind === "string" ? p.errorKind : undefined) ?? exitCodeForStatus(res.status);
    const retryAfter = res.headers.get("retry-after");
    const title = typeof p.title === "string" ? p.title : `HTTP ${res.status}`;
    const detail = typeof p.detail === "string" ? `: ${p.detail}` : res.status === 401 ? ": the function key was refused (KEYTURN_FUNCTION_KEY)" : "";
    throw new CliError(code, `${title}${detail}${retryAfter ? ` (retry after ${retryAfter} s)` : ""}`);
  };
  const secretPath = (vault: string, secret: string) => `/vaults/${encodeURIComponent(vault)}/secrets/${encodeURIComponent(secret)}`;
  return {
    where: base.origin,
    rotate: (vault, secret, mode, reason) => call("POST", `${secretPath(vault, secret)}/rotate`, { reason, mode }),
    status: (vault, secret) => call("GET", secretPath(vault, secret)),
    scan: async (vault, within, onProgress) => {
      const report = await call<DueReport>("GET", `/vaults/${encodeURIComponent(vault)}/due?within=${encodeURIComponent(within.text)}`);
      onProgress(report.scanned);
      return report;
    },
    setPaused: async () => {
      throw new CliError(ExitCode.Usage, "pause and resume change the secret's tags in Key Vault: run them in-process (without --via), with Key Vault rights");
    },
    audit: (vault, withinDays) => call("GET", `/vaults/${encodeURIComponent(vault)}/audit?within=${withinDays}d`),
  };
}
