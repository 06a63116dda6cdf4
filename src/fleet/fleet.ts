import type { Clock, TimerHandle } from '../core/clock';
import type { Disposable, EventBus } from '../core/events';
import type { Controls, Mode } from '../core/pipeline/controls';
import type { PipelineOptions } from '../core/pipeline/options';
import type { Pipeline } from '../core/pipeline/pipeline';
import { DEFAULT_FORCED_STATE_TTL_MS } from '../core/policies/circuit-breaker/options';
import type { PermitSource } from '../core/policies/rate-limit/gcra';
import type { RateLimitOptions } from '../core/policies/rate-limit/options';
import type { StateStore } from '../core/store';
import type { BaldurConfig } from '../config/load';
import type { EngineStatus } from '../engine/engine';
import type { Logger } from '../log';
import { BreakerSync } from './breaker-sync';
import { FleetChannel } from './channel';
import type { FleetDecodeError } from './codec';
import { isClosedStore, type FleetContext, type FleetSettings } from './context';
import { ControlSync } from './control-sync';
import { CooldownSync } from './cooldown-sync';
import { FleetLimiter } from './fleet-limiter';
import { FleetProbes } from './probe-slots';
import type { InstanceSnapshot } from './records';
import { SnapshotPublisher } from './snapshots';
import { StoreHealthView } from './store-health';

/** Every this many reconciliation ticks, re-read everything even if the change counter did not move. */
const FULL_SWEEP_EVERY = 15;
/** Store reads a reconciliation sweep runs at once. */
const SWEEP_CONCURRENCY = 8;
/** How long shutdown waits for the fleet's last store calls. */
const CLOSE_BUDGET_MS = 1_000;

/** What the fleet layer needs from the engine it serves. */
export interface FleetEngine {
  readonly bus: EventBus;
  readonly controls: Controls;
  find(name: string): Pipeline | undefined;
  list(): Pipeline[];
  status(): EngineStatus;
  setKillSwitch(engaged: boolean, reason: string): void;
  setMode(mode: Mode, reason: string): void;
}

export interface FleetOptions {
  readonly store: StateStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly instanceId: string;
  readonly settings: FleetSettings;
}

export function fleetSettings(config: BaldurConfig): FleetSettings {
  return {
    reconcileIntervalMs: config.store.reconcileInterval,
    snapshotIntervalMs: config.store.snapshotInterval,
    rateLimitFallback: config.store.rateLimitFallback,
  };
}

/**
 * The fleet layer: many worker processes and hosts acting as one through the
 * shared store (SPEC §6). Calls never wait for it — breakers, cooldowns and
 * the kill switch are decided locally from state this layer keeps in sync in
 * the background; rate limits spend permits leased in batches.
 *
 * - breakers: BreakerSync (transitions), FleetProbes (half-open slots);
 * - rate limits: FleetLimiter (through `createPermitSource`);
 * - 429 cooldowns: CooldownSync; kill switch and mode: ControlSync;
 * - instance snapshots: SnapshotPublisher;
 * - FleetChannel: the one pub/sub channel plus the change counter that the
 *   periodic, unref'd reconciliation reads to heal missed messages.
 *
 * When the store becomes unavailable each feature degrades as the README's
 * outage table says; when it recovers, transitions and switches made
 * meanwhile are written and everything is re-read.
 */
