// Where a PostgreSQL credential lives, read from tags: the server address
// (ProviderAddress, Port, Database, SslMode) and the names that end up in SQL (roles).
// Shared by postgres-role and postgres-flexible-admin.
//
// Tag values are untrusted input: every name is checked against a strict pattern here,
// and is still quoted by the driver's own helpers where it reaches SQL (see postgres.ts).
import * as z from "zod/mini";
import "../../core/schema.js";
import { ConfigurationError } from "../../core/errors.js";
import { Tag, choiceTag, integerTag, parseTag, type Tags } from "../../core/tags.js";

export const PostgresTag = {
  /** Name of the secret (same vault) that holds the administrator credential. */
  AdminSecret: "AdminSecret",
  /** Two-login mode: the two role names, e.g. `app_blue,app_green`. */
  Logins: "Logins",
  /** Two-login mode: `true` lets keyturn create the second login from the first. */
  CreateSecondLogin: "CreateSecondLogin",
  /** Database to log in to (resource-ID addresses only; default `postgres`). */
  Database: "Database",
  /** Port (resource-ID addresses only; default 5432, 6432 for the built-in PgBouncer). */
  Port: "Port",
  /** `verify-full` (default), `require` or `disable`. */
  SslMode: "SslMode",
} as const;

export const SslMode = { Disable: "disable", Require: "require", VerifyFull: "verify-full" } as const;
export type SslMode = (typeof SslMode)[keyof typeof SslMode];

export interface FlexibleServerRef {
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
}

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly sslMode: SslMode;
  /** Set when ProviderAddress is an Azure Database for PostgreSQL flexible server resource ID. */
  readonly server?: FlexibleServerRef;
}

/**
 * Role names: PostgreSQL identifiers of at most 63 bytes, limited to letters, digits,
 * `_`, `$`, `.` and `-` (the last two need quoting, which the driver does). No quotes,
 * semicolons, white space or `@`. Names are case-sensitive: keyturn always quotes them.
 */
const ROLE_NAME = /^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$/;
const DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$/;
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^\[[0-9A-Fa-f:.]{2,45}\]$/;
const FLEXIBLE_SERVER_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.DBforPostgreSQL\/flexibleServers\/([^/]+)$/i;
const SUBSCRIPTION_ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const RESOURCE_GROUP = /^[-\w.()]{0,89}[-\w()]$/;
const SERVER_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

export function roleNameProblem(name: string): string | undefined {
  if (!ROLE_NAME.test(name)) {
    return "must be a PostgreSQL role name: a letter or _ first, then letters, digits, _ $ . - (at most 63); no quotes, semicolons or spaces";
  }
  if (/^pg_/i.test(name)) return "must not name a reserved pg_ role";
  return undefined;
}

export const roleNameSchema = z.string({ message: "is required" }).check(z.superRefine((value, ctx) => {
  const problem = roleNameProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
}));

/** Whether a value that came back from the journal or from ARM is still a name we accept. */
export function isValidRoleName(name: string | undefined): name is string {
  return name !== undefined && roleNameProblem(name) === undefined;
}

export function isValidHostName(host: string): boolean {
  return HOST_NAME.test(host) || IPV6.test(host);
}

const sslModeSchema = z._default(choiceTag(Object.values(SslMode), `must be one of ${Object.values(SslMode).join(", ")}`), SslMode.VerifyFull);

export function parseSslMode(tags: Tags): SslMode {
  return parseTag(tags, PostgresTag.SslMode, sslModeSchema);
}

const addressSchema = z.string({ message: "is required: postgres://host:port/database or a flexible server resource ID" });
const portSchema = z.optional(integerTag(1, 65535));
const databaseSchema = z.optional(z.string().check(z.regex(DATABASE_NAME, { message: "must be a database name: a letter or _ first, then letters, digits, _ $ . - (at most 63)" })));

