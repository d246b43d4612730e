// `keyturn audit <vault>`: the posture audit (core/audit.ts) as a table, `--json`, or a
// self-contained HTML report (`--html <file>`) a reviewer opens in a browser. In-process
// by default; with --via, the function app's GET /api/vaults/{vault}/audit.
import { writeFileSync } from "node:fs";
import type { ParseArgsConfig } from "node:util";
import { SEVERITY_ORDER, formatAuditTable, type Severity } from "../core/audit.js";
import { renderAuditHtml } from "../core/audit-html.js";
import { parseWithin } from "../core/due.js";
import { redact } from "../core/redact.js";
import { checkVaultName } from "../core/vaults.js";
import type { Backend } from "./backend.js";
import { CliError, ExitCode } from "./exit-codes.js";

const DAY_MS = 86_400_000;

/** The parts of the CLI's command context this command uses (cli/main.ts passes the whole). */
interface AuditContext {
  readonly positionals: string[];
  readonly values: Record<string, string | boolean | undefined>;
  readonly out: (text: string) => void;
  readonly progress: (text: string) => void;
  backend(): Backend;
}

export const auditCommand = {
  summary: "posture audit of a vault: findings and fixes (table, --json, --html)",
  usage: "keyturn audit <vault> [--within 30d] [--json] [--html <file>] [--fail-on high|medium|low|info] [--via <url>]",
  help: `Checks what a security review asks for, each with a finding and a fix: secrets without an
expiry or an Owner, rotation tags that do not parse, validity longer than
KEYTURN_AUDIT_MAX_VALIDITY_DAYS, enabled secrets past expiry; certificates expired or expiring
within the window and whether keyturn or Key Vault renews them; keys without a rotation policy;
the vault's soft delete, purge protection and permission model (needs its resource ID in
KEYTURN_VAULT_RESOURCE_IDS); and whether the storage accounts and SQL servers that rotation tags
name encrypt with platform- or customer-managed keys. Reads properties only: never a value.

  --within <n>d        certificates expiring within this window are findings (default 30d)
  --html <file>        also write the report as one self-contained HTML page (expiry timeline)
  --fail-on <level>    exit 1 when there is a finding of this severity or worse (for CI)`,
  options: { within: { type: "string" }, html: { type: "string" }, "fail-on": { type: "string" } } satisfies NonNullable<ParseArgsConfig["options"]>,
  run: async (ctx: AuditContext): Promise<ExitCode> => {
    if (ctx.positionals.length !== 1) throw new CliError(ExitCode.Usage, "name exactly one vault");
    const vault = ctx.positionals[0]!;
    let withinDays: number;
    let failOn: Severity | undefined;
    try {
      checkVaultName(vault);
      withinDays = Math.max(1, Math.ceil(parseWithin(typeof ctx.values.within === "string" ? ctx.values.within : undefined).ms / DAY_MS));
    } catch (error) {
      throw new CliError(ExitCode.Usage, (error as Error).message);
    }
    if (typeof ctx.values["fail-on"] === "string") {
      const level = ctx.values["fail-on"].toLowerCase() as Severity;
      if (!SEVERITY_ORDER.includes(level)) throw new CliError(ExitCode.Usage, `--fail-on must be one of ${SEVERITY_ORDER.join(", ")}`);
      failOn = level;
    }
    const html = typeof ctx.values.html === "string" ? ctx.values.html : undefined;
    if (html === "") throw new CliError(ExitCode.Usage, "--html needs a file name");
    const backend = ctx.backend();
    ctx.progress(`auditing ${vault} (${backend.where})…`);
    const report = await backend.audit(vault, withinDays);
    ctx.out(ctx.values.json ? redact(JSON.stringify(report, null, 2)) : formatAuditTable(report));
    if (html) {
      writeFileSync(html, renderAuditHtml(report), "utf8");
      ctx.progress(`report written to ${html}`);
    }
    if (failOn !== undefined) {
      const worst = SEVERITY_ORDER.slice(0, SEVERITY_ORDER.indexOf(failOn) + 1);
      if (report.findings.some((f) => worst.includes(f.severity))) return ExitCode.Failed;
    }
    return ExitCode.Ok;
  },
};
