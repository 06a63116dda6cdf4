import { createHash } from 'node:crypto';
import { SqlStoreError, type SqlDialect } from './errors';

/**
 * Table and identifier names of one SQL store, derived from `store.keyPrefix`
 * (lower-cased: PostgreSQL folds unquoted names and MySQL's case sensitivity
 * depends on the server's file system, so `Baldur` and `baldur` share tables).
 */
export interface SqlNames {
  /** The lower-cased prefix, `baldur` by default. */
  readonly prefix: string;
  /** Unquoted base names, for messages and information_schema look-ups. */
  readonly raw: Readonly<Record<TableKey, string>>;
  /** Quoted for the dialect, ready to splice into SQL. */
  readonly kv: string;
  readonly permits: string;
  readonly collections: string;
  readonly records: string;
  readonly messages: string;
  readonly migrations: string;
  /** PostgreSQL only: the sequences behind versions and record order. */
  readonly versionSeq: string;
  readonly recordSeq: string;
  /** PostgreSQL NOTIFY channel / MySQL GET_LOCK name base. */
  readonly channel: string;
  /** Views (created by migration 2). */
  readonly deadLettersView: string;
  readonly idempotencyView: string;
  readonly windowsView: string;
  readonly maximaView: string;
  readonly rateLimitsView: string;
  /** PostgreSQL helper functions used by the views. */
  readonly fnJsonb: string;
  readonly fnJsonMs: string;
  readonly fnJsonInt: string;
}

type TableKey =
  | 'kv'
  | 'permits'
  | 'collections'
  | 'records'
  | 'messages'
  | 'migrations'
  | 'versionSeq'
  | 'recordSeq'
  | 'deadLettersView'
  | 'idempotencyView'
  | 'windowsView'
  | 'maximaView'
  | 'rateLimitsView'
  | 'fnJsonb'
  | 'fnJsonMs'
  | 'fnJsonInt';

const SUFFIXES: Readonly<Record<TableKey, string>> = {
  kv: 'kv',
  permits: 'permits',
  collections: 'collections',
  records: 'records',
  messages: 'messages',
  migrations: 'migrations',
  versionSeq: 'version_seq',
  recordSeq: 'record_seq',
  deadLettersView: 'dead_letters',
  idempotencyView: 'idempotency',
  windowsView: 'windows',
  maximaView: 'maxima',
  rateLimitsView: 'rate_limits',
  fnJsonb: 'try_jsonb',
  fnJsonMs: 'json_ms',
  fnJsonInt: 'json_int',
};

export const KEY_PREFIX_PATTERN = /^[A-Za-z0-9_]{1,32}$/;

export function sqlNames(dialect: SqlDialect, keyPrefix: string): SqlNames {
  if (!KEY_PREFIX_PATTERN.test(keyPrefix)) {
    throw new SqlStoreError(
      `store.keyPrefix "${keyPrefix}" must be 1-32 letters, digits or _`,
      'rejected',
      dialect,
      'configure',
    );
  }
  const prefix = keyPrefix.toLowerCase();
  const quote = dialect === 'postgresql' ? (n: string) => `"${n}"` : (n: string) => `\`${n}\``;
  const raw = {} as Record<TableKey, string>;
  const quoted = {} as Record<TableKey, string>;
  for (const key of Object.keys(SUFFIXES) as TableKey[]) {
    raw[key] = `${prefix}_${SUFFIXES[key]}`;
    quoted[key] = quote(raw[key]);
  }
  return { prefix, raw, ...quoted, channel: `${prefix}_bus` };
}

/** Longest stored key, collection, record id and channel, in UTF-8 bytes (the column sizes). */
export const MAX_KEY_BYTES = 512;
export const MAX_NAME_BYTES = 255;

/**
 * The stored form of a key. Keys are opaque and some come from outside (an
 * idempotency key is a request header), so a key longer than the column, or
 * one PostgreSQL text cannot hold (NUL), is stored as a readable head plus a
 * SHA-256 of the whole key: the same key always maps to the same row.
 */
export function storageKey(key: string, maxBytes = MAX_KEY_BYTES): string {
  if (Buffer.byteLength(key) <= maxBytes && !key.includes('\0')) return key;
  const digest = createHash('sha256').update(key).digest('hex');
  // 4 bytes per character at most: the head stays well inside the column.
  const head = [...key.slice(0, Math.floor((maxBytes - 80) / 4))].join('').replace(/\0/g, '');
  return `${head}#sha256:${digest}`;
}

/**
 * Collections and record ids are chosen by Baldur's features (not by
 * requests) and are returned by `listRecords`, so they are stored verbatim:
 * one that does not fit is refused rather than mangled.
 */
export function checkName(
  dialect: SqlDialect,
  operation: string,
  what: string,
  value: string,
): string {
  if (Buffer.byteLength(value) > MAX_NAME_BYTES || value.includes('\0')) {
    throw new SqlStoreError(
      `${what} must be at most ${MAX_NAME_BYTES} bytes of UTF-8 without NUL`,
      'rejected',
      dialect,
      operation,
    );
  }
  return value;
}

/** A 31-bit hash of a string, for PostgreSQL advisory lock keys. */
export function lockKey(text: string): number {
  return createHash('sha256').update(text).digest().readInt32BE(0);
}

/** A name for MySQL GET_LOCK (at most 64 characters, server-wide). */
export function lockName(text: string): string {
  return `baldur_migrate_${createHash('sha256').update(text).digest('hex').slice(0, 40)}`;
}
