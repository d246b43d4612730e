// NCRONTAB, as Azure Functions timer triggers read it: six fields
// `{second} {minute} {hour} {day} {month} {day-of-week}` (a five-field expression, without
// seconds, is accepted too). Each field is `*`, a value, a range `a-b`, a step `*/n` or
// `a-b/n`, or a comma-separated list of those; months and days of the week may be
// written as three-letter names (Jan, Mon). Day 0 and 7 are Sunday. As in cron, when
// both day and day-of-week are restricted, either may match.
//
// Used to check KEYTURN_SWEEP_SCHEDULE when settings load, and by the local host to run
// the sweep on its schedule (times in UTC, like a Functions app without WEBSITE_TIME_ZONE).
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** Value of the first name (months start at 1). */
  readonly namesFrom?: number;
}

const FIELDS: readonly FieldSpec[] = [
  { name: "second", min: 0, max: 59 },
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  { name: "day-of-week", min: 0, max: 7, names: DAYS, namesFrom: 0 },
];

export interface Schedule {
  readonly expression: string;
  readonly seconds: ReadonlySet<number>;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly days: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly weekdays: ReadonlySet<number>;
  readonly dayRestricted: boolean;
  readonly weekdayRestricted: boolean;
}

export class ScheduleError extends Error {
  override readonly name = "ScheduleError";
}

function value(raw: string, spec: FieldSpec): number {
  const lower = raw.toLowerCase();
  const named = spec.names?.indexOf(lower) ?? -1;
  if (named >= 0) return named + (spec.namesFrom ?? 0);
  if (!/^\d{1,2}$/.test(raw)) throw new ScheduleError(`'${raw}' is not a ${spec.name}`);
  const n = Number(raw);
  if (n < spec.min || n > spec.max) throw new ScheduleError(`${spec.name} ${n} is outside ${spec.min}-${spec.max}`);
  return n;
}

function field(raw: string, spec: FieldSpec): { values: Set<number>; restricted: boolean } {
  const values = new Set<number>();
  let restricted = true;
  for (const part of raw.split(",")) {
    const [range, stepText, extra] = part.split("/");
    if (extra !== undefined || range === undefined || range === "") throw new ScheduleError(`'${part}' is not a ${spec.name} field`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d{1,2}$/.test(stepText) || Number(stepText) === 0) throw new ScheduleError(`'${stepText}' is not a step`);
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (range === "*") {
      from = spec.min;
      to = spec.name === "day-of-week" ? 6 : spec.max;
      if (step === 1 && raw === "*") restricted = false;
    } else if (range.includes("-")) {
      const [a, b] = range.split("-");
      from = value(a ?? "", spec);
      to = value(b ?? "", spec);
      if (to < from) throw new ScheduleError(`${spec.name} range ${range} runs backwards`);
    } else {
      from = value(range, spec);
      to = stepText === undefined ? from : spec.name === "day-of-week" ? 6 : spec.max;
    }
    for (let v = from; v <= to; v += step) values.add(spec.name === "day-of-week" && v === 7 ? 0 : v);
  }
  return { values, restricted };
}

/** Parse an NCRONTAB expression; throws ScheduleError saying what is wrong. */
export function parseSchedule(expression: string): Schedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length === 5) parts.unshift("0");
  if (parts.length !== 6) throw new ScheduleError(`'${expression}' has ${parts.length} fields; NCRONTAB needs six: second minute hour day month day-of-week`);
  const [s, mi, h, d, mo, w] = parts.map((p, i) => field(p, FIELDS[i]!)) as [
    ReturnType<typeof field>,
    ReturnType<typeof field>,
    ReturnType<typeof field>,
    ReturnType<typeof field>,
    ReturnType<typeof field>,
    ReturnType<typeof field>,
  ];
  return {
    expression: expression.trim(),
    seconds: s.values,
    minutes: mi.values,
    hours: h.values,
    days: d.values,
    months: mo.values,
    weekdays: w.values,
    dayRestricted: d.restricted,
    weekdayRestricted: w.restricted,
  };
}

function dayMatches(schedule: Schedule, date: Date): boolean {
  const byDay = schedule.days.has(date.getUTCDate());
  const byWeekday = schedule.weekdays.has(date.getUTCDay());
  if (schedule.dayRestricted && schedule.weekdayRestricted) return byDay || byWeekday;
  return byDay && byWeekday;
}

/** The first time strictly after `after` that the schedule fires (UTC), within five years; undefined if never. */
export function nextOccurrence(schedule: Schedule, after: Date): Date | undefined {
  const start = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
  const sorted = (set: ReadonlySet<number>) => [...set].sort((a, b) => a - b);
  const seconds = sorted(schedule.seconds);
  const minutes = sorted(schedule.minutes);
  const hours = sorted(schedule.hours);
  const day = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()));
  for (let i = 0; i < 5 * 366; i++, day.setUTCDate(day.getUTCDate() + 1)) {
    if (!schedule.months.has(day.getUTCMonth() + 1) || !dayMatches(schedule, day)) continue;
    for (const h of hours) {
      for (const m of minutes) {
        for (const s of seconds) {
          const t = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), h, m, s);
          if (t >= start.getTime()) return new Date(t);
        }
      }
    }
  }
  return undefined;
}
