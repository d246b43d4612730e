// The Graph / Entra double, driven by the real clients keyturn uses: @azure/identity's
// ClientSecretCredential (MSAL Node underneath) for tokens, and a core-rest-pipeline
// pipeline with the bearer-token policy for Graph calls.
import { AuthenticationRequiredError, ClientSecretCredential, CredentialUnavailableError } from "@azure/identity";
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type Pipeline,
} from "@azure/core-rest-pipeline";
import type { TokenCredential } from "@azure/core-auth";
import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGraphEmulator, type FaultDescriptor, type GraphEmulator } from "../../emulators/graph/index.js";

const GRAPH_SCOPE = "https://graph.microsoft.com/.default";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let emulator: GraphEmulator;
const requestLog: string[] = [];
/** keyturn's own identity: an application registered in the double, with a seeded secret. */
let keyturnCredential: ClientSecretCredential;
let keyturnAppId: string;
let graph: Pipeline;
const httpClient = createDefaultHttpClient();

function credentialFor(clientId: string, secret: string, em: GraphEmulator = emulator): ClientSecretCredential {
  return new ClientSecretCredential(em.tenantId, clientId, secret, {
    authorityHost: em.url,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: em.tls.caPem },
    retryOptions: { maxRetries: 0 },
  });
}

function graphPipeline(credential?: TokenCredential): Pipeline {
  const pipeline = createPipelineFromOptions({ tlsOptions: { ca: emulator.tls.caPem }, retryOptions: { maxRetries: 0 } });
  if (credential) pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential, scopes: GRAPH_SCOPE }));
  return pipeline;
}

interface GraphAnswer {
  status: number;
  text: string;
  json: Record<string, any>;
  headers: Record<string, string>;
}

async function call(
  method: "GET" | "POST",
  path: string,
  o: { body?: unknown; pipeline?: Pipeline; authorization?: string; base?: string } = {},
): Promise<GraphAnswer> {
  const headers = createHttpHeaders({ accept: "application/json" });
  if (o.body !== undefined) headers.set("content-type", "application/json");
  if (o.authorization !== undefined) headers.set("authorization", o.authorization);
  const request = createPipelineRequest({
    url: `${o.base ?? emulator.url}${path}`,
    method,
    headers,
    ...(o.body !== undefined ? { body: typeof o.body === "string" ? o.body : JSON.stringify(o.body) } : {}),
  });
  const response = await (o.pipeline ?? graph).sendRequest(httpClient, request);
  const text = response.bodyAsText ?? "";
  return {
    status: response.status,
    text,
    json: text ? (JSON.parse(text) as Record<string, any>) : {},
    headers: response.headers.toJSON(),
  };
}

async function expectTokenFailure(credential: TokenCredential, pattern: RegExp): Promise<Error> {
  const error = await credential.getToken(GRAPH_SCOPE).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error, "getToken should have failed").toBeInstanceOf(Error);
  expect(error!.message).toMatch(pattern);
  return error!;
}

function decodeJwtPayload(token: string): Record<string, unknown> {
  const payload = token.split(".")[1];
  return JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as Record<string, unknown>;
}

function expectGraphError(answer: GraphAnswer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.json.error.code).toBe(code);
  expect(typeof answer.json.error.message).toBe("string");
  expect(answer.json.error.innerError["request-id"]).toMatch(UUID);
  expect(answer.json.error.innerError.date).toMatch(/^\d{4}-\d{2}-\d{2}T/);
}

beforeAll(async () => {
  emulator = await startGraphEmulator({ log: (line) => requestLog.push(line) });
  const keyturn = emulator.addApplication({ displayName: "keyturn" });
  keyturnAppId = keyturn.appId;
  keyturnCredential = credentialFor(keyturn.appId, keyturn.addPassword({ displayName: "keyturn" }).secretText);
  graph = graphPipeline(keyturnCredential);
});

afterAll(async () => {
  await emulator?.stop();
});

