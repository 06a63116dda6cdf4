import { BaldurError, TimeoutError } from '../../src/core/errors';
import type { Classifier, Verdict } from '../../src/core/outcome';
import { SOCKET_ERROR_CODES } from '../shared/socket-errors';

/**
 * Error replies that say the server (not the command) is unwell: still loading
 * its dataset, a replica that refuses writes after a failover, a cluster slot
 * in migration or a cluster without quorum, a master gone, a script hogging the
 * server, a failed disk, too few replicas for a write. Every other error reply
 * (WRONGTYPE, ERR syntax, NOSCRIPT, EXECABORT, MOVED/ASK that the cluster client
 * already followed, NOAUTH, OOM, …) proves the server is up and answering: it
 * reaches the app unchanged and counts as a success for the breaker.
 */
const FAILURE_REPLIES = new Set([
  'LOADING',
  'READONLY',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'MASTERDOWN',
  'BUSY',
  'MISCONF',
  'NOREPLICAS',
]);

/** Socket-level error codes: the dependency could not be reached. */
const CONNECTION_CODES = new Set([...SOCKET_ERROR_CODES]);

/**
 * ioredis reports connection trouble to commands as plain `Error`s with fixed
 * messages (lib/utils/index.ts, Redis.ts, Command.ts, cluster/index.ts).
 */
const CONNECTION_MESSAGES = new Set([
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Command timed out',
  "Cluster isn't ready and enableOfflineQueue options is false",
  'Cluster is disconnected.',
  'None of startup nodes is available',
]);

/**
 * Error classes from redis-errors/ioredis whose `name` alone decides:
 * `MaxRetriesPerRequestError` (the offline queue gave up after N reconnects),
 * `AbortError` (a command aborted because its connection closed),
 * `ClusterAllFailedError` (no node answered a slot refresh), `ParserError`
 * (garbage on the wire).
 */
const FAILURE_NAMES = new Set([
  'MaxRetriesPerRequestError',
  'AbortError',
  'ClusterAllFailedError',
  'ParserError',
]);

/** The first word of an error reply: `LOADING Redis is loading …` → `LOADING`. */
function replyPrefix(message: string): string {
  const space = message.indexOf(' ');
  return space === -1 ? message : message.slice(0, space);
}

export function classifyRedisError(error: unknown): Verdict {
  if (typeof error !== 'object' || error === null) return 'neutral';
  // Our own attempt timeout counts; other Baldur rejections are decisions, not outcomes.
  if (error instanceof BaldurError) return error instanceof TimeoutError ? 'failure' : 'neutral';
  const { name, message, code } = error as { name?: unknown; message?: unknown; code?: unknown };
  if (name === 'ReplyError') {
    return typeof message === 'string' && FAILURE_REPLIES.has(replyPrefix(message))
      ? 'failure'
      : 'success';
  }
  if (typeof name === 'string' && FAILURE_NAMES.has(name)) return 'failure';
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return 'failure';
  if (typeof message === 'string') {
    if (CONNECTION_MESSAGES.has(message)) return 'failure';
    if (message.startsWith('Too many Cluster redirections')) return 'failure';
  }
  // Client-side misuse ("Connection in subscriber mode …", a bad argument): says nothing about Redis.
  return 'neutral';
}

/**
 * The settled replies of one pipeline or MULTI/EXEC attempt. ioredis resolves
 * `exec()` with `[error, value]` pairs even when every command failed, so the
 * batch counts as a failure when any pair carries a failure-class error (a
 * dropped connection fails them all alike).
 */
export class BatchOutcome {
  constructor(readonly results: unknown) {}

  verdict(): Verdict {
    const results = this.results;
    if (!Array.isArray(results)) return 'success';
    for (const pair of results) {
      if (Array.isArray(pair) && pair[0] != null && classifyRedisError(pair[0]) === 'failure') {
        return 'failure';
      }
    }
    return 'success';
  }
}

/**
 * The classifier of every Redis dependency. Replies of single commands are
 * always successes (an error reply rejects the command and is judged above);
 * pipelines hand over a `BatchOutcome`. Redis has no Retry-After.
 */
export const redisClassifier: Classifier = Object.freeze({
  classifyResult(value: unknown): Verdict {
    return value instanceof BatchOutcome ? value.verdict() : 'success';
  },
  classifyError: classifyRedisError,
  retryAfterMs(): undefined {
    return undefined;
  },
});
