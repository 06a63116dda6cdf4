import { SpanStatusCode } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baldurGlobal } from '../../../src/api/global-state';
import type { Disposable } from '../../../src/core/events';
import { protect, setMode } from '../../../src/index';
import { CallSpans, errorType } from '../../../src/telemetry/spans';
import { isolateGlobalState, unique } from '../api/helpers';

/** Spans built from `call.eventful`, recorded by the real SDK into memory. */
describe('the baldur span of a call that met a decision', () => {
  isolateGlobalState();
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let subscription: Disposable | undefined;

  beforeEach(() => {
    const state = baldurGlobal();
    const spans = new CallSpans(
      provider.getTracer('baldur'),
      dependency => state.engine?.find(dependency)?.breaker?.state,
    );
    subscription = state.bus.on('call.eventful', event => spans.record(event));
  });

  afterEach(() => {
    subscription?.dispose();
    exporter.reset();
  });

  const finished = () => exporter.getFinishedSpans();

  it('adds no span on the happy path', async () => {
    // eslint-disable-next-line @typescript-eslint/require-await -- a protected async function
    await protect(unique('happy'), async () => 'ok', { retry: true })();
    expect(finished()).toEqual([]);
  });

  it('covers the call, with one event per decision at the time it was made', async () => {
    const name = unique('fallback');
    const failing = protect(
      name,
      // eslint-disable-next-line @typescript-eslint/require-await -- a protected async function
      async (): Promise<string> => {
        throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
      },
      {
        retry: { maxAttempts: 2, baseDelay: 1, jitter: 0, budget: false },
        deadLetter: true,
        fallback: () => 'cached',
      },
    );
    const started = Date.now();
    await expect(failing()).resolves.toBe('cached');
    const [span] = finished();
    expect(span?.name).toBe('baldur');
    expect(span?.attributes).toEqual({
      'baldur.dependency': name,
      'baldur.outcome': 'fallback',
      'baldur.policy': 'fallback',
      'baldur.attempts': 2,
      'baldur.circuit_breaker.state': 'closed',
      'error.type': 'ECONNREFUSED',
    });
    // A fallback answered: the call did not fail.
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
    expect(span?.events.map(e => [e.name, e.attributes])).toEqual([
      [
        'baldur.retry',
        {
          'baldur.retry.result': 'scheduled',
          'baldur.attempt': 1,
          'baldur.delay_ms': 1,
          'error.type': 'ECONNREFUSED',
        },
      ],
      ['baldur.retry', { 'baldur.retry.result': 'exhausted', 'baldur.attempt': 2 }],
      ['baldur.dead_letter', { 'baldur.dead_letter.id': expect.any(String) }],
      ['baldur.fallback', { 'error.type': 'ECONNREFUSED' }],
    ]);
    const startMs = span!.startTime[0] * 1000 + span!.startTime[1] / 1e6;
    const endMs = span!.endTime[0] * 1000 + span!.endTime[1] / 1e6;
    expect(startMs).toBeGreaterThanOrEqual(started - 1);
    for (const event of span!.events) {
      const atMs = event.time[0] * 1000 + event.time[1] / 1e6;
      expect(atMs).toBeGreaterThanOrEqual(startMs);
      expect(atMs).toBeLessThanOrEqual(endMs);
    }
  });

  it('marks rejections and timeouts as errors; observe mode records what would have happened', async () => {
    const name = unique('limited');
    // eslint-disable-next-line @typescript-eslint/require-await -- a protected async function
    const limited = protect(name, async () => 'ok', { rateLimit: { limit: 1, per: '1h' } });
    await limited();
    await expect(limited()).rejects.toMatchObject({ code: 'BALDUR_RATE_LIMITED' });
    const [rejected] = finished();
    expect(rejected?.attributes).toMatchObject({
      'baldur.outcome': 'rejected',
      'baldur.policy': 'rate_limit',
      'error.type': 'BALDUR_RATE_LIMITED',
    });
    expect(rejected?.status).toMatchObject({ code: SpanStatusCode.ERROR });
    expect(rejected?.status.message).toMatch(/^RateLimitedError: /);
    expect(rejected?.events.map(e => [e.name, e.attributes?.['baldur.reason']])).toEqual([
      ['baldur.rejected', 'rate_limited'],
    ]);

    exporter.reset();
    setMode('observe', 'test');
    await expect(limited()).resolves.toBe('ok');
    const [observed] = finished();
    expect(observed?.attributes['baldur.outcome']).toBe('success');
    expect(observed?.events[0]?.attributes).toMatchObject({
      'baldur.reason': 'rate_limited',
      'baldur.mode': 'observe',
    });
  });

  it('classifies errors with low cardinality', () => {
    expect(errorType(Object.assign(new Error('x'), { code: 'BALDUR_TIMEOUT' }))).toBe(
      'BALDUR_TIMEOUT',
    );
    expect(errorType(new TypeError('x'))).toBe('TypeError');
    expect(errorType({ statusCode: 503 })).toBe('503');
    expect(errorType({ status: 429 })).toBe('429');
    expect(errorType('boom')).toBe('_OTHER');
    expect(errorType(undefined)).toBeUndefined();
  });
});
