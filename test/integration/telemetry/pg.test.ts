import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runApp } from '../../support/run-app';
import { serviceAvailable } from '../../support/services';
import { PG_DATABASE, PG_USER, POSTGRES, Rig } from '../pg/harness';
import {
  POLICIES,
  baldurSpans,
  clientSpans,
  startTelemetryRig,
  type AppResult,
  type TelemetryRig,
} from './harness';

/**
 * With Baldur's own SDK, the official pg instrumentation is loaded only when
 * the app loads pg, and applied inside Baldur's wrapper: every attempt of a
 * retried query is its own client span, next to the `baldur` span.
 */
// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('pg client spans under the SDK Baldur starts', async () => {
  const hasPostgres = await serviceAvailable('postgres');
  let pgRig: Rig | undefined;
  let rig: TelemetryRig | undefined;

  beforeAll(async () => {
    if (!hasPostgres) return;
    pgRig = Rig.withDefaults({});
    rig = await startTelemetryRig({ ...POLICIES, timeout: 0 });
  });

  afterAll(async () => {
    await pgRig?.stop();
    await rig?.stop();
  });

  it.runIf(hasPostgres).each(['telemetry-pg.cjs', 'telemetry-pg.mjs'])(
    '%s: one client span per attempt, the official wrapper inside Baldur’s',
    async app => {
      const sequence = pgRig!.name(app.endsWith('.mjs') ? 'telemetry_esm' : 'telemetry');
      await pgRig!.create(`CREATE SEQUENCE ${sequence}`, `DROP SEQUENCE IF EXISTS ${sequence}`);
      const result = await runApp({
        app: `apps/${app}`,
        env: rig!.env({
          PG_HOST: POSTGRES.host,
          PG_PORT: String(POSTGRES.port),
          PG_USER,
          PG_DATABASE,
          PG_SEQUENCE: sequence,
        }),
      });
      expect(result.code, result.stderr).toBe(0);
      const report = result.messages[0] as AppResult;
      expect(report.rows).toEqual([{ v: 2 }]);
      expect(report.chains).toEqual({
        clientQuery: 'baldur>shimmer>pg',
        poolConnect: 'baldur>shimmer>pg',
      });
      expect(result.stderr).toContain(
        'client spans: http, undici; pg, mysql2, ioredis when loaded',
      );

      const { receiver } = rig!;
      await receiver.waitFor(
        () =>
          baldurSpans(receiver.spans).some(s => s.traceId === report.traceId) ? true : undefined,
        20_000,
        'the baldur span',
      );
      const trace = receiver.spans.filter(s => s.traceId === report.traceId);
      const [span, ...more] = baldurSpans(trace);
      expect(more).toHaveLength(0);
      expect(span!.attributes).toMatchObject({
        'baldur.outcome': 'success',
        'baldur.policy': 'retry',
        'baldur.attempts': 2,
      });
      const queries = clientSpans(trace).filter(
        s => s.scope === '@opentelemetry/instrumentation-pg' && s.name.startsWith('pg.query'),
      );
      expect(queries).toHaveLength(2);
      expect(queries.map(s => s.status.code).sort()).toEqual([0, 2]);
    },
  );
});
