// Blob service data plane of the storage accounts in the ARM double, path-style like
// Azurite: https://127.0.0.1:PORT/<account>/...
//
// It exists so that a rotator can prove a storage key works (step 6, "verify"), and so
// that a test can prove that a regenerated key no longer does. Shared Key authorisation
// is therefore checked for real: the double rebuilds the string-to-sign from the request
// as the Blob service does (learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key),
// computes HMAC-SHA256 with each of the account's two current keys, and answers 403
// AuthenticationFailed when neither matches. Only service-level reads are served
// (service properties, list containers, account info); the account has no containers.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { escapeXml, headerValue, newRequestId, queryParams, sendEmpty, sendXml, splitTarget, type FaultsLike, type Headers } from "./http.js";
import type { StorageAccountState } from "./resources.js";

/** Requests more than this far from the server clock are refused, as by Azure Storage. */
const MAX_CLOCK_SKEW_MS = 15 * 60_000;

export interface BlobPlaneDeps {
  findAccount(name: string): StorageAccountState | undefined;
  /** "https://127.0.0.1:PORT" of the blob server. */
  baseUrl(): string;
  faults?: FaultsLike;
  record(entry: { method: string; path: string; status: number; operation?: string }): void;
}

// Canonicalized headers are sorted the way the Blob service (.NET, culture-aware "word
// sort") orders them, not by code point: hyphens are ignored at first, symbols sort
// before digits and digits before letters; names equal but for hyphens are ordered by
// the first position where only one has a hyphen, the one without it first.
// (@azure/storage-common imitates the same order with en-US sort-key tables.)
function primaryWeight(ch: string): number {
  if (ch === "-" || ch === "'") return 0;
  const code = ch.toLowerCase().charCodeAt(0);
  if (code >= 0x30 && code <= 0x39) return 0x1000 + code;
  if (code >= 0x61 && code <= 0x7a) return 0x2000 + code;
  return code;
}

