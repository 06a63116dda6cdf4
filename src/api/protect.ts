import type { Outcome, Verdict } from '../core/outcome';
import { defaultClassifier, type Classifier } from '../core/outcome';
import type { Pipeline } from '../core/pipeline/pipeline';
import { IDEMPOTENCY_DEFAULTS } from '../core/policies/idempotency/options';
import { ConfigError } from '../config/config-error';
import { parseDuration } from '../config/duration';
import { findDependency } from '../config/match';
import { resolvePipelineOptions, type PipelineExtras } from '../config/policies';
import { ParseContext, INVALID } from '../config/schema-dsl';
import { policySchema, type PolicyInput, type PolicyOptions } from '../config/schema';
import type { Engine } from '../engine/engine';
import { baldurGlobal, currentEngine } from './global-state';

export interface ProtectOptions<A extends unknown[] = unknown[], R = unknown> extends Omit<
  PolicyOptions,
  'retry'
> {
  /**
   * Retry settings, or `true` for the defaults. protect() never retries unless
   * asked here or by a `dependencies[]` entry matching the name: only you know
   * whether the function is safe to repeat.
   */
  readonly retry?: PolicyOptions['retry'] | true;
  /** Value to use when the call throws (Baldur rejections included). */
  readonly fallback?: (error: unknown, ...args: A) => R | Awaited<R> | Promise<Awaited<R>>;
  /** Run each distinct key at most once; duplicates get the stored result. */
  readonly idempotency?: {
    readonly key: (...args: A) => string | undefined;
    /** How long a completed result is remembered (default 24h). */
    readonly ttl?: string | number;
    /** How long a claim may run before another caller may take over (default 1m). */
    readonly executionTtl?: string | number;
  };
  /** Which failed outcomes to retry (errors and returned values alike). */
  readonly retryIf?: (outcome: Outcome) => boolean;
  /** Which outcomes count as failures; the default counts every thrown error except an AbortError. */
  readonly isFailure?: (outcome: Outcome) => boolean;
  /** Append an AbortSignal to the arguments, aborted when a timeout fires. */
  readonly signal?: boolean;
}

export type Protected<A extends unknown[], R> = (...args: A) => Promise<Awaited<R>>;

/**
 * Wrap `fn` in the resilience pipeline named `name`. Options are validated
 * now (a `ConfigError` names the bad key); the pipeline is built on the first
 * call, from the configuration current at that time, and shared by every
 * protect() with the same name.
 */
export function protect<A extends unknown[], R>(
  name: string,
  fn: (...args: A) => R,
  options: ProtectOptions<A, R> = {},
): Protected<A, R> {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new ConfigError([
      {
        path: 'name',
        value: name,
        problem: 'protect() needs a non-empty name',
        source: 'protect()',
      },
    ]);
  }
  if (typeof fn !== 'function') {
    throw new ConfigError([
      { path: 'fn', value: fn, problem: 'protect() needs a function to wrap', source: 'protect()' },
    ]);
  }
  const layer = validatePolicies(name, options);
  const extras = buildExtras(options);
  // Cross-field checks now, so mistakes surface at definition time, not on a call.
  resolvePipelineOptions(name, [layer], extras, `protect("${name}")`);

  let engine: Engine | undefined;
  let pipeline: Pipeline | undefined;
  const pipelineOf = (current: Engine): Pipeline => {
    const built = current.pipeline(name, () => {
      const entry = findDependency(current.config.dependencies, { name });
      const retryEnabled = layer.retry !== undefined || entry?.retry !== undefined;
      return resolvePipelineOptions(
        name,
        [current.config.defaults, entry, layer],
        { ...extras, retryEnabled },
        `protect("${name}")`,
      );
    });
    // Only once built: options that conflict with the running configuration must not stick.
    engine = current;
    pipeline = built;
    return built;
  };

  const callee = fn as unknown as (this: unknown, ...args: never[]) => unknown;
  baldurGlobal().defaultReplays.set(name, args => {
    const current = currentEngine();
    return pipelineOf(current).execute(callee, undefined, args, { retrySafe: true, replay: true });
  });

  const wrapped = function (this: unknown, ...args: A): Promise<Awaited<R>> {
    const current = currentEngine();
    let active: Pipeline;
    try {
      active = current === engine ? pipeline! : pipelineOf(current);
    } catch (error) {
      // These options conflict with the running configuration: reject, never throw synchronously.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a ConfigError, passed on as is
      return Promise.reject(error);
    }
    return active.execute(callee, this, args) as Promise<Awaited<R>>;
  };
  Object.defineProperty(wrapped, 'name', { value: fn.name || name });
  return wrapped;
}

function validatePolicies<A extends unknown[], R>(
  name: string,
  options: ProtectOptions<A, R>,
): PolicyInput {
  const {
    fallback: _f,
    idempotency: _i,
    retryIf: _r,
    isFailure: _c,
    signal: _s,
    ...policies
  } = options;
  const input = policies.retry === true ? { ...policies, retry: {} } : policies;
  const ctx = new ParseContext(() => `protect("${name}") options`);
  const parsed = policySchema.parse(input, '', ctx);
  if (parsed === INVALID || ctx.issues.length > 0) throw new ConfigError(ctx.issues);
  return parsed;
}

function buildExtras<A extends unknown[], R>(options: ProtectOptions<A, R>): PipelineExtras {
  const problems: { path: string; value: unknown }[] = [];
  for (const key of ['fallback', 'retryIf', 'isFailure'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'function')
      problems.push({ path: key, value: options[key] });
  }
  const idempotency = options.idempotency;
  if (idempotency !== undefined && typeof idempotency.key !== 'function') {
    problems.push({ path: 'idempotency.key', value: idempotency.key });
  }
  if (problems.length > 0) {
    throw new ConfigError(
      problems.map(p => ({ ...p, problem: 'must be a function', source: 'protect() options' })),
    );
  }
  const ttlMs = durationOption('idempotency.ttl', idempotency?.ttl, IDEMPOTENCY_DEFAULTS.ttlMs);
  const executionTtlMs = durationOption(
    'idempotency.executionTtl',
    idempotency?.executionTtl,
    IDEMPOTENCY_DEFAULTS.executionTtlMs,
  );
  const fallback = options.fallback;
  return {
    classifier:
      options.isFailure === undefined ? defaultClassifier : classifierFrom(options.isFailure),
    fallback: fallback === undefined ? undefined : (error, args) => fallback(error, ...(args as A)),
    idempotency:
      idempotency === undefined
        ? undefined
        : {
            key: args => idempotency.key(...(args as A)),
            ttlMs,
            executionTtlMs,
            maxResultBytes: IDEMPOTENCY_DEFAULTS.maxResultBytes,
          },
    retryIf: options.retryIf,
    passSignal: options.signal === true,
  };
}

function durationOption(
  path: string,
  value: string | number | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) {
    throw new ConfigError([
      {
        path,
        value,
        problem: `${JSON.stringify(value)} is not a positive duration (e.g. "30s")`,
        source: 'protect() options',
      },
    ]);
  }
  return ms;
}

function classifierFrom(isFailure: (outcome: Outcome) => boolean): Classifier {
  const verdict = (outcome: Outcome): Verdict => (isFailure(outcome) ? 'failure' : 'success');
  return {
    classifyResult: value => verdict({ ok: true, value }),
    classifyError: error => verdict({ ok: false, error }),
    retryAfterMs: (outcome, isError, nowWallMs) =>
      defaultClassifier.retryAfterMs(outcome, isError, nowWallMs),
  };
}
