import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  BLOCKING,
  BYPASS,
  READ_ONLY,
  commandKind,
  commandsWith,
  isBlocking,
} from '../../../instrumentations/ioredis/retry-safety';

interface CommandSpec {
  readonly flags: readonly string[];
}

// The command table ioredis itself ships (Redis's COMMAND flags), for the installed version.
const require = createRequire(__filename);
const table = require('@ioredis/commands/built/commands.json') as Record<string, CommandSpec>;
const withFlag = (flag: string): string[] =>
  Object.keys(table).filter(name => table[name]!.flags.includes(flag));

/** Which commands the agent may send twice, checked against Redis's own command flags. */
describe('ioredis retry safety', () => {
  it('retries exactly what Redis flags read-only (and a few key-less reads), never a write or a blocking command', () => {
    const readOnly = withFlag('readonly').filter(name => !table[name]!.flags.includes('blocking'));
    const retried = commandsWith(READ_ONLY).filter(name => name !== 'xread');
    expect(retried.sort()).toEqual(
      [...readOnly, 'echo', 'lastsave', 'ping', 'role', 'time'].sort(),
    );
    for (const name of withFlag('write')) expect(commandKind(name) & READ_ONLY, name).toBe(0);
    for (const name of [
      'get',
      'GET',
      'mget',
      'hgetall',
      'exists',
      'ttl',
      'scan',
      'zrange',
      'evalsha_ro',
    ])
      expect(commandKind(name) & READ_ONLY, name).toBe(READ_ONLY);
    for (const name of [
      'incr',
      'set',
      'INCR',
      'lpush',
      'eval',
      'evalsha',
      'publish',
      'xreadgroup',
      'nosuchcommand',
    ])
      expect(commandKind(name) & READ_ONLY, name).toBe(0);
  });

  it('treats every command Redis flags blocking as blocking, XREAD only with BLOCK', () => {
    for (const name of withFlag('blocking').filter(n => !n.startsWith('xread')))
      expect(isBlocking(commandKind(name), []), name).toBe(true);
    for (const name of ['xread', 'xreadgroup']) {
      expect(isBlocking(commandKind(name), ['COUNT', 1, 'STREAMS', 's', '0']), name).toBe(false);
      expect(isBlocking(commandKind(name), ['BLOCK', 0, 'STREAMS', 's', '$']), name).toBe(true);
      expect(
        isBlocking(commandKind(name), [Buffer.from('block'), 10, 'STREAMS', 's', '$']),
        name,
      ).toBe(true);
    }
    expect(commandKind('blpop') & BLOCKING).toBe(BLOCKING);
  });

  it('never polices pub/sub, connection set-up or transaction framing', () => {
    for (const name of [
      ...withFlag('pubsub').filter(n => !n.endsWith('publish')),
      'monitor',
      'hello',
      'auth',
      'select',
      'info',
      'multi',
      'exec',
      'quit',
      'sentinel', // ioredis's master lookup through the sentinels
    ])
      expect(commandKind(name) & BYPASS, name).toBe(BYPASS);
    expect(commandKind('publish') & BYPASS).toBe(0);
  });
});