/** A flexible server resource ID, or undefined when the text is not one. Throws on a malformed one. */
export function parseFlexibleServerId(raw: string): FlexibleServerRef | undefined {
  const m = FLEXIBLE_SERVER_ID.exec(raw);
  if (!m) return undefined;
  const [, subscriptionId, resourceGroup, name] = m as unknown as [string, string, string, string];
  if (!SUBSCRIPTION_ID.test(subscriptionId)) throw new ConfigurationError("names a subscription that is not a GUID", Tag.ProviderAddress);
  if (!RESOURCE_GROUP.test(resourceGroup)) throw new ConfigurationError("names a resource group that is not valid", Tag.ProviderAddress);
  if (!SERVER_NAME.test(name)) throw new ConfigurationError("names a flexible server that is not valid (3-63 lower-case letters, digits and hyphens)", Tag.ProviderAddress);
  return { id: raw, subscriptionId, resourceGroup, name };
}

/**
 * ProviderAddress is either `postgres://host[:port][/database]` (also `postgresql://`),
 * with no credentials, query or fragment, or a flexible server resource ID, whose host is
 * `<name>.postgres.database.azure.com` and whose port and database come from the `Port`
 * and `Database` tags. A URL and a tag that both say the port or database would be two
 * answers to one question: that is refused.
 */
export function parseServerAddress(tags: Tags): ServerAddress {
  const raw = parseTag(tags, Tag.ProviderAddress, addressSchema);
  const sslMode = parseSslMode(tags);
  const portTag = parseTag(tags, PostgresTag.Port, portSchema);
  const databaseTag = parseTag(tags, PostgresTag.Database, databaseSchema);

  const server = parseFlexibleServerId(raw);
  if (server) {
    return { host: `${server.name}.postgres.database.azure.com`, port: portTag ?? 5432, database: databaseTag ?? "postgres", sslMode, server };
  }

  if (!/^postgres(ql)?:\/\//i.test(raw)) {
    throw new ConfigurationError("must be postgres://host:port/database or an Azure Database for PostgreSQL flexible server resource ID", Tag.ProviderAddress);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigurationError("is not a valid postgres:// URL", Tag.ProviderAddress);
  }
  if (url.username || url.password) throw new ConfigurationError("must not carry credentials: the administrator credential comes from AdminSecret", Tag.ProviderAddress);
  if (url.search || url.hash) throw new ConfigurationError("must not carry a query or fragment (use the SslMode tag)", Tag.ProviderAddress);
  const host = url.hostname;
  if (!isValidHostName(host)) throw new ConfigurationError("names a host that is not valid", Tag.ProviderAddress);

  const urlPort = url.port === "" ? undefined : Number(url.port);
  if (urlPort !== undefined && portTag !== undefined && urlPort !== portTag) throw new ConfigurationError("conflicts with the port in ProviderAddress", PostgresTag.Port);

  let urlDatabase: string | undefined;
  const path = url.pathname.replace(/^\//, "");
  if (path !== "") {
    try {
      urlDatabase = decodeURIComponent(path);
    } catch {
      throw new ConfigurationError("has a database name that does not decode", Tag.ProviderAddress);
    }
    if (!DATABASE_NAME.test(urlDatabase)) throw new ConfigurationError("has a database name that is not valid (letters, digits, _ $ . -)", Tag.ProviderAddress);
  }
  if (urlDatabase !== undefined && databaseTag !== undefined && urlDatabase !== databaseTag) {
    throw new ConfigurationError("conflicts with the database in ProviderAddress", PostgresTag.Database);
  }
  return { host, port: urlPort ?? portTag ?? 5432, database: urlDatabase ?? databaseTag ?? "postgres", sslMode };
}

/** `host:port/database`, for logs and messages (never carries a credential). */
export function describeAddress(a: Pick<ServerAddress, "host" | "port" | "database">): string {
  return `${a.host}:${a.port}/${a.database}`;
}
