import type { CooldownEvent } from '../core/events';
import type { Pipeline } from '../core/pipeline/pipeline';
import type { PipelineDirectory } from './breaker-sync';
import type { FleetChannel } from './channel';
import type { FleetContext } from './context';
import { cooldownKey } from './names';
import { cooldownCodec } from './records';

/** The stored deadline outlives the cooldown by this much (late readers still see it end). */
const KEEP_AFTER_MS = 5_000;
/** Cooldowns kept for dependencies this process has no pipeline for yet. */
const MAX_EARLY = 1_000;

/**
 * Shared 429 cooldowns, monotonic fleet-wide. A cooldown installed here (a
 * 429/503 with Retry-After) is raised into `cooldown:<dependency>` — the
 * store keeps the maximum deadline, so a shorter hint never cuts a longer
 * one — and announced; peers extend their local cooldown to the stored
 * maximum (`Cooldown.extendTo` only ever extends). A pipeline created later
 * reads the stored deadline first.
 */
export class CooldownSync {
  private readonly early = new Map<string, number>();

  constructor(
    private readonly context: FleetContext,
    private readonly channel: FleetChannel,
    private readonly pipelines: PipelineDirectory,
  ) {}

  /** The bus listener for `cooldown.installed` (emitted only for cooldowns installed here). */
  onInstalled(event: CooldownEvent): void {
    const { store, clock } = this.context;
    const ttlMs = Math.max(0, event.untilWallMs - clock.wallMs()) + KEEP_AFTER_MS;
    store.raise(cooldownKey(event.dependency), event.untilWallMs, ttlMs).then(
      untilWallMs => {
        this.context.succeeded('cooldown.raise');
        // A peer's longer cooldown was already stored: honour it here too.
        if (untilWallMs > event.untilWallMs) this.extend(event.dependency, untilWallMs);
        this.channel.announce('cooldown', cooldownCodec, {
          dependency: event.dependency,
          untilWallMs,
        });
      },
      (error: unknown) => this.context.report('cooldown.raise', error),
    );
  }

  onMessage(body: unknown): void {
    const decoded = cooldownCodec.decodeObject(body);
    if (decoded.ok) this.extend(decoded.value.dependency, decoded.value.untilWallMs);
    else this.context.unreadable(decoded.error);
  }

  pipelineCreated(pipeline: Pipeline): void {
    if (!pipeline.options.cooldown) return;
    const early = this.early.get(pipeline.name);
    if (early !== undefined) {
      this.early.delete(pipeline.name);
      this.extend(pipeline.name, early);
    }
    void this.reconcile(pipeline.name);
  }

  /** Read the stored deadline of one dependency and honour it. Never rejects. */
  async reconcile(dependency: string): Promise<void> {
    try {
      const stored = await this.context.store.get(cooldownKey(dependency));
      this.context.succeeded('cooldown.read');
      if (stored === undefined) return;
      const untilWallMs = Number(stored.value);
      if (Number.isFinite(untilWallMs)) this.extend(dependency, untilWallMs);
    } catch (error) {
      this.context.report('cooldown.read', error);
    }
  }

  private extend(dependency: string, untilWallMs: number): void {
    const { clock } = this.context;
    const remainingMs = untilWallMs - clock.wallMs();
    if (remainingMs <= 0) return;
    const pipeline = this.pipelines.find(dependency);
    if (pipeline === undefined) {
      if ((this.early.get(dependency) ?? 0) >= untilWallMs) return;
      this.early.delete(dependency);
      this.early.set(dependency, untilWallMs);
      if (this.early.size > MAX_EARLY) this.early.delete(this.early.keys().next().value!);
      return;
    }
    if (pipeline.options.cooldown) pipeline.cooldown.extendTo(clock.monoMs() + remainingMs);
  }
}
