// Human output of `keyturn` (the `--json` output is the HTTP API's bodies as they are).
// Everything printed goes through `redact`: nothing the CLI prints can carry a value.
import type { DueReport } from "../core/due.js";
import { redact } from "../core/redact.js";
import type { SecretStatus } from "../core/status.js";
import type { RotationResponse } from "../app/responses.js";
import type { PauseResult } from "./backend.js";

const DAY_MS = 86_400_000;
const dash = (v: string | number | null | undefined) => (v === null || v === undefined || v === "" ? "-" : String(v));

function relative(iso: string | null, now: Date): string {
  if (!iso) return "never";
  const ms = Date.parse(iso) - now.getTime();
  return ms >= 0 ? `${iso} (in ${Math.floor(ms / DAY_MS)} days)` : `${iso} (${Math.floor(-ms / DAY_MS)} days ago)`;
}

export function formatRotation(r: RotationResponse): string {
  const target = `${r.vault}/${r.secret}`;
  if (r.status === "planned") {
    return redact(
      [
        `dry run ${target} (${dash(r.rotator)}): nothing changed`,
        `  current version  ${r.version}${r.credentialId ? ` (credential ${r.credentialId})` : ""}`,
        `  would run        ${(r.plan ?? []).join(" → ")}`,
        `  new expiry       ${dash(r.expiresOn)}`,
        ...(r.rolledForward ? ["  a pending journal would be rolled forward first"] : []),
      ].join("\n"),
    );
  }
  const consumerLines = (r.consumers ?? [])
    .filter((c) => c.status !== "current")
    .map((c) => `  consumer    ${c.id}: ${c.status}${c.versions?.length ? ` at version ${c.versions.join(", ")}` : ""}${c.detail ? ` (${c.detail})` : ""}`);
  if (r.status === "skipped") return redact([`skipped ${target}: ${dash(r.reason)} (version ${r.version} stays)`, ...consumerLines].join("\n"));
  const lines = [
    `rotated ${target} (${dash(r.rotator)}, ${r.mode})`,
    `  version     ${dash(r.previousVersion)} → ${r.version}`,
    `  credential  ${dash(r.credentialId)}`,
    `  expires     ${dash(r.expiresOn)}`,
  ];
  if (r.rolledForward) lines.push("  finished an interrupted rotation (journal rolled forward)");
  if (r.revoked === true) lines.push("  previous credential no longer works");
  if (r.revoked === false) lines.push("  WARNING: this kind cannot revoke the previous credential: revoke it at the provider");
  lines.push(...consumerLines);
  return redact(lines.join("\n"));
}

export function formatStatus(s: SecretStatus, now = new Date()): string {
  const lines = [`${s.vault}/${s.secret}`];
  const row = (k: string, v: string) => lines.push(`  ${k.padEnd(16)} ${v}`);
  row("managed", s.managed ? `yes (${dash(s.rotator)}${s.validityPeriodDays ? `, every ${s.validityPeriodDays} days` : ""})` : "no (no rotation tags)");
  row("paused", s.paused ? "yes (RotationPaused tag)" : "no");
  row("current version", `${s.currentVersion}${s.enabled ? "" : " (DISABLED)"}`);
  row("credential id", dash(s.credentialId));
  row("owner", dash(s.owner));
  row("created", dash(s.created));
  row("expires", relative(s.expiresOn, now));
  row("versions", String(s.versions));
  if (s.lastRotation) {
    const by = s.lastRotation.trigger ? `by ${s.lastRotation.trigger}${s.lastRotation.mode && s.lastRotation.mode !== "normal" ? ` (${s.lastRotation.mode})` : ""}` : "trigger not recorded";
    row("last rotation", `${dash(s.lastRotation.at)} ${by}, replaced ${dash(s.lastRotation.previousVersion)}`);
  } else {
    row("last rotation", "none (one version)");
  }
  row("journal", s.journal ? `${s.journal.state} (${s.journal.name}, replaces ${dash(s.journal.supersedes)}, ${dash(s.journal.created)})` : "none");
  if (s.problem) row("PROBLEM", s.problem);
  if (s.attention) row("ATTENTION", s.attention);
  return redact(lines.join("\n"));
}

export function formatDue(r: DueReport): string {
  const header = ["SECRET", "EXPIRES", "DAYS", "ROTATOR", "OWNER", "NOTE"];
  const rows = r.due.map((d) => [d.secret, d.expiresOn, String(d.daysLeft), dash(d.rotator), dash(d.owner), d.problem ?? (d.reason === "expired" ? "EXPIRED" : "")]);
  const lines: string[] = [];
  if (rows.length > 0) {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const render = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
    lines.push(render(header), ...rows.map(render));
  }
  lines.push(`${r.due.length} due in vault ${r.vault} within ${r.within} (${r.scanned} secrets scanned, as of ${r.asOf})`);
  for (const s of r.skipped) lines.push(`not rotated by the sweep: ${s.secret} (${s.reason}${s.expiresOn ? `, expires ${s.expiresOn}` : ""})`);
  for (const j of r.pendingJournals) lines.push(`interrupted rotation: ${j.secret} (journal ${j.journal} replaces ${dash(j.supersedes)}): rotate it again to roll forward`);
  return redact(lines.join("\n"));
}

export function formatPause(p: PauseResult): string {
  const what = p.paused ? "paused" : "resumed";
  return redact(
    p.changed
      ? `${what} automatic rotation of ${p.vault}/${p.secret} (version ${p.version}); manual rotation still works`
      : `${p.vault}/${p.secret} was already ${what}; nothing changed`,
  );
}
