// An incoming-webhook receiver like Teams' and Slack's: HTTPS, POST a JSON body with a
// `text`, answer 200. The URL path carries the webhook's secret token, as the real
// services' URLs do, so tests can check that keyturn never prints the URL. `status`
// makes it fail on purpose.
import { randomBytes } from "node:crypto";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { testTls, type TestTls } from "../tls.js";

export interface ReceivedWebhook {
  readonly text: string;
  readonly raw: string;
  readonly contentType: string;
}

export interface WebhookReceiver {
  /** The full webhook URL, token included (a credential, like the real ones). */
  readonly url: string;
  /** The secret path token. */
  readonly token: string;
  readonly received: readonly ReceivedWebhook[];
  /** Answer with this status from now on (default 200). */
  status: number;
  waitFor(predicate: (m: ReceivedWebhook) => boolean, timeoutMs?: number): Promise<ReceivedWebhook>;
  stop(): Promise<void>;
}

export async function startWebhookReceiver(opts: { tls?: TestTls } = {}): Promise<WebhookReceiver> {
  const tls = opts.tls ?? testTls();
  const token = randomBytes(18).toString("base64url");
  const received: ReceivedWebhook[] = [];
  const listeners: Array<(m: ReceivedWebhook) => void> = [];
  const state = { status: 200 };
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      if (req.method !== "POST" || req.url !== `/webhook/${token}`) {
        res.writeHead(404);
        return res.end();
      }
      let text: unknown;
      try {
        text = (JSON.parse(raw) as { text?: unknown }).text;
      } catch {
        text = undefined;
      }
      if (typeof text !== "string") {
        res.writeHead(400, { "content-type": "text/plain" });
        return res.end("invalid_payload");
      }
      if (state.status !== 200) {
        res.writeHead(state.status, { "content-type": "text/plain" });
        return res.end("failing on purpose");
      }
      const m = { text, raw, contentType: req.headers["content-type"] ?? "" };
      received.push(m);
      for (const l of listeners) l(m);
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}/webhook/${token}`,
    token,
    received,
    get status() {
      return state.status;
    },
    set status(s: number) {
      state.status = s;
    },
    waitFor: (predicate, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const found = received.find(predicate);
        if (found) return resolve(found);
        const timer = setTimeout(() => reject(new Error("timed out waiting for a webhook post")), timeoutMs);
        listeners.push((m) => {
          if (predicate(m)) {
            clearTimeout(timer);
            resolve(m);
          }
        });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
