import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PermitRequest } from '../../../src/core/store';
import { gcraTake } from '../../../src/store/gcra-take';
import type { SqlDialect } from '../../../src/store/sql/errors';
import { gcraSelect } from '../../../src/store/sql/gcra-sql';
import { serviceAvailable } from '../../support/services';
import { PlainSql } from './support';

interface Case {
  readonly stored: number | undefined;
  readonly now: number;
  readonly request: PermitRequest;
}

/** A deterministic spread of cases, dense around the rounding edges the tolerance exists for. */
function cases(): Case[] {
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const out: Case[] = [];
  const limits = [1, 3, 7, 10, 1_000, 1_000_000];
  const periods = [1, 100, 1_000, 60_000, 86_400_000];
  for (let i = 0; i < 400; i++) {
    const limit = limits[i % limits.length]!;
    const perMs = periods[Math.floor(i / limits.length) % periods.length]!;
    const burst = [1, limit, limit * 2][i % 3]!;
    const requested = [0, 1, 3, burst, burst * 10][Math.floor(i / 3) % 5]!;
    // Epoch milliseconds with a microsecond fraction, as the databases' clocks give them.
    const now = 1_767_225_600_000 + Math.floor(random() * 1e9) + Math.floor(random() * 1000) / 1000;
    const interval = perMs / limit;
    const j = Math.floor(random() * (burst + 3));
    const storedChoices = [
      undefined,
      now - random() * perMs,
      now,
      now + j * interval,
      now + j * interval * (1 + 1e-15),
      now + j * interval * (1 - 1e-15),
      now - burst * interval + interval,
    ];
    out.push({
      stored: storedChoices[i % storedChoices.length],
      now,
      request: { requested, limit, perMs, burst },
    });
  }
  return out;
}

function literal(dialect: SqlDialect, value: number | undefined): string {
  if (value === undefined) return dialect === 'postgresql' ? 'NULL::float8' : 'NULL';
  // String(n) is the shortest text that parses back to the same double, in JS and in both servers.
  return dialect === 'postgresql' ? `'${String(value)}'::float8` : `(${String(value)} + 0e0)`;
}

// Gated in an async suite (no top-level await: test files compile as CommonJS).
describe('GCRA in SQL mirrors gcra-take.ts exactly', async () => {
  const available: Record<SqlDialect, boolean> = {
    postgresql: await serviceAvailable('postgres'),
    mysql: await serviceAvailable('mysql'),
  };
  for (const dialect of ['postgresql', 'mysql'] as const) {
    describe.runIf(available[dialect])(dialect, () => {
      let sql: PlainSql;
      beforeAll(() => {
        sql = PlainSql.open(dialect);
      });
      afterAll(async () => {
        await sql.close();
      });

      it('grants, retry-after, arrival time and lifetime are bit-for-bit the JavaScript ones', async () => {
        const double = (text: string): string =>
          dialect === 'postgresql' ? `${text}::float8` : text.includes('e') ? text : `${text}e0`;
        let granted = 0;
        let denied = 0;
        for (const c of cases()) {
          const select = gcraSelect({
            stored: literal(dialect, c.stored),
            nowMs: literal(dialect, c.now),
            requested: literal(dialect, c.request.requested),
            limit: literal(dialect, c.request.limit),
            perMs: literal(dialect, c.request.perMs),
            burst: literal(dialect, c.request.burst),
            double,
          });
          const [row] = await sql.query<Record<string, number>>(select);
          const expected = gcraTake(c.stored ?? c.now, c.now, c.request);
          const actual = {
            granted: Number(row!.granted),
            retryAfterMs: Number(row!.retry_after_ms),
            theoreticalArrivalMs: Number(row!.tat_ms),
            ttlMs: Number(row!.ttl_ms),
          };
          expect(actual, JSON.stringify(c)).toEqual(expected);
          if (expected.granted > 0) granted++;
          else denied++;
        }
        // The spread covers both outcomes.
        expect(granted).toBeGreaterThan(50);
        expect(denied).toBeGreaterThan(50);
      });
    });
  }
});
