import type { AgentContext } from '../shared/types';
import { wrapMethod } from '../shared/patch';
import { wrapExec } from './batch';
import { ClientStates } from './client';
import { wrapSendCommand } from './command';

interface Patchable {
  prototype?: object;
}

/** The classes ioredis exports: `module.exports` is `Redis`, with `Cluster` and `Pipeline` on it. */
interface IoredisExports extends Patchable {
  Cluster?: Patchable;
  Pipeline?: Patchable;
}

/**
 * Patch the ioredis main export (CommonJS `require` and ESM `import` alike):
 *
 * - `Redis.prototype.sendCommand`: single commands on a standalone or Sentinel client;
 * - `Cluster.prototype.sendCommand`: single commands on a Cluster, keyed per cluster
 *   (its nodes' own `sendCommand` then sees commands already governed);
 * - `Pipeline.prototype.exec`: pipelines, `multi()` transactions and auto-pipelining.
 *
 * Each wrapper is installed at most once (`wrapMethod`), whatever else wrapped
 * the method before or after us.
 */
export function patchIoredis(exports: unknown, context: AgentContext): void {
  const redis = exports as IoredisExports;
  const states = new ClientStates(context);
  const sendCommand = wrapSendCommand(states, context.logger);
  const targets: [object | undefined, string, (original: never) => unknown][] = [
    [redis.prototype, 'sendCommand', sendCommand],
    [redis.Cluster?.prototype, 'sendCommand', sendCommand],
    [redis.Pipeline?.prototype, 'exec', wrapExec(states, context.logger)],
  ];
  for (const [target, method, wrapper] of targets) {
    if (target === undefined) {
      context.logger.once(
        `ioredis:missing:${method}`,
        'warn',
        `ioredis has no ${method} where expected; part of it runs unprotected`,
      );
      continue;
    }
    wrapMethod(target as Record<string, unknown>, method, wrapper as never);
  }
}
