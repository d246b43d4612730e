// Cosmos DB (NoSQL API) data plane of the accounts in the ARM double, path-style:
// documentEndpoint = https://127.0.0.1:PORT/<account>/ stands for https://<account>.documents.azure.com:443/.
//
// Path-style because a real account is a host name of its own, and the double's
// certificate only names 127.0.0.1/localhost: everything after "/<account>" is the
// Cosmos path the client signed ("/" for the database account itself). A client must
// therefore resolve paths against documentEndpoint (fetch(documentEndpoint),
// new URL("dbs/x", documentEndpoint)), not against the host root.
//
// The master-key authorisation header is checked for real, as documented in
// "Access control in the Azure Cosmos DB SQL API"
// (learn.microsoft.com/rest/api/cosmos-db/access-control-on-cosmosdb-resources):
//   Authorization: urlencode("type=master&ver=1.0&sig=" + base64(HMAC-SHA256(base64decode(key), payload)))
//   payload = lower(verb) "\n" lower(resourceType) "\n" resourceLink "\n" lower(x-ms-date) "\n" "" "\n"
// against the account's current keys: the two read-write keys always, the two read-only
// keys for reads. Anything else is 401 Unauthorized.
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { headerValue, sendJson, splitTarget, type FaultsLike, type Headers } from "./http.js";
import type { CosmosAccountState, CosmosKeyKind } from "./resources.js";

/** Tokens dated further than this from the server clock are refused. */
const MAX_CLOCK_SKEW_MS = 15 * 60_000;

export interface CosmosPlaneDeps {
  findAccount(name: string): CosmosAccountState | undefined;
  faults?: FaultsLike;
  record(entry: { method: string; path: string; status: number; operation?: string }): void;
}

/**
 * Resource type and link of a Cosmos path, as the signature uses them:
 *   ""             -> type "",      link ""            (the database account)
 *   "dbs"          -> type "dbs",   link ""
 *   "dbs/db1"      -> type "dbs",   link "dbs/db1"
 *   "dbs/db1/colls"-> type "colls", link "dbs/db1"
 */
export function cosmosResource(path: string): { resourceType: string; resourceLink: string } {
  const segments = path.split("/").filter(Boolean);
  if (segments.length === 0) return { resourceType: "", resourceLink: "" };
  if (segments.length % 2 === 0) {
    return { resourceType: segments[segments.length - 2]!, resourceLink: segments.join("/") };
  }
  return { resourceType: segments[segments.length - 1]!, resourceLink: segments.slice(0, -1).join("/") };
}

export function cosmosPayload(verb: string, resourceType: string, resourceLink: string, date: string): string {
  return `${verb.toLowerCase()}\n${resourceType.toLowerCase()}\n${resourceLink}\n${date.toLowerCase()}\n\n`;
}

function parseAuthorization(header: string): Map<string, string> | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(header);
  } catch {
    return undefined;
  }
  const fields = new Map<string, string>();
  for (const part of decoded.split("&")) {
    const eq = part.indexOf("=");
    if (eq <= 0) return undefined;
    // Split at the first "=" only: the base64 signature ends in "=" padding.
    fields.set(part.slice(0, eq).toLowerCase(), part.slice(eq + 1));
  }
  return fields;
}

function isRead(req: IncomingMessage): boolean {
  const method = (req.method ?? "GET").toUpperCase();
  if (method === "GET" || method === "HEAD") return true;
  // Queries are POSTs, and read-only keys may run them.
  return method === "POST" && (headerValue(req, "x-ms-documentdb-isquery") ?? "").toLowerCase() === "true";
}

function unauthorized(res: ServerResponse, message: string, headers: Headers): void {
  sendJson(res, 401, { code: "Unauthorized", message: `${message}\r\nActivityId: ${headers["x-ms-activity-id"]}` }, headers);
}

