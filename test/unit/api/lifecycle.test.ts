import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CircuitOpenError,
  ConfigError,
  deadLetters,
  protect,
  shutdown,
  start,
  status,
} from '../../../src/index';
import { MemoryStore } from '../../../src/store/memory/memory-store';
import { FlakyError, isolateGlobalState, rejectionOf, settle, unique } from './helpers';

isolateGlobalState();

afterEach(() => {
  vi.restoreAllMocks();
});

const failing = (): never => {
  throw new FlakyError('down');
};

describe('start()', () => {
  it('applies its configuration to wrappers created before it', async () => {
    const name = unique('early');
    const call = protect(name, failing);
    start({ defaults: { circuitBreaker: { failureThreshold: 1 } } });
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(CircuitOpenError);
  });

  it('applies to wrappers that already ran on the built-in defaults', async () => {
    const name = unique('ran-before');
    const call = protect(name, failing);
    // Built-in defaults: five consecutive failures open the breaker, so one does not.
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(FlakyError);
    start({ defaults: { circuitBreaker: { failureThreshold: 1 } } });
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(CircuitOpenError);
  });

  it('applies a dependencies[] entry matching the protect() name', async () => {
    const name = unique('matched');
    start({ dependencies: [{ match: { name }, circuitBreaker: { failureThreshold: 1 } }] });
    const matched = protect(name, failing);
    const other = protect(unique('unmatched'), failing);
    await rejectionOf(matched());
    expect(await rejectionOf(matched())).toBeInstanceOf(CircuitOpenError);
    await rejectionOf(other());
    expect(await rejectionOf(other())).toBeInstanceOf(FlakyError);
  });

  it('lets protect() options override the configuration', async () => {
    start({ defaults: { circuitBreaker: { failureThreshold: 1 } } });
    const call = protect(unique('override'), failing, { circuitBreaker: false });
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(FlakyError);
  });

  it('throws a ConfigError synchronously for bad configuration and keeps the running one', async () => {
    start({ defaults: { circuitBreaker: { failureThreshold: 1 } } });
    let thrown: unknown;
    try {
      start({ mode: 'loud' } as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).message).toBe(
      'Invalid Baldur configuration: mode: "loud" is not one of "enforce", "observe" [start() options]',
    );
    const call = protect(unique('after-bad-start'), failing);
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(CircuitOpenError);
  });

  it('starts over with fresh state when called again', async () => {
    const call = protect(unique('restart'), failing, { circuitBreaker: { failureThreshold: 1 } });
    start();
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(CircuitOpenError);
    start();
    expect(await rejectionOf(call())).toBeInstanceOf(FlakyError);
  });

  it('rejects calls whose options conflict with the new configuration, never running them', async () => {
    const name = unique('conflict');
    const fn = vi.fn(() => 'ran');
    const call = protect(name, fn, { timeout: '5s' });
    expect(await call()).toBe('ran');
    start({ defaults: { totalTimeout: '1s' } });
    for (let i = 0; i < 2; i++) {
      const pending = call();
      expect(pending).toBeInstanceOf(Promise);
      const error = await rejectionOf(pending);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toBe(
        `Invalid Baldur configuration: protect("${name}").timeout: per-attempt timeout (5000 ms) exceeds totalTimeout (1000 ms)`,
      );
    }
    expect(fn).toHaveBeenCalledTimes(1);
    start({ defaults: { totalTimeout: '10s' } });
    expect(await call()).toBe('ran');
  });

  it('sets the mode from its options', () => {
    start({ mode: 'observe' });
    expect(status().mode).toBe('observe');
  });

  it('engages the kill switch with enabled: false', async () => {
    start({ enabled: false, defaults: { circuitBreaker: { failureThreshold: 1 } } });
    expect(status()).toMatchObject({
      killSwitch: true,
      controlReason: 'disabled by configuration (enabled: false)',
    });
    const fn = vi.fn(failing);
    const call = protect(unique('disabled'), fn);
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(FlakyError);
    expect(fn).toHaveBeenCalledTimes(2);
  });
});

describe('shutdown()', () => {
  it('waits for dead letters still being written', async () => {
    const original = MemoryStore.prototype.addRecord;
    let release!: () => void;
    const gate = new Promise<void>(resolve => (release = resolve));
    const written: string[] = [];
    vi.spyOn(MemoryStore.prototype, 'addRecord').mockImplementation(async function (
      this: MemoryStore,
      ...args: Parameters<MemoryStore['addRecord']>
    ) {
      await gate;
      await original.apply(this, args);
      written.push(args[1]);
    });
    const closed = vi.spyOn(MemoryStore.prototype, 'close');

    const call = protect(unique('slow-store'), failing, { deadLetter: true });
    await rejectionOf(call());
    let finished = false;
    const done = shutdown().then(() => (finished = true));
    await settle();
    expect(finished).toBe(false);
    expect(closed).not.toHaveBeenCalled();
    release();
    await done;
    expect(written).toHaveLength(1);
    expect(closed).toHaveBeenCalledTimes(1);
  });

  it('returns to the built-in defaults for later calls', async () => {
    start({ defaults: { circuitBreaker: { failureThreshold: 1 } } });
    const call = protect(unique('after-shutdown'), failing);
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(CircuitOpenError);
    await shutdown();
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(FlakyError);
    expect((await deadLetters.list()).entries).toEqual([]);
  });

  it('can be called repeatedly, and before anything started', async () => {
    await shutdown();
    await shutdown();
    start();
    await Promise.all([shutdown(), shutdown()]);
    expect(status().pipelines).toEqual([]);
  });
});
