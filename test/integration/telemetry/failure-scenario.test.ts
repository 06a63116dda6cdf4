import { afterEach, describe, expect, it } from 'vitest';
import type { ReceivedSpan } from '../../support/otlp-receiver';
import {
  SPAN_KIND,
  TelemetryApp,
  baldurSpans,
  clientSpans,
  sleep,
  startTelemetryRig,
  type TelemetryRig,
  type AppResult,
} from './harness';

/**
 * A real agent process with Baldur's own SDK, exporting OTLP/HTTP to a local
 * receiver, through a failure scenario: a retry that recovers, an attempt
 * timeout, a breaker that opens, a rejection, a half-open probe that closes it.
 */
describe('telemetry through a failure scenario (Baldur owns the SDK)', () => {
  let rig: TelemetryRig | undefined;

  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
  });

  it('exports the baldur spans, client spans and metrics (http/json)', async () => {
    rig = await startTelemetryRig();
    const { upstream, receiver } = rig;
    const app = await TelemetryApp.start({
      app: 'apps/telemetry-app.cjs',
      env: rig.env({ BALDUR_SERVICE_NAME: 'telemetry-test' }),
    });
    const url = upstream.url;
    const dependency = `http:127.0.0.1:${upstream.port}`;

    // A: a 503, retried, then 200.
    upstream.enqueue({ status: 503 });
    const a = await app.call({ op: 'get', url: `${url}/a`, parent: true });
    expect(a.status).toBe(200);

    // B: the first attempt times out, the retry gets a 503: two failures open the breaker.
    upstream.enqueue({ hang: true });
    upstream.enqueue({ status: 503 });
    const b = await app.call({ op: 'get', url: `${url}/b`, parent: true });
    expect(b.status).toBe(503);

    // C: rejected while open, no request sent.
    const c = await app.call({ op: 'get', url: `${url}/c`, parent: true });
    expect(c.error).toBe('BALDUR_CIRCUIT_OPEN');

    // D: after the recovery timeout, one probe succeeds and closes the breaker.
    await sleep(400);
    const d = await app.call({ op: 'get', url: `${url}/d`, parent: true });
    expect(d.status).toBe(200);

    // E: fetch, retried once.
    upstream.enqueue({ status: 503 });
    const e = await app.call({ op: 'fetch', url: `${url}/e`, parent: true });
    expect(e.status).toBe(200);

    // A successful first attempt adds no span of its own.
    const f = await app.call({ op: 'get', url: `${url}/f`, parent: true });
    expect(f.status).toBe(200);

    const exited = await app.exit();
    expect(exited.code, exited.stderr).toBe(0);
    expect(upstream.requests.map(r => r.url)).toEqual([
      '/a',
      '/a',
      '/b',
      '/b',
      '/d',
      '/e',
      '/e',
      '/f',
    ]);

    const traceOf = (result: AppResult): ReceivedSpan[] =>
      receiver.spans.filter(s => s.traceId === result.traceId);
    const spanOf = (result: AppResult): ReceivedSpan => {
      const spans = baldurSpans(traceOf(result));
      expect(spans).toHaveLength(1);
      return spans[0]!;
    };
    await receiver.waitFor(
      () => (baldurSpans(receiver.spans).length >= 5 ? true : undefined),
      20_000,
      'five baldur spans',
    );
    expect(baldurSpans(traceOf(f))).toHaveLength(0);

    // A: retried, succeeded.
    const spanA = spanOf(a);
    expect(spanA.kind).toBe(SPAN_KIND.INTERNAL);
    expect(spanA.attributes).toMatchObject({
      'baldur.dependency': dependency,
      'baldur.outcome': 'success',
      'baldur.policy': 'retry',
      'baldur.attempts': 2,
      'baldur.circuit_breaker.state': 'closed',
    });
    expect(spanA.status.code).toBe(0);
    expect(spanA.events.map(event => event.name)).toEqual(['baldur.retry']);
    expect(spanA.events[0]!.attributes).toMatchObject({
      'baldur.retry.result': 'scheduled',
      'baldur.attempt': 1,
      'baldur.delay_ms': 10,
    });
    expect(spanA.startMs).toBeLessThanOrEqual(spanA.events[0]!.timeMs);
    expect(spanA.events[0]!.timeMs).toBeLessThanOrEqual(spanA.endMs);
    // Each attempt is a client span of instrumentation-http; the resend carries resend_count.
    const clientA = clientSpans(traceOf(a));
    expect(clientA).toHaveLength(2);
    expect(clientA.map(s => s.attributes['http.request.resend_count']).sort()).toEqual([
      1,
      undefined,
    ]);
    expect(clientA.every(s => s.scope === '@opentelemetry/instrumentation-http')).toBe(true);
    const appSpanA = traceOf(a).find(s => s.name === 'app-operation')!;
    expect(appSpanA.spanId).toBe(a.spanId);
    // node:http: the application's own request is the first attempt; its client span encloses the call.
    const firstA = clientA.find(s => s.attributes['http.request.resend_count'] === undefined)!;
    expect(firstA.parentSpanId).toBe(a.spanId);
    expect(spanA.parentSpanId).toBe(firstA.spanId);

    // B: attempt timeout, retry, breaker opened, retries exhausted.
    const spanB = spanOf(b);
    expect(spanB.attributes).toMatchObject({
      'baldur.outcome': 'failure',
      'baldur.policy': 'retry',
      'baldur.attempts': 2,
    });
    expect(spanB.status.code).toBe(2);
    expect(spanB.events.map(event => event.name)).toEqual([
      'baldur.timeout',
      'baldur.retry',
      'baldur.circuit_breaker.state_change',
      'baldur.retry',
    ]);
    expect(spanB.events[0]!.attributes).toMatchObject({
      'baldur.policy': 'attempt_timeout',
      'baldur.timeout_ms': 1000,
      'baldur.attempt': 1,
    });
    expect(spanB.events[1]!.attributes).toMatchObject({
      'baldur.retry.result': 'scheduled',
      'error.type': 'BALDUR_TIMEOUT',
    });
    expect(spanB.events[2]!.attributes).toEqual({
      'baldur.from': 'closed',
      'baldur.to': 'open',
      'baldur.reason': 'consecutive_failures',
    });
    expect(spanB.events[3]!.attributes).toMatchObject({ 'baldur.retry.result': 'exhausted' });

    // C: rejected by the open breaker.
    const spanC = spanOf(c);
    expect(spanC.attributes).toMatchObject({
      'baldur.outcome': 'rejected',
      'baldur.policy': 'circuit_breaker',
      'baldur.circuit_breaker.state': 'open',
      'error.type': 'BALDUR_CIRCUIT_OPEN',
    });
    expect(spanC.status.code).toBe(2);
    expect(spanC.events.map(event => event.name)).toEqual(['baldur.rejected']);
    expect(spanC.events[0]!.attributes).toMatchObject({
      'baldur.reason': 'circuit_open',
      'baldur.policy': 'circuit_breaker',
    });

    // D: the probe: open -> half_open -> closed.
    const spanD = spanOf(d);
    expect(spanD.attributes).toMatchObject({
      'baldur.outcome': 'success',
      'baldur.circuit_breaker.state': 'closed',
    });
    expect(
      spanD.events.map(event => [
        event.name,
        event.attributes['baldur.from'],
        event.attributes['baldur.to'],
      ]),
    ).toEqual([
      ['baldur.circuit_breaker.state_change', 'open', 'half_open'],
      ['baldur.circuit_breaker.state_change', 'half_open', 'closed'],
    ]);

    // E: fetch — the baldur span and the undici client spans are siblings under the app span.
    const spanE = spanOf(e);
    expect(spanE.parentSpanId).toBe(e.spanId);
    const clientE = clientSpans(traceOf(e));
    expect(clientE).toHaveLength(2);
    expect(clientE.every(s => s.scope === '@opentelemetry/instrumentation-undici')).toBe(true);
    expect(clientE.every(s => s.parentSpanId === e.spanId)).toBe(true);
    expect(clientE.map(s => s.attributes['http.request.resend_count']).sort()).toEqual([
      1,
      undefined,
    ]);

    // The resource names the service and the distribution.
    expect(spanA.resource).toMatchObject({
      'service.name': 'telemetry-test',
      'telemetry.distro.name': 'baldur',
    });

    // Metrics: the final export at exit carries the totals.
    const point = (name: string, attributes: Record<string, string>) =>
      receiver.lastPoint(name, { 'baldur.dependency': dependency, ...attributes });
    await receiver.waitFor(
      () => point('baldur.calls', { 'baldur.outcome': 'rejected' }),
      20_000,
      'baldur.calls',
    );
    expect(
      point('baldur.calls', { 'baldur.outcome': 'success', 'baldur.policy': 'retry' })?.value,
    ).toBe(2);
    expect(
      point('baldur.calls', { 'baldur.outcome': 'success', 'baldur.policy': 'none' })?.value,
    ).toBe(2);
    expect(
      point('baldur.calls', { 'baldur.outcome': 'failure', 'baldur.policy': 'retry' })?.value,
    ).toBe(1);
    expect(
      point('baldur.calls', { 'baldur.outcome': 'rejected', 'baldur.policy': 'circuit_breaker' })
        ?.value,
    ).toBe(1);
    expect(
      point('baldur.circuit_breaker.state', { 'baldur.circuit_breaker.state': 'closed' })?.value,
    ).toBe(1);
    expect(
      point('baldur.circuit_breaker.state', { 'baldur.circuit_breaker.state': 'open' })?.value,
    ).toBe(0);
    for (const [from, to] of [
      ['closed', 'open'],
      ['open', 'half_open'],
      ['half_open', 'closed'],
    ]) {
      expect(
        point('baldur.circuit_breaker.transitions', { 'baldur.from': from!, 'baldur.to': to! })
          ?.value,
      ).toBe(1);
    }
    expect(point('baldur.retry.attempts', { 'baldur.retry.result': 'scheduled' })?.value).toBe(3);
    expect(point('baldur.retry.attempts', { 'baldur.retry.result': 'exhausted' })?.value).toBe(1);
    const successes = point('baldur.call.duration', { 'baldur.outcome': 'success' });
    expect(successes?.count).toBe(4);
    expect(successes?.bounds).toEqual([
      0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
    ]);
    expect(successes?.bucketCounts?.reduce((x, y) => x + y, 0)).toBe(4);
    expect(point('baldur.call.duration', { 'baldur.outcome': 'failure' })?.count).toBe(1);
    // The failed call waited for its 1 s attempt timeout.
    expect(point('baldur.call.duration', { 'baldur.outcome': 'failure' })?.sum).toBeGreaterThan(1);
    const calls = receiver.metrics.find(m => m.name === 'baldur.calls')!;
    expect(calls).toMatchObject({
      type: 'sum',
      monotonic: true,
      temporality: 2,
      unit: '{call}',
      scope: 'baldur',
    });
    const duration = receiver.metrics.find(m => m.name === 'baldur.call.duration')!;
    expect(duration).toMatchObject({ type: 'histogram', unit: 's', temporality: 2 });
    const state = receiver.metrics.find(m => m.name === 'baldur.circuit_breaker.state')!;
    expect(state).toMatchObject({ type: 'sum', monotonic: false, unit: '1' });

    // Each transition is one info line.
    const transitions = exited.stderr.split('\n').filter(line => line.includes('circuit breaker'));
    expect(transitions).toEqual([
      `[baldur] info: circuit breaker ${dependency}: closed -> open (consecutive_failures)`,
      `[baldur] info: circuit breaker ${dependency}: open -> half_open (recovery_timeout)`,
      `[baldur] info: circuit breaker ${dependency}: half_open -> closed (probes_succeeded)`,
    ]);
    expect(receiver.errors).toEqual([]);
  });

  it('reaches the receiver over http/protobuf too', async () => {
    rig = await startTelemetryRig();
    const { upstream, receiver } = rig;
    const app = await TelemetryApp.start({
      app: 'apps/telemetry-app.cjs',
      env: rig.env({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }),
    });
    upstream.enqueue({ status: 503 });
    const a = await app.call({ op: 'get', url: `${upstream.url}/a`, parent: true });
    expect(a.status).toBe(200);
    const exited = await app.exit();
    expect(exited.code, exited.stderr).toBe(0);

    await receiver.waitFor(
      () => receiver.lastPoint('baldur.calls', { 'baldur.policy': 'retry' }),
      20_000,
      'baldur.calls over protobuf',
    );
    expect(receiver.requests.length).toBeGreaterThan(0);
    expect(receiver.requests.every(r => r.contentType === 'application/x-protobuf')).toBe(true);
    const [span] = baldurSpans(receiver.spans.filter(s => s.traceId === a.traceId));
    expect(span?.attributes).toMatchObject({
      'baldur.outcome': 'success',
      'baldur.policy': 'retry',
      'baldur.attempts': 2,
    });
    expect(span?.events.map(event => event.name)).toEqual(['baldur.retry']);
    const resent = clientSpans(receiver.spans).filter(s => s.traceId === a.traceId);
    expect(resent.map(s => s.attributes['http.request.resend_count']).sort()).toEqual([
      1,
      undefined,
    ]);
    expect(receiver.lastPoint('baldur.call.duration', { 'baldur.outcome': 'success' })?.count).toBe(
      1,
    );
    expect(receiver.errors).toEqual([]);
  });

  it('BALDUR_OTEL_CLIENT_SPANS=false: the baldur span without the official client spans', async () => {
    rig = await startTelemetryRig();
    const { upstream, receiver } = rig;
    const app = await TelemetryApp.start({
      app: 'apps/telemetry-app.cjs',
      env: rig.env({ BALDUR_OTEL_CLIENT_SPANS: 'false' }),
    });
    upstream.enqueue({ status: 503 });
    const a = await app.call({ op: 'get', url: `${upstream.url}/a`, parent: true });
    expect(a.status).toBe(200);
    const exited = await app.exit();
    expect(exited.code, exited.stderr).toBe(0);
    expect(exited.stderr).toContain('client spans: off');
    await receiver.waitFor(
      () => (baldurSpans(receiver.spans).length > 0 ? true : undefined),
      20_000,
      'the baldur span',
    );
    const trace = receiver.spans.filter(s => s.traceId === a.traceId);
    expect(baldurSpans(trace)).toHaveLength(1);
    expect(clientSpans(trace)).toEqual([]);
  });
});
