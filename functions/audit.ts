// GET /api/vaults/{vault}/audit?within=30d[&format=html] — the posture audit of one
// allow-listed vault (core/audit.ts): JSON by default, or the self-contained HTML report
// (core/audit-html.ts). `within` is the certificate expiry window (days, as in `due`).
// Reader role; reads properties, policies and ARM resources only.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { runAudit } from "../core/audit.js";
import { renderAuditHtml } from "../core/audit-html.js";
import { parseWithin } from "../core/due.js";
import { BadRequestError } from "../core/errors.js";
import { auditDeps, getRuntime } from "../app/runtime.js";
import { invocationLog } from "./invocation.js";
import { vaultOf } from "./params.js";
import { json, problemFromError } from "./problem.js";

const DAY_MS = 86_400_000;

/** `within` in whole days (30d, 720h); at least one day. */
export function withinDays(raw: string | undefined): number {
  const within = parseWithin(raw);
  const days = Math.ceil(within.ms / DAY_MS);
  if (days < 1) throw new BadRequestError("within must be at least 1d");
  return days;
}

export async function auditVault(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const runtime = await getRuntime();
    const vault = vaultOf(request, runtime.config);
    for (const name of ["within", "format"]) {
      if (request.query.getAll(name).length > 1) throw new BadRequestError(`give ${name} once`);
    }
    const format = request.query.get("format") ?? "json";
    if (format !== "json" && format !== "html") throw new BadRequestError("format must be json or html");
    const report = await runAudit(await auditDeps(runtime), vault, { withinDays: withinDays(request.query.get("within") ?? undefined) });
    invocationLog(context).info("vault audited", { vault: vault.name, findings: report.counts.findings, high: report.counts.bySeverity.high });
    if (format === "html") {
      return {
        status: 200,
        headers: {
          "content-type": "text/html; charset=utf-8",
          // The report carries no script and loads nothing: say so to the browser too.
          "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
          "x-content-type-options": "nosniff",
        },
        body: renderAuditHtml(report),
      };
    }
    return json(200, report);
  } catch (error) {
    return problemFromError(error);
  }
}
