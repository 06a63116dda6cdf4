import { describe, expect, it } from 'vitest';
import { runApp } from '../../support/run-app';
import { serviceAvailable } from '../../support/services';

type Line = Record<string, unknown>;

async function scenario(
  app: string,
  preload: 'none' | 'require' | 'import',
): Promise<{ steps: Line[]; other: Line[]; stderr: string }> {
  const prefix = `baldur-test:${preload}:${process.pid}:${Math.random().toString(36).slice(2, 8)}:`;
  const result = await runApp({
    app,
    preload,
    env: { REDIS_PREFIX: prefix, BALDUR_OTEL_SDK: 'off' },
    timeoutMs: 20_000,
  });
  expect(result.code, result.stderr).toBe(0);
  // Keys appear in some replies (XREAD, BLPOP, scripts): compare them without the run's prefix.
  const lines = JSON.parse(
    JSON.stringify(result.messages).replaceAll(prefix, '<prefix>'),
  ) as Line[];
  return {
    steps: lines.filter(l => 'step' in l),
    other: lines.filter(l => !('step' in l)),
    stderr: result.stderr,
  };
}

/**
 * With a healthy Redis, an app observes exactly the same thing with and without
 * the agent: values, Buffers, error replies, callbacks, pipelines, transactions,
 * scripts, pub/sub messages, prefixes, auto-pipelining, scan streams.
 */
// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('ioredis instrumentation', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis)('ioredis transparency', () => {
    it.each([
      ['apps/ioredis-scenario.cjs', 'require'],
      ['apps/ioredis-scenario.mjs', 'import'],
    ] as const)(
      '%s under --%s observes what it observes without the agent',
      async (app, preload) => {
        const [control, governed] = await Promise.all([
          scenario(app, 'none'),
          scenario(app, preload),
        ]);
        expect(control.steps.length).toBeGreaterThan(40);
        expect(governed.steps).toEqual(control.steps);
        expect(governed.other).toContainEqual({ done: true });
        expect(governed.stderr).not.toContain('[baldur]');
        // The agent was really in the path: every command above went through the dependency's pipeline.
        const dependencies = governed.other.find(l => 'dependencies' in l)?.dependencies as Line[];
        expect(dependencies).toEqual([
          { name: 'redis:127.0.0.1:6379/0', successes: expect.any(Number) },
        ]);
        expect(dependencies[0]!.successes).toBeGreaterThan(40);
        expect(control.other.find(l => 'dependencies' in l)).toEqual({ dependencies: [] });
      },
    );
  });
});
