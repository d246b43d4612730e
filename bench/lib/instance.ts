// The memory of the Azure Functions instance that runs keyturn, for the bench's host.
//
// keyturn deploys to Flex Consumption, whose `instanceMemoryMB` is "the amount of memory
// allocated to each instance of the function app" (Microsoft.Web/sites
// functionAppConfig.scaleAndConcurrency, shared/specs/bicep-types). Node sizes V8's heap
// from the memory its process is limited to (process.constrainedMemory()): under 2,048 MB
// the young generation's semi-spaces stop at 8 MB, with this machine's 24 GiB at 16 MB.
// So the host's memory is measured inside a memory cgroup of the instance's size.
import { mkdirSync, readFileSync, rmdirSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { declarations, modules } from "../../test/infra/bicep.js";
import { repoRoot } from "./paths.js";

const MODULE = join("infra", "modules", "function-app.bicep");
const MAIN = join("infra", "main.bicep");

export interface InstanceMemory {
  /** What a deployment from infra/ gets. */
  readonly deployedMB: number;
  /** What the module allows, smallest first. */
  readonly allowedMB: readonly number[];
}

/** The instance memory a deployment from infra/ gets, and the sizes the module allows, read from the Bicep. */
export function instanceMemory(root = repoRoot): InstanceMemory {
  const param = declarations(readFileSync(join(root, MODULE), "utf8")).find((d) => d.kind === "param" && d.name === "instanceMemoryMB");
  const deployed = /=\s*(\d+)\s*$/.exec(param?.text ?? "")?.[1];
  const allowed = /@allowed\(\[([^\]]*)\]\)/.exec(param?.decorators ?? "")?.[1];
  if (!param || !deployed || !allowed) throw new Error(`${MODULE}: expected 'param instanceMemoryMB int = <MB>' with @allowed([...])`);
  // The bench reads the module's default: main.bicep must not pass another value.
  const call = modules(readFileSync(join(root, MAIN), "utf8")).find((m) => m.path === "modules/function-app.bicep");
  if (call?.paramKeys.includes("instanceMemoryMB")) throw new Error(`${MAIN} passes instanceMemoryMB to the function app: read the deployed value there`);
  return { deployedMB: Number(deployed), allowedMB: (allowed.match(/\d+/g) ?? []).map(Number).sort((a, b) => a - b) };
}

/** A memory cgroup of a given size that a child process can be started in. */
export interface MemoryLimit {
  readonly megabytes: number;
  /** The cgroup's directory. */
  readonly path: string;
  /** `command args` started inside the cgroup: a shell puts itself in it, then execs the command (same pid). */
  wrap(command: string, args: readonly string[]): [string, string[]];
  /** Whether `pid` runs inside the cgroup (/proc/<pid>/cgroup). */
  holds(pid: number): boolean;
  /** Removes the cgroup once its processes have exited. */
  release(): void;
}

const PREFIX = "keyturn-bench-";
let made = 0;

/** Where memory cgroups can be made: cgroup v1's memory hierarchy, or cgroup v2 with the memory controller. */
function memoryHierarchy(): { root: string; version: 1 | 2 } | string {
  if (process.platform !== "linux") return `no cgroups on ${process.platform}`;
  if (existsSync("/sys/fs/cgroup/memory/cgroup.procs")) return { root: "/sys/fs/cgroup/memory", version: 1 };
  try {
    if (/\bmemory\b/.test(readFileSync("/sys/fs/cgroup/cgroup.controllers", "utf8"))) return { root: "/sys/fs/cgroup", version: 2 };
  } catch {
    // neither hierarchy
  }
  return "no cgroup memory controller mounted";
}

/**
 * A fresh memory cgroup limited to `megabytes`, or why none can be made here (not Linux,
 * no memory controller, not permitted): the caller then runs without it and says so.
 */
export function memoryLimit(megabytes: number): MemoryLimit | { readonly unavailable: string } {
  const where = memoryHierarchy();
  if (typeof where === "string") return { unavailable: where };
  // Cgroups left by an interrupted run (its process gone); rmdir removes only those without processes.
  for (const name of readdirSync(where.root)) {
    const owner = Number(new RegExp(`^${PREFIX}(\\d+)-`).exec(name)?.[1]);
    if (owner && !alive(owner)) tryRemove(join(where.root, name));
  }
  const path = join(where.root, `${PREFIX}${process.pid}-${++made}`);
  try {
    if (where.version === 2) writeFileSync(join(where.root, "cgroup.subtree_control"), "+memory");
    mkdirSync(path);
    writeFileSync(join(path, where.version === 1 ? "memory.limit_in_bytes" : "memory.max"), String(megabytes * 1024 * 1024));
  } catch (error) {
    tryRemove(path);
    return { unavailable: `cannot make a memory cgroup (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
  }
  const relative = path.slice(where.root.length);
  return {
    megabytes,
    path,
    wrap: (command, args) => ["/bin/sh", ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', path, command, ...args]],
    holds(pid) {
      try {
        return readFileSync(`/proc/${pid}/cgroup`, "utf8")
          .split("\n")
          .some((line) => line.endsWith(`:${relative}`) && (where.version === 2 || /:([^:]*,)?memory(,[^:]*)?:/.test(line)));
      } catch {
        return false;
      }
    },
    release: () => tryRemove(path),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function tryRemove(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    // still has processes, or already gone
  }
}
