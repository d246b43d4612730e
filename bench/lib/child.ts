// Fresh `node` processes for the cold figures: wall time from spawn to exit, and the
// child's own report (a `BENCH_RESULT {json}` line on stdout).
import { spawn } from "node:child_process";

export interface ChildRun<R> {
  readonly wallMs: number;
  readonly result: R;
  readonly output: string;
}

export async function runNode<R>(args: readonly string[], opts: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number }): Promise<ChildRun<R>> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  const { code, wallMs } = await new Promise<{ code: number | null; wallMs: number }>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (c) => resolve({ code: c, wallMs: Number(process.hrtime.bigint() - started) / 1e6 }));
  });
  clearTimeout(timer);
  // Let the pipes drain: the result line may arrive just after the exit event.
  await new Promise<void>((resolve) => (child.stdout.readableEnded ? resolve() : child.stdout.once("close", () => resolve())));
  const line = output
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("BENCH_RESULT "));
  if (code !== 0 || !line) throw new Error(`node ${args.join(" ")} exited with ${code}:\n${output.slice(-3000)}`);
  return { wallMs, result: JSON.parse(line.slice("BENCH_RESULT ".length)) as R, output };
}
