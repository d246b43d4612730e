// NCRONTAB, as the sweep's KEYTURN_SWEEP_SCHEDULE is written and the local host runs it:
// six fields with seconds, ranges, steps, lists and names; the next occurrence in UTC;
// bad expressions refused when settings load and when the timer is registered.
import { describe, expect, it } from "vitest";
import { DEFAULT_SWEEP_SCHEDULE, loadConfig } from "../../core/config.js";
import { ScheduleError, nextOccurrence, parseSchedule } from "../../core/ncrontab.js";
import { sweepSchedule } from "../../functions/routes.js";

const at = (iso: string) => new Date(iso);
const next = (expr: string, after: string) => nextOccurrence(parseSchedule(expr), at(after))?.toISOString();

describe("NCRONTAB schedules", () => {
  it("daily at 03:00 UTC by default", () => {
    expect(DEFAULT_SWEEP_SCHEDULE).toBe("0 0 3 * * *");
    expect(next(DEFAULT_SWEEP_SCHEDULE, "2026-03-10T01:00:00Z")).toBe("2026-03-10T03:00:00.000Z");
    expect(next(DEFAULT_SWEEP_SCHEDULE, "2026-03-10T03:00:00Z")).toBe("2026-03-11T03:00:00.000Z");
    expect(next(DEFAULT_SWEEP_SCHEDULE, "2026-12-31T04:00:00Z")).toBe("2027-01-01T03:00:00.000Z");
  });

  it("reads steps, ranges, lists, names and five-field expressions", () => {
    expect(next("*/15 * * * * *", "2026-03-10T01:00:07Z")).toBe("2026-03-10T01:00:15.000Z");
    expect(next("0 */5 * * * *", "2026-03-10T01:02:00Z")).toBe("2026-03-10T01:05:00.000Z");
    expect(next("0 30 9-17 * * Mon-Fri", "2026-03-13T18:00:00Z")).toBe("2026-03-16T09:30:00.000Z"); // Friday evening → Monday
    expect(next("0 0 0 1 Jan,Jul *", "2026-03-10T00:00:00Z")).toBe("2026-07-01T00:00:00.000Z");
    expect(next("0 0 12 * * 0", "2026-03-10T00:00:00Z")).toBe("2026-03-15T12:00:00.000Z"); // Sunday
    expect(next("0 0 12 * * 7", "2026-03-10T00:00:00Z")).toBe("2026-03-15T12:00:00.000Z"); // 7 is Sunday too
    expect(next("30 2 * * *", "2026-03-10T03:00:00Z")).toBe("2026-03-11T02:30:00.000Z"); // five fields: no seconds
    expect(next("0 0 0 29 2 *", "2026-03-01T00:00:00Z")).toBe("2028-02-29T00:00:00.000Z");
  });

  it("refuses what is not NCRONTAB, saying why", () => {
    expect(() => parseSchedule("0 0 3 * *  * *")).toThrow(ScheduleError);
    expect(() => parseSchedule("daily")).toThrow(/six/);
    expect(() => parseSchedule("0 61 * * * *")).toThrow(/minute 61 is outside 0-59/);
    expect(() => parseSchedule("0 0 25 * * *")).toThrow(/hour 25/);
    expect(() => parseSchedule("0 0 3 * * Funday")).toThrow(/not a day-of-week/);
    expect(() => parseSchedule("*/0 * * * * *")).toThrow(/step/);
    expect(() => parseSchedule("0 0 5-3 * * *")).toThrow(/backwards/);
  });

  it("checks KEYTURN_SWEEP_SCHEDULE when settings load and when the timer is registered", () => {
    expect(loadConfig({ KEYTURN_SWEEP_SCHEDULE: "0 30 2 * * *" }).sweepSchedule).toBe("0 30 2 * * *");
    expect(loadConfig({}).sweepSchedule).toBe(DEFAULT_SWEEP_SCHEDULE);
    expect(() => loadConfig({ KEYTURN_SWEEP_SCHEDULE: "every day" })).toThrow(/KEYTURN_SWEEP_SCHEDULE/);
    expect(sweepSchedule({})).toBe(DEFAULT_SWEEP_SCHEDULE);
    expect(() => sweepSchedule({ KEYTURN_SWEEP_SCHEDULE: "0 0 99 * * *" })).toThrow(/KEYTURN_SWEEP_SCHEDULE: hour 99/);
  });

  it("checks KEYTURN_VAULT_RESOURCE_IDS against the allow-list", () => {
    const sub = "7e57c0de-0000-4000-8000-000000000001";
    const id = `/subscriptions/${sub}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/contoso-kv`;
    const config = loadConfig({ KEYTURN_VAULTS: "https://contoso-kv.vault.azure.net", KEYTURN_VAULT_RESOURCE_IDS: id });
    expect(config.vaultResourceIds.get("contoso-kv")).toBe(id);
    expect(() => loadConfig({ KEYTURN_VAULTS: "https://contoso-kv.vault.azure.net", KEYTURN_VAULT_RESOURCE_IDS: id.replace("contoso-kv", "other-kv") })).toThrow(/not on the allow-list/);
    expect(() => loadConfig({ KEYTURN_VAULTS: "https://contoso-kv.vault.azure.net", KEYTURN_VAULT_RESOURCE_IDS: "contoso-kv" })).toThrow(/not a Key Vault resource ID/);
    expect(() => loadConfig({ KEYTURN_AUDIT_MAX_VALIDITY_DAYS: "0" })).toThrow(/KEYTURN_AUDIT_MAX_VALIDITY_DAYS/);
  });
});
