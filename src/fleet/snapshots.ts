import type { EngineStatus } from '../engine/engine';
import { background, type FleetContext } from './context';
import { heartbeatKey, INSTANCES_COLLECTION } from './names';
import { snapshotCodec, type InstanceSnapshot, type SnapshotPipeline } from './records';

/** Snapshots outlive their period this many times (a missed beat or two is not a departure). */
export const SNAPSHOT_TTL_PERIODS = 3;
/** Pipelines included in one snapshot (the rest are counted). */
export const SNAPSHOT_MAX_PIPELINES = 200;
/** Instances listed at most. */
export const SNAPSHOT_MAX_INSTANCES = 1_000;
const COLLECTION_MAX_RECORDS = 10_000;

export interface SnapshotSource {
  status(): EngineStatus;
}

/**
 * Instance status snapshots: every `snapshotInterval` each instance writes a
 * summary of `engine.status()` to the `instances` collection (record id =
 * instance id, expiring after 3 periods) and removes it at shutdown; any
 * instance can list the latest snapshot of every live one (`/status`, the
 * console). Each beat also counts the instance in a per-period heartbeat
 * counter, whose previous period gives the estimated number of live workers
 * (the per-process share of a rate limit while the store is down).
 */
export class SnapshotPublisher {
  private workers = 1;

  constructor(
    private readonly context: FleetContext,
    private readonly source: SnapshotSource,
  ) {}

  /** Workers seen alive in the last complete period (≥ 1). */
  get estimatedWorkers(): number {
    return this.workers;
  }

  /** This instance's snapshot, now. */
  current(): InstanceSnapshot {
    return describeInstance(
      this.source.status(),
      this.context.clock.wallMs(),
      this.context.settings.snapshotIntervalMs * SNAPSHOT_TTL_PERIODS,
      this.context.health.available,
    );
  }

  /** Write this instance's snapshot and heartbeat (background; failures are reported). */
  publish(): void {
    const { store, clock, settings, instanceId } = this.context;
    if (!this.context.health.available) return;
    const snapshot = this.current();
    background(this.context, 'snapshot.write', () =>
      store.addRecord(INSTANCES_COLLECTION, instanceId, snapshotCodec.encode(snapshot), {
        maxRecords: COLLECTION_MAX_RECORDS,
        ttlMs: snapshot.ttlMs,
      }),
    );
    const periodMs = settings.snapshotIntervalMs;
    const bucket = Math.floor(clock.wallMs() / periodMs);
    background(this.context, 'snapshot.heartbeat', async () => {
      await store.increment(heartbeatKey(bucket), 1, periodMs * SNAPSHOT_TTL_PERIODS);
      const previous = await store.get(heartbeatKey(bucket - 1));
      const seen = previous === undefined ? NaN : Number(previous.value);
      if (Number.isFinite(seen) && seen >= 1) this.workers = Math.floor(seen);
    });
  }

  /** The latest snapshot of every live instance, this one first (fresh). Rejects with the store's error. */
  async list(): Promise<InstanceSnapshot[]> {
    const records = await this.context.store.listRecords(INSTANCES_COLLECTION, {
      limit: SNAPSHOT_MAX_INSTANCES,
    });
    const nowWallMs = this.context.clock.wallMs();
    const own = this.current();
    const others: InstanceSnapshot[] = [];
    for (const record of records) {
      if (record.id === own.instance.id) continue;
      const decoded = snapshotCodec.decode(record.value);
      if (!decoded.ok) {
        this.context.unreadable(decoded.error);
        continue;
      }
      if (decoded.value.atWallMs + decoded.value.ttlMs < nowWallMs) continue; // lapsed
      others.push(decoded.value);
    }
    others.sort(
      (a, b) =>
        a.instance.startedAtWallMs - b.instance.startedAtWallMs ||
        (a.instance.id < b.instance.id ? -1 : 1),
    );
    return [own, ...others];
  }

  /** Remove this instance's snapshot (shutdown). */
  async remove(): Promise<void> {
    await this.context.store.removeRecord(INSTANCES_COLLECTION, this.context.instanceId);
  }
}

/** A status as a snapshot (its JSON form: what is stored and listed). */
export function describeInstance(
  status: EngineStatus,
  atWallMs: number,
  ttlMs: number,
  storeAvailable: boolean,
): InstanceSnapshot {
  const { instance } = status;
  const pipelines = status.pipelines.slice(0, SNAPSHOT_MAX_PIPELINES);
  return {
    instance: {
      id: instance.id,
      serviceName: instance.serviceName,
      hostname: instance.hostname,
      pid: instance.pid,
      startedAtWallMs: instance.startedAtWallMs,
    },
    atWallMs,
    ttlMs,
    mode: status.mode,
    killSwitch: status.killSwitch,
    controlReason: status.controlReason,
    store: { kind: status.store.kind, available: storeAvailable },
    pipelines: JSON.parse(JSON.stringify(pipelines)) as SnapshotPipeline[],
    omittedPipelines: Math.max(0, status.pipelines.length - SNAPSHOT_MAX_PIPELINES),
  };
}
