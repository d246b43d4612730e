// sql-server-admin — the SQL-authentication administrator password of an Azure SQL
// logical server (Microsoft.Sql/servers), set through Azure Resource Manager.
//
// Model: single credential: the server has one administrator password.
//   check current  GET the server: it exists, it is Ready, SQL authentication is not
//                  switched off (Entra-only), its administratorLogin is the CredentialId
//                  tag (when set), and a connection string in Key Vault names this server
//                  and login. Read-only.
//   create         generate a password under Azure SQL's policy (8-128 characters, three
//                  of four character classes, no part of the login name: no three
//                  consecutive alphanumerics of it), with symbols only from "!*-._~" so
//                  that it needs no quoting in connection strings or URLs. The engine
//                  journals it in Key Vault next, before the server sees it.
//   apply          PATCH administratorLoginPassword and wait for the long-running
//                  operation (core/arm-rest.ts: the SDK pipeline and core-lro poller that
//                  @azure/arm-sql's servers.beginUpdateAndWait is built on, without its
//                  0.8 MB of models, which a host kept in memory for three calls).
//                  Setting the same password again is harmless, so a crashed rotation is
//                  rolled forward by applying the journaled password again; the engine
//                  also calls apply with the previous value to give it back after a
//                  permanent failure.
//   verify         the operation succeeded (apply) AND the server shows Ready with the same
//                  administrator login: in the server the operation returned (the poller's
//                  final GET), or else in a fresh GET, repeated while it is not Ready.
//                  This does NOT prove that the new password logs in: that needs a TDS
//                  login, and keyturn ships no TDS driver (tedious/mssql), so a login
//                  check is not available; verification rests on ARM reporting the
//                  operation Succeeded.
//
// Tags (besides ValidityPeriodDays, Owner):
//   ProviderAddress=/subscriptions/<sub>/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-orders-prod
//   Rotator=sql-server-admin           optional: the resource type selects the kind
//   CredentialId=sqladmin              optional: checked against the server's administratorLogin; written on commit
//   SecretFormat=password | connection-string
//     connection-string: Server=tcp:<fqdn>,1433;Initial Catalog=<Database>;Persist Security Info=False;
//     User ID=<login>;Password=<password>;MultipleActiveResultSets=False;Encrypt=True;
//     TrustServerCertificate=False;Connection Timeout=30;   (ADO.NET; host = the server's FQDN from ARM)
//   Database=orders                    optional: Initial Catalog of the connection string
//   SecretLength=32                    optional: 16 to 128, default 32
// Azure role: the custom role of access.ts on the server (servers/read and /write and the
// operation results; not firewall rules, Entra administrators or deletion, which SQL
// Server Contributor would allow).
// Failure: check current and create change nothing. From the journal write on, an
// interrupted rotation (crash, 5xx, throttling) leaves the journal pending and the next
// trigger applies the same password again and commits. A permanent failure after the
// PATCH (operation refused, verify failing, Key Vault refusing the commit) makes the
// engine PATCH the previous password back, so the latest version works again.
// ARM's refusals (PasswordNotComplex, ...) become ProviderErrors with ARM's code; 403
// names the role; 404 is a configuration error naming ProviderAddress. The password is
// never logged and never part of an error message.
import * as z from "zod/mini";
import "../../core/schema.js";
import { armCall, parseProviderAddress, sleep, type ArmResourceId, type ArmRotatorTimings } from "../../core/arm.js";
import { armAnswer, armRest } from "../../core/arm-rest.js";
import { ConfigurationError, ProviderError, TransientError, VerificationError } from "../../core/errors.js";
import { CredentialModel, type PendingCredential, type Rotator, type RotatorContext } from "../../core/rotator.js";
import { Tag } from "../../core/tags.js";
import {
  SqlSecretFormat,
  SqlTag,
  generateSqlPassword,
  parseDatabase,
  parseLength,
  parseLogin,
  parseSqlFormat,
  readSqlValue,
  sqlConnectionString,
} from "./format.js";
import { sqlServerAdminAccess } from "./access.js";

export { SqlSecretFormat, generateSqlPassword, sqlPasswordProblem, sqlConnectionString } from "./format.js";

export const SQL_SERVER_TYPE = "microsoft.sql/servers";
export const SQL_ROLE = sqlServerAdminAccess.roleName;
const EXAMPLE = "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/Microsoft.Sql/servers/<server>";

