// An incoming-webhook receiver like Teams' and Slack's: HTTPS, POST a JSON body with a
// `text`, answer 200. The URL path carries the webhook's secret token, as the real
// services' URLs do, so tests can check that keyturn never prints the URL. `status`
// makes it fail on purpose.
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { Inbox } from "../shared/inbox.js";
import { readBody, serveHttps } from "../shared/http.js";
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
  const inbox = new Inbox<ReceivedWebhook>("a webhook post");
  const state = { status: 200 };
  const answer = (res: ServerResponse, status: number, text?: string): void => {
    res.writeHead(status, text === undefined ? {} : { "content-type": "text/plain" });
    res.end(text);
  };
  const double = await serveHttps({
    tls,
    handle: async (req, res) => {
      const raw = await readBody(req);
      if (req.method !== "POST" || req.url !== `/webhook/${token}`) return answer(res, 404);
      let text: unknown;
      try {
        text = (JSON.parse(raw) as { text?: unknown }).text;
      } catch {
        text = undefined;
      }
      if (typeof text !== "string") return answer(res, 400, "invalid_payload");
      if (state.status !== 200) return answer(res, state.status, "failing on purpose");
      inbox.add({ text, raw, contentType: req.headers["content-type"] ?? "" });
      answer(res, 200, "ok");
    },
  });
  return {
    url: `${double.url}/webhook/${token}`,
    token,
    received: inbox.items,
    get status() {
      return state.status;
    },
    set status(s: number) {
      state.status = s;
    },
    waitFor: (predicate, timeoutMs) => inbox.waitFor(predicate, timeoutMs),
    stop: () => double.stop(),
  };
}
