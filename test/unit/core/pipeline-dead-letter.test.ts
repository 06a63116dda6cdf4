import { describe, expect, it } from 'vitest';
import { CircuitOpenError } from '../../../src/core/errors';
import {
  DeadLetterReplayError,
  type ReplayHandler,
} from '../../../src/core/policies/dead-letter/dead-letter-queue';
import { REDACTED } from '../../../src/core/policies/dead-letter/snapshot';
import { deferred, harness, type Harness } from './pipeline-harness';

/** Fail one call through the pipeline and return the id of its dead letter. */
async function captureOne(h: Harness, args: unknown[], error = new Error('gateway down')) {
  const call = h.call(() => Promise.reject(error), args);
  await h.flush();
  expect(call.error).toBe(error);
  await h.deadLetters.flush();
  const captured = h.ofType('dead_letter.captured');
  return captured[captured.length - 1]!.id;
}

const only =
  (handler: ReplayHandler) =>
  (dependency: string): ReplayHandler | undefined =>
    dependency === 'dep' ? handler : undefined;

describe('dead letters', () => {
  it('captures a failed call with its arguments redacted', async () => {
    const h = harness({ deadLetter: true });
    const call = h.call(
      () => Promise.reject(Object.assign(new Error('card declined'), { code: 'E_DECLINED' })),
      [{ orderId: 7, card: { number: '4242', Password: 'hunter2' }, apiKey: 'k' }, 'EUR'],
      { retrySafe: true, trace: () => ({ traceId: 't'.repeat(32), spanId: 's'.repeat(16) }) },
    );
    await h.flush();
    expect((call.error as Error).message).toBe('card declined');
    await h.deadLetters.flush();
    const { entries } = await h.deadLetters.list();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      dependency: 'dep',
      status: 'pending',
      reason: 'failure',
      args: [{ orderId: 7, card: { number: '4242', Password: REDACTED }, apiKey: REDACTED }, 'EUR'],
      error: { name: 'Error', message: 'card declined', code: 'E_DECLINED' },
      replayAttempts: 0,
      traceId: 't'.repeat(32),
      spanId: 's'.repeat(16),
      createdAtWallMs: h.clock.wallMs(),
    });
  });

  it('captures after the last retry only, once per call', async () => {
    const h = harness({
      deadLetter: true,
      retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 10, jitter: 0, budget: false },
    });
    h.call(() => Promise.reject(new Error('down')), ['x']);
    await h.advance(100);
    await h.deadLetters.flush();
    expect(await h.deadLetters.count()).toBe(1);
  });

  it('does not capture successes, nor rejections unless capture is "all"', async () => {
    const failures = harness({ deadLetter: { capture: 'failures' }, circuitBreaker: {} });
    failures.pipeline.breaker!.forceOpen();
    failures.call(() => 'x', ['rejected']);
    await failures.flush();
    await failures.deadLetters.flush();
    expect(await failures.deadLetters.count()).toBe(0);

    const all = harness({ deadLetter: { capture: 'all' }, circuitBreaker: {} });
    all.call(() => 'fine', ['ok']);
    all.pipeline.breaker!.forceOpen();
    const rejected = all.call(() => 'x', ['rejected']);
    await all.flush();
    expect(rejected.error).toBeInstanceOf(CircuitOpenError);
    await all.deadLetters.flush();
    const { entries } = await all.deadLetters.list();
    expect(entries).toMatchObject([
      {
        reason: 'rejected',
        args: ['rejected'],
        error: { name: 'CircuitOpenError', code: 'BALDUR_CIRCUIT_OPEN' },
      },
    ]);
  });

  it('replays an entry through its handler and marks it replayed', async () => {
    const h = harness({ deadLetter: true });
    const id = await captureOne(h, ['order-1', 2]);
    const seen: unknown[] = [];
    const result = await h.deadLetters.replay(
      id,
      only(args => {
        seen.push(args);
        return 'charged';
      }),
    );
    expect(seen).toEqual([['order-1', 2]]);
    expect(result).toMatchObject({ ok: true, value: 'charged' });
    expect(await h.deadLetters.get(id)).toMatchObject({ status: 'replayed', replayAttempts: 1 });
    expect(h.ofType('dead_letter.replayed')).toMatchObject([{ id, ok: true, dependency: 'dep' }]);
    await expect(
      h.deadLetters.replay(
        id,
        only(() => 'again'),
      ),
    ).rejects.toMatchObject({
      reason: 'already_replayed',
    });
  });

  it('a replay through the pipeline that fails marks the entry failed without capturing a new one', async () => {
    const h = harness({ deadLetter: true });
    const id = await captureOne(h, ['order-2']);
    const replayThroughPipeline: ReplayHandler = args =>
      h.pipeline.execute(() => Promise.reject(new Error('still down')), undefined, args, {
        retrySafe: true,
        replay: true,
      });
    const result = await h.deadLetters.replay(id, only(replayThroughPipeline));
    expect(result.ok).toBe(false);
    await h.deadLetters.flush();
    expect(await h.deadLetters.count()).toBe(1);
    expect(await h.deadLetters.get(id)).toMatchObject({
      status: 'failed',
      replayAttempts: 1,
      lastReplayError: 'still down',
      lastReplayAtWallMs: h.clock.wallMs(),
    });
    // A failed entry may be replayed again.
    const retried = await h.deadLetters.replay(
      id,
      only(() => 'ok now'),
    );
    expect(retried.ok).toBe(true);
    expect(await h.deadLetters.get(id)).toMatchObject({ status: 'replayed', replayAttempts: 2 });
  });

  it('concurrent replays: exactly one claims the entry', async () => {
    const h = harness({ deadLetter: true });
    const id = await captureOne(h, ['order-3']);
    const handler = deferred();
    const replays = [1, 2, 3].map(() =>
      h.deadLetters
        .replay(
          id,
          only(args => handler.fn(...args)),
        )
        .then(
          result => ({ result }),
          (error: unknown) => ({ error }),
        ),
    );
    await h.flush();
    expect(handler.calls).toHaveLength(1);
    const entry = await h.deadLetters.get(id);
    expect(entry?.status).toBe('replaying');
    handler.calls[0]!.resolve('done');
    const outcomes = await Promise.all(replays);
    const busy = outcomes.filter(
      o => 'error' in o && o.error instanceof DeadLetterReplayError && o.error.reason === 'busy',
    );
    expect(busy).toHaveLength(2);
    expect(outcomes.filter(o => 'result' in o)).toHaveLength(1);
    expect(await h.deadLetters.get(id)).toMatchObject({ status: 'replayed', replayAttempts: 1 });
  });

  it('refuses entries it cannot replay', async () => {
    const h = harness({ deadLetter: true });
    const big = await captureOne(h, ['x'.repeat(10_000)]);
    const normal = await captureOne(h, ['small']);
    await expect(
      h.deadLetters.replay(
        big,
        only(() => 1),
      ),
    ).rejects.toMatchObject({
      reason: 'truncated',
    });
    expect(await h.deadLetters.get(big)).toMatchObject({ args: undefined, argsBytes: 10_004 });
    await expect(h.deadLetters.replay(normal, () => undefined)).rejects.toMatchObject({
      reason: 'no_handler',
    });
    await expect(
      h.deadLetters.replay(
        'nope',
        only(() => 1),
      ),
    ).rejects.toMatchObject({
      reason: 'not_found',
    });
    // Refusals leave the entry as it was.
    expect(await h.deadLetters.get(normal)).toMatchObject({ status: 'pending', replayAttempts: 0 });
  });
});
