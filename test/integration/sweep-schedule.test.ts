// NCRONTAB, as the sweep's KEYTURN_SWEEP_SCHEDULE is written. In Azure the Functions host
// parses it (the timer is registered with '%KEYTURN_SWEEP_SCHEDULE%'); locally
// core/schedule.ts runs it with NCrontab's semantics. The expected times below are
// NCrontab's own: its test suite (atifaziz/NCrontab, NCrontab.Tests/CrontabScheduleTests.cs,
// `Evaluations`, `GetNextOccurrence`, `BadDayOfWeekField`) and its field definitions
// (NCrontab/CrontabFieldImpl.cs: day-of-week 0-6, names matched as prefixes of the full
// names; NCrontab/CrontabSchedule.cs: the day-of-week is tested after the day, so both
// must match). Five fields mean no seconds, as the host's CronSchedule.HasSeconds reads
// them (Azure/azure-webjobs-sdk-extensions, Timers/Scheduling/CronSchedule.cs).
import { describe, expect, it } from "vitest";
import { DEFAULT_SWEEP_SCHEDULE, loadConfig, resolveSettingReference } from "../../core/config.js";
import { ScheduleError, parseSchedule } from "../../core/schedule.js";
import { routes, type TimerRoute } from "../../functions/routes.js";

const next = (expr: string, after: string) => parseSchedule(expr).next(new Date(after))?.toISOString();

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
    expect(next("30 2 * * *", "2026-03-10T03:00:00Z")).toBe("2026-03-11T02:30:00.000Z"); // five fields: no seconds
    expect(next("0 0 0 29 2 *", "2026-03-01T00:00:00Z")).toBe("2028-02-29T00:00:00.000Z");
    // NCrontab's Evaluations: `2/5` is "from 2, every 5"; names are prefixes of full names, any case.
    expect(next("2/5 * * * * *", "2003-01-01T00:00:57Z")).toBe("2003-01-01T00:01:02.000Z");
    expect(next("30 6 * * sunday", "2003-06-26T10:00:00Z")).toBe("2003-06-29T06:30:00.000Z");
    expect(next("30 6 * * SUNDAY", "2003-06-26T10:00:00Z")).toBe("2003-06-29T06:30:00.000Z");
    expect(next("20 * * january,FeB,Mar,april,May,JuNE,July,Augu,SEPT-October,Nov,DECEM *", "1988-03-11T14:23:00Z")).toBe("1988-03-11T15:20:00.000Z");
    expect(next("10 * * February,April-Jun *", "2002-07-01T05:00:00Z")).toBe("2003-02-01T00:10:00.000Z");
  });

  it("fires only when both the day and the day-of-week match, as NCrontab does", () => {
    // NCrontab's Evaluations: `45 16 1 * Mon` after 2003-01-01 12:00 is 2003-09-01 (the
    // first 1st of a month that is a Monday), then 2003-12-01. Vixie cron would fire on
    // 2003-01-06 (a Monday) already.
    expect(next("45 16 1 * Mon", "2003-01-01T12:00:00Z")).toBe("2003-09-01T16:45:00.000Z");
    expect(next("45 16 1 * Mon", "2003-09-01T23:45:00Z")).toBe("2003-12-01T16:45:00.000Z");
    // The issue's own example: the 1st at 03:00 when it is a Monday (2026-06-01 is one).
    expect(next("0 0 3 1 * Mon", "2026-01-01T00:00:00Z")).toBe("2026-06-01T03:00:00.000Z");
    // NCrontab's GetNextOccurrence: `0 0 29 Feb Mon` has no occurrence in 2017; the next
    // 29 February that is a Monday is in 2044.
    const leapMonday = parseSchedule("0 0 0 29 Feb Mon").next(new Date("2017-01-01T00:00:00Z"))!;
    expect(leapMonday.toISOString()).toBe("2044-02-29T00:00:00.000Z");
    expect(leapMonday.getUTCDay()).toBe(1);
    // A restricted day with `*` for day-of-week (and the reverse) is just that field.
    expect(next("0 0 0 15 * *", "2026-03-10T00:00:00Z")).toBe("2026-03-15T00:00:00.000Z");
    expect(next("0 0 0 * * Wed", "2026-03-10T00:00:00Z")).toBe("2026-03-11T00:00:00.000Z");
  });

  it("refuses what NCrontab refuses, saying why", () => {
    expect(() => parseSchedule("0 0 3 * *  * *")).toThrow(ScheduleError);
    expect(() => parseSchedule("daily")).toThrow(/six/);
    expect(() => parseSchedule("0 61 * * * *")).toThrow(/minute: 61/);
    expect(() => parseSchedule("0 0 25 * * *")).toThrow(/hour: 25/);
    expect(() => parseSchedule("0 0 3 * * Funday")).toThrow(/not a day-of-week/);
    expect(() => parseSchedule("* * * * * mon,bad,wed")).toThrow(ScheduleError); // NCrontab's BadDayOfWeekField
    expect(() => parseSchedule("*/0 * * * * *")).toThrow(/stepping/);
    expect(() => parseSchedule("0 0 5-3 * * *")).toThrow(/larger/);
    // Day-of-week is 0-6 in NCrontab: 7 (Sunday in Vixie cron) does not register in Azure.
    expect(() => parseSchedule("0 0 12 * * 7")).toThrow(/outside 0-6/);
    // croner's extensions that NCrontab does not have.
    expect(() => parseSchedule("0 0 0 L * *")).toThrow(ScheduleError);
    expect(() => parseSchedule("0 0 0 ? * *")).toThrow(ScheduleError);
    expect(() => parseSchedule("0 0 0 * * MON#1")).toThrow(ScheduleError);
    expect(() => parseSchedule("@daily")).toThrow(ScheduleError);
  });

  it("registers the timer with the setting's name, resolved as the Functions host resolves it", () => {
    const sweep = routes.find((r): r is TimerRoute => r.trigger === "timer" && r.name === "sweep")!;
    expect(sweep.schedule).toBe("%KEYTURN_SWEEP_SCHEDULE%");
    expect(resolveSettingReference(sweep.schedule, { KEYTURN_SWEEP_SCHEDULE: "0 30 2 * * *" })).toBe("0 30 2 * * *");
    expect(resolveSettingReference(sweep.schedule, {})).toBe(DEFAULT_SWEEP_SCHEDULE);
  });

  it("checks KEYTURN_SWEEP_SCHEDULE when settings load", () => {
    expect(loadConfig({ KEYTURN_SWEEP_SCHEDULE: "0 30 2 * * *" }).sweepSchedule).toBe("0 30 2 * * *");
    expect(loadConfig({}).sweepSchedule).toBe(DEFAULT_SWEEP_SCHEDULE);
    expect(() => loadConfig({ KEYTURN_SWEEP_SCHEDULE: "every day" })).toThrow(/KEYTURN_SWEEP_SCHEDULE/);
    expect(() => loadConfig({ KEYTURN_SWEEP_SCHEDULE: "0 0 99 * * *" })).toThrow(/KEYTURN_SWEEP_SCHEDULE: .*hour: 99/);
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
