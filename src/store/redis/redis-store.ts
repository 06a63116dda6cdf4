import type { ConnectionOptions } from 'node:tls';
import type { Cluster } from 'ioredis';
import type {
  PermitGrant,
  PermitRequest,
  RecordOptions,
  SetOptions,
  StateStore,
  StoredRecord,
  StoredValue,
  Subscription,
  WindowCount,
} from '../../core/store';
import { StoreError } from '../../core/store-errors';
import type { Logger } from '../../log';
import {
  createCommandClient,
  createSentinelWatcherClient,
  createSubscriberClient,
  loadIoredis,
  type IoredisModule,
  type RedisClient,
  type RedisCredentials,
  type RedisClientSettings,
  type ScriptCommands,
} from './client-factory';
import { ConnectionGate, connectionError, toStoreError } from './connection';
import { KeyLayout } from './keys';
import { RedisPubSub } from './pubsub';
import {
  describeRedisTopology,
  parseRedisUrl,
  type RedisNode,
  type RedisTopology,
} from './redis-url';
import { watchSentinelFailovers } from './sentinel-watch';

export interface RedisStoreOptions {
  /** `BALDUR_REDIS_URL`, or an already parsed topology. */
  readonly url: string | RedisTopology;
  readonly credentials?: RedisCredentials;
  /** `BALDUR_KEY_PREFIX`. */
  readonly keyPrefix: string;
  /**
   * Budget of one call: the longest a call waits for a connection. Commands
   * time out in ioredis after four budgets (the longest, for listings); the
   * resilient decorator holds each call to its own budget.
   */
  readonly timeoutMs: number;
  /** Extra TLS options (a private CA) for `rediss`; by default the system CAs and `NODE_EXTRA_CA_CERTS`. */
  readonly tls?: ConnectionOptions;
  readonly logger?: Logger;
  /** The ioredis module to use (default: `require('ioredis')`, resolved lazily). */
  readonly ioredis?: IoredisModule;
}

/**
 * The Redis backend of the state-store port: standalone, Sentinel, Cluster,
 * with or without TLS. Every operation is one round trip — a plain command or
 * one of the Lua scripts of scripts.ts — and atomic on the server. Key layout:
 * keys.ts. Use it through the resilient decorator (src/store/create-store.ts
 * does), which adds the per-call budget, the breaker and the outage contract;
 * on its own it rejects only with `StoreError`s, and a call waits at most four
 * budgets (ioredis's command timeout).
 */
export class RedisStore implements StateStore {
  readonly kind = 'redis' as const;
  readonly topology: RedisTopology;
  readonly keys: KeyLayout;
  private readonly client: RedisClient & ScriptCommands;
  private readonly gate: ConnectionGate;
  private readonly pubsub: RedisPubSub;
  /** Sentinel only: listens for `+switch-master`. */
  private readonly failovers: RedisPubSub | undefined;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(options: RedisStoreOptions) {
    this.topology = typeof options.url === 'string' ? parseRedisUrl(options.url) : options.url;
    this.keys = new KeyLayout(options.keyPrefix);
    this.timeoutMs = options.timeoutMs;
    const ioredis = options.ioredis ?? loadIoredis();
    const settings: RedisClientSettings = {
      topology: this.topology,
      credentials: options.credentials ?? {},
      timeoutMs: options.timeoutMs,
      tls: options.tls,
      connectionName: `baldur:${options.keyPrefix}`,
    };
    this.client = createCommandClient(ioredis, settings);
    this.gate = new ConnectionGate(this.client);
    const logger = options.logger;
    const onHandlerError = (error: unknown): void =>
      logger?.once('store:redis:subscriber', 'warn', 'a store subscriber threw', error);
    this.pubsub = new RedisPubSub(
      attempt => createSubscriberClient(ioredis, settings, attempt, this.clusterNodes()),
      options.timeoutMs,
      onHandlerError,
    );
    if (this.topology.kind === 'sentinel') {
      this.failovers = new RedisPubSub(
        attempt => createSentinelWatcherClient(ioredis, settings, attempt),
        options.timeoutMs,
        onHandlerError,
      );
      watchSentinelFailovers({
        dataClient: this.client,
        sentinels: this.failovers,
        masterName: this.topology.masterName,
        isClosed: () => this.closed,
        onSwitch: () => {
          this.client.disconnect();
          this.pubsub.reconnect();
        },
        logger,
      });
    }
  }

