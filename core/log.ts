// Structured logs with fixed keys (rotator, vault, secret, version, step, invocationId).
// Every line is scrubbed by `redact` on its way out, whatever a caller passed; trigger
// payloads are never logged.
//
// Where a line goes is a sink. By default stdout/stderr (the CLI, the local host); inside
// a function invocation, functions/ makes a logger whose sink writes through the
// invocation's context (functions/invocation.ts) and hands it down with the work (a
// Trigger's `log`), so that the engine, the rotators and the notifiers log into the
// invocation.
import { redact } from "./redact.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogFields {
  rotator?: string;
  vault?: string;
  secret?: string;
  version?: string;
  step?: string;
  invocationId?: string;
  trigger?: string;
  [key: string]: string | number | boolean | undefined | null;
}

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** Where a finished (JSON, redacted) line goes. */
export type LogSink = (level: LogLevel, line: string) => void;

const consoleSink: LogSink = (level, line) => {
  if (level === "error" || level === "warn") process.stderr.write(`${line}\n`);
  else process.stdout.write(`${line}\n`);
};

let defaultSink: LogSink = consoleSink;
/** Tests capture every line through this. */
export function setDefaultLogSink(sink: LogSink | undefined): void {
  defaultSink = sink ?? consoleSink;
}

/** The process's default sink (console, or what a test set), for hosts that print invocation logs themselves. */
export const writeToDefaultSink: LogSink = (level, line) => defaultSink(level, line);

function configuredLevel(): LogLevel {
  const v = (process.env.KEYTURN_LOG_LEVEL ?? "info").trim().toLowerCase();
  return v in levelRank ? (v as LogLevel) : "info";
}

export function createLogger(base: LogFields = {}, sink?: LogSink): Logger {
  return new JsonLogger(base, sink, levelRank[configuredLevel()]);
}

/** `,"key":value` for each field that has a value, in the fields' order. */
function fieldsJson(fields: LogFields): string {
  let json = "";
  for (const key in fields) {
    const value = fields[key];
    if (value !== undefined) json += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
  }
  return json;
}

// A logger is made for every invocation and rotation step, and writes a few lines, or
// none: its own fields are serialised once, at its first line, and a line adds only the
// call's.
// Methods on a class rather than closures per logger; lines come out as
// JSON.stringify({ time, level, message, ...base, ...fields }) would write them.
class JsonLogger implements Logger {
  private baseJson: string | undefined;

  constructor(
    private readonly base: LogFields,
    private readonly sink: LogSink | undefined,
    private readonly min: number,
  ) {}

  private write(level: LogLevel, message: string, fields?: LogFields): void {
    if (levelRank[level] < this.min) return;
    let rest = (this.baseJson ??= fieldsJson(this.base));
    if (fields !== undefined) {
      let overrides = false;
      for (const key in fields) if (Object.hasOwn(this.base, key)) overrides = true;
      rest = overrides ? fieldsJson({ ...this.base, ...fields }) : rest + fieldsJson(fields);
    }
    const line = `{"time":"${new Date().toISOString()}","level":"${level}","message":${JSON.stringify(message)}${rest}}`;
    (this.sink ?? defaultSink)(level, redact(line));
  }

  debug(message: string, fields?: LogFields): void {
    this.write("debug", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.write("info", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.write("warn", message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.write("error", message, fields);
  }
  child(fields: LogFields): Logger {
    return new JsonLogger({ ...this.base, ...fields }, this.sink, this.min);
  }
}
