// `keyturn`: the on-call command. Same engine as the function app, in-process with
// DefaultAzureCredential by default, or through the HTTP API with `--via`.
// No CLI framework: node:util parseArgs, one small table of commands.
//
// Output: results on stdout (a table or lines; `--json` for machines); progress and
// errors on stderr; the exit code says what to do next (cli/exit-codes.ts). Nothing
// printed ever carries a secret value: the results hold none, and every line goes
// through `redact` as well.
import { hostname, userInfo } from "node:os";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseWithin, DEFAULT_WITHIN } from "../core/due.js";
import { isJournalName } from "../core/journal.js";
import { setDefaultLogSink } from "../core/log.js";
import { redact } from "../core/redact.js";
import type { RotationMode } from "../core/rotator.js";
import { rotationReason } from "../app/requests.js";
import { SECRET_NAME, checkVaultName } from "../core/vaults.js";
import { keyturnVersion } from "../core/version.js";
import { auditCommand } from "./audit.js";
import { inProcessBackend, viaBackend, type Backend } from "./backend.js";
import { CliError, EXIT_CODE_TABLE, ExitCode } from "./exit-codes.js";
import { formatDue, formatPause, formatRotation, formatStatus } from "./format.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly help: string;
  readonly options: Options;
  readonly run: (ctx: RunContext) => Promise<ExitCode | undefined>;
}

interface RunContext {
  readonly positionals: string[];
  readonly values: Record<string, string | boolean | undefined>;
  readonly out: (text: string) => void;
  readonly progress: (text: string) => void;
  backend(): Backend;
}

