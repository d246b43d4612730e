// Sweep: a vault of N secrets (most managed and far from expiry, some not keyturn's, one
// in 200 due) behind `latencyMs` of latency per call, swept by the real sweep
// (core/sweep.ts runSweep with the process runtime, as functions/sweep.ts runs it): list
// secrets, certificates and keys, then rotate what is due.
//
// Key Vault lists 25 items per page and each page's nextLink comes with the page before,
// so listing is sequential: the lower bound is pages × latency (secret pages, plus one
// page each for certificates and keys). Also measured: the same selection alone
// (core/due.ts findDueSecrets, shared by the sweep, `GET …/due` and `keyturn scan`), and
// the listing with no injected latency — the double's own time per page (a binary search
// and the page's items) and the client's, which are no part of the network's bound.
import { randomBytes } from "node:crypto";
import { getSecretClient } from "../core/azure.js";
import { loadConfig } from "../core/config.js";
import { findDueSecrets } from "../core/due.js";
import { setDefaultLogSink } from "../core/log.js";
import { getRuntime, resetRuntime } from "../app/runtime.js";
import { runSweep, SWEEP_CONCURRENCY } from "../core/sweep.js";
import { startKeyVaultEmulator } from "../emulators/keyvault/index.js";
import { registry } from "../rotators/index.js";
import { CountingFaults, type Doubles } from "./lib/doubles.js";
import { round } from "./lib/machine.js";

const SWEEP_VAULT = "sweep-kv";
const PAGE_SIZE = 25;
const DAY_MS = 86_400_000;

export interface SweepFigures {
  readonly secrets: number;
  /** Secrets the sweep found due, and rotated. */
  readonly due: number;
  readonly rotated: number;
  readonly failed: number;
  /** Pages the lower bound counts: secrets, plus one each for certificates and keys. */
  readonly pages: number;
  readonly latencyMs: number;
  readonly concurrency: number;
  readonly elapsedS: number;
  /** pages × latency. */
  readonly lowerBoundS: number;
  readonly ofLowerBound: number;
  /** Selection alone (findDueSecrets) with the latency, and with none. */
  readonly selectionS: number;
  readonly selectionZeroLatencyS: number;
  readonly keyVaultCalls: Record<string, number>;
}

export async function measureSweep(d: Doubles, o: { secrets: number; latencyMs: number; log: (l: string) => void }): Promise<SweepFigures> {
  const faults = new CountingFaults();
  const kv = await startKeyVaultEmulator({ vaults: [SWEEP_VAULT], tls: d.tls, faults, scanIntervalMs: 3_600_000 });
  const savedEnv = { ...process.env };
  try {
    const now = Date.now();
    let due = 0;
    for (let i = 0; i < o.secrets; i++) {
      const name = `app-secret-${String(i).padStart(6, "0")}`;
      const value = randomBytes(16).toString("base64url");
      if (i % 200 === 7) {
        due++;
        kv.seedSecret(SWEEP_VAULT, name, value, { tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "team@example.com" }, expiresOn: new Date(now + 5 * DAY_MS) });
      } else if (i % 10 < 3) {
        kv.seedSecret(SWEEP_VAULT, name, value, { tags: { App: "legacy" }, expiresOn: new Date(now + 400 * DAY_MS) });
      } else {
        kv.seedSecret(SWEEP_VAULT, name, value, { tags: { Rotator: "generated-secret", ValidityPeriodDays: "180", Owner: "team@example.com" }, expiresOn: new Date(now + (60 + (i % 120)) * DAY_MS) });
      }
    }
    const env = { ...d.env(), KEYTURN_VAULTS: `${SWEEP_VAULT}=${kv.url(SWEEP_VAULT)}` };
    const config = loadConfig(env);
    const client = await getSecretClient(config, kv.url(SWEEP_VAULT));
    const select = async () => {
      const t = performance.now();
      const report = await findDueSecrets(client, { vault: SWEEP_VAULT, within: { text: "30d", ms: 30 * DAY_MS }, now: new Date(), registry, guardMs: config.rotationGuardMs });
      return { ms: performance.now() - t, report };
    };
    await select(); // warm: token challenge, TLS session, JIT
    const zero = await select();
    const removeLatency = faults.add({ latencyMs: o.latencyMs });
    const selection = await select();

    // The real sweep, through the process runtime (settings from the environment).
    Object.assign(process.env, env);
    resetRuntime();
    setDefaultLogSink(() => undefined); // the runtime logs every rotation; not our output
    const runtime = await getRuntime();
    // Warm the certificate and key clients' token challenge, as a warm instance would have.
    await (await runtime.certificateClient(kv.url(SWEEP_VAULT))).listPropertiesOfCertificates().byPage().next();
    await (await runtime.keyClient(kv.url(SWEEP_VAULT))).listPropertiesOfKeys().byPage().next();
    kv.resetStats();
    const t = performance.now();
    const summary = await runSweep(
      {
        config: runtime.config,
        engine: runtime.engine,
        certificates: runtime.certificates,
        keys: runtime.keys,
        registry: runtime.registry,
        log: runtime.log,
        secretClient: runtime.secretClient,
        certificateClient: runtime.certificateClient,
        keyClient: runtime.keyClient,
      },
      { id: "bench-sweep" },
    );
    const elapsedMs = performance.now() - t;
    removeLatency();
    if (summary.secrets.due !== due) o.log(`sweep: seeded ${due} due, the sweep found ${summary.secrets.due}`);
    const pages = Math.ceil(o.secrets / PAGE_SIZE) + 2;
    const lowerBoundMs = pages * o.latencyMs;
    return {
      secrets: summary.secrets.scanned,
      due: summary.secrets.due,
      rotated: summary.secrets.rotated,
      failed: summary.secrets.failed + summary.failures.length,
      pages,
      latencyMs: o.latencyMs,
      concurrency: SWEEP_CONCURRENCY,
      elapsedS: round(elapsedMs / 1000, 2),
      lowerBoundS: round(lowerBoundMs / 1000, 2),
      ofLowerBound: round(elapsedMs / lowerBoundMs, 2),
      selectionS: round(selection.ms / 1000, 2),
      selectionZeroLatencyS: round(zero.ms / 1000, 2),
      keyVaultCalls: kv.stats()[SWEEP_VAULT] ?? {},
    };
  } finally {
    setDefaultLogSink(undefined);
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
    resetRuntime();
    await kv.stop();
  }
}
