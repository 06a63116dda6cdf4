/**
 * The Lua scripts behind every atomic store operation. ioredis sends them with
 * EVALSHA and falls back to EVAL on NOSCRIPT (a restarted or failed-over
 * server), so each costs one round trip.
 *
 * Conventions, all of them deliberate:
 *
 * - Time comes from the server (`TIME`), never from the caller, so hosts with
 *   skewed clocks agree on TTLs, windows and permit buckets. (Redis ≥ 5
 *   replicates script effects, not scripts, so `TIME` before a write is safe.)
 * - Versions are `max(previous + 1, server time in µs)`: strictly increasing
 *   per key, and never reused after a delete or an expiry (no ABA), without a
 *   global counter key that would break Cluster slot locality. They stay below
 *   2^53, exact as JavaScript numbers.
 * - Numbers handed back to Redis are formatted explicitly: Lua 5.1 would turn
 *   them into strings with 14 significant digits, which loses microseconds and
 *   millisecond fractions. `%.17g` round-trips every double exactly.
 * - "Absent" is the integer 0 and never a Lua boolean, whose reply type differs
 *   between RESP2 and RESP3 clients.
 * - A script touches only the keys it is given, and all keys of one call share
 *   a hash tag (src/store/redis/keys.ts), so every script works on Redis Cluster.
 */
export interface ScriptDefinition {
  readonly numberOfKeys: number;
  readonly lua: string;
}

const PRELUDE = `
local function num(x) return string.format('%.17g', x) end
local function int(x) return string.format('%.0f', x) end
local function nowUs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
`;

/** Drop up to 1000 expired records of a collection (KEYS: index, data, expiry). */
const PRUNE = `
local function prune(nowMs)
  local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', num(nowMs), 'LIMIT', 0, 1000)
  if #ids > 0 then
    redis.call('ZREM', KEYS[1], unpack(ids))
    redis.call('HDEL', KEYS[2], unpack(ids))
    redis.call('ZREM', KEYS[3], unpack(ids))
  end
end
local function versionOf(raw)
  return tonumber(string.sub(raw, 1, string.find(raw, ':', 1, true) - 1))
end
`;

function script(numberOfKeys: number, body: string, ...parts: string[]): ScriptDefinition {
  return Object.freeze({ numberOfKeys, lua: [PRELUDE, ...parts, body].join('\n') });
}

