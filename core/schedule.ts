// NCRONTAB, as the Azure Functions host reads a timer's schedule. In Azure the host
// parses KEYTURN_SWEEP_SCHEDULE itself (the timer is registered with
// '%KEYTURN_SWEEP_SCHEDULE%'); this module is for checking the setting when settings load
// and for the local host, which runs the sweep on the same schedule.
//
// The host's CronSchedule (Microsoft.Azure.WebJobs.Extensions) hands the expression to
// NCrontab (atifaziz/NCrontab), whose semantics are kept here:
//   - six fields `{second} {minute} {hour} {day} {month} {day-of-week}`, or five without
//     seconds (CronSchedule.HasSeconds: anything but five fields is read with seconds);
//   - day-of-week 0-6, Sunday = 0 (CrontabFieldImpl.DayOfWeek); 7 is out of range;
//   - month and day names match as case-insensitive prefixes of the full English names
//     (CrontabFieldImpl.ParseValue: `Mon`, `monday`, `Sept`);
//   - a time fires only when it matches the day AND the day-of-week
//     (CrontabSchedule.TryGetNextOccurrence tests the day-of-week after finding the day),
//     where Vixie cron takes either: `0 0 3 1 * Mon` runs on Mondays that are the 1st;
//   - times in UTC, as a Functions app without WEBSITE_TIME_ZONE.
// croner computes the occurrences with those options. croner also accepts what NCrontab
// refuses (L, W, #, ?, @nicknames, day-of-week 7): refused here, so that a schedule the
// local host runs is one Azure registers.
import { Cron, type CronOptions } from "croner";

export class ScheduleError extends Error {
  override readonly name = "ScheduleError";
}

export interface Schedule {
  readonly expression: string;
  /** The first time strictly after `after` that the schedule fires (UTC); undefined if never. */
  next(after: Date): Date | undefined;
}

const NCRONTAB: CronOptions = {
  mode: "5-or-6-parts",
  domAndDow: true,
  // NCrontab reads `a/n` as "from a, every n" (its tests: `2/5 * * * * *`).
  sloppyRanges: true,
  // UTC as a fixed offset: croner then computes in UTC itself, where a timezone name has it
  // build an Intl.DateTimeFormat, which maps about 4 MB of ICU's locale data into the process.
  utcOffset: 0,
};

interface NamedField {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names: readonly string[];
}

const MONTH: NamedField = {
  name: "month",
  min: 1,
  max: 12,
  names: ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"],
};
const DAY_OF_WEEK: NamedField = { name: "day-of-week", min: 0, max: 6, names: ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"] };

/** A name is a whole value (not a step): the first full name it is a prefix of, as NCrontab matches. */
function withNamesAsNumbers(text: string, field: NamedField): string {
  return text.replace(/(?<=^|[,-])[a-z]+(?=$|[,/-])/gi, (name) => {
    const index = field.names.findIndex((full) => full.toLowerCase().startsWith(name.toLowerCase()));
    if (index < 0) throw new ScheduleError(`'${name}' is not a ${field.name} (${field.names.map((n) => n.slice(0, 3)).join(", ")})`);
    return String(field.min + index);
  });
}

/** Parse an NCRONTAB expression; throws ScheduleError saying what is wrong. */
export function parseSchedule(expression: string): Schedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    throw new ScheduleError(`'${expression}' has ${parts.length} field(s); NCRONTAB needs six (second minute hour day month day-of-week) or five without seconds`);
  }
  const monthAt = parts.length - 2;
  const weekdayAt = parts.length - 1;
  parts[monthAt] = withNamesAsNumbers(parts[monthAt]!, MONTH);
  parts[weekdayAt] = withNamesAsNumbers(parts[weekdayAt]!, DAY_OF_WEEK);
  for (const part of parts) {
    if (!/^[0-9*,/-]+$/.test(part)) throw new ScheduleError(`'${part}' is not an NCRONTAB field: numbers, names, *, ranges a-b, steps /n and lists only`);
  }
  for (const element of parts[weekdayAt].split(",")) {
    const values = element.split("/")[0]!.split("-");
    if (values.some((v) => /^\d+$/.test(v) && Number(v) > DAY_OF_WEEK.max)) throw new ScheduleError(`day-of-week '${element}' is outside 0-6 (Sunday is 0)`);
  }
  let cron: Cron;
  try {
    cron = new Cron(parts.join(" "), NCRONTAB);
  } catch (error) {
    throw new ScheduleError(`'${expression}': ${(error as Error).message.replace(/^CronPattern: /, "")}`);
  }
  return {
    expression: expression.trim(),
    next: (after) => cron.nextRun(after) ?? undefined,
  };
}
