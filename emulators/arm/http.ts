// HTTP helpers of the ARM double's three servers (ARM, blob, Cosmos): ARM's answer
// headers over the receiving code every double shares (emulators/shared/http.ts).
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson as sendSharedJson, type Headers } from "../shared/http.js";

export { BodyTooLargeError, headerValue, readBody, sendEmpty, type Headers } from "../shared/http.js";

/** ARM's answers are never cached. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  sendSharedJson(res, status, body, { ...headers, "cache-control": "no-cache" });
}

export function sendXml(res: ServerResponse, status: number, xml: string, headers: Headers = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    ...headers,
    "content-type": "application/xml",
    "content-length": String(Buffer.byteLength(xml)),
  });
  res.end(xml);
}

export function newRequestId(): string {
  return randomUUID();
}

/** Splits a raw request target into its raw (still percent-encoded) path and query. */
export function splitTarget(target: string | undefined): { rawPath: string; rawQuery: string } {
  const value = target ?? "/";
  const q = value.indexOf("?");
  return q < 0 ? { rawPath: value, rawQuery: "" } : { rawPath: value.slice(0, q), rawQuery: value.slice(q + 1) };
}

/** A raw path's segments, percent-decoded (no empty ones); undefined when one does not decode. */
export function pathSegments(rawPath: string): string[] | undefined {
  try {
    return rawPath.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

/** Query parameters by lower-cased name (last value wins), percent-decoded. */
export function queryParams(rawQuery: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(rawQuery)) params.set(name.toLowerCase(), value);
  return params;
}

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** One request as seen by the double, for "how many calls did a rotation make". */
export interface RecordedRequest {
  /** Which of the double's endpoints answered: ARM, the blob data plane or the Cosmos data plane. */
  readonly service: "arm" | "blob" | "cosmos" | "openai";
  readonly method: string;
  /** Path without the query string, as sent (percent-encoded). */
  readonly path: string;
  readonly status: number;
  /** The operation as an Azure RBAC action name, when the double recognised the request. */
  readonly operation?: string;
}

/** The part of emulators/faults.ts FaultInjector that this double uses (typed structurally). */
export interface FaultsLike {
  apply(
    req: IncomingMessage,
    res: ServerResponse,
    descriptor: { service: string; vault?: string; method: string; path: string; operation?: string },
    options?: { headers?: Record<string, string> },
  ): Promise<boolean>;
}
