// Start the local host (`local/main.ts`) as a real child process, as `npm start` does,
// and capture everything it prints so tests can search it for secret values.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface HostProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the host wrote to stdout and stderr so far. */
  output(): string;
  webhookUrl(functionName: string): string;
  /** Ends the process (SIGKILL when `crash`), resolving when it has exited. */
  stop(crash?: boolean): Promise<void>;
}

export async function startHostProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<HostProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "local/main.ts"], {
    cwd: repoRoot,
    env: { ...process.env, PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (out += c.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`host did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /keyturn is listening on (http:\/\/[\d.:]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`host exited with ${code}:\n${out}`));
    });
  });

  return {
    url,
    child,
    output: () => out,
    webhookUrl: (name) => `${url}/runtime/webhooks/eventgrid?functionName=${encodeURIComponent(name)}`,
    async stop(crash = false) {
      if (child.exitCode === null && child.signalCode === null) child.kill(crash ? "SIGKILL" : "SIGTERM");
      await exited;
    },
  };
}

/** Poll until `check` returns a value (not undefined), or fail after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
