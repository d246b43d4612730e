// The machine a figure was taken on: every figure is printed with it.
import { cpus, freemem, loadavg, platform, release, totalmem } from "node:os";

export interface MachineInfo {
  readonly cores: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly freeMemoryGiB: number;
  /** 1-minute load average when the bench started: other work on the machine skews figures. */
  readonly loadAverage1m: number;
  readonly os: string;
  readonly node: string;
  readonly takenAt: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cores: list.length,
    cpuModel: (list[0]?.model ?? "unknown").replace(/\s+/g, " ").trim(),
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    freeMemoryGiB: round(freemem() / 2 ** 30, 1),
    loadAverage1m: round(loadavg()[0] ?? 0, 2),
    os: `${platform()} ${release()}`,
    node: process.version,
    takenAt: new Date().toISOString(),
  };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB memory, ${m.os}, Node ${m.node}, load ${m.loadAverage1m} at start, ${m.takenAt}`;
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
