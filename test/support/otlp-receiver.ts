import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';

/**
 * A local OTLP/HTTP receiver (what an OpenTelemetry Collector listens on at
 * :4318): accepts `POST /v1/traces` and `POST /v1/metrics` as `http/json` or
 * `http/protobuf`, decodes both into the same plain shape, and lets a test wait
 * for what it expects. The protobuf side is a small wire-format decoder for the
 * OTLP messages used here, so the test proves real protobuf reached it.
 */
export type AttributeValue = string | number | boolean | AttributeValue[] | undefined;
export type Attributes = Record<string, AttributeValue>;

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Empty string for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: Attributes;
  readonly events: { name: string; timeMs: number; attributes: Attributes }[];
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly status: { code: number; message: string };
  readonly scope: string;
  readonly resource: Attributes;
}

export interface ReceivedPoint {
  readonly attributes: Attributes;
  /** Sum and gauge points. */
  readonly value?: number;
  /** Histogram points. */
  readonly count?: number;
  readonly sum?: number;
  readonly bucketCounts?: number[];
  readonly bounds?: number[];
  readonly min?: number;
  readonly max?: number;
}

export interface ReceivedMetric {
  readonly name: string;
  readonly unit: string;
  readonly description: string;
  readonly type: 'sum' | 'gauge' | 'histogram' | 'other';
  readonly monotonic: boolean;
  /** 1 delta, 2 cumulative. */
  readonly temporality: number;
  readonly points: ReceivedPoint[];
  readonly scope: string;
  readonly resource: Attributes;
}

export interface ReceivedRequest {
  readonly path: string;
  readonly contentType: string;
  readonly bytes: number;
}

export class OtlpReceiver {
  readonly requests: ReceivedRequest[] = [];
  readonly spans: ReceivedSpan[] = [];
  /** Every metric of every export, in arrival order (later exports repeat cumulative series). */
  readonly metrics: ReceivedMetric[] = [];
  readonly errors: string[] = [];
  private server: Server | undefined;
  private readonly waiters: (() => void)[] = [];
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>(resolve => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>(resolve =>
      this.server === undefined ? resolve() : this.server.close(() => resolve()),
    );
  }

  reset(): void {
    this.requests.length = 0;
    this.spans.length = 0;
    this.metrics.length = 0;
  }

  /** Resolve once `check` returns a value other than undefined (re-checked on every export). */
  async waitFor<T>(check: () => T | undefined, timeoutMs = 20_000, what = 'data'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = check();
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `OTLP receiver: no ${what} within ${timeoutMs} ms; got spans ${JSON.stringify(this.spans.map(s => s.name))}, metrics ${JSON.stringify([...new Set(this.metrics.map(m => m.name))])}, errors ${JSON.stringify(this.errors)}`,
        );
      }
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The most recent data point of `name` whose attributes include `match`. */
  lastPoint(name: string, match: Attributes = {}): ReceivedPoint | undefined {
    for (let i = this.metrics.length - 1; i >= 0; i--) {
      const metric = this.metrics[i]!;
      if (metric.name !== name) continue;
      const point = metric.points.find(p =>
        Object.entries(match).every(([key, value]) => p.attributes[key] === value),
      );
      if (point !== undefined) return point;
    }
    return undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const path = (req.url ?? '/').split('?')[0]!;
      const contentType = String(req.headers['content-type'] ?? '');
      this.requests.push({ path, contentType, bytes: body.length });
      try {
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        const json = contentType.includes('json');
        if (path === '/v1/traces') {
          this.spans.push(
            ...(json ? spansFromJson(JSON.parse(body.toString())) : spansFromProto(body)),
          );
        } else if (path === '/v1/metrics') {
          this.metrics.push(
            ...(json ? metricsFromJson(JSON.parse(body.toString())) : metricsFromProto(body)),
          );
        } else {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, {
          'content-type': json ? 'application/json' : 'application/x-protobuf',
        });
        res.end(json ? '{}' : '');
      } catch (error) {
        this.errors.push(`${path}: ${String(error)}`);
        res.writeHead(400).end();
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }
}