function signatureMatches(payload: string, key: string, presented: string): boolean {
  const expected = createHmac("sha256", Buffer.from(key, "base64")).update(payload, "utf8").digest();
  const given = Buffer.from(presented, "base64");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function authorize(req: IncomingMessage, res: ServerResponse, account: CosmosAccountState, path: string, headers: Headers): boolean {
  const header = headerValue(req, "authorization");
  if (!header) {
    unauthorized(res, "Required Header authorization is missing. Ensure a valid Authorization token is passed.", headers);
    return false;
  }
  const fields = parseAuthorization(header);
  const type = fields?.get("type");
  const sig = fields?.get("sig");
  if (!fields || !sig || type !== "master" || fields.get("ver") !== "1.0") {
    unauthorized(res, "The authorization header is not a master-key token (type=master&ver=1.0&sig=...); this double checks master keys only.", headers);
    return false;
  }
  if (account.disableLocalAuth) {
    sendJson(res, 403, { code: "Forbidden", message: "Local Authorization is disabled. Use an AAD token to authorize all requests." }, headers);
    return false;
  }
  const date = headerValue(req, "x-ms-date") ?? headerValue(req, "date");
  const when = date ? Date.parse(date) : Number.NaN;
  if (!date || Number.isNaN(when)) {
    unauthorized(res, "The input authorization token can't serve the request. Send x-ms-date (RFC 1123) and sign it.", headers);
    return false;
  }
  if (Math.abs(Date.now() - when) > MAX_CLOCK_SKEW_MS) {
    unauthorized(res, `The authorization token is not valid at the current time. Please create another token and retry (x-ms-date: ${date}, current server time: ${new Date().toUTCString()}).`, headers);
    return false;
  }
  const { resourceType, resourceLink } = cosmosResource(path);
  const payload = cosmosPayload(req.method ?? "GET", resourceType, resourceLink, date);
  const allowed: CosmosKeyKind[] = isRead(req) ? ["primary", "secondary", "primaryReadonly", "secondaryReadonly"] : ["primary", "secondary"];
  if (!allowed.some((kind) => signatureMatches(payload, account.keys[kind].value, sig))) {
    unauthorized(
      res,
      "The input authorization token can't serve the request. The wrong key is being used or the expected payload is not built as per the protocol. " +
        `For more info: https://aka.ms/cosmosdb-tsg-unauthorized. Server used the following payload to sign: '${payload}'`,
      headers,
    );
    return false;
  }
  return true;
}

function databaseAccountBody(account: CosmosAccountState): unknown {
  const location = { name: account.location, databaseAccountEndpoint: account.documentEndpoint };
  return {
    _self: "",
    id: account.name,
    _rid: new URL(account.documentEndpoint).host,
    media: "//media/",
    addresses: "//addresses/",
    _dbs: "//dbs/",
    writableLocations: [location],
    readableLocations: [location],
    enableMultipleWriteLocations: false,
    continuousBackupEnabled: false,
    userReplicationPolicy: { asyncReplication: false, minReplicaSetSize: 3, maxReplicasetSize: 4 },
    userConsistencyPolicy: { defaultConsistencyLevel: "Session" },
    systemReplicationPolicy: { minReplicaSetSize: 3, maxReplicasetSize: 4 },
    readPolicy: { primaryReadCoefficient: 1, secondaryReadCoefficient: 1 },
  };
}

export function createCosmosHandler(deps: CosmosPlaneDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const activityId = randomUUID();
    const method = (req.method ?? "GET").toUpperCase();
    const { rawPath } = splitTarget(req.url);
    const segments = rawPath.split("/");
    const accountName = decodeURIComponent(segments[1] ?? "");
    const path = decodeURIComponent(segments.slice(2).join("/"));
    const operation = method === "GET" && path === "" ? "GetDatabaseAccount" : undefined;
    res.on("finish", () => deps.record({ method, path: rawPath, status: res.statusCode, ...(operation ? { operation } : {}) }));
    const headers: Headers = {
      "x-ms-activity-id": activityId,
      "x-ms-gatewayversion": "version=2.14.0",
      date: new Date().toUTCString(),
    };
    for await (const _ of req) continue;

    const account = accountName ? deps.findAccount(accountName) : undefined;
    if (!account) {
      sendJson(res, 404, { code: "NotFound", message: `No Cosmos DB account '${accountName}' in the ARM double.` }, headers);
      return;
    }
    if (!authorize(req, res, account, path, headers)) return;

    if (deps.faults) {
      const answered = await deps.faults.apply(req, res, { service: "cosmos", method, path: rawPath, ...(operation ? { operation } : {}) }, { headers });
      if (answered) return;
    }

    if (operation === "GetDatabaseAccount") {
      sendJson(res, 200, databaseAccountBody(account), headers);
      return;
    }
    if (method === "GET" || method === "HEAD") {
      // The accounts hold no databases.
      sendJson(res, 404, { code: "NotFound", message: "Resource Not Found. Learn more: https://aka.ms/cosmosdb-tsg-not-found" }, headers);
      return;
    }
    sendJson(res, 501, { code: "NotImplemented", message: `The ARM double's Cosmos DB endpoint does not implement ${method} /${path}.` }, headers);
  };
}
