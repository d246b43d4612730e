// Run a rotation in a child process and kill it (SIGKILL) at a step boundary.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface ChildRun {
  readonly output: string;
  readonly result?: Record<string, unknown>;
  readonly error?: string;
  readonly killedAt?: string;
}

/** Rotate once in a fresh process; with `crashAt`, kill it when it reaches that step. */
export function rotateInChild(env: Record<string, string>, crashAt?: string, timeoutMs = 60_000): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/support/rotate-child.ts"], {
      cwd: repoRoot,
      env: { ...process.env, ...env, ...(crashAt ? { CRASH_AT: crashAt } : {}) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let killedAt: string | undefined;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`rotation child timed out:\n${output}`));
    }, timeoutMs);
    const onData = (c: Buffer) => {
      output += c.toString("utf8");
      const m = /^AT (\S+)$/m.exec(output);
      if (m && !killedAt) {
        killedAt = m[1];
        child.kill("SIGKILL");
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", () => {
      clearTimeout(timer);
      const result = /^RESULT (.*)$/m.exec(output)?.[1];
      const error = /^ERROR (.*)$/m.exec(output)?.[1];
      resolve({
        output,
        ...(result ? { result: JSON.parse(result) as Record<string, unknown> } : {}),
        ...(error ? { error } : {}),
        ...(killedAt ? { killedAt } : {}),
      });
    });
  });
}
