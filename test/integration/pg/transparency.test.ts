import { describe, expect, it } from 'vitest';
import { runApp } from '../../support/run-app';
import { serviceAvailable } from '../../support/services';
import { PG_DATABASE, PG_USER, POSTGRES, Rig } from './harness';

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('pg instrumentation', async () => {
  const hasPostgres = await serviceAvailable('postgres');

  /**
   * With a healthy server, an application sees exactly the same thing with and
   * without the agent: values, result and error shapes, return types, the order
   * of callbacks, promises, rows and events, a Submittable streaming rows, a
   * cursor reading a portal in batches, transactions and their status, pool
   * events. The scenario (test/fixtures/apps/pg-scenario-lib.cjs) prints all of
   * it; the control run has no preload.
   */
  describe.runIf(hasPostgres).each([
    ['apps/pg-scenario.cjs', 'require'],
    ['apps/pg-scenario.mjs', 'import'],
  ] as const)('pg transparency (%s)', (app, preload) => {
    it('prints the same observations with and without the agent', async () => {
      const rig = Rig.withDefaults({});
      const env = {
        BALDUR_OTEL_SDK: 'off',
        BALDUR_CONFIG_FILE: rig.configFile,
        PG_HOST: POSTGRES.host,
        PG_PORT: String(POSTGRES.port),
        PG_USER,
        PG_DATABASE,
        SCENARIO_TABLE: rig.name('scenario'),
      };
      try {
        const control = await runApp({ app, preload: 'none', env });
        const agent = await runApp({ app, preload, env });
        expect(control.code).toBe(0);
        expect(control.messages.at(-1)).toEqual({ step: 'done' });
        expect(agent.code).toBe(0);
        expect(agent.messages).toEqual(control.messages);
        expect(agent.stderr).not.toContain('[baldur]');
      } finally {
        await rig.stop();
      }
    });
  });
});
