// ARM's front door, which every management request passes before any provider sees it:
// request ids, the body, a bearer token (401 without one), an api-version (400 without
// one). Shared by the ARM double's own providers (index.ts) and the access-key family
// (access-keys.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import { armErrors } from "./errors.js";
import { headerValue, newRequestId, queryParams, readBody, splitTarget, type Headers } from "./http.js";

export interface ArmRequest {
  readonly method: string;
  /** As sent (percent-encoded), without the query. */
  readonly rawPath: string;
  /** Query parameters by lower-cased name. */
  readonly query: Map<string, string>;
  /** ARM's response headers for this request (request ids, date). */
  readonly headers: Headers;
  readonly bodyText: string;
  readonly token: string;
  readonly apiVersion: string;
}

/**
 * Passes a request through the front door; undefined when the door has answered it.
 * `finished` runs when the answer is written, whoever wrote it (for the request log).
 */
export async function armFrontDoor(
  req: IncomingMessage,
  res: ServerResponse,
  finished: (request: { method: string; path: string; status: number }) => void,
): Promise<ArmRequest | undefined> {
  const requestId = newRequestId();
  const method = (req.method ?? "GET").toUpperCase();
  const { rawPath, rawQuery } = splitTarget(req.url);
  const query = queryParams(rawQuery);
  const headers: Headers = {
    "x-ms-request-id": requestId,
    "x-ms-correlation-request-id": headerValue(req, "x-ms-correlation-request-id") ?? requestId,
    date: new Date().toUTCString(),
  };
  res.on("finish", () => finished({ method, path: rawPath, status: res.statusCode }));
  const bodyText = await readBody(req);

  // 1. Authentication: ARM's front door wants a bearer token before anything else.
  const authorization = headerValue(req, "authorization");
  if (!authorization) {
    armErrors.authenticationMissing(res, headers);
    return;
  }
  const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  if (!token) {
    armErrors.authenticationMalformed(res, headers);
    return;
  }

  // 2. api-version.
  const apiVersion = query.get("api-version");
  if (!apiVersion) {
    armErrors.missingApiVersion(res, headers);
    return;
  }
  return { method, rawPath, query, headers, bodyText, token, apiVersion };
}
