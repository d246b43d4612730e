// Access tokens of the double: JWT-shaped, HS256-signed with a key made per emulator.
//
// Real Entra tokens are RS256 and carry many more claims; keyturn never reads a token
// (it only forwards it), so what matters is that the Graph half can tell a token it
// issued, for Graph, still in date, from anything else, and answer 401 the way Graph does.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";

export interface AccessTokenClaims {
  readonly aud: string;
  readonly iss: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly appid: string;
  readonly appidacr: "1";
  readonly idp: string;
  readonly oid: string;
  readonly sub: string;
  readonly tid: string;
  readonly uti: string;
  readonly ver: "1.0";
}

export type TokenCheck =
  | { readonly ok: true; readonly claims: AccessTokenClaims }
  | { readonly ok: false; readonly reason: "malformed" | "signature" | "expired" | "audience" };

function base64url(input: Buffer | string): string {
  return Buffer.from(input).toString("base64url");
}

export const TOKEN_LIFETIME_SECONDS = 3599;

export class TokenMinter {
  readonly #key = randomBytes(32);

  constructor(private readonly tenantId: string) {}

  get issuer(): string {
    return `https://sts.windows.net/${this.tenantId}/`;
  }

  mint(o: { clientId: string; servicePrincipalId: string; audience: string; nowMs?: number }): {
    token: string;
    claims: AccessTokenClaims;
  } {
    const now = Math.floor((o.nowMs ?? Date.now()) / 1000);
    const claims: AccessTokenClaims = {
      aud: o.audience,
      iss: this.issuer,
      iat: now,
      nbf: now,
      exp: now + TOKEN_LIFETIME_SECONDS,
      appid: o.clientId,
      appidacr: "1",
      idp: this.issuer,
      oid: o.servicePrincipalId,
      sub: o.servicePrincipalId,
      tid: this.tenantId,
      uti: randomUUID(),
      ver: "1.0",
    };
    const header = base64url(JSON.stringify({ typ: "JWT", alg: "HS256" }));
    const payload = base64url(JSON.stringify(claims));
    return { token: `${header}.${payload}.${this.#sign(`${header}.${payload}`)}`, claims };
  }

  /** Checks a bearer token: ours, untampered, in date, and meant for one of `audiences`. */
  verify(token: string, audiences: readonly string[], nowMs = Date.now()): TokenCheck {
    const parts = token.split(".");
    if (parts.length !== 3) return { ok: false, reason: "malformed" };
    const [header, payload, signature] = parts as [string, string, string];
    const expected = Buffer.from(this.#sign(`${header}.${payload}`));
    const actual = Buffer.from(signature);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      return { ok: false, reason: "signature" };
    }
    let claims: AccessTokenClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as AccessTokenClaims;
    } catch {
      return { ok: false, reason: "malformed" };
    }
    const now = Math.floor(nowMs / 1000);
    if (claims.exp <= now || claims.nbf > now + 300) return { ok: false, reason: "expired" };
    if (!audiences.includes(claims.aud)) return { ok: false, reason: "audience" };
    return { ok: true, claims };
  }

  #sign(input: string): string {
    return createHmac("sha256", this.#key).update(input).digest("base64url");
  }
}