export const SCRIPTS = {
  /** KEYS: value. ARGV: value, ttl ms ('' = none), expected version ('' = any, 0 = absent). Returns the new version or 0. */
  baldurSet: script(
    1,
    `
local current = redis.call('HGET', KEYS[1], 'n')
local version = 0
if current then version = tonumber(current) end
if ARGV[3] ~= '' and version ~= tonumber(ARGV[3]) then return 0 end
local nextVersion = math.max(version + 1, nowUs())
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'n', int(nextVersion))
if ARGV[2] == '' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return nextVersion
`,
  ),

  /** KEYS: value. ARGV: expected version. Returns 1 when deleted. */
  baldurDelete: script(
    1,
    `
local current = redis.call('HGET', KEYS[1], 'n')
if not current or tonumber(current) ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
`,
  ),

  /** KEYS: value. ARGV: delta, window ms. Returns {value, ms until the window ends (-1 = never)}. */
  baldurIncrement: script(
    1,
    `
local fields = redis.call('HMGET', KEYS[1], 'v', 'n')
local now = nowUs()
local delta = tonumber(ARGV[1])
if not fields[1] then
  redis.call('HSET', KEYS[1], 'v', num(delta), 'n', int(now))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {num(delta), tonumber(ARGV[2])}
end
local value = (tonumber(fields[1]) or 0) + delta
redis.call('HSET', KEYS[1], 'v', num(value), 'n', int(math.max((tonumber(fields[2]) or 0) + 1, now)))
return {num(value), redis.call('PTTL', KEYS[1])}
`,
  ),

  /** KEYS: value. ARGV: value, ttl ms. Returns the stored maximum (as written). */
  baldurRaise: script(
    1,
    `
local fields = redis.call('HMGET', KEYS[1], 'v', 'n')
if fields[1] then
  local existing = tonumber(fields[1])
  if existing and existing >= tonumber(ARGV[1]) then return fields[1] end
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'n', int(math.max((tonumber(fields[2]) or 0) + 1, nowUs())))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return ARGV[1]
`,
  ),

  /**
   * KEYS: bucket. ARGV: requested, limit, per ms, burst, [now ms — tests only: the
   * script is checked against gcraTake with the same inputs].
   * Returns {granted, retry after ms}. Mirrors src/store/gcra-take.ts operation
   * for operation (the same IEEE doubles, the same order), including the
   * rounding tolerance of src/core/policies/rate-limit/gcra.ts.
   */
  baldurTakePermits: script(
    1,
    `
local requested = tonumber(ARGV[1])
local perMs = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local nowMs
local given = ARGV[5] and ARGV[5] ~= ''
if given then nowMs = tonumber(ARGV[5]) else nowMs = nowUs() / 1000 end
local fields = redis.call('HMGET', KEYS[1], 'v', 'n')
local stored = nowMs
if fields[1] then stored = tonumber(fields[1]) or nowMs end
local intervalMs = perMs / tonumber(ARGV[2])
local arrivalMs = math.max(stored, nowMs)
local toleranceMs = math.max(intervalMs * 1e-9, math.abs(nowMs) * 16 * 2.220446049250313e-16)
local room = math.floor((nowMs - arrivalMs + toleranceMs) / intervalMs + burst)
local granted = math.max(0, math.min(requested, room))
if granted == 0 then
  return {0, num(math.max(0, arrivalMs + intervalMs - burst * intervalMs - nowMs))}
end
local nextMs = arrivalMs + granted * intervalMs
local ttlMs = math.ceil(nextMs - nowMs) + 1
local version = math.max((tonumber(fields[2]) or 0) + 1, math.floor(nowMs * 1000))
redis.call('HSET', KEYS[1], 'v', num(nextMs), 'n', int(version))
-- With a given time (tests), real time does not pass with it: keep the bucket for a minute.
if given then ttlMs = 60000 end
redis.call('PEXPIRE', KEYS[1], int(ttlMs))
return {granted, '0'}
`,
  ),

  /** KEYS: index, data, expiry. ARGV: id, value, max records, ttl ms ('' = none). Returns the version. */
  baldurAddRecord: script(
    3,
    `
local lifetime = redis.call('PTTL', KEYS[1])
local now = nowUs()
prune(now / 1000)
local sequence = now
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if top[2] then sequence = math.max(tonumber(top[2]) + 1, now) end
local version = sequence
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then version = math.max(version, versionOf(old) + 1) end
redis.call('ZADD', KEYS[1], num(sequence), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], int(version) .. ':' .. ARGV[2])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('ZADD', KEYS[3], num(now / 1000 + tonumber(ARGV[4])), ARGV[1])
end
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if excess > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], excess)
  local ids = {}
  for i = 1, #popped, 2 do ids[#ids + 1] = popped[i] end
  for i = 1, #ids, 1000 do
    local chunk = {unpack(ids, i, math.min(i + 999, #ids))}
    redis.call('HDEL', KEYS[2], unpack(chunk))
    redis.call('ZREM', KEYS[3], unpack(chunk))
  end
end
-- The collection lives as long as its longest-lived record (a record without ttl: for ever).
for i = 1, 3 do
  if ARGV[4] == '' or lifetime == -1 then
    redis.call('PERSIST', KEYS[i])
  else
    redis.call('PEXPIRE', KEYS[i], int(math.max(lifetime, tonumber(ARGV[4]))))
  end
end
return version
`,
    PRUNE,
  ),

  /** KEYS: data, expiry. ARGV: id. Returns '<version>:<value>' or 0. */
  baldurGetRecord: script(
    2,
    `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
if expiry and tonumber(expiry) <= nowUs() / 1000 then return 0 end
return raw
`,
  ),

  /** KEYS: data, expiry. ARGV: id, value, expected version ('' = any). Returns the new version or 0. */
  baldurUpdateRecord: script(
    2,
    `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local now = nowUs()
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
if expiry and tonumber(expiry) <= now / 1000 then return 0 end
local version = tonumber(string.sub(raw, 1, string.find(raw, ':', 1, true) - 1))
if ARGV[3] ~= '' and version ~= tonumber(ARGV[3]) then return 0 end
local nextVersion = math.max(version + 1, now)
redis.call('HSET', KEYS[1], ARGV[1], int(nextVersion) .. ':' .. ARGV[2])
return nextVersion
`,
  ),

  /**
   * KEYS: index, data, expiry. ARGV: limit, before id ('' = from the newest).
   * Returns {id, '<version>:<value>', …}, newest first.
   */
  baldurListRecords: script(
    3,
    `
local nowMs = nowUs() / 1000
prune(nowMs)
local max = '+inf'
if ARGV[2] ~= '' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
  if not score then return {} end
  max = '(' .. score
end
local limit = tonumber(ARGV[1])
local stale = redis.call('ZCOUNT', KEYS[3], '-inf', num(nowMs)) > 0
local out = {}
local offset = 0
while #out < limit * 2 do
  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, '-inf', 'LIMIT', offset, limit)
  if #ids == 0 then break end
  offset = offset + #ids
  local raws = redis.call('HMGET', KEYS[2], unpack(ids))
  for i, id in ipairs(ids) do
    local live = raws[i]
    if live and stale then
      local expiry = redis.call('ZSCORE', KEYS[3], id)
      if expiry and tonumber(expiry) <= nowMs then live = false end
    end
    if live and #out < limit * 2 then
      out[#out + 1] = id
      out[#out + 1] = live
    end
  end
  if #ids < limit then break end
end
return out
`,
    PRUNE,
  ),

  /** KEYS: index, expiry. Returns the number of live records. */
  baldurCountRecords: script(
    2,
    `
return redis.call('ZCARD', KEYS[1]) - redis.call('ZCOUNT', KEYS[2], '-inf', num(nowUs() / 1000))
`,
  ),

  /** KEYS: index, data, expiry. ARGV: id. Returns 1 when a live record was removed. */
  baldurRemoveRecord: script(
    3,
    `
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local expiry = redis.call('ZSCORE', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if expiry and tonumber(expiry) <= nowUs() / 1000 then return 0 end
return 1
`,
  ),
} as const satisfies Record<string, ScriptDefinition>;

export type ScriptName = keyof typeof SCRIPTS;
