import { baldurGlobal } from '../../src/api/global-state';
import type { DependencyDescriptor } from '../../src/config/match';
import { CircuitOpenError } from '../../src/core/errors';
import type { Pipeline } from '../../src/core/pipeline/pipeline';
import type { Engine } from '../../src/engine/engine';
import { dependencyKey } from '../shared/dependency-key';
import type { AgentContext } from '../shared/types';
import { redisClassifier } from './classify';
import { describeCluster, describeRedis, type RedisOptionsLike } from './dependency';

/**
 * The parts of ioredis objects the instrumentation touches (ioredis 5 and 6
 * share them). Structural on purpose: ioredis is never loaded by the agent.
 */
export interface CommandLike {
  name: string;
  args: unknown[];
  callback?: unknown;
  promise: Promise<unknown>;
  reject(error: unknown): void;
  isSettled?: boolean;
  isReadOnly?: boolean;
  inTransaction?: boolean;
  replyEncoding?: unknown;
  errorStack?: unknown;
  [kGoverned]?: true;
}

interface QueueLike {
  readonly length: number;
  peekAt(index: number): { command?: unknown } | undefined;
  removeOne(index: number): unknown;
}

export interface ClientLike {
  readonly options?: RedisOptionsLike;
  readonly startupNodes?: unknown;
  readonly isCluster?: boolean;
  readonly condition?: { subscriber?: unknown } | null;
  readonly offlineQueue?: QueueLike;
  readonly connectionPool?: { nodes?: { all?: Record<string, ClientLike> } };
  [kState]?: ClientState;
}

/**
 * Marks a Command or Pipeline the agent already governs. ioredis sends one
 * command through `sendCommand` more than once (offline-queue flush, resend
 * after reconnect, a Cluster handing it to a node, MOVED/ASK redirections) and
 * re-enters `Pipeline#exec` on cluster redirections; everything after the first
 * pass goes straight through, so a command meets its policies exactly once.
 */
export const kGoverned = Symbol('baldur.ioredis.governed');
const kState = Symbol('baldur.ioredis.client');

/** What one client needs per command, resolved once and kept on the client object. */
export interface ClientState {
  readonly engine: Engine;
  readonly pipeline: Pipeline;
  /** An attempt or total timeout is configured (then, and only then, commands carry a timeout hook). */
  readonly timed: boolean;
  /** Retries are configured: read-only commands are sent as retry-safe. */
  readonly retries: boolean;
  /** Inside a `multi({ pipeline: false })` transaction on this connection. */
  inMulti: boolean;
}

export class ClientStates {
  private readonly global = baldurGlobal();

  constructor(private readonly context: AgentContext) {}

  /** The client's state, rebuilt only when the engine changed (an app calling `start()`). */
  get(client: ClientLike): ClientState {
    const engine = this.global.engine ?? this.context.engine;
    const state = client[kState];
    if (state !== undefined && state.engine === engine) return state;
    return this.build(client, engine);
  }

  private build(client: ClientLike, engine: Engine): ClientState {
    const descriptor: DependencyDescriptor =
      client.isCluster === true
        ? describeCluster(client.startupNodes)
        : describeRedis(client.options);
    const pipeline = engine.dependency(dependencyKey(descriptor), descriptor, {
      classifier: redisClassifier,
    });
    const options = pipeline.options;
    const state: ClientState = {
      engine,
      pipeline,
      timed: options.attemptTimeoutMs > 0 || options.totalTimeoutMs > 0,
      retries: options.retry !== undefined && options.retry.maxAttempts > 1,
      inMulti: client[kState]?.inMulti ?? false,
    };
    Object.defineProperty(client, kState, { value: state, writable: true, configurable: true });
    return state;
  }
}

/**
 * The breaker-only check for commands that must not be timed, retried or held
 * in a bulkhead (blocking and, in pipelines, pub/sub commands): an open breaker
 * still turns them away; otherwise they pass without taking a probe or feeding
 * the breaker.
 */
export function openCircuitError(state: ClientState): CircuitOpenError | undefined {
  const controls = state.engine.controls;
  const breaker = state.pipeline.breaker;
  if (breaker === undefined || controls.killSwitch || controls.observe) return undefined;
  const current = breaker.state;
  if (current !== 'open' && current !== 'forced_open') return undefined;
  const retryAfterMs = breaker.retryAfterMs();
  return retryAfterMs === undefined || retryAfterMs <= 0
    ? undefined
    : new CircuitOpenError(state.pipeline.name, retryAfterMs, current);
}

/**
 * Take commands that were never written out of ioredis's offline queues (the
 * client's own and, for a Cluster, each node's). A command cut by our timeout
 * while still queued must not run later, when the connection comes back: the
 * app was already told it failed. Returns how many were removed.
 */
export function removeQueued(client: ClientLike, commands: ReadonlySet<unknown>): number {
  let removed = removeFrom(client.offlineQueue, commands);
  const nodes = client.isCluster === true ? client.connectionPool?.nodes?.all : undefined;
  if (nodes !== undefined)
    for (const node of Object.values(nodes)) removed += removeFrom(node.offlineQueue, commands);
  return removed;
}

function removeFrom(queue: QueueLike | undefined, commands: ReadonlySet<unknown>): number {
  if (queue === undefined || typeof queue.peekAt !== 'function') return 0;
  let removed = 0;
  for (let i = queue.length - 1; i >= 0; i--) {
    if (commands.has(queue.peekAt(i)?.command)) {
      queue.removeOne(i);
      removed++;
    }
  }
  return removed;
}

export function noop(): void {}
