/**
 * Just enough SQL reading for two decisions the SQL instrumentations (pg,
 * mysql2) make per statement: what it does to the session's transaction, and
 * whether running it twice is harmless. This is not a parser: it looks at the
 * leading keyword, and when in doubt it answers "write", which only ever costs
 * a retry that did not happen.
 */
export type StatementKind =
  /** SELECT, SHOW, VALUES, TABLE, EXPLAIN, DESCRIBE, WITH … (see `isRepeatableRead` for the fine print). */
  | 'read'
  /** Anything else: INSERT, UPDATE, DDL, CALL, SET, SAVEPOINT … */
  | 'write'
  /** BEGIN, START TRANSACTION, `SET autocommit = 0`. */
  | 'begin'
  /** COMMIT, END, `SET autocommit = 1`. */
  | 'commit'
  /** ROLLBACK, ABORT: ends the transaction. */
  | 'rollback'
  /** ROLLBACK TO [SAVEPOINT]: undoes part of it, stays inside. */
  | 'rollback_to';

const READ_KEYWORDS = new Set([
  'SELECT',
  'SHOW',
  'VALUES',
  'TABLE',
  'EXPLAIN',
  'DESCRIBE',
  'DESC',
  'WITH',
]);

/** Index of the first character that is not whitespace, a comment or an opening parenthesis. */
function skipNoise(sql: string, from: number): number {
  let i = from;
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    if (c === 32 || (c >= 9 && c <= 13) || c === 40 /* ( */) {
      i++;
    } else if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf('\n', i + 2);
      i = end === -1 ? sql.length : end + 1;
    } else if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else if (c === 35 /* # (MySQL comment) */) {
      const end = sql.indexOf('\n', i + 1);
      i = end === -1 ? sql.length : end + 1;
    } else {
      break;
    }
  }
  return i;
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/** The keyword starting at `from` (after noise), upper-cased, and where it ends. */
function wordAt(sql: string, from: number): { word: string; end: number } {
  const start = skipNoise(sql, from);
  let end = start;
  while (end < sql.length && end - start < 24 && isLetter(sql.charCodeAt(end))) end++;
  return { word: sql.slice(start, end).toUpperCase(), end };
}

/** `SET autocommit = 0|1|ON|OFF` (MySQL) opens or closes an implicit transaction. */
const AUTOCOMMIT = /^\s*(?:SESSION\s+|@@(?:SESSION\.)?)?autocommit\s*(?:=|:=|TO)\s*'?(\w+)/i;

/** What a statement does, judged by its first keyword(s). Unknown text is a write. */
export function statementKind(sql: string): StatementKind {
  return analyze(sql).kind;
}

function kindOf(sql: string): StatementKind {
  const first = wordAt(sql, 0);
  switch (first.word) {
    case 'BEGIN':
      return 'begin';
    case 'START':
      return wordAt(sql, first.end).word === 'TRANSACTION' ? 'begin' : 'write';
    case 'COMMIT':
    case 'END':
      return 'commit';
    case 'ABORT':
      return 'rollback';
    case 'ROLLBACK': {
      let next = wordAt(sql, first.end);
      if (next.word === 'WORK' || next.word === 'TRANSACTION') next = wordAt(sql, next.end);
      return next.word === 'TO' ? 'rollback_to' : 'rollback';
    }
    case 'SET': {
      const match = AUTOCOMMIT.exec(sql.slice(first.end));
      if (match === null) return 'write';
      const value = match[1]!.toUpperCase();
      if (value === '0' || value === 'OFF' || value === 'FALSE') return 'begin';
      if (value === '1' || value === 'ON' || value === 'TRUE') return 'commit';
      return 'write';
    }
    default:
      return READ_KEYWORDS.has(first.word) ? 'read' : 'write';
  }
}

/** A second statement after a `;` (a `;` inside a literal also counts: we err towards "not repeatable"). */
function hasSecondStatement(sql: string): boolean {
  let semicolon = sql.indexOf(';');
  while (semicolon !== -1) {
    const next = skipNoise(sql, semicolon + 1);
    if (next < sql.length && sql.charCodeAt(next) !== 59 /* ; */) return true;
    semicolon = sql.indexOf(';', semicolon + 1);
  }
  return false;
}

const INTO = /\binto\b/i;
const MODIFYING = /\b(?:insert|update|delete|merge|replace)\b/i;
const ANALYZE = /\banaly[sz]e\b/i;

/**
 * Whether a statement only reads, so that running it again after a failed
 * attempt cannot change anything: a single read statement that is not
 * `SELECT … INTO` (creates a table in PostgreSQL, writes a file or variables in
 * MySQL), not a `WITH` carrying INSERT/UPDATE/DELETE/MERGE, not `EXPLAIN
 * ANALYZE` (executes the statement). A SELECT that calls a function with side
 * effects looks like any other SELECT: the README says how to opt out.
 */
export function isRepeatableRead(sql: string): boolean {
  return analyze(sql).repeatable;
}

interface Analysis {
  readonly kind: StatementKind;
  readonly repeatable: boolean;
}

const CACHE_LIMIT = 1_000;
/** Longer texts (bulk statements built per call) are judged each time, not kept. */
const CACHED_LENGTH = 2_048;
const analyses = new Map<string, Analysis>();

/** Applications send the same few statement texts over and over: each is read once (bounded cache). */
function analyze(sql: string): Analysis {
  let analysis = analyses.get(sql);
  if (analysis === undefined) {
    analysis = Object.freeze({ kind: kindOf(sql), repeatable: readsOnly(sql) });
    if (sql.length <= CACHED_LENGTH) {
      if (analyses.size >= CACHE_LIMIT) analyses.clear();
      analyses.set(sql, analysis);
    }
  }
  return analysis;
}

function readsOnly(sql: string): boolean {
  const first = wordAt(sql, 0).word;
  if (!READ_KEYWORDS.has(first) || hasSecondStatement(sql)) return false;
  if (INTO.test(sql)) return false;
  if (first === 'WITH' && MODIFYING.test(sql)) return false;
  if (first === 'EXPLAIN' && (ANALYZE.test(sql) || MODIFYING.test(sql))) return false;
  return true;
}
