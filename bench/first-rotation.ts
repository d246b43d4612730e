// First rotation from cold: a fresh process loads the packaged app and handles one
// SecretNearExpiry event (one generated-secret rotation against the Key Vault double),
// against a fresh process that loads only SecretClient and does the get + set any
// rotation needs. The ratio is what keyturn costs above that floor: @azure/functions,
// the route table, the engine and its journal (three more Key Vault calls), the logger.
// Optionally also with the blob lease lock on Azurite, as deployed (AzureWebJobsStorage):
// for a secret rotated before (its lock blob exists) and for one rotated the first time.
// Every side is taken in the same rounds, in a rotated order, so load on the machine
// falls on all of them alike.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Artifact } from "./lib/artifact.js";
import { runNode } from "./lib/child.js";
import { BENCH_VAULT, nearExpiryEvent, seedSecret, type Doubles } from "./lib/doubles.js";
import { round } from "./lib/machine.js";
import { median } from "./lib/stats.js";
import { secretClientFor } from "../test/support/keyvault.js";
import { DEFAULT_LOCK_CONTAINER, lockBlobName } from "../core/blob-lock.js";
import { lockKey } from "../core/lock.js";

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
  /**
   * The same with the blob lease lock on Azurite (AzureWebJobsStorage set, as deployed),
   * for a secret rotated before (its lock blob exists: the lease and its release);
   * undefined when skipped.
   */
  readonly appWithBlobLock?: FirstRotationSide & { readonly wallRatio: number; readonly cpuRatio: number };
  /** The same for a secret's first rotation ever: the lease finds no lock blob and makes it (two calls more). */
  readonly appWithBlobLockFirstEver?: FirstRotationSide & { readonly wallRatio: number; readonly cpuRatio: number };
}

export async function measureFirstRotation(artifact: Artifact, d: Doubles, runs: number, opts: { azurite: boolean; log: (l: string) => void }): Promise<FirstRotationFigures> {
  const tmp = mkdtempSync(join(tmpdir(), "keyturn-bench-first-"));
  const client = secretClientFor(d.kv, BENCH_VAULT);
  let counter = 0;
  const rotated = async (name: string, before: string) => {
    const after = (await client.getSecret(name)).properties.version;
    if (after === before) throw new Error(`${name} was not rotated`);
  };

  async function appOnce(extraEnv: Record<string, string>, prepare?: (name: string) => Promise<void>): Promise<{ wallMs: number; r: RotateResult }> {
    const s = await seedSecret(d, "generated-secret", 90_000 + counter++);
    await prepare?.(s.name);
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

  // The blob lock's rows are taken side by side with the floor too (Azurite started first).
  let azurite: Awaited<ReturnType<typeof import("../test/support/azurite.js").startAzurite>> | undefined;
  if (opts.azurite) {
    try {
      azurite = await (await import("../test/support/azurite.js")).startAzurite();
    } catch (error) {
      opts.log(`first rotation with the blob lock skipped: ${String((error as Error).message).split("\n")[0]}`);
    }
  }
  const storage = azurite?.connectionString;
  // A secret keyturn rotated before has its lock blob: the lease alone (and its release).
  const existingLockBlob = async (name: string) => {
    const { BlobServiceClient } = await import("@azure/storage-blob");
    const container = BlobServiceClient.fromConnectionString(storage!).getContainerClient(DEFAULT_LOCK_CONTAINER);
    await container.createIfNotExists();
    await container.getBlockBlobClient(lockBlobName(lockKey(d.kv.url(BENCH_VAULT), name))).upload("", 0);
  };

  try {
    type Run = { wallMs: number; r: RotateResult };
    const sides: Record<"app" | "minimal" | "lock" | "lockFirstEver", Run[]> = { app: [], minimal: [], lock: [], lockFirstEver: [] };
    const kinds: Array<[keyof typeof sides, () => Promise<Run>]> = [
      ["minimal", minimalOnce],
      ["app", () => appOnce({})],
      ...(storage
        ? ([
            ["lock", () => appOnce({ AzureWebJobsStorage: storage }, existingLockBlob)],
            ["lockFirstEver", () => appOnce({ AzureWebJobsStorage: storage })],
          ] as Array<[keyof typeof sides, () => Promise<Run>]>)
        : []),
    ];
    // One warm-up round, then `runs` rounds, each in a rotated order so that none goes
    // first every time.
    for (let i = -1; i < runs; i++) {
      for (let k = 0; k < kinds.length; k++) {
        const [kind, once] = kinds[(k + Math.max(0, i)) % kinds.length]!;
        const run = await once();
        if (i >= 0) sides[kind].push(run);
      }
    }
    const appSide = side(sides.app);
    const minimalSide = side(sides.minimal);
    const withRatio = (runs: Run[]) => {
      if (runs.length === 0) return undefined;
      const s = side(runs);
      return { ...s, wallRatio: round(s.wallMs / minimalSide.wallMs, 2), cpuRatio: round(s.cpuMs / minimalSide.cpuMs, 2) };
    };
    const appWithBlobLock = withRatio(sides.lock);
    const appWithBlobLockFirstEver = withRatio(sides.lockFirstEver);
    return {
      app: appSide,
      minimal: minimalSide,
      wallRatio: round(appSide.wallMs / minimalSide.wallMs, 2),
      cpuRatio: round(appSide.cpuMs / minimalSide.cpuMs, 2),
      ...(appWithBlobLock ? { appWithBlobLock } : {}),
      ...(appWithBlobLockFirstEver ? { appWithBlobLockFirstEver } : {}),
    };
  } finally {
    await azurite?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
