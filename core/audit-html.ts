// The audit as one self-contained HTML page a reviewer opens in a browser: inline CSS,
// an inline SVG expiry timeline, no scripts, no external assets (fonts, images, CDNs),
// so it can be mailed, attached to a ticket, or opened offline. Every string from the
// vault (names, tag-derived text) is HTML-escaped.
import { SEVERITY_ORDER, type AuditReport, type InventoryItem, type Severity } from "./audit.js";

const DAY_MS = 86_400_000;
/** The timeline shows from this many days ago … */
const PAST_DAYS = 60;
/** … to this many days ahead; later expiries sit at the right edge. */
const FUTURE_DAYS = 400;
/** Markers drawn (the soonest first); more would only make the page heavy. */
const MAX_MARKERS = 2000;

const SEVERITY_COLOURS: Record<Severity, string> = { high: "#b3261e", medium: "#c25e00", low: "#6d5e00", info: "#44617b" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const RENEWAL_TEXT: Record<InventoryItem["renewal"], string> = {
  keyturn: "keyturn rotates or renews it",
  "key-vault": "Key Vault renews or rotates it (policy)",
  owner: "an owner must renew it",
  none: "nothing renews it",
};

function timeline(report: AuditReport): string {
  const now = new Date(report.generatedAt).getTime();
  const start = now - PAST_DAYS * DAY_MS;
  const end = now + FUTURE_DAYS * DAY_MS;
  const left = 120;
  const width = 1040;
  const laneHeight = 56;
  const lanes = [
    { type: "secret", label: "Secrets" },
    { type: "certificate", label: "Certificates" },
    { type: "key", label: "Keys" },
  ] as const;
  const top = 28;
  const height = top + lanes.length * laneHeight + 34;
  const x = (t: number) => left + ((Math.min(Math.max(t, start), end) - start) / (end - start)) * width;
  const parts: string[] = [];
  parts.push(`<svg id="expiry-timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${left + width + 20} ${height}" width="100%" role="img" aria-label="Expiry timeline of ${escapeHtml(report.vault)}">`);
  parts.push(`<title>Expiry timeline: ${PAST_DAYS} days ago to ${FUTURE_DAYS} days ahead</title>`);
  // The window within which certificates count as expiring.
  parts.push(`<rect x="${x(now).toFixed(1)}" y="${top - 6}" width="${(x(now + report.withinDays * DAY_MS) - x(now)).toFixed(1)}" height="${lanes.length * laneHeight + 6}" fill="#fff3e0"/>`);
  // Month ticks.
  const tick = new Date(start);
  tick.setUTCDate(1);
  tick.setUTCHours(0, 0, 0, 0);
  for (tick.setUTCMonth(tick.getUTCMonth() + 1); tick.getTime() <= end; tick.setUTCMonth(tick.getUTCMonth() + 1)) {
    const tx = x(tick.getTime()).toFixed(1);
    parts.push(`<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${top + lanes.length * laneHeight}" stroke="#e0e0e0"/>`);
    if (tick.getUTCMonth() % 2 === 0) {
      parts.push(`<text x="${tx}" y="${top + lanes.length * laneHeight + 16}" font-size="11" text-anchor="middle" fill="#555">${tick.toISOString().slice(0, 7)}</text>`);
    }
  }
  lanes.forEach((lane, i) => {
    const y = top + i * laneHeight;
    parts.push(`<rect x="${left}" y="${y}" width="${width}" height="${laneHeight - 8}" fill="none" stroke="#d0d7de"/>`);
    parts.push(`<text x="${left - 10}" y="${y + laneHeight / 2}" font-size="13" text-anchor="end" fill="#24292f">${lane.label}</text>`);
  });
  const todayX = x(now).toFixed(1);
  parts.push(`<line x1="${todayX}" y1="${top - 10}" x2="${todayX}" y2="${top + lanes.length * laneHeight}" stroke="#0b57d0" stroke-width="2"/>`);
  parts.push(`<text x="${todayX}" y="${top - 14}" font-size="11" text-anchor="middle" fill="#0b57d0">today</text>`);
  const windowX = x(now + report.withinDays * DAY_MS).toFixed(1);
  parts.push(`<text x="${windowX}" y="${top - 14}" font-size="11" text-anchor="middle" fill="#c25e00">+${report.withinDays} d</text>`);

  const counts = new Map<string, number>();
  for (const item of report.inventory.slice(0, MAX_MARKERS)) {
    const lane = lanes.findIndex((l) => l.type === item.objectType);
    const t = new Date(item.expiresOn).getTime();
    const colour = t <= now ? "#b3261e" : t <= now + report.withinDays * DAY_MS ? "#c25e00" : "#2e7d32";
    // Spread markers at the same spot over a few rows of the lane.
    const slot = `${lane}:${Math.round(x(t))}`;
    const n = counts.get(slot) ?? 0;
    counts.set(slot, n + 1);
    const cy = top + lane * laneHeight + 10 + (n % 4) * 10;
    const cx = x(t).toFixed(1);
    const automatic = item.renewal === "keyturn" || item.renewal === "key-vault";
    const label = `${item.objectType} ${item.name}: expires ${item.expiresOn.slice(0, 10)}; ${RENEWAL_TEXT[item.renewal]}`;
    const shape = t > end ? `<path d="M${cx},${cy - 5} l6,5 l-6,5 z" fill="${colour}"/>` : `<circle cx="${cx}" cy="${cy}" r="5" fill="${automatic ? colour : "#ffffff"}" stroke="${colour}" stroke-width="2"/>`;
    parts.push(`<g class="marker"><title>${escapeHtml(label)}</title>${shape}</g>`);
  }
  parts.push(`</svg>`);
  return parts.join("");
}

export function renderAuditHtml(report: AuditReport): string {
  const c = report.counts;
  const cards = SEVERITY_ORDER.map(
    (s) => `<div class="card" style="border-color:${SEVERITY_COLOURS[s]}"><div class="n" style="color:${SEVERITY_COLOURS[s]}">${c.bySeverity[s]}</div><div>${s}</div></div>`,
  ).join("");
  const findings =
    report.findings.length === 0
      ? `<p class="ok">No findings.</p>`
      : `<table><thead><tr><th>Severity</th><th>Check</th><th>Object</th><th>Finding</th><th>Fix</th></tr></thead><tbody>${report.findings
          .map(
            (f) =>
              `<tr><td><span class="sev" style="background:${SEVERITY_COLOURS[f.severity]}">${f.severity}</span></td><td>${escapeHtml(f.check)}</td><td>${escapeHtml(f.objectType)}<br><code>${escapeHtml(f.name)}</code></td><td>${escapeHtml(f.finding)}</td><td>${escapeHtml(f.fix)}</td></tr>`,
          )
          .join("")}</tbody></table>`;
  const checks = `<table><thead><tr><th>Check</th><th></th><th>Findings</th></tr></thead><tbody>${report.checks
    .map((k) => `<tr><td>${escapeHtml(k.title)} <code>${escapeHtml(k.check)}</code></td><td>${k.ran ? (k.findings === 0 ? "✓ passed" : "✗ failed") : "– not run"}</td><td>${k.findings}</td></tr>`)
    .join("")}</tbody></table>`;
  const vp = report.vaultProperties;
  const vault = vp
    ? `<table><tbody><tr><th>Resource</th><td><code>${escapeHtml(vp.resourceId)}</code></td></tr><tr><th>Soft delete</th><td>${vp.softDelete ? "on" : "OFF"}</td></tr><tr><th>Purge protection</th><td>${vp.purgeProtection ? "on" : "OFF"}</td></tr><tr><th>Permission model</th><td>${vp.rbac ? "Azure RBAC" : "access policies"}</td></tr></tbody></table>`
    : `<p>Not read (see the findings).</p>`;
  const providers =
    report.providers.length === 0
      ? `<p>No rotation tag names a storage account or SQL server.</p>`
      : `<table><thead><tr><th>Resource</th><th>Encryption</th><th>Referenced by</th></tr></thead><tbody>${report.providers
          .map(
            (p) =>
              `<tr><td>${escapeHtml(p.type)}<br><code>${escapeHtml(p.resourceId)}</code></td><td>${escapeHtml(p.encryption)}${p.key ? `<br><code>${escapeHtml(p.key)}</code>` : ""}</td><td>${p.referencedBy.map(escapeHtml).join(", ")}</td></tr>`,
          )
          .join("")}</tbody></table>`;
  const soonest = report.inventory.slice(0, 25);
  const next =
    soonest.length === 0
      ? `<p>Nothing in the vault has an expiry date.</p>`
      : `<table><thead><tr><th>Expires</th><th>Object</th><th>Renewal</th></tr></thead><tbody>${soonest
          .map((i) => `<tr><td>${escapeHtml(i.expiresOn.slice(0, 10))}</td><td>${escapeHtml(i.objectType)} <code>${escapeHtml(i.name)}</code></td><td>${escapeHtml(RENEWAL_TEXT[i.renewal])}</td></tr>`)
          .join("")}</tbody></table>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>keyturn audit: ${escapeHtml(report.vault)}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:24px 32px;color:#24292f;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#57606a;font-size:13px}
.cards{display:flex;gap:12px;margin:16px 0}
.card{border:2px solid;border-radius:8px;padding:8px 16px;min-width:90px;text-align:center;font-size:13px}
.card .n{font-size:26px;font-weight:700}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border:1px solid #d0d7de;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.sev{color:#fff;border-radius:4px;padding:1px 6px;font-size:12px;text-transform:uppercase}
.legend{font-size:12px;color:#57606a}
.ok{color:#2e7d32}
</style>
</head>
<body>
<h1>keyturn posture audit — vault <code>${escapeHtml(report.vault)}</code></h1>
<div class="meta">${escapeHtml(report.vaultUrl)} · generated ${escapeHtml(report.generatedAt)} · ${c.secrets} secrets, ${c.certificates} certificates, ${c.keys} keys · ${c.findings} findings · maximum validity ${report.maxValidityDays} days · expiry window ${report.withinDays} days</div>
<div class="cards">${cards}</div>
<h2>Expiry timeline</h2>
${timeline(report)}
<p class="legend">Each mark is an object's current version at its expiry date: <span style="color:#b3261e">●</span> expired, <span style="color:#c25e00">●</span> within ${report.withinDays} days (shaded), <span style="color:#2e7d32">●</span> later, ▶ beyond ${FUTURE_DAYS} days. Filled: keyturn or Key Vault renews it; hollow: an owner must. Hover a mark for its name.</p>
<h2>Findings</h2>
${findings}
<h2>Next to expire</h2>
${next}
<h2>Checks</h2>
${checks}
<h2>Vault</h2>
${vault}
<h2>Providers named by rotation tags</h2>
${providers}
</body>
</html>
`;
}
