import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, runApp, type AppOptions } from '../../support/run-app';
import { serviceAvailable } from '../../support/services';
import { FAST_RETRY, MYSQL, MYSQL_DATABASE, MYSQL_USER, Rig, testPolicies } from './harness';

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('mysql2 instrumentation', async () => {
  const hasMysql = await serviceAvailable('mysql');

  /**
   * Coexistence with @opentelemetry/instrumentation-mysql2, registered before
   * the agent (`--require` ahead of baldur/register) and after it (by the app).
   * In both orders both wrappers stay active exactly once — no clobbered
   * wrapper, no double spans — and a retried query runs twice, not four or nine
   * times, each attempt its own client span.
   */
  describe.runIf(hasMysql)('mysql2 with the official OpenTelemetry instrumentation', () => {
    let rig: Rig;
    const setup = join(FIXTURES, 'apps/mysql2-otel-setup.cjs');

    beforeAll(() => {
      rig = Rig.withDefaults(testPolicies({ retry: FAST_RETRY }));
    });

    afterAll(async () => {
      await rig.stop();
    });

    async function run(base: string, options: Partial<AppOptions>): Promise<Record<string, any>> {
      const killer = await rig.killFirstFunction(base);
      const result = await runApp({
        app: 'apps/mysql2-otel.cjs',
        ...options,
        env: {
          BALDUR_OTEL_SDK: 'off',
          BALDUR_CONFIG_FILE: rig.configFile,
          MYSQL_HOST: MYSQL.host,
          MYSQL_PORT: String(MYSQL.port),
          MYSQL_USER,
          MYSQL_DATABASE,
          MYSQL_FN: killer.fn,
          ...options.env,
        },
      });
      expect(result.code, result.stderr).toBe(0);
      return { ...result.messages[0]!, runs: await killer.runs() };
    }

    it('keeps both wrappers, one span per attempt, and retries once, in either order', async () => {
      const control = await run('control', { preload: 'none', env: { OTEL_ORDER: 'after' } });
      expect(control.chains).toEqual({
        query: 'shimmer>mysql2',
        execute: 'shimmer>mysql2',
        poolQuery: 'mysql2',
        poolGetConnection: 'mysql2',
      });
      expect(control.retried).toBe(1927);
      expect(control.runs).toBe(1);

      const before = await run('before', { preload: 'require', nodeArgs: ['--require', setup] });
      const after = await run('after', { preload: 'require', env: { OTEL_ORDER: 'after' } });
      // Registered first, OpenTelemetry ends up inside the agent; registered later, outside. One layer each.
      expect(before.chains).toEqual({
        query: 'baldur>shimmer>mysql2',
        execute: 'baldur>shimmer>mysql2',
        poolQuery: 'baldur>mysql2',
        poolGetConnection: 'baldur>mysql2',
      });
      expect(after.chains).toEqual({
        query: 'shimmer>baldur>mysql2',
        execute: 'shimmer>baldur>mysql2',
        poolQuery: 'baldur>mysql2',
        poolGetConnection: 'baldur>mysql2',
      });
      for (const result of [before, after]) {
        expect(result.healthySpans).toEqual(control.healthySpans);
        expect(result.retried).toEqual([{ v: 2 }]);
        expect(result.runs).toBe(2);
        const attempts = (result.retrySpans as { scope: string; error: boolean }[]).filter(
          s => s.scope === '@opentelemetry/instrumentation-mysql2',
        );
        expect(attempts.map(s => s.error)).toEqual([true, false]);
      }
    });
  });
});
