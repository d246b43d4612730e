// `keyturn` as a real child process (node cli/keyturn.js …), in-process against the
// Key Vault double (KEYTURN_CREDENTIAL=local-emulator, KEYTURN_TLS_CA_FILE) and `--via`
// against the local host with a function key: every command, `--help` on each, the
// documented exit codes, progress on stderr for multi-secret work, and no value in
// anything it prints. (docs/runbook.md's commands are run by cli-runbook.test.ts.)
import { spawn } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret } from "../../core/generate.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { eventually, startHostProcess, type HostProcess } from "../support/host.js";
import { emulatorSettings, secretClientFor } from "../support/keyvault.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const VAULT = "cli-kv";
const KEY = "cli-function-key-1a2b3c4d5e";
const DAY = 86_400_000;
const COMMANDS = ["rotate", "status", "scan", "pause", "resume", "serve"];

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

// Each command is a fresh Node process: on a busy two-core machine a test of a dozen
// commands can take a minute, so the tests here get three.
describe("the keyturn CLI", { timeout: 180_000 }, () => {
  let kv: KeyVaultEmulator;
  let host: HostProcess;
  let baseEnv: Record<string, string>;
  const outputs: Result[] = [];

  const keyturn = (args: string[], env: Record<string, string | undefined> = {}) =>
    new Promise<Result>((resolve, reject) => {
      const merged: Record<string, string> = {};
      for (const [k, v] of Object.entries({ ...baseEnv, ...env })) if (v !== undefined) merged[k] = v;
      const child = spawn(process.execPath, ["cli/keyturn.js", ...args], { cwd: repoRoot, env: merged, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
      child.on("error", reject);
      child.on("close", (code) => {
        const r = { code, stdout, stderr };
        outputs.push(r);
        resolve(r);
      });
    });
  const via = () => ["--via", host.url];
  const managed = { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "cli@contoso.com" };
  const seed = (name: string, tags: Record<string, string> = managed, days = 20) =>
    secretClientFor(kv, VAULT).setSecret(name, `cli-initial-${name}-${generateSecret(20)}`, { tags, expiresOn: new Date(Date.now() + days * DAY) });

  beforeAll(async () => {
    kv = await startKeyVaultEmulator({ vaults: [VAULT] });
    host = await startHostProcess({
      ...emulatorSettings(kv, VAULT),
      KEYTURN_LOCAL_FUNCTION_KEY: KEY,
    });
    baseEnv = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      ...emulatorSettings(kv, VAULT),
    };
  });

  afterAll(async () => {
    await host?.stop();
    await kv?.stop();
  });

  it("has --help on every command, the exit code table, and a version", async () => {
    const [main, help, ...each] = await Promise.all([keyturn(["--help"]), keyturn(["help", "scan"]), ...COMMANDS.map((c) => keyturn([c, "--help"]))]);
    expect(main.code).toBe(0);
    for (const c of COMMANDS) expect(main.stdout).toMatch(new RegExp(`^  ${c}\\s`, "m"));
    for (const line of ["0  success", "1  rotation failed", "2  usage", "3  vault not on the allow-list", "4  a rotation of this secret is in progress", "5  the secret's rotation tags", "6  an interrupted rotation", "7  transient", "8  refused"]) {
      expect(main.stdout).toContain(line);
    }
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: keyturn scan <vault>/);
    for (const [i, r] of each.entries()) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: keyturn ${COMMANDS[i]}`));
      expect(r.stdout).toContain("exit codes:");
    }
    const version = await keyturn(["--version"]);
    expect(version.stdout.trim()).toBe("0.1.0");
  });

  it("exits 2 for usage errors and says how to call the command", async () => {
    const cases: Array<[string[], RegExp, Record<string, string>?]> = [
      [[], /usage: keyturn <command>/],
      [["frobnicate"], /no command 'frobnicate'/],
      [["help", "frobnicate"], /no command 'frobnicate'/],
      [["rotate"], /name at least one <vault>\/<secret>/],
      [["rotate", "cli-kv"], /is not <vault>\/<secret>/],
      [["rotate", "a_b/x"], /not a vault name/],
      [["rotate", "cli-kv/bad_name"], /not a secret name/],
      [["rotate", "cli-kv/x", "--mode", "sideways"], /--mode must be one of normal, dry-run, emergency/],
      [["rotate", "cli-kv/x", "--reason", ""], /--reason must be 1-500 characters/],
      [["rotate", "cli-kv/x", "--force"], /Unknown option '--force'/],
      [["scan"], /name exactly one vault/],
      [["scan", "cli-kv", "--within", "30"], /within must be a whole number of days or hours/],
      [["serve", "--via", "http://x"], /serve takes neither --via nor --json/],
      [["serve", "--port", "70000"], /--port must be a port number/],
      [["pause", "cli-kv/x", "--via", "http://127.0.0.1:7071"], /run them in-process/],
      [["status", "cli-kv/x", "--via", "not a url"], /--via must be the function app's URL/],
      [["status", "cli-kv/x", "--via", "https://user:pw@example.net"], /--via must be a bare URL/],
      [["status", "cli-kv/x"], /keyturn settings: KEYTURN_VAULTS/, { KEYTURN_VAULTS: "not-a-url" }],
    ];
    for (let i = 0; i < cases.length; i += 6) {
      const batch = cases.slice(i, i + 6);
      const results = await Promise.all(batch.map(([args, , env]) => keyturn(args, env)));
      for (const [j, r] of results.entries()) {
        expect(r.code, `${batch[j]![0].join(" ")}: ${r.stderr}`).toBe(2);
        expect(r.stderr, batch[j]![0].join(" ")).toMatch(batch[j]![1]);
        expect(r.stdout).toBe("");
      }
    }
  });

  it("rotates in-process: normal, dry-run, emergency, with --json", async () => {
    const seeded = await seed("api-key-a");
    const dry = await keyturn(["rotate", "cli-kv/api-key-a", "--mode", "dry-run", "--json"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ status: "planned", version: seeded.properties.version, mode: "dry-run", plan: ["check-current", "create", "verify", "commit"] });

    const normal = await keyturn(["rotate", "cli-kv/api-key-a", "--json", "--reason", "scheduled by hand"]);
    expect(normal.code, normal.stderr).toBe(0);
    const n = JSON.parse(normal.stdout);
    expect(n).toMatchObject({ status: "rotated", vault: VAULT, secret: "api-key-a", previousVersion: seeded.properties.version, rotator: "generated-secret", mode: "normal", credentialId: null });
    expect((await secretClientFor(kv, VAULT).getSecret("api-key-a")).properties.version).toBe(n.version);

    const emergency = await keyturn(["rotate", "cli-kv/api-key-a", "--mode", "emergency"]);
    expect(emergency.code, emergency.stderr).toBe(0);
    expect(emergency.stdout).toMatch(/^rotated cli-kv\/api-key-a \(generated-secret, emergency\)$/m);
    expect(emergency.stdout).toMatch(new RegExp(`version\\s+${n.version} → [0-9a-f]{32}`));
    expect(emergency.stdout).toContain("previous credential no longer works");

    // generated-secret writes no journal: nothing records the trigger (as for dual kinds).
    const status = await keyturn(["status", "cli-kv/api-key-a", "--json"]);
    expect(JSON.parse(status.stdout)).toMatchObject({ lastRotation: { version: JSON.parse(status.stdout).currentVersion, trigger: null, mode: null }, journal: null });
  });

  it("maps failures to the documented exit codes", async () => {
    await seed("unmanaged-x", {});
    const client = secretClientFor(kv, VAULT);
    // A kind that changes a provider: its journal must be checked by a person (a generated
    // secret's journal never held a credential anywhere, and is marked rolled back).
    const sqlServer = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Sql/servers/cli-sql";
    const current = await seed("journal-mismatch", { Rotator: "sql-server-admin", ProviderAddress: sqlServer, CredentialId: "sqladmin", ValidityPeriodDays: "60" });
    await client.setSecret("keyturn-journal-journal-mismatch", JSON.stringify({ v: 1, secretValue: generateSecret(32) }), {
      tags: { KeyturnJournalFor: "journal-mismatch", KeyturnJournalState: "pending", KeyturnSupersedes: "0123456789abcdef0123456789abcdef", Rotator: "sql-server-admin" },
    });
    expect(current.properties.version).not.toBe("0123456789abcdef0123456789abcdef");

    // A port nobody listens on (fetch refuses "bad" well-known ports such as 9).
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const cases: Array<[string[], number, RegExp, Record<string, string>?]> = [
      [["rotate", "cli-kv/no-such-secret"], 3, /secret no-such-secret was not found in vault cli-kv/],
      [["status", "other-kv/x"], 3, /vault 'other-kv' is not on the allow-list/],
      [["status", "cli-kv/x"], 3, /KEYTURN_VAULTS is empty/, { KEYTURN_VAULTS: "" }],
      [["rotate", "cli-kv/unmanaged-x"], 5, /no rotation tags/],
      [["rotate", "cli-kv/journal-mismatch"], 6, /a pending journal for journal-mismatch replaces version 0123456789abcdef0123456789abcdef/],
      [["status", "cli-kv/api-key-a", "--via", `http://127.0.0.1:${closedPort}`], 7, new RegExp(`could not reach http://127\\.0\\.0\\.1:${closedPort}: ECONNREFUSED`)],
    ];
    const results = await Promise.all(cases.map(([args, , , env]) => keyturn(args, env)));
    for (const [i, r] of results.entries()) {
      expect(r.code, `${cases[i]![0].join(" ")}: ${r.stderr}`).toBe(cases[i]![1]);
      expect(r.stderr).toMatch(cases[i]![2]);
    }

    // Key Vault refuses keyturn's identity: 8.
    const remove = kv.faults.add({ match: { operation: "GetSecret" }, status: 403, errorCode: "Forbidden", errorMessage: "Caller is not authorized to perform action on resource." });
    try {
      const denied = await keyturn(["rotate", "cli-kv/api-key-a"]);
      expect(denied.code, denied.stderr).toBe(8);
      expect(denied.stderr).toMatch(/check your sign-in and your Key Vault role on the vault/);
    } finally {
      remove();
    }
  });

  it("shows progress on stderr for several secrets, carries on past a failure, and exits with the first failure's code", async () => {
    await Promise.all([seed("multi-a"), seed("multi-b")]);
    const r = await keyturn(["rotate", "cli-kv/multi-a", "cli-kv/multi-missing", "cli-kv/multi-b", "--reason", "batch"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("[1/3] rotating cli-kv/multi-a…");
    expect(r.stderr).toContain("[2/3] rotating cli-kv/multi-missing…");
    expect(r.stderr).toContain("keyturn: cli-kv/multi-missing: secret multi-missing was not found");
    expect(r.stderr).toContain("rotating: 3 secrets, exit 3");
    expect(r.stdout).toMatch(/^rotated cli-kv\/multi-a /m);
    expect(r.stdout).toMatch(/^rotated cli-kv\/multi-b /m);

    const json = await keyturn(["status", "cli-kv/multi-a", "cli-kv/multi-missing", "--json", "--quiet"]);
    expect(json.code).toBe(3);
    expect(json.stderr).not.toContain("[1/2]");
    const list = JSON.parse(json.stdout);
    expect(list[0]).toMatchObject({ secret: "multi-a", managed: true });
    expect(list[1]).toMatchObject({ target: "cli-kv/multi-missing", error: { exitCode: 3 } });
  });

  it("prints status and scans a vault page by page", async () => {
    for (let i = 0; i < 27; i++) await secretClientFor(kv, VAULT).setSecret(`scan-filler-${i}`, "filler-value", {});
    await seed("scan-expired", managed, -1);
    const s = await keyturn(["status", "cli-kv/scan-expired"]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/^cli-kv\/scan-expired$/m);
    expect(s.stdout).toMatch(/managed\s+yes \(generated-secret, every 60 days\)/);
    expect(s.stdout).toMatch(/expires\s+\S+ \(1 days ago\)/);
    expect(s.stdout).toMatch(/last rotation\s+none \(one version\)/);

    const scan = await keyturn(["scan", "cli-kv", "--within", "25d"]);
    expect(scan.code, scan.stderr).toBe(0);
    expect(scan.stderr).toMatch(/scanning cli-kv \(in-process\)…/);
    expect(scan.stderr).toMatch(/^ {2}25 secrets scanned$/m); // one progress line per page
    expect(scan.stdout).toMatch(/^scan-expired\s.*EXPIRED$/m);
    const json = JSON.parse((await keyturn(["scan", "cli-kv", "--json", "-q"])).stdout);
    expect(json.scanned).toBeGreaterThan(27);
    expect(json.due[0]).toMatchObject({ secret: "scan-expired", reason: "expired" });
  });

  it("pauses and resumes, keeping the other tags", async () => {
    await seed("pause-me", { ...managed, Team: "payments" });
    const p = await keyturn(["pause", "cli-kv/pause-me"]);
    expect(p.code, p.stderr).toBe(0);
    expect((await secretClientFor(kv, VAULT).getSecret("pause-me")).properties.tags).toEqual({ ...managed, Team: "payments", RotationPaused: "true" });
    const again = await keyturn(["pause", "cli-kv/pause-me"]);
    expect(again.stdout).toContain("was already paused; nothing changed");
    const r = await keyturn(["resume", "cli-kv/pause-me"]);
    expect(r.code, r.stderr).toBe(0);
    expect((await secretClientFor(kv, VAULT).getSecret("pause-me")).properties.tags).toEqual({ ...managed, Team: "payments" });
  });

  it("--via calls the function app with the key from KEYTURN_FUNCTION_KEY, and is refused without it", async () => {
    await seed("via-secret");
    const withKey = { KEYTURN_FUNCTION_KEY: KEY, KEYTURN_VAULTS: undefined };
    const rotate = await keyturn(["rotate", "cli-kv/via-secret", "--json", ...via()], withKey);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(JSON.parse(rotate.stdout)).toMatchObject({ status: "rotated", secret: "via-secret" });
    expect(host.output()).toContain("keyturn CLI ("); // the default reason reached the app's log

    const status = await keyturn(["status", "cli-kv/via-secret", "--via", `${host.url}/api/`], withKey);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/last rotation\s+\S+ trigger not recorded, replaced/); // a generated secret: no journal
    const scan = await keyturn(["scan", "cli-kv", "--within", "3650d", ...via()], withKey);
    expect(scan.code, scan.stderr).toBe(0);
    expect(scan.stderr).toMatch(/scanning cli-kv \(http:\/\/127\.0\.0\.1:\d+\)…/);
    expect(scan.stdout).toMatch(/^via-secret\s/m);

    const noKey = await keyturn(["status", "cli-kv/via-secret", ...via()]);
    expect(noKey.code).toBe(8);
    expect(noKey.stderr).toMatch(/Unauthorized: this route needs a function key/);
    const wrongKey = await keyturn(["rotate", "cli-kv/via-secret", ...via()], { KEYTURN_FUNCTION_KEY: "wrong" });
    expect(wrongKey.code).toBe(8);
    const notFound = await keyturn(["rotate", "cli-kv/via-nothing", ...via()], withKey);
    expect(notFound.code).toBe(3);
    for (const r of [rotate, status, scan, noKey, wrongKey]) expect(`${r.stdout}${r.stderr}`).not.toContain(KEY);
  });

  it("--via sends a bearer token for KEYTURN_VIA_SCOPE when App Service Authentication guards the app", async () => {
    const seen: Array<Record<string, string | string[] | undefined>> = [];
    const app = createHttpServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(403, { "content-type": "application/problem+json" });
      res.end(JSON.stringify({ type: "about:blank", title: "Forbidden", status: 403, detail: "this route needs the app role Rotation.Reader or Rotation.Operator", errorKind: "forbidden" }));
    });
    await new Promise<void>((r) => app.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
      const r = await keyturn(["status", "cli-kv/api-key-a", "--via", url], { KEYTURN_FUNCTION_KEY: KEY, KEYTURN_VIA_SCOPE: "api://keyturn-api/.default" });
      expect(r.code).toBe(8);
      expect(r.stderr).toMatch(/Forbidden: this route needs the app role Rotation\.Reader or Rotation\.Operator/);
      expect(seen[0]).toMatchObject({ authorization: "Bearer keyturn-local-emulator", "x-functions-key": KEY });
    } finally {
      await new Promise((r) => app.close(r));
    }
  });

  it("serve runs the local host until it is stopped", async () => {
    const child = spawn(process.execPath, ["cli/keyturn.js", "serve", "--port", "0"], {
      cwd: repoRoot,
      env: { ...baseEnv, KEYTURN_LOCAL_FUNCTION_KEY: KEY },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (out += c.toString("utf8")));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const url = await eventually(() => /keyturn is listening on (http:\/\/[\d.:]+)/.exec(out)?.[1], 20_000, "keyturn serve");
      expect(out).toContain("function keys:      required");
      expect((await fetch(`${url}/api/health`)).status).toBe(200);
      expect((await fetch(`${url}/api/vaults/${VAULT}/secrets/api-key-a`)).status).toBe(401);
      expect((await fetch(`${url}/api/vaults/${VAULT}/secrets/api-key-a`, { headers: { "x-functions-key": KEY } })).status).toBe(200);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });

  it("never prints a value", async () => {
    const client = secretClientFor(kv, VAULT);
    const values: string[] = [];
    for await (const p of client.listPropertiesOfSecrets()) {
      for await (const v of client.listPropertiesOfSecretVersions(p.name)) {
        const value = (await client.getSecret(p.name, { version: v.version! })).value!;
        if (value === "filler-value") continue;
        values.push(value);
        if (p.name.startsWith("keyturn-journal-")) values.push((JSON.parse(value) as { secretValue: string }).secretValue);
      }
    }
    expect(values.length).toBeGreaterThan(12);
    for (const v of values) {
      for (const r of outputs) expect(`${r.stdout}${r.stderr}`).not.toContain(v);
      expect(host.output()).not.toContain(v);
    }
  });
});
