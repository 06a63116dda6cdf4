import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { systemClock, type Clock } from '../core/clock';
import { setRejectionStackTraces } from '../core/errors';
import { Deadlines } from '../core/deadlines';
import { EventBus } from '../core/events';
import { Controls, type Mode } from '../core/pipeline/controls';
import type { PipelineOptions } from '../core/pipeline/options';
import { Pipeline, type PipelineServices } from '../core/pipeline/pipeline';
import type { DurationSinkSlot } from '../core/pipeline/stats';
import type { PipelineStatus } from '../core/pipeline/status';
import {
  DeadLetterQueue,
  type ListOptions,
  type ListedDeadLetters,
  type ReplayHandler,
  type ReplayResult,
} from '../core/policies/dead-letter/dead-letter-queue';
import type { DeadLetterEntry } from '../core/policies/dead-letter/entry';
import { IdempotencyGate } from '../core/policies/idempotency/idempotency-gate';
import type { StateStore, StoreKind } from '../core/store';
import type { StoreHealth } from '../store/resilient-store';
import type { BaldurConfig } from '../config/load';
import { findDependencyIndex, type DependencyDescriptor } from '../config/match';
import { resolvePipelineOptions, type PipelineExtras } from '../config/policies';
import { createLogger, type Logger } from '../log';
import { MemoryStore } from '../store/memory/memory-store';
import type { Fleet, FleetParts } from '../fleet/fleet';
import type { InstanceSnapshot } from '../fleet/records';
import { describeInstance } from '../fleet/snapshots';

export interface InstanceInfo {
  readonly id: string;
  readonly serviceName: string | undefined;
  readonly hostname: string;
  readonly pid: number;
  readonly startedAtWallMs: number;
}

export interface EngineStatus {
  readonly instance: InstanceInfo;
  readonly mode: Mode;
  readonly killSwitch: boolean;
  readonly controlReason: string | undefined;
  /** The store's kind and, for a shared store, its health (availability, outbox). */
  readonly store: { readonly kind: StoreKind; readonly health?: StoreHealth };
  readonly pipelines: readonly PipelineStatus[];
}

export interface EngineOptions {
  readonly config: BaldurConfig;
  readonly clock?: Clock;
  /** Shared state; defaults to a bounded in-process store. */
  readonly store?: StateStore;
  readonly random?: () => number;
  readonly logger?: Logger;
  /** Event bus to publish on; the library shares one across engine restarts so subscriptions survive start(). */
  readonly bus?: EventBus;
  /** Record per-call durations (on when metrics are exported). */
  readonly measureDurations?: boolean;
  /** Where measured durations also go (filled by the telemetry layer when it reports through an SDK it does not own). */
  readonly durationSink?: DurationSinkSlot;
  readonly instanceId?: string;
  readonly createPermitSource?: PipelineServices['createPermitSource'];
  /**
   * Builds the fleet layer that shares breakers, rate limits, cooldowns, the
   * kill switch and status through the store (src/fleet: `createFleet`). Given
   * by whoever chose a shared store, so memory mode never loads that code.
   */
  readonly fleet?: ((parts: FleetParts) => Fleet) | undefined;
}

/** Key used for dependencies beyond the cardinality cap. */
export const OVERFLOW_DEPENDENCY = 'other';

/**
 * The composition root shared by the library API and the agent: one clock, one
 * event bus, one store, and a registry of pipelines keyed by dependency or
 * protected-function name. Pipelines are built lazily on first use.
 */
export class Engine {
  readonly config: BaldurConfig;
  readonly clock: Clock;
  readonly deadlines: Deadlines;
  readonly bus: EventBus;
  readonly controls = new Controls();
  readonly store: StateStore;
  readonly deadLetters: DeadLetterQueue;
  readonly logger: Logger;
  readonly instance: InstanceInfo;
  /** The fleet layer (a shared store); undefined when this process decides alone. */
  readonly fleet: Fleet | undefined;
  private readonly idempotency: IdempotencyGate;
  private readonly services: PipelineServices;
  private readonly pipelines = new Map<string, Pipeline>();
  private dependencyCount = 0;
  private closed = false;

  constructor(options: EngineOptions) {
    this.config = options.config;
    setRejectionStackTraces(options.config.errorStackTraces);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? createLogger(options.config.logLevel);
    this.bus =
      options.bus ??
      new EventBus(error =>
        this.logger.once('event-listener', 'error', 'an event listener threw', error),
      );
    this.deadlines = new Deadlines(this.clock);
    this.store = options.store ?? new MemoryStore({ clock: this.clock });
    this.instance = Object.freeze({
      id: options.instanceId ?? randomBytes(5).toString('hex'),
      serviceName: options.config.serviceName,
      hostname: hostname(),
      pid: process.pid,
      startedAtWallMs: this.clock.wallMs(),
    });
    this.fleet =
      options.fleet !== undefined && options.config.enabled
        ? options.fleet({
            store: this.store,
            clock: this.clock,
            logger: this.logger,
            instanceId: this.instance.id,
            config: options.config,
          })
        : undefined;
    const reportError = (operation: string, error: unknown): void =>
      this.logger.once(`store:${operation}`, 'warn', `state store ${operation} failed`, error);
    this.deadLetters = new DeadLetterQueue(
      this.store,
      this.clock,
      options.config.deadLetters,
      this.bus,
      this.instance.id,
      reportError,
    );
    this.idempotency = new IdempotencyGate(this.store, this.clock, this.instance.id);
    this.controls.update({ mode: options.config.mode }, this.clock.wallMs());
    this.services = {
      clock: this.clock,
      deadlines: this.deadlines,
      bus: this.bus,
      controls: this.controls,
      random: options.random ?? Math.random,
      deadLetters: this.deadLetters,
      idempotency: this.idempotency,
      measureDurations: options.measureDurations ?? false,
      durationSink: options.durationSink,
      reportError,
      createPermitSource: options.createPermitSource ?? this.fleet?.createPermitSource,
    };
    this.fleet?.attach(this);
  }

