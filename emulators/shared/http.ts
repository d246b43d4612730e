// The receiving side every HTTPS double shares: one TLS server on 127.0.0.1 with an
// error guard, bounded body reading, JSON parsing and JSON answers.
//
// Each double keeps its own routing, headers and error codes (they are facts about the
// service it copies); only the plumbing lives here.
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TestTls } from "../tls.js";

/** No double accepts a larger request body (the services' own limits are lower or equal). */
export const MAX_BODY_BYTES = 1024 * 1024;

export type Headers = Record<string, string>;

export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
}

export class InvalidJsonError extends Error {
  override readonly name = "InvalidJsonError";
}

export async function readBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) throw new BodyTooLargeError(`request body over ${maxBytes} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The parsed JSON of a body; undefined for an empty one; InvalidJsonError for one that does not parse. */
export function parseJsonBody(raw: string): unknown {
  if (raw.trim() === "") return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new InvalidJsonError("The request body is not valid JSON.");
  }
}

/** Writes a JSON answer with its length; nothing once the answer has started (a fault may have written it). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Headers = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...headers, "content-length": "0" });
  res.end();
}

/** The `{"error": {"code", "message"}}` body that Azure's data and management planes answer errors with. */
export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/** First value of a header; node lower-cases names. */
export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export interface HttpsDouble {
  readonly server: Server;
  readonly port: number;
  /** "https://127.0.0.1:PORT", no trailing slash. */
  readonly url: string;
  /** Closes the server and every open connection. */
  stop(): Promise<void>;
}

export interface ServeOptions {
  tls: TestTls;
  /** 0 (default) picks a free port. */
  port?: number;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void> | void;
  /**
   * Answers what `handle` threw. The default answers 413 for a body over the limit and
   * 500 otherwise, without echoing the error (it could hold a request body).
   */
  onError?(error: unknown, req: IncomingMessage, res: ServerResponse): void;
}

function defaultOnError(error: unknown, _req: IncomingMessage, res: ServerResponse): void {
  if (error instanceof BodyTooLargeError) sendJson(res, 413, errorBody("RequestEntityTooLarge", error.message));
  else sendJson(res, 500, errorBody("InternalServerError", "The double failed to serve the request."));
}

/** Starts one HTTPS double on 127.0.0.1 with the process's test certificate. */
export async function serveHttps(options: ServeOptions): Promise<HttpsDouble> {
  const onError = options.onError ?? defaultOnError;
  const server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    Promise.resolve()
      .then(() => options.handle(req, res))
      .catch((error: unknown) => {
        try {
          onError(error, req, res);
        } catch {
          res.destroy();
        }
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `https://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
