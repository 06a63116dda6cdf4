import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, runApp, type AppOptions } from '../../support/run-app';
import { serviceAvailable } from '../../support/services';
import { FAST_RETRY, PG_DATABASE, PG_USER, POSTGRES, Rig, testPolicies } from './harness';

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('pg instrumentation', async () => {
  const hasPostgres = await serviceAvailable('postgres');

  /**
   * Coexistence with @opentelemetry/instrumentation-pg, registered before the
   * agent (`--require` ahead of baldur/register) and after it (by the app). In
   * both orders both wrappers stay active exactly once — no clobbered wrapper,
   * no double spans — and a retried query runs twice, not four or nine times,
   * each attempt its own client span.
   */
  describe.runIf(hasPostgres)('pg with the official OpenTelemetry instrumentation', () => {
    let rig: Rig;
    const setup = join(FIXTURES, 'apps/pg-otel-setup.cjs');

    beforeAll(() => {
      rig = Rig.withDefaults(testPolicies({ retry: FAST_RETRY }));
    });

    afterAll(async () => {
      await rig.stop();
    });

    async function run(
      sequence: string,
      options: Partial<AppOptions>,
    ): Promise<Record<string, any>> {
      await rig.create(`CREATE SEQUENCE ${sequence}`, `DROP SEQUENCE IF EXISTS ${sequence}`);
      const result = await runApp({
        app: 'apps/pg-otel.cjs',
        ...options,
        env: {
          BALDUR_OTEL_SDK: 'off',
          BALDUR_CONFIG_FILE: rig.configFile,
          PG_HOST: POSTGRES.host,
          PG_PORT: String(POSTGRES.port),
          PG_USER,
          PG_DATABASE,
          PG_SEQUENCE: sequence,
          ...options.env,
        },
      });
      expect(result.code, result.stderr).toBe(0);
      return result.messages[0]!;
    }

    it('keeps both wrappers, one span per attempt, and retries once, in either order', async () => {
      const control = await run(rig.name('control'), {
        preload: 'none',
        env: { OTEL_ORDER: 'after' },
      });
      expect(control.chains).toEqual({
        clientQuery: 'shimmer>pg',
        poolQuery: 'pg',
        poolConnect: 'shimmer>pg',
      });
      expect(control.retried).toBe('57P01');
      expect(control.executions).toBe(1);

      const before = await run(rig.name('before'), {
        preload: 'require',
        nodeArgs: ['--require', setup],
      });
      const after = await run(rig.name('after'), {
        preload: 'require',
        env: { OTEL_ORDER: 'after' },
      });
      // Registered first, OpenTelemetry ends up inside the agent; registered later, outside. One layer each.
      expect(before.chains).toEqual({
        clientQuery: 'baldur>shimmer>pg',
        poolQuery: 'baldur>pg',
        poolConnect: 'baldur>shimmer>pg',
      });
      expect(after.chains).toEqual({
        clientQuery: 'shimmer>baldur>pg',
        poolQuery: 'baldur>pg',
        poolConnect: 'shimmer>baldur>pg',
      });
      for (const result of [before, after]) {
        expect(result.healthySpans).toEqual(control.healthySpans);
        expect(result.retried, JSON.stringify(result)).toEqual([{ v: 2 }]);
        expect(result.executions).toBe(2);
        const attempts = (result.retrySpans as { name: string; error: boolean }[]).filter(s =>
          s.name.startsWith('pg.query'),
        );
        expect(attempts.map(s => s.error)).toEqual([true, false]);
      }
    });
  });
});
