// docs/runbook.md is executable: every line of its `sh` blocks is run here, verbatim,
// through /bin/sh with `keyturn` on PATH, section by section, in the runbook's order,
// against the Key Vault double and the local host (a child process with a function
// key, for `--via "$KEYTURN_FUNCTION_APP_URL"`). Each section gets the state its
// scenario describes (a leaked key, an interrupted rotation, a held lock, ...), and
// each command's exit code and output are checked. The test knows how many commands
// each section has: a runbook edit that adds, drops or moves one fails here until the
// test is told what the new command should do.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret } from "../../core/generate.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { startHostProcess, type HostProcess } from "../support/host.js";
import { emulatorSettings, secretClientFor } from "../support/keyvault.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const VAULT = "payments-kv";
const KEY = "runbook-function-key-5c4b3a29";
const DAY = 86_400_000;

export interface RunbookSection {
  readonly title: string;
  readonly commands: string[];
}

/** The `sh` blocks of docs/runbook.md, by `##` section; `text` blocks are not commands. */
export function runbookSections(markdown = readFileSync(join(repoRoot, "docs/runbook.md"), "utf8")): RunbookSection[] {
  const sections: RunbookSection[] = [];
  let fence: string | undefined;
  for (const line of markdown.split("\n")) {
    const open = /^\s*```(\w*)\s*$/.exec(line);
    if (fence === undefined && open) {
      fence = open[1] ?? "";
      continue;
    }
    if (fence !== undefined && /^\s*```\s*$/.test(line)) {
      fence = undefined;
      continue;
    }
    if (fence === undefined && line.startsWith("## ")) sections.push({ title: line.slice(3).trim(), commands: [] });
    else if (fence === "sh" && line.trim() !== "" && !line.trim().startsWith("#")) sections.at(-1)!.commands.push(line.trim());
  }
  return sections;
}

