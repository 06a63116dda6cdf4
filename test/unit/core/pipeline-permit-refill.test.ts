import { describe, expect, it } from 'vitest';
import { Pipeline } from '../../../src/core/pipeline/pipeline';
import { RateLimitedError } from '../../../src/core/errors';
import {
  NEEDS_REFILL,
  NO_PERMIT,
  type PermitSource,
} from '../../../src/core/policies/rate-limit/gcra';
import type { RateLimitOptions } from '../../../src/core/policies/rate-limit/options';
import { harness, track } from './pipeline-harness';

/** A permit source whose refills the test answers by hand. */
class ManualSource implements PermitSource {
  retryAfterMs = 250;
  syncAnswer = NEEDS_REFILL;
  readonly refills: ((answer: number) => void)[] = [];
  constructor(readonly options: RateLimitOptions) {}
  acquire(): number {
    return this.syncAnswer;
  }
  acquireAsync(): Promise<number> {
    return new Promise(resolve => this.refills.push(resolve));
  }
}

function setup() {
  const h = harness({ rateLimit: { limit: 10 } });
  let source: ManualSource | undefined;
  const pipeline = new Pipeline(h.pipeline.options, {
    ...h.services,
    createPermitSource: (_name, options) => (source = new ManualSource(options.rateLimit!)),
  });
  return { h, pipeline, source: source! };
}

describe('Pipeline with an asynchronous permit source (NEEDS_REFILL)', () => {
  it('waits for the refill, then calls', async () => {
    const { h, pipeline, source } = setup();
    let called = 0;
    const call = track(pipeline.execute(() => ++called, undefined, []));
    await h.flush();
    expect(called).toBe(0);
    expect(source.refills).toHaveLength(1);
    source.refills[0]!(0);
    await h.flush();
    expect(call.ok).toBe(true);
    expect(called).toBe(1);
    expect(pipeline.status().rateLimit?.allowed).toBe(1);
  });

  it('rejects with RateLimitedError when the refill finds no permit', async () => {
    const { h, pipeline, source } = setup();
    let called = 0;
    const call = track(pipeline.execute(() => ++called, undefined, []));
    await h.flush();
    source.refills[0]!(NO_PERMIT);
    await h.flush();
    expect(call.error).toBeInstanceOf(RateLimitedError);
    expect((call.error as RateLimitedError).retryAfterMs).toBe(250);
    expect(called).toBe(0);
  });

  it('keeps the synchronous answer as the fast path (no refill asked)', async () => {
    const { h, pipeline, source } = setup();
    source.syncAnswer = 0;
    const call = track(pipeline.execute(() => 1, undefined, []));
    await h.flush();
    expect(call.ok).toBe(true);
    expect(source.refills).toHaveLength(0);
  });

  it('observe mode does not wait for the refill', async () => {
    const { h, pipeline, source } = setup();
    h.controls.update({ mode: 'observe' }, 0);
    let called = 0;
    const call = track(pipeline.execute(() => ++called, undefined, []));
    await h.flush();
    expect(called).toBe(1);
    expect(call.ok).toBe(true);
    expect(source.refills).toHaveLength(1); // started in the background
  });
});
