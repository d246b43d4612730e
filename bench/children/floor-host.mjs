// The floor for the burst's host memory: a process that answers the same Event Grid
// deliveries with the least any rotator must do in Key Vault — read the latest version,
// and if the event is about it, write a new one — through SecretClient with the client
// options keyturn uses against the doubles. No function app, no engine, no provider
// calls, no lock store (a busy secret is answered 500, as keyturn answers a held lock,
// and redelivered), no log; no pacing (the SDK's retry policy waits out 429s).
// Bundled and run like the bench's keyturn host (bench/lib/host.ts).
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { SecretClient } from "@azure/keyvault-secrets";

const ca = readFileSync(process.env.KEYTURN_TLS_CA_FILE, "utf8");
const credential = { getToken: async () => ({ token: "bench-floor", expiresOnTimestamp: Date.now() + 3_600_000 }) };
const clients = new Map();
const clientFor = (vaultUrl) => {
  let client = clients.get(vaultUrl);
  if (!client) {
    client = new SecretClient(vaultUrl, credential, {
      tlsOptions: { ca },
      retryOptions: { maxRetries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 30_000 },
      disableChallengeResourceVerification: true,
    });
    clients.set(vaultUrl, client);
  }
  return client;
};
const busy = new Set();

/** The vault's URL, from the event's secret ID (https://<vault>/secrets/<name>/<version>). */
const vaultOf = (event) => event.data.Id.split("/secrets/")[0];

async function rotate(event) {
  const client = clientFor(vaultOf(event));
  const latest = await client.getSecret(event.data.ObjectName);
  if (latest.properties.version !== event.data.Version) return "skipped";
  await client.setSecret(event.data.ObjectName, randomBytes(24).toString("base64url"), {
    tags: latest.properties.tags,
    ...(latest.properties.contentType ? { contentType: latest.properties.contentType } : {}),
    notBefore: new Date(),
    expiresOn: new Date(Date.now() + 60 * 86_400_000),
  });
  return "rotated";
}

const server = createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  const events = JSON.parse(body);
  const keys = events.map((e) => `${vaultOf(e)}|${e.data.ObjectName}`);
  if (keys.some((k) => busy.has(k))) {
    res.writeHead(500).end();
    return;
  }
  for (const k of keys) busy.add(k);
  try {
    const outcomes = [];
    for (const e of events) outcomes.push(await rotate(e));
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ outcomes }));
  } catch (error) {
    res.writeHead(500).end(String(error?.name ?? "error"));
  } finally {
    for (const k of keys) busy.delete(k);
  }
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`bench floor host is listening on http://127.0.0.1:${server.address().port}\n`);
});
