import type { DependencyDescriptor } from '../../src/config/match';
import type { PipelineExtras } from '../../src/config/policies';
import type { Pipeline } from '../../src/core/pipeline/pipeline';
import { baldurGlobal } from '../../src/api/global-state';
import type { Engine } from '../../src/engine/engine';
import { dependencyKey } from './dependency-key';
import type { AgentContext } from './types';

/** The engine calls should use now: the application may have called `start()` after the preload. */
export function activeEngine(context: AgentContext): Engine {
  return baldurGlobal().engine ?? context.engine;
}

/**
 * Resolves and caches the pipeline of a client object (a pg Client, an ioredis
 * connection, a mysql2 pool): dependency lookup and config matching run once
 * per client, not per call, and the cache follows an engine restart.
 */
export class PipelineCache {
  private readonly cache = new WeakMap<object, { engine: Engine; pipeline: Pipeline }>();

  constructor(
    private readonly context: AgentContext,
    private readonly extras: PipelineExtras,
  ) {}

  /** `describe` gets `owner`, so hot paths can pass one static function instead of a closure per call. */
  get<T extends object>(owner: T, describe: (owner: T) => DependencyDescriptor): Pipeline {
    const engine = activeEngine(this.context);
    const cached = this.cache.get(owner);
    if (cached !== undefined && cached.engine === engine) return cached.pipeline;
    const descriptor = describe(owner);
    const pipeline = engine.dependency(dependencyKey(descriptor), descriptor, this.extras);
    this.cache.set(owner, { engine, pipeline });
    return pipeline;
  }

  /** Uncached lookup, for per-request descriptors (HTTP method and path). */
  lookup(descriptor: DependencyDescriptor): Pipeline {
    return activeEngine(this.context).dependency(
      dependencyKey(descriptor),
      descriptor,
      this.extras,
    );
  }
}
