import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FIXTURES, runApp } from '../../support/run-app';
import { startRig, testPolicies, type Rig } from './harness';

/**
 * Double instrumentation: with `@opentelemetry/instrumentation-http` and
 * `-undici` loaded before or after the agent, every attempt is one client
 * span, retries are not doubled, and the agent's wrapper is still active.
 */
interface Span {
  kind: number;
  scope: string;
  status: number | undefined;
}

interface Report {
  viaHttp: unknown;
  viaFetch: unknown;
  httpSpans: Span[];
  fetchSpans: Span[];
}

describe.each(['before', 'after'])('OpenTelemetry instrumentations loaded %s the agent', order => {
  let rig: Rig | undefined;

  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
  });

  it('one client span per attempt, no doubled retries', async () => {
    rig = await startRig(testPolicies());
    rig.upstream.enqueue({ status: 503, body: 'busy' });
    rig.upstream.enqueue({ status: 200, body: 'ok' });
    rig.upstream.enqueue({ status: 503, body: 'busy' });
    const result = await runApp({
      app: 'apps/http-otel.cjs',
      nodeArgs: order === 'before' ? ['--require', join(FIXTURES, 'apps/http-otel-setup.cjs')] : [],
      env: {
        OTEL_ORDER: order,
        TARGET_URL: rig.url,
        BALDUR_OTEL_SDK: 'off',
        BALDUR_CONFIG_FILE: rig.configFile,
      },
    });
    expect(result.code, result.stderr).toBe(0);
    const report = (result.messages as unknown as Report[])[0]!;
    // The agent retried each 503 once: two attempts per call, not 3 × 3.
    expect(report.viaHttp).toEqual({ status: 200, body: 'ok' });
    expect(report.viaFetch).toEqual({ status: 200, body: 'ok' });
    expect(rig.upstream.requests.map(r => r.url)).toEqual(['/http', '/http', '/fetch', '/fetch']);
    const CLIENT = 2;
    const httpClient = report.httpSpans.filter((s: Span) => s.kind === CLIENT);
    expect(httpClient).toHaveLength(2);
    expect(httpClient.every((s: Span) => s.scope === '@opentelemetry/instrumentation-http')).toBe(
      true,
    );
    const fetchClient = report.fetchSpans.filter((s: Span) => s.kind === CLIENT);
    expect(fetchClient.map((s: Span) => s.status)).toEqual([503, 200]);
  });
});
