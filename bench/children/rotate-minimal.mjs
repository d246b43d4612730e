// First rotation from cold, the floor: a fresh `node` process that loads only
// SecretClient and does what any rotation must do in Key Vault at the least — read the
// latest version and write a new one (same tags, new expiry) — with the same client
// options keyturn uses against the double. No function app, no engine, no journal.
// argv: <vault URL> <secret name> <CA file>
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

const [vaultUrl, name, caFile] = process.argv.slice(2);
const t0 = performance.now();
const { SecretClient } = await import("@azure/keyvault-secrets");
const loaded = performance.now();
const credential = { getToken: async () => ({ token: "bench-minimal", expiresOnTimestamp: Date.now() + 3_600_000 }) };
const client = new SecretClient(vaultUrl, credential, {
  tlsOptions: { ca: readFileSync(caFile, "utf8") },
  retryOptions: { maxRetries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 30_000 },
  disableChallengeResourceVerification: true,
});
const latest = await client.getSecret(name);
await client.setSecret(name, randomBytes(24).toString("base64url"), {
  tags: latest.properties.tags,
  ...(latest.properties.contentType ? { contentType: latest.properties.contentType } : {}),
  notBefore: new Date(),
  expiresOn: new Date(Date.now() + 60 * 86_400_000),
});
const done = performance.now();
process.stdout.write(
  `BENCH_RESULT ${JSON.stringify({ loadMs: loaded - t0, invokeMs: done - loaded, sinceProcessStartMs: done, maxRssKiB: process.resourceUsage().maxRSS, cpuMs: cpuMs() })}\n`,
);
process.exit(0);

/** CPU time of this process so far (user + system), ms: steadier than wall time on a busy machine. */
function cpuMs() {
  const u = process.resourceUsage();
  return (u.userCPUTime + u.systemCPUTime) / 1000;
}
