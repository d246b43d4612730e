// callerOf: who asked for a manual rotation, from App Service Authentication's headers
// (x-ms-client-principal-name / -id) or, failing those, the principal's own claims
// (name_typ / name, oid). Only trusted when authentication guards the API.
import { describe, expect, it } from "vitest";
import { callerFromAccessToken, callerOf, parseClientPrincipal } from "../../core/auth.js";

const OID = "3F2504E0-4F89-41D3-9A0C-0305E82C3301";
const headers = (h: Record<string, string>) => ({ get: (n: string) => h[n.toLowerCase()] ?? null });
const principal = (claims: Array<{ typ: string; val: string }>, nameTyp = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name") =>
  Buffer.from(JSON.stringify({ auth_typ: "aad", claims, name_typ: nameTyp, role_typ: "roles" })).toString("base64");

describe("callerOf", () => {
  it("reads the platform's name and id headers, object id in lower case", () => {
    expect(callerOf(headers({ "x-ms-client-principal-name": "ana@contoso.com", "x-ms-client-principal-id": OID }), true)).toEqual({ name: "ana@contoso.com", objectId: OID.toLowerCase() });
  });

  it("falls back to the principal's name and oid claims", () => {
    const p = principal([
      { typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", val: "ben@contoso.com" },
      { typ: "http://schemas.microsoft.com/identity/claims/objectidentifier", val: OID },
      { typ: "roles", val: "Rotation.Operator" },
    ]);
    expect(callerOf(headers({ "x-ms-client-principal": p }), true)).toEqual({ name: "ben@contoso.com", objectId: OID.toLowerCase() });
    expect(parseClientPrincipal(p)?.roles).toEqual(["Rotation.Operator"]);
  });

  it("trusts nothing when App Service Authentication is not in front", () => {
    expect(callerOf(headers({ "x-ms-client-principal-name": "ana@contoso.com", "x-ms-client-principal-id": OID }), false)).toBeUndefined();
  });

  it("drops an id that is not a GUID and a name with control characters", () => {
    expect(callerOf(headers({ "x-ms-client-principal-name": "evil\nINFO forged line", "x-ms-client-principal-id": "not-a-guid" }), true)).toBeUndefined();
    expect(callerOf(headers({ "x-ms-client-principal-name": "x".repeat(400) }), true)?.name?.length).toBe(256);
  });
});

describe("callerFromAccessToken (the CLI's own identity)", () => {
  const jwt = (claims: object) => `eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`;

  it("names the user of `az login` by upn and object id", () => {
    expect(callerFromAccessToken(jwt({ upn: "ana@contoso.com", oid: OID, name: "Ana" }))).toEqual({ name: "ana@contoso.com", objectId: OID.toLowerCase() });
  });

  it("names a managed identity (a runbook) by its application id and object id", () => {
    expect(callerFromAccessToken(jwt({ appid: "11111111-2222-3333-4444-555555555555", oid: OID }))).toEqual({ name: "11111111-2222-3333-4444-555555555555", objectId: OID.toLowerCase() });
  });

  it("knows no caller from a token that is not a JWT", () => {
    expect(callerFromAccessToken("opaque-token")).toBeUndefined();
    expect(callerFromAccessToken("a.!!!.b")).toBeUndefined();
  });
});
