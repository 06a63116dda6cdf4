import { randomUUID } from 'node:crypto';
import { afterEach, expect } from 'vitest';
import { shutdown } from '../../../src/index';

/**
 * The library keeps its engine on globalThis; every test starts from scratch.
 * Names are unique per test because replay registrations outlive engines.
 */
export function isolateGlobalState(): void {
  afterEach(async () => {
    await shutdown();
  });
}

const run = randomUUID().slice(0, 8);
let sequence = 0;

/** A protect() name no other test uses. */
export function unique(label: string): string {
  return `${label}-${run}-${++sequence}`;
}

/** The rejection reason of `promise` (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    value => {
      expect.fail(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

/** Let queued promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

export class FlakyError extends Error {
  override readonly name = 'FlakyError';
}