// ---------------------------------------------------------------- http/json

type Json = Record<string, unknown>;

function nanosToMs(value: unknown): number {
  const digits = typeof value === 'number' ? Math.round(value).toString() : text(value);
  return digits === '' ? 0 : Number(BigInt(digits) / 1000n) / 1000;
}

function hexId(value: unknown): string {
  return typeof value === 'string' ? value.toLowerCase() : '';
}

/** A JSON scalar as text (objects and absent values as ''). */
function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : '';
}

function jsonValue(value: Json | undefined): AttributeValue {
  if (value === undefined) return undefined;
  if ('stringValue' in value) return text(value.stringValue);
  if ('boolValue' in value) return Boolean(value.boolValue);
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return Number(value.doubleValue);
  if ('arrayValue' in value) {
    const values = ((value.arrayValue as Json | undefined)?.values ?? []) as Json[];
    return values.map(jsonValue);
  }
  return undefined;
}

function jsonAttributes(list: unknown): Attributes {
  const out: Attributes = {};
  for (const kv of (list ?? []) as Json[]) out[text(kv.key)] = jsonValue(kv.value as Json);
  return out;
}

function spansFromJson(body: Json): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of (body.resourceSpans ?? []) as Json[]) {
    const resource = jsonAttributes((rs.resource as Json | undefined)?.attributes);
    for (const ss of (rs.scopeSpans ?? []) as Json[]) {
      const scope = text((ss.scope as Json | undefined)?.name);
      for (const span of (ss.spans ?? []) as Json[]) {
        const status = (span.status ?? {}) as Json;
        out.push({
          traceId: hexId(span.traceId),
          spanId: hexId(span.spanId),
          parentSpanId: hexId(span.parentSpanId),
          name: text(span.name),
          kind: Number(span.kind ?? 0),
          startMs: nanosToMs(span.startTimeUnixNano),
          endMs: nanosToMs(span.endTimeUnixNano),
          attributes: jsonAttributes(span.attributes),
          events: ((span.events ?? []) as Json[]).map(event => ({
            name: text(event.name),
            timeMs: nanosToMs(event.timeUnixNano),
            attributes: jsonAttributes(event.attributes),
          })),
          status: { code: Number(status.code ?? 0), message: text(status.message) },
          scope,
          resource,
        });
      }
    }
  }
  return out;
}

function jsonPoints(list: unknown, histogram: boolean): ReceivedPoint[] {
  return ((list ?? []) as Json[]).map(point => {
    const attributes = jsonAttributes(point.attributes);
    if (histogram) {
      return {
        attributes,
        count: Number(point.count ?? 0),
        sum: Number(point.sum ?? 0),
        bucketCounts: ((point.bucketCounts ?? []) as unknown[]).map(Number),
        bounds: ((point.explicitBounds ?? []) as unknown[]).map(Number),
        ...(point.min === undefined ? {} : { min: Number(point.min) }),
        ...(point.max === undefined ? {} : { max: Number(point.max) }),
      };
    }
    return { attributes, value: Number(point.asInt ?? point.asDouble ?? 0) };
  });
}

function metricsFromJson(body: Json): ReceivedMetric[] {
  const out: ReceivedMetric[] = [];
  for (const rm of (body.resourceMetrics ?? []) as Json[]) {
    const resource = jsonAttributes((rm.resource as Json | undefined)?.attributes);
    for (const sm of (rm.scopeMetrics ?? []) as Json[]) {
      const scope = text((sm.scope as Json | undefined)?.name);
      for (const metric of (sm.metrics ?? []) as Json[]) {
        const base = {
          name: text(metric.name),
          unit: text(metric.unit),
          description: text(metric.description),
          scope,
          resource,
        };
        const sum = metric.sum as Json | undefined;
        const gauge = metric.gauge as Json | undefined;
        const histogram = metric.histogram as Json | undefined;
        if (sum !== undefined) {
          out.push({
            ...base,
            type: 'sum',
            monotonic: Boolean(sum.isMonotonic),
            temporality: Number(sum.aggregationTemporality ?? 0),
            points: jsonPoints(sum.dataPoints, false),
          });
        } else if (gauge !== undefined) {
          out.push({
            ...base,
            type: 'gauge',
            monotonic: false,
            temporality: 0,
            points: jsonPoints(gauge.dataPoints, false),
          });
        } else if (histogram !== undefined) {
          out.push({
            ...base,
            type: 'histogram',
            monotonic: false,
            temporality: Number(histogram.aggregationTemporality ?? 0),
            points: jsonPoints(histogram.dataPoints, true),
          });
        } else out.push({ ...base, type: 'other', monotonic: false, temporality: 0, points: [] });
      }
    }
  }
  return out;
}