export interface SqlServerAdminParams {
  readonly server: ArmResourceId;
  /** CredentialId, when set: must equal the server's administratorLogin. */
  readonly login: string | undefined;
  readonly format: SqlSecretFormat;
  readonly database: string | undefined;
  readonly length: number;
}

/** `pollIntervalMs`: of the PATCH; `verifyDelaysMs`: before each look for the server Ready again. */
export type SqlServerAdminOptions = ArmRotatorTimings;

const DEFAULT_VERIFY_DELAYS_MS = [0, 2_000, 5_000, 10_000] as const;

// The version @azure/arm-sql 10.0.0 sends for servers (emulators/arm/api-versions.ts).
const SQL_API_VERSION = "2022-08-01-preview";

const call = (server: ArmResourceId, action: string) => ({ action, resource: server, role: SQL_ROLE });

/** What keyturn reads of a Microsoft.Sql/servers resource (ARM's JSON: the fields under `properties`). */
const serverSchema = z.object({
  properties: z.nullish(
    z.object({
      administratorLogin: z.nullish(z.string()),
      fullyQualifiedDomainName: z.nullish(z.string()),
      state: z.nullish(z.string()),
      administrators: z.nullish(z.object({ azureADOnlyAuthentication: z.nullish(z.boolean()) })),
    }),
  ),
});

interface Server {
  readonly administratorLogin: string | undefined;
  readonly fullyQualifiedDomainName: string | undefined;
  readonly state: string | undefined;
  readonly azureADOnlyAuthentication: boolean | undefined;
}

function serverOf(body: unknown): Server {
  const p = armAnswer(serverSchema, body, "reading the SQL server").properties;
  return {
    administratorLogin: p?.administratorLogin ?? undefined,
    fullyQualifiedDomainName: p?.fullyQualifiedDomainName ?? undefined,
    state: p?.state ?? undefined,
    azureADOnlyAuthentication: p?.administrators?.azureADOnlyAuthentication ?? undefined,
  };
}

async function getServer(ctx: RotatorContext, server: ArmResourceId): Promise<Server> {
  const arm = await armRest(ctx, server.subscriptionId);
  return serverOf(await armCall(call(server, "read"), () => arm.send("GET", server.id, SQL_API_VERSION)));
}

interface ServerFacts {
  readonly login: string;
  readonly fqdn: string;
  readonly state: string | undefined;
}

function factsOf(params: SqlServerAdminParams, s: Server): ServerFacts {
  if (!s.administratorLogin) throw new ProviderError(`ARM reports no administratorLogin for SQL server ${params.server.id}`);
  if (s.azureADOnlyAuthentication === true) {
    throw new ProviderError(
      `SQL server ${params.server.id} allows Microsoft Entra authentication only: its SQL administrator password logs nobody in, so keyturn will not rotate it`,
    );
  }
  if (params.login !== undefined && params.login.toLowerCase() !== s.administratorLogin.toLowerCase()) {
    throw new ConfigurationError(
      `says '${params.login}', but the administrator login of SQL server ${params.server.name} is '${s.administratorLogin}': wrong server, or the tag is out of date`,
      Tag.CredentialId,
    );
  }
  return { login: s.administratorLogin, fqdn: s.fullyQualifiedDomainName ?? `${params.server.name}.database.windows.net`, state: s.state };
}

/**
 * Facts of one rotation, which the engine passes from step to step:
 * - `checked`: the server checkCurrent read and checked, for create, so that create need
 *   not GET the server again;
 * - `applied`: the server the PATCH operation returned (the poller's final GET), for verify,
 *   which runs right after apply (also in a roll-forward, which runs apply again).
 * Absent: read the server.
 */
export interface SqlServerAdminFacts {
  readonly checked?: ServerFacts;
  readonly applied?: Server;
}