export class Fleet {
  readonly context: FleetContext;
  readonly health: StoreHealthView;
  private readonly channel: FleetChannel;
  private readonly snapshots: SnapshotPublisher;
  private breakers: BreakerSync | undefined;
  private cooldowns: CooldownSync | undefined;
  private controls: ControlSync | undefined;
  private engine: FleetEngine | undefined;
  private readonly disposables: Disposable[] = [];
  private reconcileTimer: TimerHandle | undefined;
  private snapshotTimer: TimerHandle | undefined;
  private ticks = 0;
  private reconciling: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: FleetOptions) {
    const { logger } = options;
    this.health = new StoreHealthView(options.store);
    this.context = {
      store: options.store,
      clock: options.clock,
      logger,
      instanceId: options.instanceId,
      settings: options.settings,
      health: this.health,
      // Work that was in flight when the store closed (shutdown) failed for that reason only.
      report: (operation, error) => {
        if (!isClosedStore(error))
          logger.once(`fleet:${operation}`, 'warn', `fleet ${operation} failed`, error);
      },
      succeeded: operation => logger.clear(`fleet:${operation}`),
      unreadable: (error: FleetDecodeError) =>
        logger.once(`fleet:decode:${error.codec}`, 'warn', `${error.message}; ignored`),
    };
    this.channel = new FleetChannel(this.context);
    this.snapshots = new SnapshotPublisher(this.context, {
      status: () => this.engine!.status(),
    });
  }

  /** For `PipelineServices.createPermitSource`: a fleet-wide limiter for every rate-limited pipeline. */
  readonly createPermitSource = (
    name: string,
    options: PipelineOptions,
  ): PermitSource | undefined =>
    options.rateLimit === undefined ? undefined : this.permitSource(name, options.rateLimit);

  /**
   * A fleet-wide limiter for any name (the inbound rate limiter uses it per
   * key): permits leased from the bucket `rate-limit:<name>`.
   */
  permitSource(name: string, options: RateLimitOptions): PermitSource {
    return new FleetLimiter(name, options, {
      fleet: this.context,
      workers: () => this.snapshots.estimatedWorkers,
    });
  }

  /**
   * Force a breaker open or closed (for `ttlMs`), or reset it, on every
   * instance — including a dependency this instance never called (an admin
   * instance). Resolves to whether the decision was stored; rejects only
   * before `attach`.
   */
  forceBreaker(
    name: string,
    state: 'forced_open' | 'forced_closed' | 'closed',
    ttlMs: number = DEFAULT_FORCED_STATE_TTL_MS,
  ): Promise<boolean> {
    if (this.breakers === undefined)
      return Promise.reject(new Error('the fleet layer is not attached'));
    return this.breakers.command(name, state, ttlMs);
  }

  /** Start sharing: listen to the engine's decisions and the fleet channel, start the timers. */
  attach(engine: FleetEngine): void {
    if (this.engine !== undefined) throw new Error('the fleet layer is already attached');
    this.engine = engine;
    const context = this.context;
    const breakers = new BreakerSync(context, this.channel, engine);
    const cooldowns = new CooldownSync(context, this.channel, engine);
    const controls = new ControlSync(context, this.channel, engine);
    this.breakers = breakers;
    this.cooldowns = cooldowns;
    this.controls = controls;
    this.channel.on('breaker', body => breakers.onMessage(body));
    this.channel.on('cooldown', body => cooldowns.onMessage(body));
    this.channel.on('control', body => controls.onMessage(body));
    this.disposables.push(
      engine.bus.on('circuit_breaker.state_change', event => breakers.onTransition(event)),
      engine.bus.on('cooldown.installed', event => cooldowns.onInstalled(event)),
      engine.bus.on('control.changed', event => controls.onChanged(event)),
      this.health.onChange(change => {
        if (change.available) this.recovered();
        else controls.unreadable('the store is unavailable');
      }),
    );
    // After the main module has loaded, and one call at a time: a burst of first calls while
    // the process is still busy starting would time out together and trip the store's breaker.
    setImmediate(() => void this.bootstrap());
    this.every(
      context.settings.reconcileIntervalMs,
      () => this.tick(),
      handle => (this.reconcileTimer = handle),
    );
    this.every(
      context.settings.snapshotIntervalMs,
      () => this.snapshots.publish(),
      handle => (this.snapshotTimer = handle),
    );
  }

  /** A pipeline was created: coordinate its half-open probes, apply shared state it missed. */
  pipelineCreated(pipeline: Pipeline): void {
    const breakers = this.breakers;
    if (breakers === undefined || this.closed) return;
    if (pipeline.breaker !== undefined && pipeline.breaker.options.enabled) {
      pipeline.breaker.useProbeArbiter(
        new FleetProbes(this.context, pipeline, {
          probeEpoch: dependency => breakers.probeEpoch(dependency),
          roundStarted: (dependency, epoch) =>
            breakers.appendHistory(dependency, 'open', 'half_open', 'recovery_timeout', epoch),
        }),
      );
    }
    breakers.pipelineCreated(pipeline);
    this.cooldowns!.pipelineCreated(pipeline);
  }

  /** The latest status snapshot of every live instance, this one first. Rejects with the store's error. */
  listInstances(): Promise<InstanceSnapshot[]> {
    return this.snapshots.list();
  }

  /** This instance's snapshot (what `listInstances` shows for it). */
  snapshot(): InstanceSnapshot {
    return this.snapshots.current();
  }

  /** Workers seen alive in the last snapshot period (the local rate-limit fallback divides by it). */
  get estimatedWorkers(): number {
    return this.snapshots.estimatedWorkers;
  }

  /** Re-read the shared state now (tests, admin); `full` ignores the change counter. */
  reconcile(full = true): Promise<void> {
    this.reconciling ??= this.sweep(full).finally(() => {
      this.reconciling = undefined;
    });
    return this.reconciling;
  }

  /** Stop the timers and listeners, remove this instance's snapshot. Bounded; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      for (const disposable of this.disposables.splice(0)) disposable.dispose();
      if (this.reconcileTimer !== undefined) this.context.clock.clearTimer(this.reconcileTimer);
      if (this.snapshotTimer !== undefined) this.context.clock.clearTimer(this.snapshotTimer);
      for (const pipeline of this.engine?.list() ?? [])
        pipeline.breaker?.useProbeArbiter(undefined);
      const last = Promise.allSettled([
        this.channel.close(),
        this.health.available ? this.snapshots.remove() : Promise.resolve(),
      ]);
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, CLOSE_BUDGET_MS);
        timer.unref();
        void last.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    })();
    return this.closing;
  }

  /** Run `run` every `intervalMs` on an unref'd timer (it never keeps the process alive). */
  private every(intervalMs: number, run: () => void, keep: (handle: TimerHandle) => void): void {
    const clock = this.context.clock;
    const schedule = (): void => {
      const handle = clock.setTimer(() => {
        if (this.closed) return;
        run();
        schedule();
      }, intervalMs);
      handle.unref?.();
      keep(handle);
    };
    schedule();
  }

  private tick(): void {
    this.ticks++;
    void this.reconcile(this.ticks % FULL_SWEEP_EVERY === 0);
  }

  private recovered(): void {
    this.breakers?.resync();
    this.controls?.resync();
    void this.reconcile(true);
  }

  private async bootstrap(): Promise<void> {
    if (this.closed) return;
    await this.channel.open();
    try {
      await this.controls?.reconcile();
      this.context.succeeded('control.read');
    } catch (error) {
      this.context.report('control.read', error);
    }
    if (!this.closed) this.snapshots.publish();
  }

  /** One reconciliation: the change counter, then (if it moved) every shared state this instance uses. */
  private async sweep(full: boolean): Promise<void> {
    const engine = this.engine;
    if (this.closed || engine === undefined || !this.health.available) return;
    try {
      const moved = await this.channel.changed();
      this.context.succeeded('reconcile');
      if (!moved && !full) return;
      await this.controls!.reconcile();
    } catch (error) {
      this.context.report('reconcile', error);
      this.controls?.unreadable('the store cannot be read');
      return;
    }
    const work: (() => Promise<void>)[] = [];
    for (const pipeline of engine.list()) {
      if (pipeline.breaker !== undefined) work.push(() => this.breakers!.reconcile(pipeline.name));
      if (pipeline.options.cooldown) work.push(() => this.cooldowns!.reconcile(pipeline.name));
    }
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < work.length && !this.closed) await work[next++]!();
    };
    await Promise.all(Array.from({ length: Math.min(SWEEP_CONCURRENCY, work.length) }, lane));
  }
}

/** What the engine hands over when it builds the fleet layer. */
export interface FleetParts {
  readonly store: StateStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly instanceId: string;
  readonly config: BaldurConfig;
}

/** The engine's fleet factory (`EngineOptions.fleet`). */
export function createFleet(parts: FleetParts): Fleet {
  return new Fleet({
    store: parts.store,
    clock: parts.clock,
    logger: parts.logger,
    instanceId: parts.instanceId,
    settings: fleetSettings(parts.config),
  });
}
