// First rotation from cold: a fresh process loads the packaged app and handles one
// SecretNearExpiry event (one generated-secret rotation against the Key Vault double),
// against a fresh process that loads only SecretClient and does the get + set any
// rotation needs. The ratio is what keyturn costs above that floor: @azure/functions,
// the route table, the engine and its journal (three more Key Vault calls), the logger.
// Optionally also with the blob lease lock on Azurite, as deployed (AzureWebJobsStorage).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Artifact } from "./lib/artifact.js";
import { runNode } from "./lib/child.js";
import { BENCH_VAULT, nearExpiryEvent, seedSecret, type Doubles } from "./lib/doubles.js";
import { round } from "./lib/machine.js";
import { median } from "./lib/stats.js";
import { secretClientFor } from "../test/support/keyvault.js";

interface RotateResult {
  loadMs: number;
  invokeMs: number;
  sinceProcessStartMs: number;
  maxRssKiB: number;
  cpuMs: number;
}

export interface FirstRotationSide {
  readonly wallMs: number;
  readonly loadMs: number;
  readonly invokeMs: number;
  readonly peakRssMiB: number;
  /** CPU time (user + system) of the process, ms. */
  readonly cpuMs: number;
  readonly runs: number;
}

export interface FirstRotationFigures {
  readonly app: FirstRotationSide;
  readonly minimal: FirstRotationSide;
  readonly wallRatio: number;
  readonly cpuRatio: number;
  /** The same with the blob lease lock on Azurite (AzureWebJobsStorage set, as deployed); undefined when skipped. */
  readonly appWithBlobLock?: FirstRotationSide & { readonly wallRatio: number };
}

export async function measureFirstRotation(artifact: Artifact, d: Doubles, runs: number, opts: { azurite: boolean; log: (l: string) => void }): Promise<FirstRotationFigures> {
  const tmp = mkdtempSync(join(tmpdir(), "keyturn-bench-first-"));
  const client = secretClientFor(d.kv, BENCH_VAULT);
  let counter = 0;
  const rotated = async (name: string, before: string) => {
    const after = (await client.getSecret(name)).properties.version;
    if (after === before) throw new Error(`${name} was not rotated`);
  };

  async function appOnce(extraEnv: Record<string, string>): Promise<{ wallMs: number; r: RotateResult }> {
    const s = await seedSecret(d, "generated-secret", 90_000 + counter++);
    const eventFile = join(tmp, `${s.name}.json`);
    writeFileSync(eventFile, JSON.stringify(nearExpiryEvent(d, s, `bench-first-${s.name}`)));
    const run = await runNode<RotateResult>([join(artifact.childrenDir, "rotate-app.mjs"), artifact.entryUrl, eventFile], {
      cwd: artifact.dir,
      env: { ...d.env(extraEnv), NODE_PATH: artifact.workerNodePath, NODE_OPTIONS: "" },
    });
    await rotated(s.name, s.version);
    return { wallMs: run.wallMs, r: run.result };
  }

  async function minimalOnce(): Promise<{ wallMs: number; r: RotateResult }> {
    const s = await seedSecret(d, "generated-secret", 90_000 + counter++);
    const run = await runNode<RotateResult>([join(artifact.childrenDir, "rotate-minimal.mjs"), d.kv.url(BENCH_VAULT), s.name, d.tls.caFile], {
      cwd: artifact.dir,
      env: { NODE_OPTIONS: "" },
    });
    await rotated(s.name, s.version);
    return { wallMs: run.wallMs, r: run.result };
  }

  const side = (xs: Array<{ wallMs: number; r: RotateResult }>): FirstRotationSide => ({
    wallMs: round(median(xs.map((x) => x.wallMs)), 1),
    loadMs: round(median(xs.map((x) => x.r.loadMs)), 1),
    invokeMs: round(median(xs.map((x) => x.r.invokeMs)), 1),
    peakRssMiB: round(median(xs.map((x) => x.r.maxRssKiB / 1024)), 1),
    cpuMs: round(median(xs.map((x) => x.r.cpuMs)), 1),
    runs: xs.length,
  });

  try {
    const app: Array<{ wallMs: number; r: RotateResult }> = [];
    const minimal: Array<{ wallMs: number; r: RotateResult }> = [];
    for (let i = -1; i < runs; i++) {
      const pair = i % 2 === 0 ? [() => appOnce({}), minimalOnce] : [minimalOnce, () => appOnce({})];
      const a = await pair[0]!();
      const b = await pair[1]!();
      if (i < 0) continue; // warm-up pair
      if (i % 2 === 0) {
        app.push(a);
        minimal.push(b);
      } else {
        minimal.push(a);
        app.push(b);
      }
    }
    const appSide = side(app);
    const minimalSide = side(minimal);
    let appWithBlobLock: FirstRotationFigures["appWithBlobLock"];
    if (opts.azurite) {
      try {
        const { startAzurite } = await import("../test/support/azurite.js");
        const azurite = await startAzurite();
        try {
          const withLock: Array<{ wallMs: number; r: RotateResult }> = [];
          for (let i = -1; i < runs; i++) {
            const r = await appOnce({ AzureWebJobsStorage: azurite.connectionString });
            if (i >= 0) withLock.push(r);
          }
          const s = side(withLock);
          appWithBlobLock = { ...s, wallRatio: round(s.wallMs / minimalSide.wallMs, 2) };
        } finally {
          await azurite.stop();
        }
      } catch (error) {
        opts.log(`first rotation with the blob lock skipped: ${String((error as Error).message).split("\n")[0]}`);
      }
    }
    return {
      app: appSide,
      minimal: minimalSide,
      wallRatio: round(appSide.wallMs / minimalSide.wallMs, 2),
      cpuRatio: round(appSide.cpuMs / minimalSide.cpuMs, 2),
      ...(appWithBlobLock ? { appWithBlobLock } : {}),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
