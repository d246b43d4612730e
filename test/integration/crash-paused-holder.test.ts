// Not dead, only late: a rotating process is frozen (SIGSTOP — as a starved or paused VM
// is) between verifying its new credential and committing it, for longer than its lock
// lease. Another instance takes the lock over and completes the rotation. When the first
// process wakes up (SIGCONT), its lease renewal has not failed yet (it has not even been
// sent), so "lost" cannot have been learned from a failed renewal: the holder must judge
// by the time since its last confirmed renewal, and stop before writing. Otherwise it
// commits a storage key that the other instance has already regenerated, and the latest
// version no longer works.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobLeaseLock } from "../../core/blob-lock.js";
import type { RotationResult } from "../../core/engine.js";
import { startFleet, type Fleet } from "../support/fleet.js";
import { versionsOf } from "../support/keyvault.js";

const VAULT = "paused-kv";
const LEASE_SECONDS = 15; // the shortest lease Azure (and Azurite) allows
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

let fleet: Fleet;
beforeAll(async () => {
  fleet = await startFleet({ vaults: [VAULT], azurite: true });
});
afterAll(async () => fleet?.stop());

describe("a lock holder frozen past its lease", () => {
  it("does not write once another instance has taken over", async () => {
    const s = await fleet.addSecret("storage-account-key", VAULT, "paused-st");
    const child = spawn(process.execPath, ["--import", "tsx", "test/support/rotate-child.ts"], {
      cwd: repoRoot,
      env: { ...process.env, ...fleet.env(VAULT), ROTATE_SECRET: s.name, ROTATE_EXPECTED_VERSION: s.version, PAUSE_AT: "commit", KEYTURN_TEST_LEASE_SECONDS: String(LEASE_SECONDS) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    // "close": the process has exited and its output has been read to the end.
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the child did not reach the commit:\n${output}`)), 60_000);
        child.stdout.on("data", (c: Buffer) => {
          output += c.toString("utf8");
          if (/^AT commit$/m.test(output)) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
      });
      // Verified a new key2, about to commit it: frozen.
      child.kill("SIGSTOP");

      // Another instance: the same event again; the lock is busy until the frozen
      // holder's lease runs out, then it rotates (regenerating key2 once more).
      const lock = new BlobLeaseLock({ connectionString: fleet.azurite!.connectionString }, fleet.credential, {}, undefined, LEASE_SECONDS);
      const other = fleet.engine({ lock });
      let result: RotationResult | undefined;
      const started = Date.now();
      while (!result) {
        try {
          result = await other.engine.rotateSecret({ vault: { name: VAULT, url: fleet.kv.url(VAULT) }, secret: s.name, expectedVersion: s.version, mode: "normal", trigger: { kind: "event", id: "redelivery" } });
        } catch (error) {
          if ((error as { kind?: string }).kind !== "conflict" || Date.now() - started > 45_000) throw error;
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
      expect(result).toMatchObject({ status: "rotated", credentialId: "key2" });
      expect(Date.now() - started).toBeGreaterThanOrEqual((LEASE_SECONDS - 2) * 1000);

      // The frozen holder wakes up.
      child.kill("SIGCONT");
      await exited;
      // The latest version is the other instance's, and its key works at the provider…
      expect((await fleet.invariantOf(s)).latestWorks, "the latest version's key works").toBe(true);
      expect(await versionsOf(fleet.client(VAULT), s.name)).toHaveLength(2);
      // …because the woken holder stopped before its write.
      expect(output).toMatch(/^ERROR transient the rotation lock was lost; stopped before the next write$/m);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    }
  }, 120_000);
});
