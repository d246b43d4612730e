// A function's lines go through its InvocationContext (context.info, warn, ...): in Azure
// each line then belongs to its invocation, and Application Insights keeps its operation
// id. The logger travels with the work (a Trigger's `log`) rather than in
// AsyncLocalStorage, whose promise hooks would tax every await in the process.
import type { InvocationContext } from "@azure/functions";
import { createLogger, type LogLevel, type Logger, type LogSink } from "../core/log.js";

/** The invocation's own log methods as a sink. */
export function invocationLogSink(context: InvocationContext): LogSink {
  const methods: Record<LogLevel, (line: string) => void> = {
    debug: (line) => context.debug(line),
    info: (line) => context.info(line),
    warn: (line) => context.warn(line),
    error: (line) => context.error(line),
  };
  return (level, line) => methods[level](line);
}

/** A logger writing through the invocation, every line carrying its invocationId and functionName. */
export function invocationLog(context: InvocationContext): Logger {
  return createLogger({ invocationId: context.invocationId, functionName: context.functionName }, invocationLogSink(context));
}