  /** The pipeline registered under `name`, building it with `build` on first use. */
  pipeline(name: string, build: () => PipelineOptions): Pipeline {
    let pipeline = this.pipelines.get(name);
    if (pipeline === undefined) {
      pipeline = new Pipeline(build(), this.services);
      this.pipelines.set(name, pipeline);
      this.fleet?.pipelineCreated(pipeline);
    }
    return pipeline;
  }

  /**
   * The pipeline for an instrumented dependency. The key is the default key of
   * SPEC §4 unless a `dependencies[]` entry renames it; past `maxDependencies`
   * distinct keys, new ones share the `other` pipeline (warned once).
   */
  dependency(
    defaultKey: string,
    descriptor: DependencyDescriptor,
    extras: PipelineExtras,
  ): Pipeline {
    const index = findDependencyIndex(this.config.dependencies, {
      ...descriptor,
      name: defaultKey,
    });
    const entry = index === -1 ? undefined : this.config.dependencies[index];
    // An unnamed entry that matches by method or path covers only some calls to the
    // dependency, so it gets a pipeline (and breaker) of its own.
    const partial =
      entry !== undefined && (entry.match.method !== undefined || entry.match.path !== undefined);
    let key = entry?.name ?? (partial ? `${defaultKey}#${index}` : defaultKey);
    if (!this.pipelines.has(key) && this.dependencyCount >= this.config.maxDependencies) {
      this.logger.once(
        'dependency-overflow',
        'warn',
        `more than ${this.config.maxDependencies} dependency keys; further ones share "${OVERFLOW_DEPENDENCY}" (raise maxDependencies or add dependencies[].name)`,
      );
      key = OVERFLOW_DEPENDENCY;
    }
    return this.pipeline(key, () => {
      this.dependencyCount++;
      return resolvePipelineOptions(key, [this.config.defaults, entry], extras);
    });
  }

  find(name: string): Pipeline | undefined {
    return this.pipelines.get(name);
  }

  list(): Pipeline[] {
    return [...this.pipelines.values()];
  }

  status(): EngineStatus {
    const control = this.controls.state;
    return {
      instance: this.instance,
      mode: control.mode,
      killSwitch: control.killSwitch,
      controlReason: control.reason,
      store: describeStore(this.store),
      pipelines: this.list().map(p => p.status()),
    };
  }

  /**
   * The latest status snapshot of every instance sharing the store (this one
   * first, fresh); with no shared store, this instance only. Rejects with a
   * `StoreError` when the store cannot be read.
   */
  async instances(): Promise<InstanceSnapshot[]> {
    if (this.fleet !== undefined) return this.fleet.listInstances();
    return [describeInstance(this.status(), this.clock.wallMs(), 0, true)];
  }

  /** Force a breaker open for `ttlMs` (default 90 min). False when no such breaker exists. */
  forceOpen(name: string, ttlMs?: number): boolean {
    return this.pipelines.get(name)?.forceOpen(ttlMs) ?? false;
  }

  forceClose(name: string, ttlMs?: number): boolean {
    return this.pipelines.get(name)?.forceClose(ttlMs) ?? false;
  }

  resetBreaker(name: string): boolean {
    return this.pipelines.get(name)?.resetBreaker() ?? false;
  }

  setKillSwitch(engaged: boolean, reason: string): void {
    if (this.controls.update({ killSwitch: engaged, reason }, this.clock.wallMs()))
      this.emitControl();
  }

  setMode(mode: Mode, reason: string): void {
    if (this.controls.update({ mode, reason }, this.clock.wallMs())) this.emitControl();
  }

  listDeadLetters(options?: ListOptions): Promise<ListedDeadLetters> {
    return this.deadLetters.list(options);
  }

  getDeadLetter(id: string): Promise<DeadLetterEntry | undefined> {
    return this.deadLetters.get(id);
  }

  removeDeadLetter(id: string): Promise<boolean> {
    return this.deadLetters.remove(id);
  }

  replayDeadLetter(
    id: string,
    handlerFor: (name: string) => ReplayHandler | undefined,
  ): Promise<ReplayResult> {
    return this.deadLetters.replay(id, handlerFor);
  }

  /** Flush background writes and release the store. Idempotent. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fleet?.close();
    await this.deadLetters.flush();
    await this.store.close();
  }

  private emitControl(): void {
    const state = this.controls.state;
    this.bus.emit({
      type: 'control.changed',
      killSwitch: state.killSwitch,
      mode: state.mode,
      reason: state.reason,
      atWallMs: this.clock.wallMs(),
    });
  }
}

function describeStore(store: StateStore): EngineStatus['store'] {
  const health = (store as { health?: () => StoreHealth }).health?.();
  return health === undefined ? { kind: store.kind } : { kind: store.kind, health };
}
