import type { Writable } from 'node:stream';

/** The Functions log levels (RpcLogLevel), most verbose first. */
export const LogLevel = {
  trace: 'trace',
  debug: 'debug',
  information: 'information',
  warning: 'warning',
  error: 'error',
  critical: 'critical',
} as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

const levelRank: Record<LogLevel, number> = {
  trace: 0,
  debug: 1,
  information: 2,
  warning: 3,
  error: 4,
  critical: 5,
};

/** `host`: the local host itself; `user`: a handler's context.log; `system`: the @azure/functions library. */
export type LogCategory = 'host' | 'user' | 'system';

export interface LocalHostLogEntry {
  readonly level: LogLevel;
  readonly category: LogCategory;
  readonly message: string;
  readonly functionName?: string;
  readonly invocationId?: string;
  readonly error?: Error;
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface LocalHostLogger {
  log(entry: LocalHostLogEntry): void;
}

export const silentLogger: LocalHostLogger = { log: () => undefined };

export function isLevelEnabled(level: LogLevel, minLevel: LogLevel): boolean {
  return levelRank[level] >= levelRank[minLevel];
}

/** Maps the library's level names (and `none`) onto ours. */
export function toLogLevel(level: string): LogLevel | undefined {
  return level in levelRank ? (level as LogLevel) : undefined;
}

export interface CreateJsonLinesLoggerOptions {
  /** Entries below this level are dropped. Default `information`. */
  readonly minLevel?: LogLevel;
  readonly now?: () => Date;
}

/** One JSON object per line (`{"event":"log",...}`), so a parent process can parse what a host prints. */
export function createJsonLinesLogger(stream: Writable, options: CreateJsonLinesLoggerOptions = {}): LocalHostLogger {
  const minLevel = options.minLevel ?? LogLevel.information;
  const now = options.now ?? (() => new Date());
  return {
    log(entry) {
      if (!isLevelEnabled(entry.level, minLevel)) {
        return;
      }
      const line = {
        event: 'log',
        time: now().toISOString(),
        level: entry.level,
        category: entry.category,
        message: entry.message,
        functionName: entry.functionName,
        invocationId: entry.invocationId,
        error: entry.error
          ? { name: entry.error.name, message: entry.error.message, stack: entry.error.stack }
          : undefined,
        data: entry.data,
      };
      stream.write(`${JSON.stringify(line)}\n`);
    },
  };
}