describe("identity platform with ClientSecretCredential (MSAL Node)", () => {
  it("issues a Graph token for a live secret, after exactly the metadata and token requests", async () => {
    const app = emulator.addApplication({ displayName: "msal-probe" });
    const { secretText } = app.addPassword({ displayName: "probe" });
    const before = requestLog.length;

    const token = await credentialFor(app.appId, secretText).getToken(GRAPH_SCOPE);

    const made = requestLog.slice(before);
    expect(made).toHaveLength(2);
    expect(made[0]).toBe(`GET /${emulator.tenantId}/v2.0/.well-known/openid-configuration -> 200`);
    expect(made[1]).toMatch(new RegExp(`^POST /${emulator.tenantId}/oauth2/v2\\.0/token\\?client-request-id=[0-9a-f-]{36} -> 200$`));
    const claims = decodeJwtPayload(token.token);
    expect(claims).toMatchObject({ aud: "https://graph.microsoft.com", appid: app.appId, tid: emulator.tenantId });
    // MSAL computes expiresOn from expires_in on its own clock: allow a second or two.
    expect(Math.abs((claims.exp as number) - token.expiresOnTimestamp / 1000)).toBeLessThanOrEqual(2);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 50 * 60_000);
    expect(emulator.tokensIssued()).toContainEqual({ clientId: app.appId, scope: GRAPH_SCOPE });
  });

  it("refuses a wrong secret with invalid_client AADSTS7000215 and records no token", async () => {
    const app = emulator.addApplication({ displayName: "wrong-secret" });
    app.addPassword();

    const error = await expectTokenFailure(credentialFor(app.appId, "not-the-secret"), /invalid_client/);

    // @azure/identity wraps MSAL's ServerError; the AADSTS code survives in the message.
    expect(error).toBeInstanceOf(AuthenticationRequiredError);
    expect(error.message).toContain("AADSTS7000215: Invalid client secret provided");
    expect(emulator.tokensIssued().some((t) => t.clientId === app.appId)).toBe(false);
  });

  it("refuses an expired secret with AADSTS7000222 and an unknown client with AADSTS700016", async () => {
    const app = emulator.addApplication({ displayName: "expired" });
    const expired = app.addPassword({
      startDateTime: new Date(Date.now() - 3600_000),
      endDateTime: new Date(Date.now() - 1000),
    });

    await expectTokenFailure(credentialFor(app.appId, expired.secretText), /invalid_client.*AADSTS7000222/s);
    await expectTokenFailure(
      credentialFor("7d1d4a5e-0000-4000-8000-000000000000", expired.secretText),
      /unauthorized_client.*AADSTS700016/s,
    );
  });

  it("rejects a client-credentials scope without /.default (AADSTS1002012)", async () => {
    const app = emulator.addApplication({ displayName: "scope" });
    const credential = credentialFor(app.appId, app.addPassword().secretText);

    const error = await credential.getToken("https://graph.microsoft.com/Application.ReadWrite.All").then(
      () => undefined,
      (e: unknown) => e as Error,
    );

    expect(error?.message).toMatch(/invalid_scope.*AADSTS1002012/s);
  });

  it("fails as CredentialUnavailable (endpoints_resolution_error) when the CA is not passed", async () => {
    const app = emulator.addApplication({ displayName: "no-ca" });
    const credential = new ClientSecretCredential(emulator.tenantId, app.appId, app.addPassword().secretText, {
      authorityHost: emulator.url,
      disableInstanceDiscovery: true,
      retryOptions: { maxRetries: 0 },
    });

    const error = await expectTokenFailure(credential, /endpoints_resolution_error/);

    // A TLS trust failure is reported as a metadata failure: worth knowing when debugging.
    expect(error).toBeInstanceOf(CredentialUnavailableError);
  });

  it("issues tokens to trustedClients with their fixed secret only", async () => {
    const em = await startGraphEmulator({ trustedClients: { "11111111-2222-4333-8444-555555555555": "fixed-secret" } });
    try {
      const token = await credentialFor("11111111-2222-4333-8444-555555555555", "fixed-secret", em).getToken(GRAPH_SCOPE);
      expect(decodeJwtPayload(token.token).appid).toBe("11111111-2222-4333-8444-555555555555");
      await expectTokenFailure(credentialFor("11111111-2222-4333-8444-555555555555", "other", em), /AADSTS7000215/);
      expect(em.tokensIssued()).toEqual([{ clientId: "11111111-2222-4333-8444-555555555555", scope: GRAPH_SCOPE }]);
    } finally {
      await em.stop();
    }
  });
});

