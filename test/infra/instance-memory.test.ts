// The bench runs its burst host with the memory of the instance infra/ deploys
// (bench/lib/instance.ts). Flex Consumption's instanceMemoryMB is "the amount of memory
// allocated to each instance of the function app" (shared/specs/bicep-types, web
// 2024-04-01, FunctionsScaleAndConcurrency); Node reads the limit its process runs under
// as process.constrainedMemory() and sizes V8's heap from it.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir, totalmem } from "node:os";
import { getHeapStatistics } from "node:v8";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { instanceMemory, memoryLimit } from "../../bench/lib/instance.js";
import { declarations } from "./bicep.js";

const MODULE = join("infra", "modules", "function-app.bicep");

describe("the instance memory infra/ deploys", () => {
  it("is the function app module's default, one of the sizes it allows", () => {
    const { deployedMB, allowedMB } = instanceMemory();
    const param = declarations(readFileSync(MODULE, "utf8")).find((d) => d.name === "instanceMemoryMB")!;
    expect(param.text).toBe(`param instanceMemoryMB int = ${deployedMB}`);
    expect(allowedMB).toEqual([512, 2048, 4096]);
    expect(allowedMB).toContain(deployedMB);
  });

  it("refuses a module without the parameter, and a main.bicep that passes another value", () => {
    const root = mkdtempSync(join(tmpdir(), "keyturn-instance-"));
    mkdirSync(join(root, "infra", "modules"), { recursive: true });
    const main = "module functionApp 'modules/function-app.bicep' = {\n  name: 'x'\n  params: {\n    name: 'x'\n  }\n}\n";
    writeFileSync(join(root, "infra", "main.bicep"), main);
    writeFileSync(join(root, MODULE), "param maximumInstanceCount int = 40\n");
    expect(() => instanceMemory(root)).toThrow(/expected 'param instanceMemoryMB int = <MB>'/);
    writeFileSync(join(root, MODULE), "@allowed([\n  512\n  2048\n])\nparam instanceMemoryMB int = 512\n");
    expect(instanceMemory(root)).toEqual({ deployedMB: 512, allowedMB: [512, 2048] });
    writeFileSync(join(root, "infra", "main.bicep"), main.replace("name: 'x'\n  }", "name: 'x'\n    instanceMemoryMB: 4096\n  }"));
    expect(() => instanceMemory(root)).toThrow(/main\.bicep passes instanceMemoryMB/);
  });
});

const probe = memoryLimit(instanceMemory().deployedMB);
if ("wrap" in probe) probe.release();
const why = "unavailable" in probe ? probe.unavailable : "";

describe.skipIf(why !== "")(`a host started in the instance's memory${why ? ` (skipped: ${why})` : ""}`, () => {
  it("runs in a memory cgroup of that size, sees it as its constrained memory, and the cgroup goes with it", async () => {
    const mb = instanceMemory().deployedMB;
    const limit = memoryLimit(mb);
    if (!("wrap" in limit)) throw new Error(limit.unavailable);
    const script = "process.stdout.write(JSON.stringify({ constrained: process.constrainedMemory(), heap: require('v8').getHeapStatistics().heap_size_limit })); setTimeout(() => {}, 300);";
    const [command, args] = limit.wrap(process.execPath, ["-e", script]);
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const first = new Promise<void>((resolve) => child.stdout.once("data", (c: Buffer) => ((out += c.toString()), resolve())));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    await first;
    // The shell execs node: the pid spawn returned is the process in the cgroup.
    expect(limit.holds(child.pid!)).toBe(true);
    expect(limit.holds(process.pid)).toBe(false);
    expect(await exited).toBe(0);
    const seen = JSON.parse(out) as { constrained: number; heap: number };
    expect(seen.constrained).toBe(mb * 1024 * 1024);
    // V8 sizes the heap from it: within the instance's memory, and below this process's
    // where the machine has more (24 GiB here: 4,144 MB against 1,048 MB at 2,048 MB).
    expect(seen.heap).toBeLessThan(mb * 2 ** 20);
    if (totalmem() >= 4 * mb * 2 ** 20) expect(seen.heap).toBeLessThan(getHeapStatistics().heap_size_limit);
    limit.release();
    expect(existsSync(limit.path)).toBe(false);
  });

  it("removes the cgroups an interrupted run left, and not those of a run still going", async () => {
    const mb = instanceMemory().deployedMB;
    const first = memoryLimit(mb);
    if (!("wrap" in first)) throw new Error(first.unavailable);
    first.release();
    const root = dirname(first.path);
    const gone = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => gone.once("exit", resolve));
    const stale = join(root, `keyturn-bench-${gone.pid}-1`);
    const running = join(root, `keyturn-bench-${process.pid}-999`);
    mkdirSync(stale);
    mkdirSync(running);
    try {
      const next = memoryLimit(mb);
      if ("wrap" in next) next.release();
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(running)).toBe(true);
    } finally {
      for (const dir of [stale, running]) if (existsSync(dir)) rmdirSync(dir);
    }
  });
});
