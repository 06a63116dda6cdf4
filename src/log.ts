/**
 * Baldur's own log lines: one line each, to stderr, prefixed so they are easy
 * to grep, filtered by level. `once` keeps a recurring problem (a store that
 * stays down) to a single line until it clears.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  level: LogLevel;
  error(message: string, error?: unknown): void;
  warn(message: string, error?: unknown): void;
  info(message: string): void;
  debug(message: string): void;
  /** Log `message` at `level` unless `key` was already logged and not cleared. */
  once(key: string, level: LogLevel, message: string, error?: unknown): void;
  clear(key: string): void;
}

export type LogSink = (line: string) => void;

const stderrSink: LogSink = line => {
  process.stderr.write(`${line}\n`);
};

export function createLogger(level: LogLevel = 'warn', sink: LogSink = stderrSink): Logger {
  const seen = new Set<string>();
  const write = (at: LogLevel, message: string, error?: unknown): void => {
    if (RANK[at] > RANK[logger.level]) return;
    const detail = error === undefined ? '' : `: ${describe(error)}`;
    sink(`[baldur] ${at}: ${message}${detail}`);
  };
  const logger: Logger = {
    level,
    error: (message, error) => write('error', message, error),
    warn: (message, error) => write('warn', message, error),
    info: message => write('info', message),
    debug: message => write('debug', message),
    once(key, at, message, error) {
      if (seen.has(key)) return;
      seen.add(key);
      write(at, message, error);
    },
    clear(key) {
      seen.delete(key);
    },
  };
  return logger;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
  }
  return String(error);
}
