// Cold start: fresh `node` processes that load the packaged function app entry (what the
// Functions worker imports at cold start), against fresh processes that load
// @azure/functions alone (the floor every v4 app pays). Runs alternate A/B so that
// machine noise falls on both; one unmeasured pair first warms the page cache.
import type { Artifact } from "./lib/artifact.js";
import { runNode } from "./lib/child.js";
import { round } from "./lib/machine.js";
import { median } from "./lib/stats.js";

interface LoadResult {
  importMs: number;
  sinceProcessStartMs: number;
  maxRssKiB: number;
  cpuMs: number;
  registered: string[];
}

export interface ColdSide {
  /** Spawn to exit, ms (median). */
  readonly wallMs: number;
  /** The import alone, inside the process, ms (median). */
  readonly importMs: number;
  /** Peak RSS, MiB (median). */
  readonly peakRssMiB: number;
  /** CPU time (user + system) of the process, ms (median): steadier than wall time on a busy machine. */
  readonly cpuMs: number;
  readonly runs: number;
}

export interface ColdStartFigures {
  readonly app: ColdSide & { readonly registered: readonly string[] };
  readonly functionsAlone: ColdSide;
  /** app / functionsAlone, wall. */
  readonly wallRatio: number;
  readonly rssRatio: number;
  readonly cpuRatio: number;
  readonly bundleKiB: number;
}

export async function measureColdStart(artifact: Artifact, runs: number): Promise<ColdStartFigures> {
  const probe = `${artifact.childrenDir}/load.mjs`;
  const env = { NODE_PATH: artifact.workerNodePath, NODE_OPTIONS: "" };
  const appRuns: Array<{ wallMs: number; r: LoadResult }> = [];
  const baseRuns: Array<{ wallMs: number; r: LoadResult }> = [];
  for (let i = -1; i < runs; i++) {
    // Alternate which goes first, so that neither always follows the other.
    const order = i % 2 === 0 ? ["app", "base"] : ["base", "app"];
    for (const which of order) {
      const target = which === "app" ? artifact.entryUrl : "@azure/functions";
      const run = await runNode<LoadResult>([probe, target], { cwd: artifact.dir, env });
      if (i < 0) continue; // warm-up
      (which === "app" ? appRuns : baseRuns).push({ wallMs: run.wallMs, r: run.result });
    }
  }
  const side = (xs: typeof appRuns): ColdSide => ({
    wallMs: round(median(xs.map((x) => x.wallMs)), 1),
    importMs: round(median(xs.map((x) => x.r.importMs)), 1),
    peakRssMiB: round(median(xs.map((x) => x.r.maxRssKiB / 1024)), 1),
    cpuMs: round(median(xs.map((x) => x.r.cpuMs)), 1),
    runs: xs.length,
  });
  const app = side(appRuns);
  const functionsAlone = side(baseRuns);
  return {
    app: { ...app, registered: appRuns[0]?.r.registered ?? [] },
    functionsAlone,
    wallRatio: round(app.wallMs / functionsAlone.wallMs, 2),
    rssRatio: round(app.peakRssMiB / functionsAlone.peakRssMiB, 2),
    cpuRatio: round(app.cpuMs / functionsAlone.cpuMs, 2),
    bundleKiB: round(artifact.bundleBytes / 1024, 0),
  };
}
