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
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
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

export interface ChildJob {
  readonly secret: string;
  readonly expectedVersion?: string;
  /** A step name, or `<step>#<n>` for the n-th time that step begins. */
  readonly crashAt?: string;
}

export interface ChildJobOutcome {
  /** Steps the rotation began, in order. */
  readonly steps: string[];
  killedAt?: string;
  result?: Record<string, unknown>;
  error?: string;
}

/**
 * Run several rotations at once in one fresh process (one process start for many crash
 * points) and kill it (SIGKILL) once every job with a `crashAt` hangs at its step and
 * every promise in `waitFor` has resolved (e.g. a double holding a request that another
 * job sent, so that job dies in the middle of a step). Jobs that ended before that
 * report their result or error.
 */
export function rotateManyInChild(
  env: Record<string, string>,
  jobs: readonly ChildJob[],
  opts: { waitFor?: ReadonlyArray<Promise<unknown>>; timeoutMs?: number } = {},
): Promise<{ output: string; outcomes: Map<string, ChildJobOutcome> }> {
  const outcomes = new Map<string, ChildJobOutcome>(jobs.map((j) => [j.secret, { steps: [] }]));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/support/rotate-child.ts"], {
      cwd: repoRoot,
      env: { ...process.env, ...env, ROTATE_JOBS: JSON.stringify(jobs) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let pending = "";
    let waited = (opts.waitFor ?? []).length === 0;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`rotation child timed out:\n${output}`));
    }, opts.timeoutMs ?? 60_000);
    const maybeKill = () => {
      if (!waited || child.exitCode !== null || child.signalCode !== null) return;
      const ready = jobs.every((j) => {
        const o = outcomes.get(j.secret)!;
        return !j.crashAt || o.killedAt !== undefined || o.result !== undefined || o.error !== undefined;
      });
      if (ready) child.kill("SIGKILL");
    };
    void Promise.all(opts.waitFor ?? []).then(() => {
      waited = true;
      maybeKill();
    });
    const onLine = (line: string) => {
      const m = /^(STEP|AT|RESULT|ERROR) (\S+) (.*)$/.exec(line);
      const o = m ? outcomes.get(m[2]!) : undefined;
      if (!m || !o) return;
      if (m[1] === "STEP") o.steps.push(m[3]!);
      else if (m[1] === "AT") o.killedAt = m[3]!;
      else if (m[1] === "RESULT") o.result = JSON.parse(m[3]!) as Record<string, unknown>;
      else o.error = m[3]!;
    };
    const onData = (c: Buffer) => {
      const text = c.toString("utf8");
      output += text;
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line);
      maybeKill();
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
    child.once("exit", () => {
      clearTimeout(timer);
      resolve({ output, outcomes });
    });
  });
}
