import type { DependencyDescriptor } from '../../src/config/match';
import type { Pipeline } from '../../src/core/pipeline/pipeline';
import type { Engine } from '../../src/engine/engine';
import { dependencyKey } from '../shared/dependency-key';
import { activeEngine } from '../shared/pipelines';
import type { AgentContext } from '../shared/types';
import { HTTP_EXTRAS } from './classify';

/** Lower-case host without IPv6 brackets: `[::1]` and `::1` are one dependency. */
export function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.length > 1 && lower.charCodeAt(0) === 91 /* [ */ && lower.endsWith(']')
    ? lower.slice(1, -1)
    : lower;
}

/** The path without its query string, for `dependencies[].match.path` globs. */
export function pathOnly(path: string): string {
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}

const MAX_CACHED = 4096;

/**
 * Pipelines of HTTP dependencies (`http:<host>:<port>`), shared by node:http and
 * fetch/undici. Requests carry a per-request descriptor (method, path) so that
 * `dependencies[].match` entries with method or path globs apply; when the
 * configuration has no such entry, the lookup is cached per host and port.
 */
export class HttpPipelines {
  private engine: Engine | undefined;
  private perRequest = false;
  /** Raw host as the caller spelled it → port → pipeline. */
  private readonly cache = new Map<string, Map<number, Pipeline>>();
  private cached = 0;
  // The last lookup: most processes call one host and port over and over.
  private lastHost: string | undefined;
  private lastPort = 0;
  private lastPipeline: Pipeline | undefined;

  constructor(private readonly context: AgentContext) {}

  /** The pipeline for a request; `host` as given (normalized here), `path` with its query. */
  get(host: string, port: number, method: string, path: string): Pipeline {
    const engine = activeEngine(this.context);
    if (engine !== this.engine) {
      this.engine = engine;
      this.forget();
      this.perRequest = engine.config.dependencies.some(
        entry => entry.match.method !== undefined || entry.match.path !== undefined,
      );
    }
    if (this.perRequest) {
      return this.lookup(engine, {
        system: 'http',
        host: normalizeHost(host),
        port,
        method,
        path: pathOnly(path),
      });
    }
    if (host === this.lastHost && port === this.lastPort) return this.lastPipeline!;
    let byPort = this.cache.get(host);
    let pipeline = byPort?.get(port);
    if (pipeline === undefined) {
      pipeline = this.lookup(engine, { system: 'http', host: normalizeHost(host), port });
      if (this.cached >= MAX_CACHED) {
        this.forget();
        byPort = undefined;
      }
      if (byPort === undefined) {
        byPort = new Map();
        this.cache.set(host, byPort);
      }
      byPort.set(port, pipeline);
      this.cached++;
    }
    this.lastHost = host;
    this.lastPort = port;
    this.lastPipeline = pipeline;
    return pipeline;
  }

  private forget(): void {
    this.cache.clear();
    this.cached = 0;
    this.lastHost = undefined;
    this.lastPipeline = undefined;
  }

  private lookup(engine: Engine, descriptor: DependencyDescriptor): Pipeline {
    return engine.dependency(dependencyKey(descriptor), descriptor, HTTP_EXTRAS);
  }
}
