// Azure SQL server administrator passwords: generation under Azure SQL's password
// policy, and the secret value formats. Pure functions.
import { randomInt } from "node:crypto";
import * as z from "zod/mini";
import "../../core/schema.js";
import { Tag, choiceTag, integerTag, parseTag, type Tags } from "../../core/tags.js";
import { connectionStringFields } from "../../core/connection-string.js";

export const SqlSecretFormat = { Password: "password", ConnectionString: "connection-string" } as const;
export type SqlSecretFormat = (typeof SqlSecretFormat)[keyof typeof SqlSecretFormat];

export const SqlTag = { Database: "Database", SecretLength: "SecretLength" } as const;

const LOWER = "abcdefghijklmnopqrstuvwxyz";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGIT = "0123456789";
// No ; = ' " { } or space (ADO.NET, ODBC and JDBC connection strings), no % # ? + / @ :
// (URLs, e.g. SQLAlchemy's mssql+pyodbc://user:password@host), no $ ` \ (shells).
export const SQL_PASSWORD_SYMBOLS = "!*-._~";
const CLASSES = [LOWER, UPPER, DIGIT, SQL_PASSWORD_SYMBOLS] as const;

export const DEFAULT_PASSWORD_LENGTH = 32;
export const passwordLengthSchema = integerTag(16, 128);

/**
 * Why Azure SQL would refuse `password` for `login`, or undefined. The documented policy:
 * 8 to 128 characters; characters from three of upper case, lower case, digits and
 * non-alphanumerics; and not all or part of the login name, where a part is three or
 * more consecutive alphanumeric characters.
 */
export function sqlPasswordProblem(password: string, login: string): string | undefined {
  if (password.length < 8 || password.length > 128) return "it must be 8 to 128 characters long";
  const classes = [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
  if (classes < 3) return "it needs characters from three of: upper case, lower case, digits, symbols";
  const lower = password.toLowerCase();
  for (const run of login.toLowerCase().split(/[^a-z0-9]+/)) {
    for (let i = 0; i + 3 <= run.length; i++) {
      if (lower.includes(run.slice(i, i + 3))) return "it contains part of the login name";
    }
  }
  return undefined;
}

/** A random password with every character class, that Azure SQL accepts for `login`. */
export function generateSqlPassword(length: number, login: string): string {
  const alphabet = CLASSES.join("");
  for (let attempt = 0; attempt < 100; attempt++) {
    const chars = CLASSES.map((c) => c[randomInt(c.length)]!);
    while (chars.length < length) chars.push(alphabet[randomInt(alphabet.length)]!);
    for (let i = chars.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [chars[i], chars[j]] = [chars[j]!, chars[i]!];
    }
    const password = chars.join("");
    if (sqlPasswordProblem(password, login) === undefined) return password;
  }
  // Only a login made of nearly every three-character sequence could get here.
  throw new Error("could not generate a password that avoids every part of the login name");
}

const formatSchema = z._default(
  choiceTag(Object.values(SqlSecretFormat), `must be '${SqlSecretFormat.Password}' (default) or '${SqlSecretFormat.ConnectionString}'`),
  SqlSecretFormat.Password,
);

export function parseSqlFormat(tags: Tags): SqlSecretFormat {
  return parseTag(tags, Tag.SecretFormat, formatSchema);
}

// Azure SQL database names may hold more, but these are safe in every connection-string dialect.
const databaseSchema = z.optional(z.string().check(z.regex(/^[A-Za-z0-9_.-]{1,128}$/, { message: "must be 1 to 128 letters, digits, '_', '.' or '-'" })));

export function parseDatabase(tags: Tags): string | undefined {
  return parseTag(tags, SqlTag.Database, databaseSchema);
}

const lengthSchema = z._default(passwordLengthSchema, DEFAULT_PASSWORD_LENGTH);

export function parseLength(tags: Tags): number {
  return parseTag(tags, SqlTag.SecretLength, lengthSchema);
}

/** Login names Azure SQL accepts for a server administrator; also what CredentialId may say. */
const loginSchema = z.optional(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_@$#.-]{0,127}$/, { message: "must be the server's administrator login name" })));

export function parseLogin(tags: Tags): string | undefined {
  return parseTag(tags, Tag.CredentialId, loginSchema);
}

/** ADO.NET connection string, as the Azure portal shows it for SQL authentication. */
export function sqlConnectionString(fqdn: string, login: string, password: string, database: string | undefined): string {
  return [
    `Server=tcp:${fqdn},1433`,
    ...(database ? [`Initial Catalog=${database}`] : []),
    "Persist Security Info=False",
    `User ID=${login}`,
    `Password=${password}`,
    "MultipleActiveResultSets=False",
    "Encrypt=True",
    "TrustServerCertificate=False",
    "Connection Timeout=30",
  ].join(";") + ";";
}


const PASSWORD_FIELD = /(^|;)\s*(password|pwd)\s*=/i;

/**
 * The password and (for a connection string) the server and login held by a secret
 * value of either format. Lenient: the previous version may predate a SecretFormat
 * change, and the engine gives a failed rotation's provider the previous value back.
 */
export function readSqlValue(value: string): { password: string; host?: string; login?: string } {
  if (!PASSWORD_FIELD.test(value)) return { password: value };
  const f = connectionStringFields(value);
  const server = f.get("server") ?? f.get("data source") ?? f.get("address") ?? f.get("addr");
  const host = server?.replace(/^tcp:/i, "").split(",")[0]?.trim();
  const login = f.get("user id") ?? f.get("uid") ?? f.get("user");
  return { password: f.get("password") ?? f.get("pwd") ?? "", ...(host ? { host } : {}), ...(login ? { login } : {}) };
}
