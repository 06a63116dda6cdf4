/**
 * Batch GCRA as one SQL SELECT, term for term the arithmetic of
 * `src/store/gcra-take.ts` (same operations, same order, IEEE doubles on both
 * sides, including the rounding tolerance of `gcraToleranceMs`), so SQL
 * buckets agree with the memory and Redis ones.
 *
 *   intervalMs  = perMs / limit
 *   arrivalMs   = max(stored ?? now, now)
 *   tolerance   = max(intervalMs * 1e-9, |now| * 16 * EPSILON)
 *   room        = floor((now - arrival + tolerance) / interval + burst)
 *   granted     = max(0, min(requested, room))
 *   retryAfter  = granted = 0 ? max(0, arrival + interval - burst * interval - now) : 0
 *   tat         = granted = 0 ? arrival : arrival + granted * interval
 *   ttl         = granted = 0 ? 0 : ceil(tat - now) + 1
 *
 * Every input expression must already be a double (`float8` / `DOUBLE`).
 * The result has the columns `granted`, `retry_after_ms`, `tat_ms`, `ttl_ms`.
 */
export interface GcraSqlInputs {
  /** The stored theoretical arrival time in ms, or NULL when absent or expired. */
  readonly stored: string;
  readonly nowMs: string;
  readonly requested: string;
  readonly limit: string;
  readonly perMs: string;
  readonly burst: string;
  /** A double literal (the dialects spell casts differently). */
  readonly double: (literal: string) => string;
}

/** Number.EPSILON, written so that both servers parse it to exactly 2^-52. */
const EPSILON = '2.220446049250313e-16';

export function gcraSelect(i: GcraSqlInputs): string {
  const d = i.double;
  const a = `SELECT ${i.stored} AS stored, ${i.nowMs} AS now_ms, ${i.requested} AS req, ${i.perMs} / ${i.limit} AS iv, ${i.burst} AS burst`;
  const b = `SELECT a.*, GREATEST(COALESCE(a.stored, a.now_ms), a.now_ms) AS arrival, GREATEST(a.iv * ${d('1e-9')}, ABS(a.now_ms) * ${d('16')} * ${d(EPSILON)}) AS tol FROM (${a}) a`;
  const c = `SELECT b.*, GREATEST(${d('0')}, LEAST(b.req, FLOOR((b.now_ms - b.arrival + b.tol) / b.iv + b.burst))) AS granted FROM (${b}) b`;
  return (
    `SELECT c.granted AS granted, ` +
    `CASE WHEN c.granted = 0 THEN GREATEST(${d('0')}, c.arrival + c.iv - c.burst * c.iv - c.now_ms) ELSE ${d('0')} END AS retry_after_ms, ` +
    `CASE WHEN c.granted = 0 THEN c.arrival ELSE c.arrival + c.granted * c.iv END AS tat_ms, ` +
    `CASE WHEN c.granted = 0 THEN ${d('0')} ELSE CEIL(c.arrival + c.granted * c.iv - c.now_ms) + 1 END AS ttl_ms, ` +
    `c.now_ms AS now_ms FROM (${c}) c`
  );
}
