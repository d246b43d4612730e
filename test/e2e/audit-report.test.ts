// End to end: the audit's HTML report from the local host (a real child process, as
// `npm start` runs it) against the Key Vault and ARM doubles, rendered by headless
// Chromium (Debian's `chromium` package). The screenshot must be a real page, and show
// the expiry timeline: its "today" line, the shaded expiry window and markers in the
// colours of expired, expiring and later objects (found by decoding the PNG).
//
// Without /usr/bin/chromium the screenshot test is skipped, and says why; the report
// itself is still fetched and checked.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startArmEmulator, type ArmEmulator } from "../../emulators/arm/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { startHostProcess, type HostProcess } from "../support/host.js";

const CHROMIUM = "/usr/bin/chromium";
const VAULT = "report-kv";
const DAY = 86_400_000;

/** Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes) into RGBA pixels. */
function decodePng(png: Buffer): { width: number; height: number; rgba: Buffer } {
  if (!png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) throw new Error("not a PNG");
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [bitDepth, colourType, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      if (bitDepth !== 8 || interlace !== 0 || (colourType !== 2 && colourType !== 6)) throw new Error(`unsupported PNG: depth ${bitDepth}, colour ${colourType}, interlace ${interlace}`);
      channels = colourType === 6 ? 4 : 3;
    } else if (type === "IDAT") {
      idat.push(data);
    }
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(width * height * 4);
  let previous = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? line[i - channels]! : 0;
      const b = previous[i]!;
      const c = i >= channels ? previous[i - channels]! : 0;
      const p = a + b - c;
      const predictor = [0, a, b, (a + b) >> 1, Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c][filter];
      if (predictor === undefined) throw new Error(`bad PNG filter ${filter}`);
      line[i] = (line[i]! + predictor) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      out[(y * width + x) * 4] = line[x * channels]!;
      out[(y * width + x) * 4 + 1] = line[x * channels + 1]!;
      out[(y * width + x) * 4 + 2] = line[x * channels + 2]!;
      out[(y * width + x) * 4 + 3] = channels === 4 ? line[x * channels + 3]! : 255;
    }
    previous = line;
  }
  return { width, height, rgba: out };
}

/** Pixels within `tolerance` of a colour (#rrggbb). */
function countColour(image: { rgba: Buffer }, hex: string, tolerance = 24): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
  let n = 0;
  for (let i = 0; i < image.rgba.length; i += 4) {
    if (Math.abs(image.rgba[i]! - r) <= tolerance && Math.abs(image.rgba[i + 1]! - g) <= tolerance && Math.abs(image.rgba[i + 2]! - b) <= tolerance) n++;
  }
  return n;
}

describe("the audit report in a browser", () => {
  let kv: KeyVaultEmulator;
  let arm: ArmEmulator;
  let host: HostProcess;
  let dir: string;
  let html = "";

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
    arm = await startArmEmulator({ tls: kv.tls });
    const vaultId = arm.addVault({ name: VAULT, purgeProtection: false }).id;
    const storage = arm.addStorageAccount({ name: "streportpmk" }).id;
    const now = Date.now();
    const managed = { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "team@contoso.com" };
    // A spread of expiries: expired, inside the 30-day window, later, beyond the timeline.
    for (let i = 0; i < 24; i++) {
      kv.seedSecret(VAULT, `app-secret-${i}`, "value", { tags: managed, expiresOn: new Date(now + (i * 17 - 40) * DAY), notBefore: new Date(now - 20 * DAY) });
    }
    kv.seedSecret(VAULT, "storage-key", "value", { tags: { ProviderAddress: storage, CredentialId: "key1", ValidityPeriodDays: "60" }, expiresOn: new Date(now + 45 * DAY) });
    kv.seedSecret(VAULT, "forever", "value", { tags: { Owner: "ops@contoso.com" } });
    kv.seedCertificate(VAULT, "web-tls", { expiresOn: new Date(now + 12 * DAY), lifetimeActions: [{ trigger: { lifetime_percentage: 90 }, action: { action_type: "EmailContacts" } }] });
    kv.seedCertificate(VAULT, "partner-tls", { issuer: "Unknown", expiresOn: new Date(now - 5 * DAY), notBefore: new Date(now - 300 * DAY) });
    kv.seedCertificate(VAULT, "api-tls", { expiresOn: new Date(now + 200 * DAY) });
    kv.seedKey(VAULT, "storage-cmk", { expiresOn: new Date(now + 150 * DAY) });
    kv.seedKey(VAULT, "tde-key", { expiresOn: new Date(now + 20 * DAY) });
    host = await startHostProcess({
      KEYTURN_VAULTS: `${VAULT}=${kv.url(VAULT)}`,
      KEYTURN_VAULT_RESOURCE_IDS: vaultId,
      KEYTURN_CREDENTIAL: "local-emulator",
      KEYTURN_TLS_CA_FILE: kv.tls.caFile,
      KEYTURN_ARM_ENDPOINT: arm.url,
    });
    dir = mkdtempSync(join(tmpdir(), "keyturn-report-"));
  });

  afterAll(async () => {
    await host?.stop();
    await kv?.stop();
    await arm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("serves a self-contained HTML report with the expiry timeline", async () => {
    const res = await fetch(`${host.url}/api/vaults/${VAULT}/audit?format=html`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    html = await res.text();
    expect(html).toContain('<svg id="expiry-timeline"');
    expect(html).toContain("vault-purge-protection");
    expect(html).toContain("provider-platform-managed-key");
    expect(html).not.toMatch(/<script|<link|src="http|href="http/i);
    writeFileSync(join(dir, "report.html"), html);
  });

  it("renders in headless Chromium, and the screenshot shows the timeline", async (ctx) => {
    if (!existsSync(CHROMIUM)) {
      const why = `skipped: ${CHROMIUM} is not installed (Debian's chromium package); the report itself was checked above`;
      console.warn(`audit-report.test.ts: ${why}`);
      ctx.skip(why);
    }
    expect(html).not.toBe("");
    const png = join(dir, "report.png");
    const profile = mkdtempSync(join(tmpdir(), "keyturn-chromium-"));
    try {
      await new Promise<void>((resolve, reject) => {
        execFile(
          CHROMIUM,
          [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            `--user-data-dir=${profile}`,
            `--screenshot=${png}`,
            "--window-size=1280,900",
            `file://${join(dir, "report.html")}`,
          ],
          { timeout: 90_000 },
          (error, _stdout, stderr) => (error && !existsSync(png) ? reject(new Error(`chromium failed: ${error.message}\n${stderr}`)) : resolve()),
        );
      });
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
    expect(existsSync(png)).toBe(true);
    expect(statSync(png).size).toBeGreaterThan(20_000);
    const image = decodePng(readFileSync(png));
    expect([image.width, image.height]).toEqual([1280, 900]);
    // The timeline: today's line, the shaded 30-day window, red/orange/green markers.
    expect(countColour(image, "#0b57d0", 30)).toBeGreaterThan(150);
    expect(countColour(image, "#fff3e0", 4)).toBeGreaterThan(2000);
    expect(countColour(image, "#b3261e", 30)).toBeGreaterThan(30);
    expect(countColour(image, "#c25e00", 30)).toBeGreaterThan(30);
    expect(countColour(image, "#2e7d32", 30)).toBeGreaterThan(30);
    console.log(`audit report screenshot: ${png} (${statSync(png).size} bytes)`);
    // Keep a copy for a human to look at.
    writeFileSync(join(tmpdir(), "keyturn-audit-report.png"), readFileSync(png));
  });
});