const COMMON: Options = {
  via: { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
};

const COMMON_HELP = `options:
  --via <url>    call the function app's HTTP API (https://<app>.azurewebsites.net) instead of
                 running in-process; the function key is read from KEYTURN_FUNCTION_KEY
  --json         machine-readable output on stdout (the HTTP API's JSON)
  -q, --quiet    no progress lines on stderr
  -h, --help     this help`;

// ---- targets ----------------------------------------------------------------------------

interface Target {
  readonly vault: string;
  readonly secret: string;
}

function parseTarget(raw: string): Target {
  const m = /^([^/]+)\/([^/]+)$/.exec(raw);
  if (!m) throw new CliError(ExitCode.Usage, `'${raw.slice(0, 80)}' is not <vault>/<secret>`);
  try {
    checkVaultName(m[1]!);
  } catch (error) {
    throw new CliError(ExitCode.Usage, (error as Error).message);
  }
  if (!SECRET_NAME.test(m[2]!)) throw new CliError(ExitCode.Usage, `'${m[2]!.slice(0, 80)}' is not a secret name (1-127 letters, digits and dashes)`);
  if (isJournalName(m[2]!)) throw new CliError(ExitCode.Usage, `'${m[2]!}' is keyturn's own journal, not a managed secret; name the secret it belongs to`);
  return { vault: m[1]!, secret: m[2]! };
}

function targetsOf(ctx: RunContext, atLeast = 1): Target[] {
  if (ctx.positionals.length < atLeast) throw new CliError(ExitCode.Usage, "name at least one <vault>/<secret>");
  return ctx.positionals.map(parseTarget);
}

function defaultReason(): string {
  let who = "unknown";
  try {
    who = `${userInfo().username}@${hostname()}`;
  } catch {
    // no user database (some containers)
  }
  return `keyturn CLI (${who})`;
}

/**
 * Run `work` for each target, with progress on stderr when there are several. A
 * failure does not stop the others; the exit code is the first failure's.
 */
async function forEachTarget<T>(
  ctx: RunContext,
  targets: Target[],
  verb: string,
  work: (t: Target) => Promise<T>,
  format: (result: T) => string,
): Promise<ExitCode> {
  const json: unknown[] = [];
  let exit: ExitCode = ExitCode.Ok;
  for (const [i, t] of targets.entries()) {
    const name = `${t.vault}/${t.secret}`;
    if (targets.length > 1) ctx.progress(`[${i + 1}/${targets.length}] ${verb} ${name}…`);
    try {
      const result = await work(t);
      if (ctx.values.json) json.push(result);
      else ctx.out(format(result));
    } catch (raw) {
      const error = raw instanceof CliError ? raw : new CliError(ExitCode.Failed, (raw as Error)?.message ?? String(raw));
      process.stderr.write(`${redact(`keyturn: ${name}: ${error.message}`)}\n`);
      if (ctx.values.json) json.push({ target: name, error: { exitCode: error.exitCode, message: redact(error.message) } });
      if (exit === ExitCode.Ok) exit = error.exitCode;
    }
  }
  if (ctx.values.json) ctx.out(redact(JSON.stringify(targets.length === 1 ? json[0] : json, null, 2)));
  if (targets.length > 1) ctx.progress(`${verb}: ${targets.length} secrets, ${exit === ExitCode.Ok ? "all done" : `exit ${exit}`}`);
  return exit;
}

// ---- commands ---------------------------------------------------------------------------

const MODES: readonly RotationMode[] = ["normal", "dry-run", "emergency"];

const commands: Record<string, Command> = {
  rotate: {
    summary: "rotate secrets now (normal, dry-run or emergency)",
    usage: "keyturn rotate <vault>/<secret>... [--mode normal|dry-run|emergency] [--reason <text>] [--via <url>] [--json]",
    help: `Rotates each secret with the engine: lock, plan from tags, create, journal, apply, verify,
commit, notify the owners. --mode dry-run checks the tags and the current credential and prints
the plan without changing anything. --mode emergency also revokes the previous credential (a
leaked one). Manual rotation ignores RotationPaused and the rotation guard.

  --mode <mode>     normal (default), dry-run or emergency
  --reason <text>   why (logged and kept with the request); default "keyturn CLI (<user>@<host>)"`,
    options: { mode: { type: "string" }, reason: { type: "string" } },
    run: async (ctx) => {
      const targets = targetsOf(ctx);
      const mode = (ctx.values.mode ?? "normal") as RotationMode;
      if (!MODES.includes(mode)) throw new CliError(ExitCode.Usage, `--mode must be one of ${MODES.join(", ")}`);
      const reason = rotationReason.safeParse(typeof ctx.values.reason === "string" ? ctx.values.reason : defaultReason());
      if (!reason.success) throw new CliError(ExitCode.Usage, "--reason must be 1-500 characters without control characters");
      const backend = ctx.backend();
      return forEachTarget(ctx, targets, mode === "dry-run" ? "planning" : "rotating", (t) => backend.rotate(t.vault, t.secret, mode, reason.data), formatRotation);
    },
  },
  status: {
    summary: "show rotation status: version, expiry, last rotation, journal",
    usage: "keyturn status <vault>/<secret>... [--via <url>] [--json]",
    help: `Shows each secret's current version, CredentialId, rotator, expiry, last rotation and what
triggered it, and any journal an interrupted rotation left behind (with what to do about it).
Reads properties only: never a value.`,
    options: {},
    run: async (ctx) => {
      const targets = targetsOf(ctx);
      const backend = ctx.backend();
      return forEachTarget(ctx, targets, "reading", (t) => backend.status(t.vault, t.secret), (s) => formatStatus(s));
    },
  },
  scan: {
    summary: "list what the sweep would rotate in a vault",
    usage: `keyturn scan <vault> [--within ${DEFAULT_WITHIN}] [--via <url>] [--json]`,
    help: `Pages through the vault and lists the managed secrets whose latest version expires within the
window or has expired (soonest first), the ones the sweep would leave alone (paused, disabled,
no expiry, rotated moments ago), and interrupted rotations. Reads properties only.

  --within <n>d|<n>h   the window, e.g. 30d (default) or 12h`,
    options: { within: { type: "string" } },
    run: async (ctx) => {
      if (ctx.positionals.length !== 1) throw new CliError(ExitCode.Usage, "name exactly one vault");
      const vault = ctx.positionals[0]!;
      try {
        checkVaultName(vault);
      } catch (error) {
        throw new CliError(ExitCode.Usage, (error as Error).message);
      }
      let within;
      try {
        within = parseWithin(typeof ctx.values.within === "string" ? ctx.values.within : undefined);
      } catch (error) {
        throw new CliError(ExitCode.Usage, (error as Error).message);
      }
      const backend = ctx.backend();
      ctx.progress(`scanning ${vault} (${backend.where})…`);
      const report = await backend.scan(vault, within, (n) => ctx.progress(`  ${n} secrets scanned`));
      ctx.out(ctx.values.json ? redact(JSON.stringify(report, null, 2)) : formatDue(report));
      return ExitCode.Ok;
    },
  },
  pause: {
    summary: "pause automatic rotation of a secret (RotationPaused tag)",
    usage: "keyturn pause <vault>/<secret>...",
    help: `Sets the tag RotationPaused=true on the secret's latest version, keeping every other tag.
Events and the sweep then leave the secret alone; manual rotation still works, and the tag
travels to each new version. In-process only (needs Key Vault rights): no --via.`,
    options: {},
    run: async (ctx) => {
      const targets = targetsOf(ctx);
      const backend = ctx.backend();
      return forEachTarget(ctx, targets, "pausing", (t) => backend.setPaused(t.vault, t.secret, true), formatPause);
    },
  },
  resume: {
    summary: "resume automatic rotation of a paused secret",
    usage: "keyturn resume <vault>/<secret>...",
    help: `Removes the RotationPaused tag from the secret's latest version, keeping every other tag.
In-process only (needs Key Vault rights): no --via.`,
    options: {},
    run: async (ctx) => {
      const targets = targetsOf(ctx);
      const backend = ctx.backend();
      return forEachTarget(ctx, targets, "resuming", (t) => backend.setPaused(t.vault, t.secret, false), formatPause);
    },
  },
  audit: auditCommand,
  serve: {
    summary: "run the local host (same as npm start)",
    usage: "keyturn serve [--port 7071]",
    help: `Serves the HTTP routes and the Event Grid webhook on http://127.0.0.1:<port>. With
KEYTURN_VAULTS unset it starts the demo (a local Key Vault double whose secrets rotate within
seconds). KEYTURN_LOCAL_FUNCTION_KEY makes the routes require that function key.

  --port <n>   port to listen on (default: PORT, else 7071; 0 for any free port)`,
    options: { port: { type: "string" } },
    run: async (ctx) => {
      if (ctx.values.via || ctx.values.json) throw new CliError(ExitCode.Usage, "serve takes neither --via nor --json");
      if (ctx.positionals.length > 0) throw new CliError(ExitCode.Usage, "serve takes no arguments");
      if (typeof ctx.values.port === "string") {
        if (!/^\d{1,5}$/.test(ctx.values.port) || Number(ctx.values.port) > 65535) throw new CliError(ExitCode.Usage, "--port must be a port number");
        process.env.PORT = ctx.values.port;
      }
      await import("../local/main.js"); // runs until SIGINT/SIGTERM
      return undefined;
    },
  },
};

// ---- help ---------------------------------------------------------------------------------

function exitCodeHelp(): string {
  return ["exit codes:", ...EXIT_CODE_TABLE.map(([code, text]) => `  ${String(code).padEnd(3)}${text}`)].join("\n");
}

export function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return `keyturn ${keyturnVersion()} — rotate Azure Key Vault secrets (on-call runbooks, operators)

usage: keyturn <command> [arguments] [options]

commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join("\n")}
  ${"help".padEnd(width)}  help for a command: keyturn help <command> (or keyturn <command> --help)

${COMMON_HELP}
  --version      print the version

By default keyturn runs the engine in this process with DefaultAzureCredential (az login,
managed identity, AZURE_CLIENT_ID) against the vaults of KEYTURN_VAULTS; set
AzureWebJobsStorage__accountName to the function app's storage account to share its locks.
With --via it calls the function app instead, with the function key of KEYTURN_FUNCTION_KEY
and, when App Service Authentication guards the app, a token for KEYTURN_VIA_SCOPE
(e.g. api://<client id>/.default) from the same credential.

${exitCodeHelp()}

The runbook for on-call is docs/runbook.md.`;
}