interface Run {
  readonly command: string;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe("docs/runbook.md, run as written", { timeout: 180_000 }, () => {
  let kv: KeyVaultEmulator;
  let host: HostProcess;
  let env: Record<string, string>;
  const runs: Run[] = [];
  const sections = runbookSections();
  const commandsOf = (title: string) => {
    const s = sections.find((x) => x.title === title);
    if (!s) throw new Error(`the runbook has no section '${title}'`);
    return s.commands;
  };

  const sh = (command: string) =>
    new Promise<Run>((resolve, reject) => {
      const child = spawn("/bin/sh", ["-c", command], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
      child.on("error", reject);
      child.on("close", (code) => {
        const run = { command, code, stdout, stderr };
        runs.push(run);
        resolve(run);
      });
    });

  const managed = { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "payments-oncall@contoso.com" };

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
    host = await startHostProcess({
      ...emulatorSettings(kv, VAULT),
      KEYTURN_LOCAL_FUNCTION_KEY: KEY,
    });
    // `keyturn` on PATH, as `npm install -g` or `npm link` would put it.
    const bin = mkdtempSync(join(tmpdir(), "keyturn-bin-"));
    writeFileSync(join(bin, "keyturn"), `#!/bin/sh\nexec "${process.execPath}" "${join(repoRoot, "cli/keyturn.js")}" "$@"\n`);
    chmodSync(join(bin, "keyturn"), 0o755);
    env = {
      PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      HOME: process.env.HOME ?? tmpdir(),
      ...emulatorSettings(kv, VAULT),
      KEYTURN_FUNCTION_APP_URL: host.url,
      KEYTURN_FUNCTION_KEY: KEY,
    };
  });

  afterAll(async () => {
    await host?.stop();
    await kv?.stop();
  });

  it("has the sections and commands this test knows", () => {
    expect(sections.map((s) => [s.title, s.commands.length])).toEqual([
      ["Before you start", 0],
      ["A credential leaked", 4],
      // Its commands are those of "A credential leaked"; the consumers test covers the scenario.
      ["A rotation waits for a lagging consumer", 0],
      ["A rotation failed", 4],
      ["A lock is stuck", 2],
      ["Pausing rotation of one secret", 4],
      ["What will rotate soon", 2],
    ]);
    for (const s of sections) for (const c of s.commands) expect(c).toMatch(/^keyturn (rotate|status|scan|pause|resume) /);
  });

  it("a credential leaked: emergency rotation, in-process and through the function app", async () => {
    const client = secretClientFor(kv, VAULT);
    const leaked = await client.setSecret("payments-api-key", `leaked-${generateSecret(24)}`, { tags: managed, expiresOn: new Date(Date.now() + 20 * DAY) });
    const signing = await client.setSecret("payments-signing-secret", `leaked-signing-${generateSecret(24)}`, { tags: managed, expiresOn: new Date(Date.now() + 40 * DAY) });
    const [status, rotate, after, via] = commandsOf("A credential leaked");

    const s = await sh(status!);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain(`current version  ${leaked.properties.version}`);

    const r = await sh(rotate!);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rotated payments-kv\/payments-api-key \(generated-secret, emergency\)/);
    expect(r.stdout).toContain(`${leaked.properties.version} → `);
    expect(r.stdout).toContain("previous credential no longer works");

    const a = await sh(after!);
    expect(a.code, a.stderr).toBe(0);
    const current = await client.getSecret("payments-api-key");
    expect(a.stdout).toContain(`current version  ${current.properties.version}`);
    // A generated secret writes no journal, so the status cannot name the trigger.
    expect(a.stdout).toMatch(/last rotation\s+\S+ trigger not recorded, replaced /);

    const v = await sh(via!);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/rotated payments-kv\/payments-signing-secret \(generated-secret, emergency\)/);
    expect((await client.getSecret("payments-signing-secret")).properties.version).not.toBe(signing.properties.version);
    expect(host.output()).toContain("INC-4711 signing secret from the same log"); // the reason reached the function app's log
  });

  it("a rotation failed: read the status, roll the journal forward, dry-run a bad tag", async () => {
    const client = secretClientFor(kv, VAULT);
    const seeded = await client.setSecret("orders-db-password", `orders-${generateSecret(24)}`, { tags: managed, expiresOn: new Date(Date.now() + 10 * DAY) });
    const journalled = generateSecret(32);
    await client.setSecret("keyturn-journal-orders-db-password", JSON.stringify({ v: 1, secretValue: journalled }), {
      contentType: "application/vnd.keyturn.journal+json",
      tags: { KeyturnJournalFor: "orders-db-password", KeyturnJournalState: "pending", KeyturnSupersedes: seeded.properties.version!, Rotator: "generated-secret", KeyturnTrigger: "event", KeyturnMode: "normal" },
    });
    await client.setSecret("reports-api-key", `reports-${generateSecret(24)}`, { tags: { ...managed, ValidityPeriodDays: "14" }, expiresOn: new Date(Date.now() + 12 * DAY) });
    const [status, rollForward, after, dryRun] = commandsOf("A rotation failed");

    const s = await sh(status!);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/journal\s+pending \(keyturn-journal-orders-db-password, replaces /);
    expect(s.stdout).toMatch(/ATTENTION\s+a rotation was interrupted \(or is running now\): rotate again to roll the journal forward/);

    const r = await sh(rollForward!);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("finished an interrupted rotation");
    expect((await client.getSecret("orders-db-password")).value).toBe(journalled);

    const a = await sh(after!);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/journal\s+committed/);
    expect(a.stdout).not.toContain("ATTENTION");

    const d = await sh(dryRun!);
    expect(d.code).toBe(5);
    expect(d.stderr).toMatch(/tag ValidityPeriodDays: must be more than 30/);
    expect(d.stdout).toBe("");
  });

  it("a lock is stuck: the retry exits 4 with Retry-After while a rotation holds the lock", async () => {
    const [retry, status] = commandsOf("A lock is stuck");
    // A rotation that hangs in Key Vault (the function app holds the secret's lock) for
    // longer than a loaded machine needs to start the CLI twice.
    const removeFault = kv.faults.add({ match: { operation: "SetSecret" }, latencyMs: 15_000, times: 1 });
    try {
      const hung = fetch(`${host.url}/api/vaults/${VAULT}/secrets/payments-api-key/rotate`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-functions-key": KEY },
        body: JSON.stringify({ reason: "a slow provider" }),
      });
      await new Promise((r) => setTimeout(r, 500));
      const r = await sh(retry!);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/Rotation in progress: a rotation of payments-api-key is already in progress \(retry after 30 s\)/);
      const s = await sh(status!);
      expect(s.code, s.stderr).toBe(0);
      expect((await hung).status).toBe(200);
    } finally {
      removeFault();
    }
  });

  it("pausing rotation of one secret: pause, see it, the sweep skips it, resume", async () => {
    const client = secretClientFor(kv, VAULT);
    const before = await client.getSecret("payments-api-key");
    const [pause, status, scan, resume] = commandsOf("Pausing rotation of one secret");

    const p = await sh(pause!);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain("paused automatic rotation of payments-kv/payments-api-key");
    const tags = (await client.getSecret("payments-api-key")).properties.tags;
    expect(tags).toEqual({ ...before.properties.tags, RotationPaused: "true" }); // every other tag kept

    const s = await sh(status!);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/paused\s+yes \(RotationPaused tag\)/);

    const sc = await sh(scan!);
    expect(sc.code, sc.stderr).toBe(0);
    expect(sc.stdout).toMatch(/not rotated by the sweep: payments-api-key \(paused, expires /);
    expect(sc.stdout).not.toMatch(/^payments-api-key\s/m);

    const r = await sh(resume!);
    expect(r.code, r.stderr).toBe(0);
    expect((await client.getSecret("payments-api-key")).properties.tags).toEqual(before.properties.tags);
  });

  it("what will rotate soon: the table, and JSON for scripts", async () => {
    await secretClientFor(kv, VAULT).setSecret("legacy-token", `legacy-${generateSecret(24)}`, { tags: managed, expiresOn: new Date(Date.now() - 3 * DAY) });
    const [table, json] = commandsOf("What will rotate soon");
    const t = await sh(table!);
    expect(t.code, t.stderr).toBe(0);
    const lines = t.stdout.split("\n");
    expect(lines[0]).toMatch(/^SECRET\s+EXPIRES\s+DAYS\s+ROTATOR\s+OWNER\s+NOTE$/);
    expect(lines[1]).toMatch(/^legacy-token\s.*\s-[34]\s+generated-secret\s+payments-oncall@contoso.com\s+EXPIRED$/);
    expect(lines[2]).toMatch(/^reports-api-key\s.*tag ValidityPeriodDays: must be more than 30/);
    expect(t.stdout).toMatch(/^2 due in vault payments-kv within 30d/m);
    expect(t.stderr).toMatch(/secrets scanned/);
    const j = await sh(json!);
    expect(j.code, j.stderr).toBe(0);
    const report = JSON.parse(j.stdout);
    expect(report).toMatchObject({ vault: VAULT, within: "90d" });
    expect(report.due.map((d: { secret: string }) => d.secret)).toEqual(expect.arrayContaining(["payments-api-key", "payments-signing-secret", "orders-db-password"]));
  });

  it("ran every command of the runbook, and none printed a value", async () => {
    const all = sections.flatMap((s) => s.commands);
    expect(runs.map((r) => r.command).sort()).toEqual([...all].sort());
    const client = secretClientFor(kv, VAULT);
    const values: string[] = [];
    for await (const p of client.listPropertiesOfSecrets()) {
      for await (const v of client.listPropertiesOfSecretVersions(p.name)) {
        const value = (await client.getSecret(p.name, { version: v.version! })).value!;
        values.push(value);
        if (p.name.startsWith("keyturn-journal-")) values.push((JSON.parse(value) as { secretValue: string }).secretValue);
      }
    }
    expect(values.length).toBeGreaterThan(10);
    for (const v of values) {
      for (const r of runs) {
        expect(r.stdout).not.toContain(v);
        expect(r.stderr).not.toContain(v);
      }
      expect(host.output()).not.toContain(v);
    }
  });
});
