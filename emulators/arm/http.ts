// Small HTTP helpers shared by the ARM double's three servers (ARM, blob, Cosmos).
//
// Kept local to emulators/arm on purpose: the other doubles are being written at the
// same time and their helpers may change shape under us.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

const MAX_BODY_BYTES = 1024 * 1024;

export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export type Headers = Record<string, string>;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  const text = JSON.stringify(body);
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    "cache-control": "no-cache",
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Headers = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...headers, "content-length": "0" });
  res.end();
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

/** First value of a header; node lower-cases names. */
export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
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