function commandHelp(name: string): string {
  const c = commands[name]!;
  return `usage: ${c.usage}

${c.help}

${name === "serve" ? "  -h, --help     this help" : COMMON_HELP}

${exitCodeHelp()}`;
}

// ---- entry --------------------------------------------------------------------------------

/** Run keyturn with these arguments; the exit code, or undefined when the command keeps running (serve). */
export async function main(argv: readonly string[]): Promise<number | undefined> {
  const out = (text: string) => process.stdout.write(`${text}\n`);
  const err = (text: string) => process.stderr.write(`${redact(text)}\n`);
  const [first, ...rest] = argv;
  if (first === undefined) {
    err(mainHelp());
    return ExitCode.Usage;
  }
  if (first === "--help" || first === "-h") {
    out(mainHelp());
    return ExitCode.Ok;
  }
  if (first === "--version" || first === "version") {
    out(keyturnVersion());
    return ExitCode.Ok;
  }
  if (first === "help") {
    const topic = rest[0];
    if (topic === undefined) {
      out(mainHelp());
      return ExitCode.Ok;
    }
    if (!(topic in commands)) {
      err(`keyturn: no command '${topic.slice(0, 40)}'; see keyturn --help`);
      return ExitCode.Usage;
    }
    out(commandHelp(topic));
    return ExitCode.Ok;
  }
  const command = Object.hasOwn(commands, first) ? commands[first] : undefined;
  if (!command) {
    err(`keyturn: no command '${first.slice(0, 40)}'; see keyturn --help`);
    return ExitCode.Usage;
  }

  let parsed;
  try {
    parsed = parseArgs({ args: [...rest], options: { ...COMMON, ...command.options }, allowPositionals: true, strict: true });
  } catch (error) {
    err(`keyturn ${first}: ${(error as Error).message}\nusage: ${command.usage}`);
    return ExitCode.Usage;
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    out(commandHelp(first));
    return ExitCode.Ok;
  }

  let backend: Backend | undefined;
  const ctx: RunContext = {
    positionals: parsed.positionals,
    values,
    out,
    progress: (text) => {
      if (!values.quiet) err(text);
    },
    backend: () => {
      if (backend) return backend;
      if (typeof values.via === "string") {
        backend = viaBackend({
          url: values.via,
          functionKey: process.env.KEYTURN_FUNCTION_KEY?.trim() || undefined,
          tokenScope: process.env.KEYTURN_VIA_SCOPE?.trim() || undefined,
        });
      } else {
        prepareInProcessLogging();
        backend = inProcessBackend();
      }
      return backend;
    },
  };
  try {
    return await command.run(ctx);
  } catch (error) {
    if (error instanceof CliError) {
      err(`keyturn ${first}: ${error.message}`);
      if (error.exitCode === ExitCode.Usage) err(`usage: ${command.usage}`);
      return error.exitCode;
    }
    err(`keyturn ${first}: ${(error as Error)?.message ?? String(error)}`);
    return ExitCode.Failed;
  }
}

/**
 * In-process, the engine's structured log goes to stderr (stdout is for results), at
 * `warn` unless KEYTURN_LOG_LEVEL says otherwise: failures and failing notification
 * channels show, routine steps do not.
 */
function prepareInProcessLogging(): void {
  process.env.KEYTURN_LOG_LEVEL ??= "warn";
  setDefaultLogSink((_level, line) => process.stderr.write(`${line}\n`));
}
