import { afterEach, describe, expect, it } from 'vitest';
import { METRIC_LIST } from '../../../src/names/metrics';
import {
  POLICIES,
  TelemetryApp,
  closedPort,
  startTelemetryRig,
  type TelemetryRig,
} from './harness';

/** The Prometheus name the OpenTelemetry JS exporter gives each metric family (verified below). */
export function prometheusFamily(name: string, kind: string): string {
  const base = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  return kind === 'counter' ? `${base}_total` : base;
}

/**
 * `OTEL_METRICS_EXPORTER=prometheus`: Baldur's SDK serves a pull endpoint. A
 * real scrape after a failure scenario shows every metric family under the
 * name the OpenTelemetry JS Prometheus exporter gives it.
 */
describe('Prometheus exporter (Baldur owns the SDK)', () => {
  let rig: TelemetryRig | undefined;

  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
  });

  it('serves every metric family with the expected names and labels', async () => {
    rig = await startTelemetryRig({
      ...POLICIES,
      bulkhead: { maxConcurrent: 10, maxQueue: 10 },
      rateLimit: { limit: 1000, per: '1s' },
      deadLetter: true,
    });
    const port = await closedPort();
    const app = await TelemetryApp.start({
      app: 'apps/telemetry-app.cjs',
      env: rig.env({
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
        OTEL_TRACES_EXPORTER: 'none',
      }),
    });
    await app.decided();
    const { upstream } = rig;
    const dependency = `http:127.0.0.1:${upstream.port}`;
    upstream.enqueue({ status: 503 });
    expect((await app.call({ op: 'get', url: `${upstream.url}/a` })).status).toBe(200);
    // Two attempt timeouts: the breaker opens, and the failed call is captured as a dead letter.
    upstream.enqueue({ hang: true }, 2);
    expect((await app.call({ op: 'get', url: `${upstream.url}/b` })).error).toBe('BALDUR_TIMEOUT');
    expect((await app.call({ op: 'get', url: `${upstream.url}/c` })).error).toBe(
      'BALDUR_CIRCUIT_OPEN',
    );

    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    const exited = await app.exit();
    expect(exited.code, exited.stderr).toBe(0);

    const families = new Map<string, string>();
    for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(match[1]!, match[2]!);
    const sample = (name: string, labels: Record<string, string>): number | undefined => {
      for (const line of text.split('\n')) {
        if (!line.startsWith(`${name}{`)) continue;
        const labelText = line.slice(name.length + 1, line.lastIndexOf('}'));
        if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`)))
          return Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return undefined;
    };
    const dep = { baldur_dependency: dependency };

    // Counters get `_total`; nothing else gets a suffix (no `_seconds`: the JS exporter adds no unit).
    expect(families.get('baldur_calls_total')).toBe('counter');
    expect(families.get('baldur_call_duration')).toBe('histogram');
    expect(families.get('baldur_circuit_breaker_state')).toBe('gauge');
    expect(families.get('baldur_circuit_breaker_transitions_total')).toBe('counter');
    expect(families.get('baldur_retry_attempts_total')).toBe('counter');
    expect(families.get('baldur_rate_limit_decisions_total')).toBe('counter');
    expect(families.get('baldur_bulkhead_active')).toBe('gauge');
    expect(families.get('baldur_bulkhead_queued')).toBe('gauge');
    expect(families.get('baldur_dead_letter_entries')).toBe('gauge');
    for (const metric of METRIC_LIST) {
      if (!families.has(prometheusFamily(metric.name, metric.kind))) {
        // Only the families without a source yet may be missing (no inbound guards, no store timing).
        expect(['baldur.inbound.rejections', 'baldur.store.operation.duration']).toContain(
          metric.name,
        );
      }
    }

    expect(
      sample('baldur_calls_total', { ...dep, baldur_outcome: 'success', baldur_policy: 'retry' }),
    ).toBe(1);
    expect(
      sample('baldur_calls_total', {
        ...dep,
        baldur_outcome: 'timeout',
        baldur_policy: 'attempt_timeout',
      }),
    ).toBe(1);
    expect(
      sample('baldur_calls_total', {
        ...dep,
        baldur_outcome: 'rejected',
        baldur_policy: 'circuit_breaker',
      }),
    ).toBe(1);
    expect(
      sample('baldur_circuit_breaker_state', { ...dep, baldur_circuit_breaker_state: 'open' }),
    ).toBe(1);
    expect(
      sample('baldur_circuit_breaker_state', { ...dep, baldur_circuit_breaker_state: 'closed' }),
    ).toBe(0);
    expect(
      sample('baldur_circuit_breaker_transitions_total', {
        ...dep,
        baldur_from: 'closed',
        baldur_to: 'open',
      }),
    ).toBe(1);
    expect(
      sample('baldur_retry_attempts_total', { ...dep, baldur_retry_result: 'scheduled' }),
    ).toBe(2);
    expect(
      sample('baldur_rate_limit_decisions_total', { ...dep, baldur_rate_limit_result: 'allowed' }),
    ).toBe(3);
    expect(sample('baldur_bulkhead_active', dep)).toBe(0);
    expect(
      sample('baldur_dead_letter_entries', { ...dep, baldur_dead_letter_status: 'pending' }),
    ).toBe(1);
    expect(sample('baldur_call_duration_count', { ...dep, baldur_outcome: 'success' })).toBe(1);
    expect(
      sample('baldur_call_duration_bucket', { ...dep, baldur_outcome: 'success', le: '+Inf' }),
    ).toBe(1);
    expect(
      sample('baldur_call_duration_bucket', { ...dep, baldur_outcome: 'success', le: '10' }),
    ).toBe(1);
    expect(text).toMatch(/^target_info\{/m);
    expect(text).toContain('otel_scope_name="baldur"');
  });
});