  /** Where it connects, for logs (no credentials). */
  describe(): string {
    return describeRedisTopology(this.topology);
  }

  get(key: string): Promise<StoredValue | undefined> {
    return this.run('get', async client => {
      const [value, version] = await client.hmget(this.keys.value(key), 'v', 'n');
      if (value === null || value === undefined || version === null || version === undefined)
        return undefined;
      return { value, version: Number(version) };
    });
  }

  set(key: string, value: string, options: SetOptions = {}): Promise<number | undefined> {
    return this.run('set', async client => {
      const version = await client.baldurSet(
        this.keys.value(key),
        value,
        ttlArgument(options.ttlMs),
        options.ifVersion === undefined ? '' : String(options.ifVersion),
      );
      return version === 0 ? undefined : Number(version);
    });
  }

  delete(key: string, ifVersion?: number): Promise<boolean> {
    return this.run('delete', async client => {
      const k = this.keys.value(key);
      const deleted =
        ifVersion === undefined
          ? await client.del(k)
          : await client.baldurDelete(k, String(ifVersion));
      return Number(deleted) > 0;
    });
  }

  increment(key: string, delta: number, windowMs: number): Promise<WindowCount> {
    return this.run('increment', async client => {
      const [value, ttl] = (await client.baldurIncrement(
        this.keys.value(key),
        String(delta),
        ttlArgument(windowMs),
      )) as [string, number];
      return { value: parseNumber(value), resetInMs: ttl < 0 ? Infinity : ttl };
    });
  }

  raise(key: string, value: number, ttlMs: number): Promise<number> {
    return this.run('raise', async client =>
      parseNumber(
        (await client.baldurRaise(
          this.keys.value(key),
          String(value),
          ttlArgument(ttlMs),
        )) as string,
      ),
    );
  }

  takePermits(key: string, request: PermitRequest): Promise<PermitGrant> {
    return this.runTakePermits(key, request, []);
  }

  /** takePermits at a given server time (tests compare the script with src/store/gcra-take.ts). */
  takePermitsAt(key: string, request: PermitRequest, nowMs: number): Promise<PermitGrant> {
    return this.runTakePermits(key, request, [String(nowMs)]);
  }

  private runTakePermits(
    key: string,
    request: PermitRequest,
    serverTime: string[],
  ): Promise<PermitGrant> {
    return this.run('takePermits', async client => {
      const [granted, retryAfter] = (await client.baldurTakePermits(
        this.keys.value(key),
        String(request.requested),
        String(request.limit),
        String(request.perMs),
        String(request.burst),
        ...serverTime,
      )) as [number, string];
      return { granted: Number(granted), retryAfterMs: parseNumber(retryAfter) };
    });
  }

  addRecord(collection: string, id: string, value: string, options: RecordOptions): Promise<void> {
    return this.run('addRecord', async client => {
      const keys = this.keys.collection(collection);
      await client.baldurAddRecord(
        keys.index,
        keys.data,
        keys.expiry,
        id,
        value,
        String(Math.max(0, Math.floor(options.maxRecords))),
        ttlArgument(options.ttlMs),
      );
    });
  }

  getRecord(collection: string, id: string): Promise<StoredRecord | undefined> {
    return this.run('getRecord', async client => {
      const keys = this.keys.collection(collection);
      const raw = await client.baldurGetRecord(keys.data, keys.expiry, id);
      return typeof raw === 'string' ? decodeRecord(id, raw) : undefined;
    });
  }