describe("Graph application password credentials", () => {
  it("addPassword returns the credential with its secret once; the new secret gets a token", async () => {
    const app = emulator.addApplication({ displayName: "rotate-me" });
    const endDateTime = new Date(Date.now() + 60 * 24 * 3600_000).toISOString();

    const added = await call("POST", `/v1.0/applications/${app.id}/addPassword`, {
      body: { passwordCredential: { displayName: "keyturn 2025-01", endDateTime } },
    });

    expect(added.status).toBe(200);
    const body = added.json;
    expect(body["@odata.context"]).toBe(`${emulator.url}/v1.0/$metadata#microsoft.graph.passwordCredential`);
    expect(body).toMatchObject({ customKeyIdentifier: null, displayName: "keyturn 2025-01", endDateTime });
    expect(body.keyId).toMatch(UUID);
    expect(body.secretText).toHaveLength(40);
    expect(body.hint).toBe(body.secretText.slice(0, 3));
    expect(Date.parse(body.startDateTime)).toBeLessThanOrEqual(Date.now());
    expect(app.passwords().map((p) => p.keyId)).toEqual([body.keyId]);
    expect(app.secretTexts()).toEqual([body.secretText]);

    const token = await credentialFor(app.appId, body.secretText).getToken(GRAPH_SCOPE);
    expect(decodeJwtPayload(token.token).appid).toBe(app.appId);
  });

  it("lists passwordCredentials without ever returning secretText, honouring $select and appId addressing", async () => {
    const app = emulator.addApplication({ displayName: "listed" });
    const first = await call("POST", `/v1.0/applications/${app.id}/addPassword`, { body: { passwordCredential: { displayName: "a" } } });
    const second = await call("POST", `/v1.0/applications(appId='${app.appId}')/addPassword`, { body: {} });
    const secrets = [first.json.secretText as string, second.json.secretText as string];

    const full = await call("GET", `/v1.0/applications/${app.id}`);
    const selected = await call("GET", `/v1.0/applications/${app.id}?$select=passwordCredentials`);
    const byAppId = await call("GET", `/v1.0/applications(appId='${app.appId}')?$select=id,appId,passwordCredentials`);

    for (const answer of [full, selected, byAppId]) {
      expect(answer.status).toBe(200);
      for (const secret of secrets) expect(answer.text).not.toContain(secret);
      expect(answer.json.passwordCredentials).toHaveLength(2);
      for (const credential of answer.json.passwordCredentials) {
        expect(credential.secretText).toBeNull();
        expect(credential.keyId).toMatch(UUID);
        expect(credential.hint).toHaveLength(3);
      }
    }
    expect(full.json).toMatchObject({ id: app.id, appId: app.appId, displayName: "listed" });
    expect(full.json.passwordCredentials.map((c: { keyId: string }) => c.keyId)).toEqual([first.json.keyId, second.json.keyId]);
    expect(Object.keys(selected.json).sort()).toEqual(["@odata.context", "passwordCredentials"]);
    expect(selected.json["@odata.context"]).toContain("#applications(passwordCredentials)/$entity");
    expect(byAppId.json).toMatchObject({ id: app.id, appId: app.appId });
    expect(byAppId.json.displayName).toBeUndefined();

    const unknownProperty = await call("GET", `/v1.0/applications/${app.id}?$select=nope`);
    expectGraphError(unknownProperty, 400, "Request_BadRequest");
  });

  it("removePassword answers 204, the secret stops working, and a second removal is refused", async () => {
    const app = emulator.addApplication({ displayName: "remove-me" });
    const keep = await call("POST", `/v1.0/applications/${app.id}/addPassword`, { body: { passwordCredential: { displayName: "keep" } } });
    const drop = await call("POST", `/v1.0/applications/${app.id}/addPassword`, { body: { passwordCredential: { displayName: "drop" } } });
    await credentialFor(app.appId, drop.json.secretText).getToken(GRAPH_SCOPE);

    const removed = await call("POST", `/v1.0/applications/${app.id}/removePassword`, { body: { keyId: drop.json.keyId } });

    expect(removed.status).toBe(204);
    expect(removed.text).toBe("");
    const listed = await call("GET", `/v1.0/applications/${app.id}?$select=passwordCredentials`);
    expect(listed.json.passwordCredentials.map((c: { keyId: string }) => c.keyId)).toEqual([keep.json.keyId]);
    expect(app.passwords().map((p) => p.keyId)).toEqual([keep.json.keyId]);
    // A fresh credential: the old one would answer from MSAL's token cache.
    await expectTokenFailure(credentialFor(app.appId, drop.json.secretText), /invalid_client.*AADSTS7000215/s);
    await credentialFor(app.appId, keep.json.secretText).getToken(GRAPH_SCOPE);

    const again = await call("POST", `/v1.0/applications/${app.id}/removePassword`, { body: { keyId: drop.json.keyId } });
    expectGraphError(again, 400, "Request_BadRequest");
    const badKeyId = await call("POST", `/v1.0/applications/${app.id}/removePassword`, { body: { keyId: "abc" } });
    expectGraphError(badKeyId, 400, "BadRequest");
  });

  it("refuses an endDateTime in the past or unparseable, and unreadable JSON, adding nothing", async () => {
    const app = emulator.addApplication({ displayName: "validation" });
    const path = `/v1.0/applications/${app.id}/addPassword`;

    const past = await call("POST", path, { body: { passwordCredential: { endDateTime: "2020-01-01T00:00:00Z" } } });
    const invalid = await call("POST", path, { body: { passwordCredential: { endDateTime: "next tuesday" } } });
    const unreadable = await call("POST", path, { body: "{not json" });

    expectGraphError(past, 400, "Request_BadRequest");
    expect(past.json.error.message).toContain("endDateTime");
    expectGraphError(invalid, 400, "BadRequest");
    expect(invalid.json.error.message).toContain("Edm.DateTimeOffset");
    expectGraphError(unreadable, 400, "BadRequest");
    expect(app.passwords()).toEqual([]);
  });

  it("answers 401 InvalidAuthenticationToken without a token, with a forged one, or one for another audience", async () => {
    const app = emulator.addApplication({ displayName: "auth" });
    const anonymous = graphPipeline();
    const vaultToken = await keyturnCredential.getToken("https://vault.azure.net/.default");
    const graphToken = (await keyturnCredential.getToken(GRAPH_SCOPE)).token;
    const [header, payload] = graphToken.split(".");
    const forged = `${header}.${payload}.${"A".repeat(43)}`;

    const none = await call("GET", `/v1.0/applications/${app.id}`, { pipeline: anonymous });
    const wrongAudience = await call("POST", `/v1.0/applications/${app.id}/addPassword`, {
      pipeline: anonymous,
      authorization: `Bearer ${vaultToken.token}`,
      body: {},
    });
    const tampered = await call("GET", `/v1.0/applications/${app.id}`, { pipeline: anonymous, authorization: `Bearer ${forged}` });

    expectGraphError(none, 401, "InvalidAuthenticationToken");
    expect(none.json.error.message).toBe("Access token is empty.");
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer /);
    expectGraphError(wrongAudience, 401, "InvalidAuthenticationToken");
    expect(wrongAudience.json.error.message).toContain("Invalid audience");
    expectGraphError(tampered, 401, "InvalidAuthenticationToken");
    expect(app.passwords()).toEqual([]);
    expect(emulator.tokensIssued()).toContainEqual({ clientId: keyturnAppId, scope: "https://vault.azure.net/.default" });
  });

  it("answers 404 Request_ResourceNotFound for an unknown application, and 400 for a malformed id", async () => {
    const missing = "0b5e7a40-9c1d-4f55-8f0e-3a2b1c0d9e8f";

    const byId = await call("GET", `/v1.0/applications/${missing}`);
    const add = await call("POST", `/v1.0/applications/${missing}/addPassword`, { body: {} });
    const byAppId = await call("GET", `/v1.0/applications(appId='${missing}')`);
    const malformed = await call("GET", "/v1.0/applications/not-a-guid");

    for (const answer of [byId, add, byAppId]) expectGraphError(answer, 404, "Request_ResourceNotFound");
    expect(byId.json.error.message).toContain(missing);
    expectGraphError(malformed, 400, "Request_BadRequest");
  });

  it("answers 403 Authorization_RequestDenied on a denied application until the denial is undone", async () => {
    const app = emulator.addApplication({ displayName: "not-ours" });
    const seeded = app.addPassword({ displayName: "owner's" });
    const undo = emulator.denyApplication(app.id);

    const get = await call("GET", `/v1.0/applications/${app.id}`);
    const add = await call("POST", `/v1.0/applications/${app.id}/addPassword`, { body: {} });
    const remove = await call("POST", `/v1.0/applications/${app.id}/removePassword`, { body: { keyId: seeded.keyId } });
    const byAppId = await call("GET", `/v1.0/applications(appId='${app.appId}')`);

    for (const answer of [get, add, remove, byAppId]) expectGraphError(answer, 403, "Authorization_RequestDenied");
    expect(app.passwords().map((p) => p.keyId)).toEqual([seeded.keyId]);

    undo();
    expect((await call("GET", `/v1.0/applications/${app.id}`)).status).toBe(200);
  });

  it("hands requests to the fault injector with service, operation and path, and lets it answer", async () => {
    const seen: FaultDescriptor[] = [];
    const faults = {
      async apply(_req: IncomingMessage, res: ServerResponse, descriptor: FaultDescriptor): Promise<boolean> {
        seen.push(descriptor);
        if (descriptor.operation !== "addPassword") return false;
        res.writeHead(429, { "retry-after": "1", "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "TooManyRequests", message: "throttled" } }));
        return true;
      },
    };
    const em = await startGraphEmulator({ faults, tls: emulator.tls });
    try {
      const keyturn = em.addApplication({ displayName: "keyturn" });
      const app = em.addApplication({ displayName: "target" });
      const pipeline = createPipelineFromOptions({ tlsOptions: { ca: em.tls.caPem }, retryOptions: { maxRetries: 0 } });
      pipeline.addPolicy(
        bearerTokenAuthenticationPolicy({ credential: credentialFor(keyturn.appId, keyturn.addPassword().secretText, em), scopes: GRAPH_SCOPE }),
      );

      const throttled = await call("POST", `/v1.0/applications/${app.id}/addPassword`, { base: em.url, pipeline, body: {} });
      const read = await call("GET", `/v1.0/applications/${app.id}`, { base: em.url, pipeline });

      expect(throttled.status).toBe(429);
      expect(throttled.headers["retry-after"]).toBe("1");
      expect(app.passwords()).toEqual([]);
      expect(read.status).toBe(200);
      expect(seen).toEqual([
        { service: "identity", method: "GET", path: `/${em.tenantId}/v2.0/.well-known/openid-configuration`, operation: "openidConfiguration" },
        { service: "identity", method: "POST", path: `/${em.tenantId}/oauth2/v2.0/token`, operation: "token" },
        { service: "graph", method: "POST", path: `/v1.0/applications/${app.id}/addPassword`, operation: "addPassword" },
        { service: "graph", method: "GET", path: `/v1.0/applications/${app.id}`, operation: "getApplication" },
      ]);
    } finally {
      await em.stop();
    }
  });
});