// ----------------------------------------------------------- http/protobuf

/** One decoded field: varints as bigint, fixed64 as the raw 8 bytes, length-delimited as bytes. */
interface Field {
  readonly no: number;
  readonly wire: number;
  readonly varint?: bigint;
  readonly bytes?: Buffer;
}

function readVarint(buf: Buffer, at: { i: number }): bigint {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const byte = buf[at.i++]!;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return result;
    shift += 7n;
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  const at = { i: 0 };
  while (at.i < buf.length) {
    const key = Number(readVarint(buf, at));
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, wire, varint: readVarint(buf, at) });
    else if (wire === 1) {
      out.push({ no, wire, bytes: buf.subarray(at.i, at.i + 8) });
      at.i += 8;
    } else if (wire === 2) {
      const length = Number(readVarint(buf, at));
      out.push({ no, wire, bytes: buf.subarray(at.i, at.i + length) });
      at.i += length;
    } else if (wire === 5) {
      out.push({ no, wire, bytes: buf.subarray(at.i, at.i + 4) });
      at.i += 4;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return out;
}

const all = (list: Field[], no: number): Field[] => list.filter(f => f.no === no);
const one = (list: Field[], no: number): Field | undefined => list.find(f => f.no === no);
const str = (f: Field | undefined): string => f?.bytes?.toString('utf8') ?? '';
const hex = (f: Field | undefined): string => f?.bytes?.toString('hex') ?? '';
const fixed64 = (f: Field | undefined): bigint =>
  f?.bytes === undefined ? 0n : f.bytes.readBigUInt64LE(0);
const double = (f: Field | undefined): number =>
  f?.bytes === undefined ? 0 : f.bytes.readDoubleLE(0);
const varint = (f: Field | undefined): number => Number(f?.varint ?? 0n);
const nsToMs = (ns: bigint): number => Number(ns / 1000n) / 1000;

function protoValue(buf: Buffer): AttributeValue {
  const list = fields(buf);
  const f = list[0];
  if (f === undefined) return undefined;
  switch (f.no) {
    case 1:
      return str(f);
    case 2:
      return varint(f) !== 0;
    case 3:
      return Number(BigInt.asIntN(64, f.varint ?? 0n));
    case 4:
      return double(f);
    case 5:
      return all(fields(f.bytes!), 1).map(v => protoValue(v.bytes!));
    default:
      return undefined;
  }
}

function protoAttributes(list: Field[]): Attributes {
  const out: Attributes = {};
  for (const kv of list) {
    const parts = fields(kv.bytes!);
    const value = one(parts, 2);
    out[str(one(parts, 1))] = value === undefined ? undefined : protoValue(value.bytes!);
  }
  return out;
}