export function createSqlServerAdminRotator(options: SqlServerAdminOptions = {}) {
  const verifyDelaysMs = options.verifyDelaysMs ?? DEFAULT_VERIFY_DELAYS_MS;
  const pollOptions = options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {};

  return {
    kind: "sql-server-admin",
    access: sqlServerAdminAccess,
    model: CredentialModel.Single,
    description: "the SQL administrator password of an Azure SQL logical server",
    resourceTypes: [SQL_SERVER_TYPE],
    tags: [Tag.SecretFormat, SqlTag.Database, SqlTag.SecretLength],

    parse(tags): SqlServerAdminParams {
      return {
        server: parseProviderAddress(tags, SQL_SERVER_TYPE, EXAMPLE, /^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$|^[a-z0-9]$/i),
        login: parseLogin(tags),
        format: parseSqlFormat(tags),
        database: parseDatabase(tags),
        length: parseLength(tags),
      };
    },

    // There is no way to test the current password without a TDS login; what can be
    // checked is that the secret and the server belong together.
    async checkCurrent(ctx, params, current) {
      const facts = factsOf(params, await getServer(ctx, params.server));
      const held = readSqlValue(current.value);
      if (held.host !== undefined && held.host.toLowerCase() !== facts.fqdn.toLowerCase()) {
        throw new ConfigurationError(
          `names SQL server ${params.server.name} (${facts.fqdn}), but the connection string in Key Vault is for ${held.host.slice(0, 128)}`,
          Tag.ProviderAddress,
        );
      }
      if (held.login !== undefined && held.login.toLowerCase() !== facts.login.toLowerCase()) {
        throw new ConfigurationError(
          `the connection string in Key Vault logs in as '${held.login.slice(0, 128)}', but the administrator of ${params.server.name} is '${facts.login}'`,
          Tag.CredentialId,
        );
      }
      if (facts.state === "Disabled") throw new ProviderError(`SQL server ${params.server.name} is Disabled`);
      if (facts.state !== undefined && facts.state !== "Ready") {
        throw new TransientError(`SQL server ${params.server.name} is ${facts.state}, not Ready; rotate when it is`);
      }
      return { checked: facts };
    },

    // Generates only; the provider is not touched until the engine has journaled the value.
    async create(ctx, params, _current, known): Promise<PendingCredential> {
      // The facts checkCurrent just read and checked in this rotation; otherwise read them now.
      const facts = known?.checked ?? factsOf(params, await getServer(ctx, params.server));
      const password = generateSqlPassword(params.length, facts.login);
      ctx.registerSecret(password);
      const value = params.format === SqlSecretFormat.ConnectionString ? sqlConnectionString(facts.fqdn, facts.login, password, params.database) : password;
      ctx.registerSecret(value);
      return { credentialId: facts.login, secretValue: value, state: { login: facts.login, fqdn: facts.fqdn } };
    },

    // Idempotent: PATCHing the same password twice leaves the same password.
    async apply(ctx, params, pending): Promise<SqlServerAdminFacts> {
      const { password } = readSqlValue(pending.secretValue);
      if (!password) throw new ProviderError("the value to set holds no password");
      ctx.registerSecret(password);
      const arm = await armRest(ctx, params.server.subscriptionId);
      const answer = await armCall(call(params.server, "set the administrator password of"), () =>
        arm.sendAndWait("PATCH", params.server.id, SQL_API_VERSION, { properties: { administratorLoginPassword: password } }, pollOptions),
      );
      ctx.log.info("administrator password set; the operation succeeded", { step: "apply" });
      // No final resource (a poller that ends on the operation's status): verify reads the server.
      return answer === undefined ? {} : { applied: serverOf(answer) };
    },

    // See the header: proves the operation's outcome and the server's state, not a login.
    async verify(ctx, params, pending, known) {
      const expectedLogin = pending.state?.login ?? pending.credentialId ?? params.login;
      const applied = known?.applied;
      // The operation's own result (the poller's final GET after it succeeded) when it shows
      // the server Ready with the expected login; anything else: read the server, as before.
      if (applied !== undefined) {
        if (expectedLogin !== undefined && applied.administratorLogin !== undefined && applied.administratorLogin.toLowerCase() !== expectedLogin.toLowerCase()) {
          throw new VerificationError(`the administrator login of SQL server ${params.server.name} is now '${applied.administratorLogin}', not '${expectedLogin}'`);
        }
        const loginShown = expectedLogin === undefined || applied.administratorLogin !== undefined;
        if (loginShown && applied.state === "Ready") return;
      }
      let state: string | undefined;
      for (const delay of verifyDelaysMs) {
        if (delay > 0) await sleep(delay);
        const s = await getServer(ctx, params.server);
        if (expectedLogin !== undefined && s.administratorLogin?.toLowerCase() !== expectedLogin.toLowerCase()) {
          throw new VerificationError(`the administrator login of SQL server ${params.server.name} is now '${s.administratorLogin ?? ""}', not '${expectedLogin}'`);
        }
        state = s.state;
        if (state === undefined || state === "Ready") return;
      }
      throw new VerificationError(`SQL server ${params.server.name} did not return to Ready after the password change (state ${state})`);
    },
  } satisfies Rotator<SqlServerAdminParams, SqlServerAdminFacts> & { kind: "sql-server-admin" };
}

export const sqlServerAdminRotator = createSqlServerAdminRotator();