  updateRecord(
    collection: string,
    id: string,
    value: string,
    ifVersion?: number,
  ): Promise<number | undefined> {
    return this.run('updateRecord', async client => {
      const keys = this.keys.collection(collection);
      const version = await client.baldurUpdateRecord(
        keys.data,
        keys.expiry,
        id,
        value,
        ifVersion === undefined ? '' : String(ifVersion),
      );
      return version === 0 ? undefined : Number(version);
    });
  }

  listRecords(
    collection: string,
    options: { limit: number; beforeId?: string },
  ): Promise<StoredRecord[]> {
    return this.run('listRecords', async client => {
      const keys = this.keys.collection(collection);
      const limit = Math.max(0, Math.floor(options.limit));
      if (limit === 0) return [];
      const flat = (await client.baldurListRecords(
        keys.index,
        keys.data,
        keys.expiry,
        String(limit),
        options.beforeId ?? '',
      )) as string[];
      const records: StoredRecord[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2)
        records.push(decodeRecord(flat[i]!, flat[i + 1]!));
      return records;
    });
  }

  removeRecord(collection: string, id: string): Promise<boolean> {
    return this.run('removeRecord', async client => {
      const keys = this.keys.collection(collection);
      return Number(await client.baldurRemoveRecord(keys.index, keys.data, keys.expiry, id)) === 1;
    });
  }

  countRecords(collection: string): Promise<number> {
    return this.run('countRecords', async client => {
      const keys = this.keys.collection(collection);
      return Math.max(0, Number(await client.baldurCountRecords(keys.index, keys.expiry)));
    });
  }

  publish(channel: string, message: string): Promise<void> {
    return this.run('publish', async client => {
      await client.publish(this.keys.channel(channel), message);
    });
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<Subscription> {
    if (this.closed) throw closedError('subscribe');
    return this.pubsub.subscribe(this.keys.channel(channel), onMessage);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pubsub.close();
    this.failovers?.close();
    if (this.client.status === 'ready') {
      // QUIT lets in-flight replies arrive; a server that does not answer is cut off.
      const timer = setTimeout(() => this.client.disconnect(), this.timeoutMs);
      await this.client.quit().catch(() => undefined);
      clearTimeout(timer);
    }
    this.client.disconnect();
  }

  private async run<T>(
    operation: string,
    body: (client: RedisClient & ScriptCommands) => Promise<T>,
  ): Promise<T> {
    if (this.closed) throw closedError(operation);
    if (this.client.status !== 'ready') {
      try {
        await this.gate.wait(this.timeoutMs);
      } catch (error) {
        throw connectionError(operation, error);
      }
    }
    try {
      return await body(this.client);
    } catch (error) {
      throw toStoreError(operation, error);
    }
  }

  /** A Cluster's known nodes (for the subscriber), else none. */
  private clusterNodes(): RedisNode[] {
    if (this.topology.kind !== 'cluster' || this.client.status !== 'ready') return [];
    return (this.client as Cluster).nodes('master').flatMap(node => {
      const { host, port } = node.options;
      return host === undefined || port === undefined ? [] : [{ host, port }];
    });
  }
}

function closedError(operation: string): StoreError {
  return new StoreError('redis', operation, 'closed', 'the store is closed');
}

/** A ttl for a script: whole milliseconds, at least 1; '' for none. */
function ttlArgument(ttlMs: number | undefined): string {
  if (ttlMs === undefined || !Number.isFinite(ttlMs)) return '';
  return String(Math.max(1, Math.ceil(ttlMs)));
}

/** Numbers written by the scripts with `%.17g` (which spells infinities `inf`). */
function parseNumber(text: string): number {
  switch (text) {
    case 'inf':
      return Infinity;
    case '-inf':
      return -Infinity;
    default:
      return Number(text);
  }
}

function decodeRecord(id: string, raw: string): StoredRecord {
  const colon = raw.indexOf(':');
  return { id, version: Number(raw.slice(0, colon)), value: raw.slice(colon + 1) };
}