function spansFromProto(body: Buffer): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of all(fields(body), 1)) {
    const rsf = fields(rs.bytes!);
    const resourceField = one(rsf, 1);
    const resource =
      resourceField === undefined ? {} : protoAttributes(all(fields(resourceField.bytes!), 1));
    for (const ss of all(rsf, 2)) {
      const ssf = fields(ss.bytes!);
      const scopeField = one(ssf, 1);
      const scope = scopeField === undefined ? '' : str(one(fields(scopeField.bytes!), 1));
      for (const spanField of all(ssf, 2)) {
        const s = fields(spanField.bytes!);
        const statusField = one(s, 15);
        const status = statusField === undefined ? [] : fields(statusField.bytes!);
        out.push({
          traceId: hex(one(s, 1)),
          spanId: hex(one(s, 2)),
          parentSpanId: hex(one(s, 4)),
          name: str(one(s, 5)),
          kind: varint(one(s, 6)),
          startMs: nsToMs(fixed64(one(s, 7))),
          endMs: nsToMs(fixed64(one(s, 8))),
          attributes: protoAttributes(all(s, 9)),
          events: all(s, 11).map(e => {
            const ef = fields(e.bytes!);
            return {
              name: str(one(ef, 2)),
              timeMs: nsToMs(fixed64(one(ef, 1))),
              attributes: protoAttributes(all(ef, 3)),
            };
          }),
          status: { code: varint(one(status, 3)), message: str(one(status, 2)) },
          scope,
          resource,
        });
      }
    }
  }
  return out;
}

/** A repeated 8-byte field, packed (one length-delimited field) or not (one field per value). */
function repeated8(list: Field[], read: (buf: Buffer, at: number) => number): number[] {
  const out: number[] = [];
  for (const f of list) {
    for (let i = 0; i + 8 <= f.bytes!.length; i += 8) out.push(read(f.bytes!, i));
  }
  return out;
}

function protoNumberPoints(list: Field[]): ReceivedPoint[] {
  return list.map(p => {
    const pf = fields(p.bytes!);
    const asDouble = one(pf, 4);
    const asInt = one(pf, 6);
    return {
      attributes: protoAttributes(all(pf, 7)),
      value:
        asInt !== undefined
          ? Number(asInt.bytes!.readBigInt64LE(0))
          : asDouble !== undefined
            ? double(asDouble)
            : 0,
    };
  });
}

function metricsFromProto(body: Buffer): ReceivedMetric[] {
  const out: ReceivedMetric[] = [];
  for (const rm of all(fields(body), 1)) {
    const rmf = fields(rm.bytes!);
    const resourceField = one(rmf, 1);
    const resource =
      resourceField === undefined ? {} : protoAttributes(all(fields(resourceField.bytes!), 1));
    for (const sm of all(rmf, 2)) {
      const smf = fields(sm.bytes!);
      const scopeField = one(smf, 1);
      const scope = scopeField === undefined ? '' : str(one(fields(scopeField.bytes!), 1));
      for (const metricField of all(smf, 2)) {
        const m = fields(metricField.bytes!);
        const base = {
          name: str(one(m, 1)),
          description: str(one(m, 2)),
          unit: str(one(m, 3)),
          scope,
          resource,
        };
        const gauge = one(m, 5);
        const sum = one(m, 7);
        const histogram = one(m, 9);
        if (sum !== undefined) {
          const f = fields(sum.bytes!);
          out.push({
            ...base,
            type: 'sum',
            monotonic: varint(one(f, 3)) !== 0,
            temporality: varint(one(f, 2)),
            points: protoNumberPoints(all(f, 1)),
          });
        } else if (gauge !== undefined) {
          out.push({
            ...base,
            type: 'gauge',
            monotonic: false,
            temporality: 0,
            points: protoNumberPoints(all(fields(gauge.bytes!), 1)),
          });
        } else if (histogram !== undefined) {
          const f = fields(histogram.bytes!);
          out.push({
            ...base,
            type: 'histogram',
            monotonic: false,
            temporality: varint(one(f, 2)),
            points: all(f, 1).map(p => {
              const pf = fields(p.bytes!);
              const min = one(pf, 11);
              const max = one(pf, 12);
              return {
                attributes: protoAttributes(all(pf, 9)),
                count: Number(fixed64(one(pf, 4))),
                sum: double(one(pf, 5)),
                bucketCounts: repeated8(all(pf, 6), (b, i) => Number(b.readBigUInt64LE(i))),
                bounds: repeated8(all(pf, 7), (b, i) => b.readDoubleLE(i)),
                ...(min === undefined ? {} : { min: double(min) }),
                ...(max === undefined ? {} : { max: double(max) }),
              };
            }),
          });
        } else out.push({ ...base, type: 'other', monotonic: false, temporality: 0, points: [] });
      }
    }
  }
  return out;
}
