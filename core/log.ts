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
  const min = levelRank[configuredLevel()];
  const write = (level: LogLevel, message: string, fields?: LogFields) => {
    if (levelRank[level] < min) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level, message };
    for (const [k, v] of Object.entries({ ...base, ...fields })) if (v !== undefined) record[k] = v;
    (sink ?? defaultSink)(level, redact(JSON.stringify(record)));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger({ ...base, ...fields }, sink),
  };
}
