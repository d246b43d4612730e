// Consumers: the apps that read a secret through Key Vault references, named by the
// secret's `Consumers` tag. After a commit keyturn makes each one pick the new version
// up and proves it did; before a dual kind regenerates the credential nobody should use,
// it proves that no consumer still resolves a version that holds it.
//
//   App Service / Functions (Microsoft.Web/sites): app settings
//     `@Microsoft.KeyVault(SecretUri=…)` or `(VaultName=…;SecretName=…)`.
//     refresh  POST {site}/config/configreferences/appsettings/refresh
//     prove    GET  {site}/config/configreferences/appsettings: every reference to this
//              secret shows status Resolved and activeVersion (or the pinned
//              secretVersion) = the version keyturn wants.
//   Container Apps (Microsoft.App/containerApps): secrets with `keyVaultUrl`.
//     refresh  POST {app}/revisions/{active revision}/restart
//     prove    GET  {app}/revisions/{rev}/replicas: every replica of every active revision
//              is Running and was created after the version was (a replica reads its Key
//              Vault secrets when it starts; ARM shows no resolved version for Container
//              Apps, so the replica's start time is the strongest evidence it gives).
//
// Tag: `Consumers` holds full ARM resource IDs separated by commas. A value holds at most
// 256 characters (Key Vault's limit), about two IDs; `Consumers2` … `Consumers9` continue
// the list, each taking one of the secret's 15 tags. A malformed entry is a
// ConfigurationError naming the tag, found at plan time, before anything changes.
//
// Failures never throw out of this module's entry points: every consumer gets an
// outcome (current, lagging, no-reference, failed) carrying its resource ID and a
// scrubbed detail. The engine decides what an outcome means (docs/rotators.md).
// Role: ConsumerAccess in core/access.ts, one of the custom roles `npm run roles` generates.
import * as z from "zod/mini";
import "./schema.js";
import { ConsumerAccess } from "./access.js";
import { armRest } from "./arm-rest.js";
import { ArmProviderError, sleep } from "./arm.js";
import { ConsumerKind, type ConsumerRef } from "./consumer-tag.js";
import { ConfigurationError, TransientError, describeError, isTransient, type KeyturnError } from "./errors.js";
import type { RotatorContext } from "./rotator.js";
import { Tag } from "./tags.js";

/** The role keyturn needs on each consumer (core/access.ts ConsumerAccess; infra/ deploys it from roles.json). */
export const CONSUMER_ROLE_NAME = ConsumerAccess.roleName;

/** api-versions keyturn sends (azure-rest-api-specs: Microsoft.Web AppService stable 2024-04-01, Microsoft.App ContainerApps stable 2025-01-01). */
export const CONSUMER_API_VERSIONS = { "microsoft.web": "2024-04-01", "microsoft.app": "2025-01-01" } as const;

export { ConsumerKind, parseConsumers, type ConsumerRef } from "./consumer-tag.js";

export const ConsumerStatus = {
  /** Resolves the wanted version (proved). */
  Current: "current",
  /** Still resolves another version, or could not be shown to have moved within the time allowed. */
  Lagging: "lagging",
  /** Has no reference to this secret: nothing to refresh (check the Consumers tag). */
  NoReference: "no-reference",
  /** ARM refused or failed; `detail` says how. */
  Failed: "failed",
} as const;
export type ConsumerStatus = (typeof ConsumerStatus)[keyof typeof ConsumerStatus];

/** What keyturn learned about one consumer. Never a secret value: IDs, versions, states. */
export interface ConsumerOutcome {
  readonly id: string;
  readonly kind: ConsumerKind;
  readonly status: ConsumerStatus;
  /** Versions of this secret the consumer was seen resolving (App Service), or pinned to. */
  readonly versions?: readonly string[];
  readonly detail?: string;
  /** Failed: whether the failure looked transient (throttling, 5xx). */
  readonly transient?: boolean;
}

/** The secret version consumers should resolve. */
export interface TargetVersion {
  readonly vaultName: string;
  readonly vaultUrl: string;
  readonly secret: string;
  readonly version: string;
  /** When the version was created: replicas started after it read it (Container Apps). */
  readonly createdOn: Date;
}

/** The version of `secret` in `vault` that consumers should resolve. */
export function targetVersion(vault: { name: string; url: string }, secret: string, v: { version: string; createdOn?: Date | undefined }): TargetVersion {
  // Unknown creation time: assume now, so that only replicas started by keyturn's restart count.
  return { vaultName: vault.name, vaultUrl: vault.url, secret, version: v.version, createdOn: v.createdOn ?? new Date() };
}

