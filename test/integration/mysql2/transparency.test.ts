import { describe, expect, it } from 'vitest';
import { runApp } from '../../support/run-app';
import { serviceAvailable } from '../../support/services';
import { MYSQL, MYSQL_DATABASE, MYSQL_USER, Rig } from './harness';

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('mysql2 instrumentation', async () => {
  const hasMysql = await serviceAvailable('mysql');

  /**
   * With a healthy server, an application sees exactly the same thing with and
   * without the agent: rows, fields, result headers, error fields, return types
   * and callback arity, the order of callbacks and command events on one
   * connection, streamed rows, transactions through the helpers, the promise
   * API, a synchronous throw, pool events. The scenario
   * (test/fixtures/apps/mysql2-scenario-lib.cjs) prints all of it; the control
   * run has no preload.
   */
  describe.runIf(hasMysql).each([
    ['apps/mysql2-scenario.cjs', 'require'],
    ['apps/mysql2-scenario.mjs', 'import'],
  ] as const)('mysql2 transparency (%s)', (app, preload) => {
    it('prints the same observations with and without the agent', async () => {
      const rig = Rig.withDefaults({});
      const env = {
        BALDUR_OTEL_SDK: 'off',
        BALDUR_CONFIG_FILE: rig.configFile,
        MYSQL_HOST: MYSQL.host,
        MYSQL_PORT: String(MYSQL.port),
        MYSQL_USER,
        MYSQL_DATABASE,
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
