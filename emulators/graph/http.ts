// HTTP helpers of the Graph and identity-platform halves of the double: Graph's answer
// headers over the receiving code every double shares (emulators/shared/http.ts).
import type { ServerResponse } from "node:http";
import { sendJson as sendSharedJson, type Headers } from "../shared/http.js";

export { BodyTooLargeError, headerValue, readBody, sendEmpty } from "../shared/http.js";

/** Graph and the token endpoint answer `no-store`, unless the caller says otherwise. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  sendSharedJson(res, status, body, { "cache-control": "no-store, no-cache", ...headers });
}