export interface ConsumerTiming {
  /** How long to wait for every consumer to show the version after a refresh. */
  readonly timeoutMs: number;
  readonly intervalMs: number;
}

// App Service documents the refresh as immediate but resolves asynchronously; two
// minutes covers it without holding a rotation's lock for long.
export const DEFAULT_CONSUMER_TIMING: ConsumerTiming = { timeoutMs: 120_000, intervalMs: 5_000 };

/** A restart waits until this long after the version was created (ARM and Key Vault report whole seconds; allows for clock skew). */
const RESTART_AFTER_VERSION_MS = 2_000;

type ConsumerContext = Pick<RotatorContext, "credential" | "armEndpoint" | "clientOptions" | "log">;

// Response shapes, from the published examples (GetKeyVaultReferencesForAppSettings.json,
// ContainerApps_Get, Revisions_List.json, Replicas_Get.json) and Microsoft.Web's
// ApiKVReferenceProperties (2023-12-01 on: activeVersion, status, source, details).
// Unknown fields pass through.
const optionalString = () => z.optional(z.string());
const nullishString = () => z.nullish(z.string());
const kvReferencesSchema = z.object({
  value: z.array(
    z.object({
      id: optionalString(),
      name: optionalString(),
      properties: z.optional(
        z.object({
          reference: nullishString(),
          status: nullishString(),
          vaultName: nullishString(),
          secretName: nullishString(),
          secretVersion: nullishString(),
          activeVersion: nullishString(),
          details: nullishString(),
        }),
      ),
    }),
  ),
});
const containerAppSchema = z.object({
  properties: z.object({
    configuration: z.nullish(z.object({ secrets: z.nullish(z.array(z.object({ name: optionalString(), keyVaultUrl: nullishString() }))) })),
  }),
});
const revisionsSchema = z.object({
  value: z.array(z.object({ name: z.string(), properties: z.optional(z.object({ active: z.nullish(z.boolean()) })) })),
  nextLink: nullishString(),
});
const replicasSchema = z.object({
  value: z.array(z.object({ name: optionalString(), properties: z.optional(z.object({ createdTime: nullishString(), runningState: nullishString() })) })),
});

interface ConsumerRest {
  send(method: "GET" | "POST", path: string, apiVersion: string): Promise<unknown>;
}

async function consumerRest(ctx: ConsumerContext, consumer: ConsumerRef): Promise<ConsumerRest> {
  const rest = await armRest(ctx, consumer.resource.subscriptionId);
  return {
    async send(method, path, apiVersion) {
      try {
        return await rest.send(method, path, apiVersion);
      } catch (error) {
        throw consumerFailure(error, consumer, method, path);
      }
    },
  };
}

/** ARM's refusal, told with the consumer's ID: 404 is a tag naming a missing app, 403 a missing role. */
function consumerFailure(error: unknown, consumer: ConsumerRef, method: string, path: string): unknown {
  // core/arm-rest.ts answers refusals as the SDK's RestError: statusCode, ARM's code and message.
  const e = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e.statusCode !== "number") return error;
  const status = e.statusCode;
  const code = typeof e.code === "string" ? e.code : `HTTP${status}`;
  const message = typeof e.message === "string" ? e.message.split("\n", 1)[0]!.slice(0, 300) : "";
  const call = `${method} ${path.slice(consumer.resource.id.length) || "/"} on consumer ${consumer.resource.id}: ARM ${status} ${code}`;
  const what = `${call}${message ? `: ${message}` : ""}`;
  if (status === 404) return new ConfigurationError(`names a consumer that ARM does not find (${what})`, Tag.Consumers);
  if (status === 403) {
    return new ArmProviderError(`${call}. keyturn's identity needs the '${CONSUMER_ROLE_NAME}' role on this consumer (infra/; docs/access-model.md). ARM said: ${message}`, code, 403);
  }
  if (isTransient({ statusCode: status })) return new TransientError(what);
  return new ArmProviderError(what, code, status);
}

function versionOf(url: URL): string | undefined {
  // https://<vault>/secrets/<name>[/<version>]
  return url.pathname.split("/").filter(Boolean)[2];
}

function sameVault(a: string, b: string): boolean {
  try {
    return new URL(a).origin.toLowerCase() === new URL(b).origin.toLowerCase();
  } catch {
    return false;
  }
}

/** One look at a consumer: where it stands now, without changing anything. */
interface Observation {
  readonly status: ConsumerStatus;
  readonly versions?: readonly string[];
  readonly detail?: string;
  /** A refresh cannot help (a reference pinned to another version): do not wait for it. */
  readonly pinned?: boolean;
}

