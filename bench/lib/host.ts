// The local host (local/main.ts) for the burst, in its own process so that its peak RSS
// is its own. Two ways to run it:
//   bundled  local/main.ts bundled with the deployable artifact's esbuild options
//            (scripts/package.mjs bundleOptions), run by plain `node`: the code loads as
//            it does in Azure (default)
//   tsx      `node --import tsx local/main.ts`, as `npm start` and the e2e tests run it
//            (TypeScript compiled on load: more memory, slower start)
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { startHostProcess } from "../../test/support/host.js";
import { repoRoot } from "./paths.js";
import { round } from "./machine.js";
import { memoryLimit } from "./instance.js";

export type HostMode = "bundled" | "tsx";

export interface BenchHost {
  readonly url: string;
  readonly pid: number | undefined;
  /** The memory the host ran with: an instance's (a memory cgroup), or the machine's and why. */
  readonly memory: string;
  readonly nodeVersion: string;
  webhookUrl(functionName: string): string;
  output(): string;
  stop(): Promise<void>;
}

/** What the bursts' host process runs: keyturn's local host, or the floor for its memory (bench/children/floor-host.mjs). */
export type HostProgram = "keyturn" | "floor";

const ENTRIES: Record<HostProgram, { readonly entry: string; readonly out: string; readonly main: string }> = {
  keyturn: { entry: join("local", "main.ts"), out: "host", main: join("local", "main.js") },
  floor: { entry: join("bench", "children", "floor-host.mjs"), out: "floor-host", main: join("bench", "children", "floor-host.js") },
};
const built = new Map<HostProgram, string>();

/** Bundles the host program once per bench run into .keyturn/bench/<out>/. */
export async function buildHostBundle(program: HostProgram = "keyturn"): Promise<string> {
  const done = built.get(program);
  if (done) return done;
  // scripts/package.mjs is plain JavaScript; its options are the artifact's.
  const { bundleOptions } = (await import(join(repoRoot, "scripts", "package.mjs"))) as {
    bundleOptions(o: { root: string; entry: string; out: string; lock: unknown; optional?: Set<string> }): Parameters<typeof build>[0];
  };
  const { entry, out, main } = ENTRIES[program];
  const outDir = join(repoRoot, ".keyturn", "bench", out);
  const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as unknown;
  await build({ ...bundleOptions({ root: repoRoot, entry: join(repoRoot, entry), out: outDir, lock }), metafile: false });
  built.set(program, join(outDir, main));
  return join(outDir, main);
}

export interface BenchHostOptions {
  /** Extra `node` arguments. */
  readonly nodeArgs?: readonly string[];
  readonly timeoutMs?: number;
  readonly program?: HostProgram;
  /**
   * Run the host inside a memory cgroup of that size, as on an instance with that much
   * memory (bench/lib/instance.ts); where none can be made, it runs with the machine's
   * memory and `memory` says why.
   */
  readonly memoryMB?: number;
  /** Another `node` binary for the bundled host (e.g. the Node version infra/ deploys); default this process's. */
  readonly node?: string;
}

/** The host's whole output is also written to KEYTURN_BENCH_HOST_LOG, if set. */
export async function startBenchHost(mode: HostMode, env: Record<string, string>, o: BenchHostOptions = {}): Promise<BenchHost> {
  const { nodeArgs = [], timeoutMs = 60_000, program = "keyturn", memoryMB } = o;
  const logFile = process.env.KEYTURN_BENCH_HOST_LOG;
  if (mode === "tsx" && program === "keyturn") {
    if (o.node) throw new Error("--host-node needs the bundled host");
    const h = await startHostProcess(nodeArgs.length > 0 ? { ...env, NODE_OPTIONS: nodeArgs.join(" ") } : env, timeoutMs);
    const memory = memoryMB === undefined ? "the machine's" : "the machine's (the tsx host is not started in a cgroup)";
    return { url: h.url, pid: h.child.pid, memory, nodeVersion: process.version, webhookUrl: h.webhookUrl, output: h.output, stop: () => h.stop() };
  }
  const main = await buildHostBundle(program);
  const limit = memoryMB === undefined ? undefined : memoryLimit(memoryMB);
  const cgroup = limit && "wrap" in limit ? limit : undefined;
  const memory = !limit ? "the machine's" : "wrap" in limit ? `${memoryMB} MB (memory cgroup)` : `the machine's, not ${memoryMB} MB: ${limit.unavailable}`;
  const node = o.node ?? process.execPath;
  const nodeVersion = o.node ? execFileSync(o.node, ["-p", "process.version"], { encoding: "utf8" }).trim() : process.version;
  const [command, args] = cgroup ? cgroup.wrap(node, [...nodeArgs, main]) : [node, [...nodeArgs, main]];
  // Run from the repository so that the external packages resolve from its node_modules.
  const child: ChildProcess = spawn(command, args, { cwd: repoRoot, env: { ...process.env, PORT: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let kept = 0;
  const file = logFile ? createWriteStream(logFile) : undefined;
  const keep = (c: Buffer) => {
    file?.write(c);
    // The log of a 1,000-secret burst is megabytes: keep the start (the URL) and count the rest.
    if (out.length < 200_000) out += c.toString("utf8");
    kept += c.length;
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`host did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /is listening on (http:\/\/[\d.:]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`host exited with ${code}:\n${out}`));
    });
  }).catch((error: unknown) => {
    cgroup?.release();
    throw error;
  });
  // The shell execs node, so the pid is the host's; a figure from outside the cgroup would be mislabelled.
  if (cgroup && !cgroup.holds(child.pid!)) {
    child.kill("SIGTERM");
    await exited;
    cgroup.release();
    throw new Error(`the host (pid ${child.pid}) is not in ${cgroup.path}`);
  }
  return {
    url,
    pid: child.pid,
    memory,
    nodeVersion,
    webhookUrl: (name) => `${url}/runtime/webhooks/eventgrid?functionName=${encodeURIComponent(name)}`,
    output: () => `${out}${kept > out.length ? `\n… ${round((kept - out.length) / 1e6, 1)} MB more` : ""}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
      cgroup?.release();
      file?.end();
    },
  };
}

/** Peak resident set size of a live process (VmHWM), MiB; undefined where /proc is absent. */
export function peakRssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? round(Number(m[1]) / 1024, 1) : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a live process has used so far; undefined where /proc is absent. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // Fields after the command name (which is in parentheses and may hold spaces).
    const rest = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    const ticks = Number(rest[11]) + Number(rest[12]); // utime, stime (fields 14 and 15)
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}