export function compareHeaderNames(a: string, b: string): number {
  const wa = [...a].map(primaryWeight).filter((w) => w !== 0);
  const wb = [...b].map(primaryWeight).filter((w) => w !== 0);
  for (let i = 0; i < Math.min(wa.length, wb.length); i++) {
    if (wa[i] !== wb[i]) return wa[i]! - wb[i]!;
  }
  if (wa.length !== wb.length) return wa.length - wb.length;
  for (let k = 0; k < Math.max(a.length, b.length); k++) {
    const ha = a[k] === "-";
    const hb = b[k] === "-";
    if (ha !== hb) return ha ? 1 : -1;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The string-to-sign of a Shared Key request for the Blob service (version 2015-02-21 and later). */
export function blobStringToSign(req: IncomingMessage, accountName: string): string {
  const header = (name: string): string => {
    const value = headerValue(req, name) ?? "";
    // Since 2015-02-21 a zero Content-Length is signed as the empty string.
    return name === "content-length" && value === "0" ? "" : value;
  };
  const standard = [
    (req.method ?? "GET").toUpperCase(),
    // Documented order (Encoding, then Language). @azure/storage-common signs Language
    // first; both are empty on every request the SDK's read operations make.
    header("content-encoding"),
    header("content-language"),
    header("content-length"),
    header("content-md5"),
    header("content-type"),
    header("date"),
    header("if-modified-since"),
    header("if-match"),
    header("if-none-match"),
    header("if-unmodified-since"),
    header("range"),
  ].join("\n");
  return `${standard}\n${canonicalizedHeaders(req)}${canonicalizedResource(req, accountName)}`;
}

function canonicalizedHeaders(req: IncomingMessage): string {
  const names = Object.keys(req.headers)
    .filter((name) => name.startsWith("x-ms-"))
    .sort(compareHeaderNames);
  let out = "";
  for (const name of names) {
    const raw = req.headers[name];
    const value = (Array.isArray(raw) ? raw.join(",") : (raw ?? "")).replace(/\s+/g, " ").trim();
    out += `${name}:${value}\n`;
  }
  return out;
}

function canonicalizedResource(req: IncomingMessage, accountName: string): string {
  // "/" + account + the URI path as sent. On a path-style (IP or emulator) endpoint the
  // path itself starts with the account, so the account appears twice: /acct/acct/...
  const { rawPath, rawQuery } = splitTarget(req.url);
  let out = `/${accountName}${rawPath || "/"}`;
  const byName = new Map<string, string[]>();
  for (const part of rawQuery.split("&")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const name = decodeURIComponent(eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1));
    // The SDK drops parameters without a value when it signs; so do we.
    if (value === "") continue;
    byName.set(name, [...(byName.get(name) ?? []), value]);
  }
  for (const name of [...byName.keys()].sort()) {
    out += `\n${name}:${byName.get(name)!.sort().join(",")}`;
  }
  return out;
}

function signatureMatches(stringToSign: string, key: string, presented: string): boolean {
  const expected = createHmac("sha256", Buffer.from(key, "base64")).update(stringToSign, "utf8").digest();
  const given = Buffer.from(presented, "base64");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function storageError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Headers,
  detail?: string,
): void {
  const requestId = headers["x-ms-request-id"] ?? newRequestId();
  const xml =
    `<?xml version="1.0" encoding="utf-8"?><Error><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(`${message}\nRequestId:${requestId}\nTime:${new Date().toISOString()}`)}</Message>` +
    (detail ? `<AuthenticationErrorDetail>${escapeXml(detail)}</AuthenticationErrorDetail>` : "") +
    `</Error>`;
  sendXml(res, status, xml, { ...headers, "x-ms-error-code": code });
}

const AUTH_FAILED_MESSAGE =
  "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.";

/** Checks Shared Key authorisation; answers and returns false when it fails. */
function authorize(req: IncomingMessage, res: ServerResponse, account: StorageAccountState, headers: Headers): boolean {
  const authorization = headerValue(req, "authorization");
  if (!authorization) {
    storageError(res, 401, "NoAuthenticationInformation", "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.", headers);
    return false;
  }
  const match = /^SharedKey ([^:\s]+):(\S+)$/.exec(authorization.trim());
  if (!match) {
    storageError(res, 403, "AuthenticationFailed", AUTH_FAILED_MESSAGE, headers, "The authorization header is not a SharedKey header; this double checks Shared Key only.");
    return false;
  }
  const [, claimedAccount, signature] = match as unknown as [string, string, string];
  if (claimedAccount !== account.name) {
    storageError(res, 403, "AuthenticationFailed", AUTH_FAILED_MESSAGE, headers, `The account being accessed '${account.name}' does not match the account '${claimedAccount}' in the Authorization header.`);
    return false;
  }
  if (!account.allowSharedKeyAccess) {
    storageError(res, 403, "KeyBasedAuthenticationNotPermitted", "Key based authentication is not permitted on this storage account.", headers);
    return false;
  }
  const dateText = headerValue(req, "x-ms-date") ?? headerValue(req, "date");
  const date = dateText ? Date.parse(dateText) : Number.NaN;
  if (Number.isNaN(date)) {
    storageError(res, 403, "AuthenticationFailed", AUTH_FAILED_MESSAGE, headers, "Request date header not specified or not valid: send x-ms-date.");
    return false;
  }
  if (Math.abs(Date.now() - date) > MAX_CLOCK_SKEW_MS) {
    storageError(res, 403, "AuthenticationFailed", AUTH_FAILED_MESSAGE, headers, `Request date header too old or too far in the future: '${dateText}'.`);
    return false;
  }
  const stringToSign = blobStringToSign(req, account.name);
  // Both keys are valid at once: that is what lets consumers move from one to the other.
  const ok = [account.keys.key1.value, account.keys.key2.value].some((key) => signatureMatches(stringToSign, key, signature));
  if (!ok) {
    storageError(
      res,
      403,
      "AuthenticationFailed",
      AUTH_FAILED_MESSAGE,
      headers,
      `The MAC signature found in the HTTP request '${signature}' is not the same as any computed signature. Server used following string to sign: '${stringToSign}'.`,
    );
    return false;
  }
  return true;
}

const SERVICE_PROPERTIES_XML =
  `<?xml version="1.0" encoding="utf-8"?><StorageServiceProperties>` +
  `<Logging><Version>1.0</Version><Read>false</Read><Write>false</Write><Delete>false</Delete><RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></Logging>` +
  `<HourMetrics><Version>1.0</Version><Enabled>true</Enabled><IncludeAPIs>true</IncludeAPIs><RetentionPolicy><Enabled>true</Enabled><Days>7</Days></RetentionPolicy></HourMetrics>` +
  `<MinuteMetrics><Version>1.0</Version><Enabled>false</Enabled><RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></MinuteMetrics>` +
  `<Cors /><DeleteRetentionPolicy><Enabled>false</Enabled></DeleteRetentionPolicy>` +
  `<StaticWebsite><Enabled>false</Enabled></StaticWebsite>` +
  `</StorageServiceProperties>`;

function operationOf(method: string, rest: string, query: Map<string, string>): string | undefined {
  const restype = query.get("restype");
  const comp = query.get("comp");
  if (rest !== "") return undefined;
  if (method === "GET" && restype === "service" && comp === "properties") return "GetServiceProperties";
  if (method === "GET" && comp === "list" && restype === undefined) return "ListContainers";
  if ((method === "GET" || method === "HEAD") && restype === "account" && comp === "properties") return "GetAccountInfo";
  return undefined;
}

export function createBlobHandler(deps: BlobPlaneDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const requestId = newRequestId();
    const method = (req.method ?? "GET").toUpperCase();
    const { rawPath, rawQuery } = splitTarget(req.url);
    const query = queryParams(rawQuery);
    const segments = rawPath.split("/");
    const accountName = decodeURIComponent(segments[1] ?? "");
    // Everything after /<account>, without the trailing slash of the service root.
    const rest = segments.slice(2).join("/");
    const operation = operationOf(method, rest, query);
    res.on("finish", () => deps.record({ method, path: rawPath, status: res.statusCode, ...(operation ? { operation } : {}) }));

    const version = headerValue(req, "x-ms-version");
    const headers: Headers = {
      "x-ms-request-id": requestId,
      ...(version ? { "x-ms-version": version } : {}),
      ...(headerValue(req, "x-ms-client-request-id") ? { "x-ms-client-request-id": headerValue(req, "x-ms-client-request-id")! } : {}),
      date: new Date().toUTCString(),
      server: "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0",
    };

    // Drain any body so a kept-alive connection stays usable; nothing served here takes one.
    for await (const _ of req) continue;
    const account = accountName ? deps.findAccount(accountName) : undefined;
    if (!account) {
      storageError(res, 404, "ResourceNotFound", "The specified resource does not exist.", headers);
      return;
    }
    if (!authorize(req, res, account, headers)) return;

    if (deps.faults) {
      const answered = await deps.faults.apply(
        req,
        res,
        { service: "blob", method, path: rawPath, ...(operation ? { operation } : {}) },
        { headers },
      );
      if (answered) return;
    }

    switch (operation) {
      case "GetServiceProperties":
        sendXml(res, 200, SERVICE_PROPERTIES_XML, headers);
        return;
      case "ListContainers": {
        const prefix = query.get("prefix");
        const xml =
          `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="${escapeXml(`${deps.baseUrl()}/${account.name}/`)}">` +
          (prefix ? `<Prefix>${escapeXml(prefix)}</Prefix>` : "") +
          `<Containers /><NextMarker /></EnumerationResults>`;
        sendXml(res, 200, xml, headers);
        return;
      }
      case "GetAccountInfo":
        sendEmpty(res, 200, {
          ...headers,
          "x-ms-sku-name": "Standard_LRS",
          "x-ms-account-kind": "StorageV2",
          "x-ms-is-hns-enabled": "false",
        });
        return;
      default:
        if (rest !== "") {
          // The account holds no containers, so anything below the service root is in a missing container.
          storageError(res, 404, "ContainerNotFound", "The specified container does not exist.", headers);
          return;
        }
        storageError(res, 501, "NotImplemented", `The ARM double's blob endpoint does not implement ${method} ${req.url ?? ""}.`, headers);
    }
  };
}