interface ConsumerDriver {
  observe(target: TargetVersion): Promise<Observation>;
  refresh(target: TargetVersion): Promise<void>;
}

function appServiceDriver(rest: ConsumerRest, consumer: ConsumerRef): ConsumerDriver {
  const id = consumer.resource.id;
  const api = CONSUMER_API_VERSIONS["microsoft.web"];
  return {
    async observe(target) {
      const body = kvReferencesSchema.parse(await rest.send("GET", `${id}/config/configreferences/appsettings`, api));
      const refs = body.value
        .map((r) => ({ setting: r.name ?? r.id?.split("/").at(-1) ?? "?", ...r.properties }))
        .filter((r) => r.vaultName?.toLowerCase() === target.vaultName.toLowerCase() && r.secretName?.toLowerCase() === target.secret.toLowerCase());
      if (refs.length === 0) return { status: ConsumerStatus.NoReference, detail: `no app setting references ${target.secret} in vault ${target.vaultName}` };
      const versions = [...new Set(refs.map((r) => r.activeVersion || r.secretVersion || "?"))];
      const behind = refs.filter((r) => r.status !== "Resolved" || (r.activeVersion || r.secretVersion) !== target.version);
      if (behind.length === 0) return { status: ConsumerStatus.Current, versions };
      const pinned = behind.some((r) => r.secretVersion && r.secretVersion !== target.version);
      const detail = behind
        .map((r) => {
          const at = r.activeVersion || r.secretVersion;
          // Without activeVersion nothing proves which version a versionless reference holds.
          return `${r.setting}: ${r.status ?? "unknown"}${at ? ` at version ${at}` : ", no activeVersion reported"}${r.secretVersion ? " (pinned)" : ""}`;
        })
        .join("; ");
      return { status: ConsumerStatus.Lagging, versions, detail, pinned };
    },
    async refresh() {
      await rest.send("POST", `${id}/config/configreferences/appsettings/refresh`, api);
    },
  };
}

function containerAppDriver(rest: ConsumerRest, consumer: ConsumerRef): ConsumerDriver {
  const id = consumer.resource.id;
  const api = CONSUMER_API_VERSIONS["microsoft.app"];
  const activeRevisions = async (): Promise<string[]> => {
    const body = revisionsSchema.parse(await rest.send("GET", `${id}/revisions`, api));
    return body.value.filter((r) => r.properties?.active === true).map((r) => r.name);
  };
  // Replicas seen before keyturn restarted the revisions: after the restart, a replica
  // not among them started after the commit, whatever the clocks say (ARM and Key Vault
  // report whole seconds, too coarse to order a restart against a commit).
  let before: Set<string> | undefined;
  const replicasOf = async (revision: string) =>
    replicasSchema.parse(await rest.send("GET", `${id}/revisions/${encodeURIComponent(revision)}/replicas`, api)).value;
  return {
    async observe(target) {
      const app = containerAppSchema.parse(await rest.send("GET", id, api));
      const refs = (app.properties.configuration?.secrets ?? []).flatMap((s) => {
        if (!s.keyVaultUrl || !sameVault(s.keyVaultUrl, target.vaultUrl)) return [];
        const url = new URL(s.keyVaultUrl);
        const parts = url.pathname.split("/").filter(Boolean);
        return parts[0]?.toLowerCase() === "secrets" && parts[1]?.toLowerCase() === target.secret.toLowerCase() ? [{ name: s.name ?? "?", version: versionOf(url) }] : [];
      });
      if (refs.length === 0) return { status: ConsumerStatus.NoReference, detail: `no secret references ${target.secret} in vault ${target.vaultName}` };
      const pinnedElsewhere = refs.filter((r) => r.version !== undefined && r.version !== target.version);
      if (pinnedElsewhere.length > 0) {
        return {
          status: ConsumerStatus.Lagging,
          versions: [...new Set(pinnedElsewhere.map((r) => r.version!))],
          detail: pinnedElsewhere.map((r) => `secret ${r.name} is pinned to version ${r.version}`).join("; "),
          pinned: true,
        };
      }
      // Pinned to exactly this version: every replica reads it, whenever it started.
      if (refs.every((r) => r.version === target.version)) return { status: ConsumerStatus.Current, versions: [target.version] };
      const revisions = await activeRevisions();
      if (revisions.length === 0) return { status: ConsumerStatus.Current, detail: "no active revision" };
      const stale: string[] = [];
      for (const revision of revisions) {
        for (const r of await replicasOf(revision)) {
          const created = Date.parse(r.properties?.createdTime ?? "");
          const running = r.properties?.runningState === "Running";
          const fresh = before ? r.name !== undefined && !before.has(`${revision}/${r.name}`) : created > target.createdOn.getTime();
          if (!running || !fresh) {
            stale.push(`${revision}/${r.name ?? "?"}: ${r.properties?.runningState ?? "unknown"}, started ${r.properties?.createdTime ?? "?"}`);
          }
        }
      }
      if (stale.length === 0) return { status: ConsumerStatus.Current };
      return { status: ConsumerStatus.Lagging, detail: `replicas started before version ${target.version} existed, or not running: ${stale.slice(0, 5).join("; ")}` };
    },
    async refresh(target) {
      // Replicas started in a later whole second than the version can be told apart from
      // older ones by the next rotation's check, which then needs no restart of its own.
      const wait = target.createdOn.getTime() + RESTART_AFTER_VERSION_MS - Date.now();
      if (wait > 0) await sleep(Math.min(wait, RESTART_AFTER_VERSION_MS));
      const seen = new Set<string>();
      for (const revision of await activeRevisions()) {
        for (const r of await replicasOf(revision)) if (r.name) seen.add(`${revision}/${r.name}`);
        await rest.send("POST", `${id}/revisions/${encodeURIComponent(revision)}/restart`, api);
      }
      before = seen;
    },
  };
}

