// What a PostgreSQL secret's value looks like (tag SecretFormat), how keyturn reads the
// password back out of one, and how it reads the administrator credential (AdminSecret).
//
//   password           the password alone (default)
//   json               {"username","password","host","port","dbname"}
//   connection-string  postgresql://user:password@host:port/dbname?sslmode=verify-full
//                      (user, password and database percent-encoded)
//
// Reading is lenient on purpose: a current value in any of the three shapes is accepted
// whatever SecretFormat says now, so an owner can change the format and the next
// rotation writes the new one.
import { ConfigurationError } from "../../core/errors.js";
import { Tag, choiceTag, parseTag, type Tags } from "../../core/tags.js";
import * as z from "zod/mini";
import "../../core/schema.js";
import { PostgresTag, type ServerAddress } from "./address.js";

export const SecretFormat = { Password: "password", Json: "json", ConnectionString: "connection-string" } as const;
export type SecretFormat = (typeof SecretFormat)[keyof typeof SecretFormat];

const CONTENT_TYPES: Record<SecretFormat, string> = {
  [SecretFormat.Password]: "text/plain",
  [SecretFormat.Json]: "application/json",
  [SecretFormat.ConnectionString]: "text/plain",
};

const formatSchema = z._default(choiceTag(Object.values(SecretFormat), `must be one of ${Object.values(SecretFormat).join(", ")}`), SecretFormat.Password);

export function parseSecretFormat(tags: Tags): SecretFormat {
  return parseTag(tags, Tag.SecretFormat, formatSchema);
}

export interface Credential {
  readonly username: string | undefined;
  readonly password: string;
}

/** The secret value and its contentType for a new credential. */
export function renderSecret(
  format: SecretFormat,
  c: { username: string; password: string; address: Pick<ServerAddress, "host" | "port" | "database" | "sslMode"> },
): { value: string; contentType: string } {
  const { host, port, database, sslMode } = c.address;
  let value: string;
  switch (format) {
    case SecretFormat.Password:
      value = c.password;
      break;
    case SecretFormat.Json:
      value = JSON.stringify({ username: c.username, password: c.password, host, port, dbname: database });
      break;
    case SecretFormat.ConnectionString: {
      const enc = encodeURIComponent;
      value = `postgresql://${enc(c.username)}:${enc(c.password)}@${host}:${port}/${enc(database)}?sslmode=${sslMode}`;
      break;
    }
  }
  return { value, contentType: CONTENT_TYPES[format] };
}

function fromJson(value: string): Credential | undefined {
  if (!value.trimStart().startsWith("{")) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof doc !== "object" || doc === null) return undefined;
  const { username, user, password } = doc as Record<string, unknown>;
  if (typeof password !== "string" || password === "") return undefined;
  const name = typeof username === "string" ? username : typeof user === "string" ? user : undefined;
  return { username: name, password };
}

function fromUrl(value: string): Credential | undefined {
  if (!/^postgres(ql)?:\/\//i.test(value.trim())) return undefined;
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return undefined;
  }
  if (url.password === "") return undefined;
  try {
    return { username: url.username === "" ? undefined : decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  } catch {
    return undefined;
  }
}

/**
 * The credential held by a secret value in any of the three formats: a JSON document with
 * `password` (and `username` or `user`), a postgres:// URL with a password, or else the
 * value itself as the password.
 */
export function readCredential(value: string): Credential {
  return fromJson(value) ?? fromUrl(value) ?? { username: undefined, password: value };
}

/**
 * The administrator credential named by AdminSecret: JSON `{"username","password"}` (the
 * `json` format above qualifies) or a postgres:// URL with user and password (the
 * `connection-string` format qualifies). Only the user name and password are taken; the
 * server is always the one ProviderAddress names. A bare password is refused: keyturn
 * would not know whom to log in as.
 */
export function parseAdminCredential(value: string, secretName: string): { username: string; password: string } {
  const c = fromJson(value) ?? fromUrl(value);
  if (!c || c.username === undefined || c.username === "") {
    throw new ConfigurationError(
      `secret ${secretName} must hold {"username","password"} as JSON or a postgres://user:password@host/db URL`,
      PostgresTag.AdminSecret,
    );
  }
  return { username: c.username, password: c.password };
}
