// In-memory state of the Graph / Entra double: application registrations and their
// password credentials (client secrets).
//
// Entra stores only a hash of a client secret and shows the value once, in the answer to
// addPassword. The double keeps the value (tests need `secretTexts()`), but nothing on
// the Graph surface ever returns it again: `toGraph` writes `secretText: null`.
import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";

export interface PasswordCredentialRecord {
  readonly keyId: string;
  readonly displayName: string | null;
  readonly startDateTime: string;
  readonly endDateTime: string;
  readonly hint: string;
  readonly secretText: string;
}

export interface ApplicationRecord {
  readonly id: string;
  readonly appId: string;
  readonly displayName: string;
  readonly createdDateTime: string;
  passwordCredentials: PasswordCredentialRecord[];
}

/** What a client secret presented at the token endpoint turned out to be. */
export type SecretCheck =
  | { readonly kind: "live"; readonly keyId: string }
  | { readonly kind: "expired"; readonly keyId: string }
  | { readonly kind: "notYetValid"; readonly keyId: string }
  | { readonly kind: "wrong" };

// Characters Entra uses in generated secrets (URL-safe, plus "~" and ".").
const SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~";

function randomChars(count: number): string {
  // The alphabet has 66 characters: use only bytes below 3 * 66 so that `% 66` is unbiased.
  let out = "";
  while (out.length < count) {
    for (const byte of randomBytes(count * 2)) {
      if (byte < 66 * 3 && out.length < count) out += SECRET_ALPHABET[byte % 66];
    }
  }
  return out;
}

/**
 * A 40-character secret shaped like the ones Entra generates today: three characters,
 * a version digit and `Q~`, then 34 more characters (e.g. `abc8Q~…`).
 */
export function generateSecretText(): string {
  return `${randomChars(3)}8Q~${randomChars(34)}`;
}

const TWO_YEARS_MS = 2 * 365 * 24 * 3600_000;

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  return left.length === right.length && timingSafeEqual(left, right);
}

export class Directory {
  readonly #byId = new Map<string, ApplicationRecord>();
  readonly #denied = new Map<string, number>();

  addApplication(displayName: string, appId?: string): ApplicationRecord {
    const clientId = appId ?? randomUUID();
    if (this.findByAppId(clientId)) throw new Error(`an application with appId ${clientId} already exists`);
    const app: ApplicationRecord = {
      id: randomUUID(),
      appId: clientId,
      displayName,
      createdDateTime: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      passwordCredentials: [],
    };
    this.#byId.set(app.id, app);
    return app;
  }

  findById(id: string): ApplicationRecord | undefined {
    return this.#byId.get(id.toLowerCase());
  }

  findByAppId(appId: string): ApplicationRecord | undefined {
    const wanted = appId.toLowerCase();
    for (const app of this.#byId.values()) if (app.appId.toLowerCase() === wanted) return app;
    return undefined;
  }

  /** Marks an application (by object id or appId) as one whose Graph calls answer 403. */
  deny(idOrAppId: string): () => void {
    const app = this.findById(idOrAppId) ?? this.findByAppId(idOrAppId);
    const key = app?.id ?? idOrAppId.toLowerCase();
    this.#denied.set(key, (this.#denied.get(key) ?? 0) + 1);
    let undone = false;
    return () => {
      if (undone) return;
      undone = true;
      const count = (this.#denied.get(key) ?? 1) - 1;
      if (count <= 0) this.#denied.delete(key);
      else this.#denied.set(key, count);
    };
  }

  isDenied(app: ApplicationRecord): boolean {
    return this.#denied.has(app.id) || this.#denied.has(app.appId.toLowerCase());
  }

  /** Adds a password credential. No validation here: the Graph surface validates its input. */
  addPassword(
    app: ApplicationRecord,
    o: { displayName?: string | null; startDateTime?: Date; endDateTime?: Date } = {},
  ): PasswordCredentialRecord {
    const start = o.startDateTime ?? new Date();
    const end = o.endDateTime ?? new Date(start.getTime() + TWO_YEARS_MS);
    const secretText = generateSecretText();
    const credential: PasswordCredentialRecord = {
      keyId: randomUUID(),
      displayName: o.displayName ?? null,
      startDateTime: start.toISOString(),
      endDateTime: end.toISOString(),
      hint: secretText.slice(0, 3),
      secretText,
    };
    app.passwordCredentials.push(credential);
    return credential;
  }

  /** Removes a password credential; false when the application has no such keyId. */
  removePassword(app: ApplicationRecord, keyId: string): boolean {
    const before = app.passwordCredentials.length;
    app.passwordCredentials = app.passwordCredentials.filter((c) => c.keyId.toLowerCase() !== keyId.toLowerCase());
    return app.passwordCredentials.length !== before;
  }

  checkSecret(app: ApplicationRecord, secret: string, now = Date.now()): SecretCheck {
    const match = app.passwordCredentials.find((c) => sameSecret(c.secretText, secret));
    if (!match) return { kind: "wrong" };
    if (Date.parse(match.endDateTime) <= now) return { kind: "expired", keyId: match.keyId };
    if (Date.parse(match.startDateTime) > now) return { kind: "notYetValid", keyId: match.keyId };
    return { kind: "live", keyId: match.keyId };
  }
}

/** A password credential as Graph shows it after creation: never the secret itself. */
export function passwordCredentialToGraph(c: PasswordCredentialRecord): Record<string, unknown> {
  return {
    customKeyIdentifier: null,
    displayName: c.displayName,
    endDateTime: c.endDateTime,
    hint: c.hint,
    keyId: c.keyId,
    secretText: null,
    startDateTime: c.startDateTime,
  };
}

/** The application entity, with the properties a rotator may read (a subset of Graph's). */
export function applicationToGraph(app: ApplicationRecord): Record<string, unknown> {
  return {
    id: app.id,
    deletedDateTime: null,
    appId: app.appId,
    createdDateTime: app.createdDateTime,
    displayName: app.displayName,
    signInAudience: "AzureADMyOrg",
    tags: [],
    keyCredentials: [],
    passwordCredentials: app.passwordCredentials.map(passwordCredentialToGraph),
  };
}