async function driverFor(ctx: ConsumerContext, consumer: ConsumerRef): Promise<ConsumerDriver> {
  const rest = await consumerRest(ctx, consumer);
  return consumer.kind === ConsumerKind.AppService ? appServiceDriver(rest, consumer) : containerAppDriver(rest, consumer);
}

/**
 * Bring one consumer to `target`: look; if it is behind, refresh it and look again until
 * it shows the version or `timing` runs out. A reference pinned to another version is
 * reported at once (a refresh cannot move it). Never throws.
 */
async function bringToVersion(ctx: ConsumerContext, consumer: ConsumerRef, target: TargetVersion, timing: ConsumerTiming): Promise<ConsumerOutcome> {
  const base = { id: consumer.resource.id, kind: consumer.kind };
  try {
    const driver = await driverFor(ctx, consumer);
    let seen = await driver.observe(target);
    if (seen.status !== ConsumerStatus.Lagging || seen.pinned) return { ...base, ...outcomeFields(seen) };
    await driver.refresh(target);
    const deadline = Date.now() + timing.timeoutMs;
    for (;;) {
      seen = await driver.observe(target);
      if (seen.status !== ConsumerStatus.Lagging || seen.pinned || Date.now() + timing.intervalMs > deadline) break;
      await sleep(timing.intervalMs);
    }
    return { ...base, ...outcomeFields(seen) };
  } catch (raw) {
    const error = raw as KeyturnError;
    return { ...base, status: ConsumerStatus.Failed, detail: describeError(error), transient: isTransient(error) };
  }
}

function outcomeFields(o: Observation): Pick<ConsumerOutcome, "status" | "versions" | "detail"> {
  return { status: o.status, ...(o.versions ? { versions: o.versions } : {}), ...(o.detail ? { detail: o.detail } : {}) };
}

/**
 * Every consumer brought to `target` (in parallel), each outcome logged with the
 * consumer's ID. Used after a commit (refresh to the new version) and before a dual
 * kind regenerates (every consumer must be on the current version).
 */
export async function bringConsumersToVersion(
  ctx: ConsumerContext,
  consumers: readonly ConsumerRef[],
  target: TargetVersion,
  timing: ConsumerTiming = DEFAULT_CONSUMER_TIMING,
): Promise<ConsumerOutcome[]> {
  const outcomes = await Promise.all(consumers.map((c) => bringToVersion(ctx, c, target, timing)));
  for (const o of outcomes) {
    const fields = { step: "consumers", consumer: o.id, consumerStatus: o.status, version: target.version, ...(o.detail ? { detail: o.detail } : {}) };
    if (o.status === ConsumerStatus.Current) ctx.log.info("consumer resolves the version", fields);
    else ctx.log.warn("consumer does not resolve the version", fields);
  }
  return outcomes;
}

/** Outcomes that stop a dual kind from regenerating: anything not proved current (no reference holds nothing). */
export function blockingConsumers(outcomes: readonly ConsumerOutcome[]): ConsumerOutcome[] {
  return outcomes.filter((o) => o.status === ConsumerStatus.Lagging || o.status === ConsumerStatus.Failed);
}
