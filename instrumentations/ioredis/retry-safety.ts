/**
 * What kind of Redis command a call is, decided by name with one Map lookup:
 *
 * - READ_ONLY: safe to send again after a failed attempt (retried as a new Command).
 * - BLOCKING: may legitimately wait for as long as its own timeout argument says
 *   (BLPOP … 30): no attempt timeout, no retry, no bulkhead slot; only an open
 *   breaker turns it away.
 * - BLOCK_OPTION: blocking only when called with `BLOCK` (XREAD, XREADGROUP).
 * - BYPASS: connection state, not work. Pub/sub (SUBSCRIBE …, MONITOR) and what
 *   ioredis itself sends while (re)connecting (HELLO, AUTH, SELECT, CLIENT SETINFO,
 *   INFO as the ready check, READONLY for cluster replicas, CLUSTER SLOTS from
 *   the slot refresher, ASKING) and transaction framing (MULTI/EXEC/WATCH …).
 *   Rejecting any of these would break ioredis's own recovery (auto-resubscribe,
 *   the reconnect handshake) or leave a server-side transaction half-built, so
 *   they are never policed.
 * - TX_START / TX_END: a `multi({ pipeline: false })` transaction opens and closes
 *   on the connection; everything in between bypasses policies, because a command
 *   we refused would silently drop out of the transaction that EXEC then commits.
 */
export const READ_ONLY = 1;
export const BLOCKING = 2;
export const BLOCK_OPTION = 4;
export const BYPASS = 8;
export const TX_START = 16;
export const TX_END = 32;
/** Pub/sub and MONITOR (also BYPASS): in a pipeline they make the batch breaker-only. */
export const PUBSUB = 64;

/**
 * Commands Redis flags `readonly` and not `blocking`, generated from the command
 * table ioredis ships (`@ioredis/commands` 2.0.0, `commands.json`, which is the
 * output of Redis's `COMMAND` — the same flags ioredis uses to route reads to
 * replicas). The unit test in test/integration/ioredis compares this list with
 * the installed table, so an ioredis upgrade that adds commands shows up there.
 */
const GENERATED_READ_ONLY = `
arcount arget argetrange argrep arinfo arlastitems arlen armget arnext arop arscan
bitcount bitfield_ro bitpos dbsize digest dump eval_ro evalsha_ro exists expiretime
fcall_ro geodist geohash geopos georadius_ro georadiusbymember_ro geosearch get getbit
getrange hexists hexpiretime hget hgetall hkeys hlen hmget hpexpiretime hpttl hrandfield
hscan hstrlen httl hvals keys lcs lindex llen lolwut lpos lrange mget pexpiretime pfcount
pttl randomkey scan scard sdiff sdiffcard sinter sintercard sismember smembers smismember
sort_ro srandmember sscan strlen substr sunion sunioncard touch ttl type vcard vdim vemb
vgetattr vinfo vismember vlinks vrandmember vrange vsim xlen xpending xrange xrevrange
zcard zcount zdiff zinter zintercard zlexcount zmscore zrandmember zrange zrangebylex
zrangebyscore zrank zrevrange zrevrangebylex zrevrangebyscore zrevrank zscan zscore
zunion`;

/** Read-only by nature but not flagged `readonly` by Redis (they touch no keys). Hand-written. */
const EXTRA_READ_ONLY = 'ping echo time lastsave role';

/** Redis's `blocking` flag (generated as above), minus the BLOCK-option pair below. */
const GENERATED_BLOCKING =
  'blmove blmovem blmpop blpop brpop brpoplpush bzmpop bzpopmax bzpopmin wait waitaof';

const BLOCK_OPTION_COMMANDS = 'xread xreadgroup';

/** Hand-written: see BYPASS above. */
const PUBSUB_COMMANDS =
  'subscribe psubscribe ssubscribe unsubscribe punsubscribe sunsubscribe monitor';

/**
 * Hand-written: see BYPASS above. `info` is here because ioredis's ready check sends it;
 * `sentinel` because ioredis asks the sentinels for the master through short-lived clients
 * nobody can mark internal — policing them would let an open breaker block failover.
 */
const CONNECTION_COMMANDS =
  'auth hello select quit reset client readonly readwrite asking cluster info watch unwatch sentinel';

const KINDS = new Map<string, number>();

function add(names: string, kind: number): void {
  for (const name of names.split(/\s+/))
    if (name !== '') KINDS.set(name, (KINDS.get(name) ?? 0) | kind);
}

add(GENERATED_READ_ONLY, READ_ONLY);
add(EXTRA_READ_ONLY, READ_ONLY);
add(GENERATED_BLOCKING, BLOCKING);
add(BLOCK_OPTION_COMMANDS, BLOCK_OPTION | READ_ONLY);
KINDS.set('xreadgroup', BLOCK_OPTION); // XREADGROUP moves entries into the pending list: a write.
add(PUBSUB_COMMANDS, BYPASS | PUBSUB);
add(CONNECTION_COMMANDS, BYPASS);
KINDS.set('multi', BYPASS | TX_START);
KINDS.set('exec', BYPASS | TX_END);
KINDS.set('discard', BYPASS | TX_END);

/**
 * The kind bits of a command name. ioredis passes names lower-cased except
 * through `redis.call('GET', …)`, which keeps the caller's spelling.
 */
export function commandKind(name: string): number {
  const kind = KINDS.get(name);
  if (kind !== undefined) return kind;
  return typeof name === 'string' ? (KINDS.get(name.toLowerCase()) ?? 0) : 0;
}

/** XREAD/XREADGROUP block only when given a `BLOCK <ms>` option. */
export function hasBlockOption(args: readonly unknown[]): boolean {
  for (const arg of args) {
    const text = typeof arg === 'string' ? arg : Buffer.isBuffer(arg) ? arg.toString() : undefined;
    if (text !== undefined && text.length === 5 && text.toUpperCase() === 'BLOCK') return true;
  }
  return false;
}

/** Whether a command blocks, given its kind bits. */
export function isBlocking(kind: number, args: readonly unknown[]): boolean {
  return (kind & BLOCKING) !== 0 || ((kind & BLOCK_OPTION) !== 0 && hasBlockOption(args));
}

/** For tests and docs: every name with the given kind bit. */
export function commandsWith(kind: number): string[] {
  return [...KINDS].filter(([, bits]) => (bits & kind) !== 0).map(([name]) => name);
}
