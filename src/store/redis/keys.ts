/**
 * Where each piece of state lives in Redis. Every key starts with the
 * configured prefix (`BALDUR_KEY_PREFIX`, default `baldur`) and carries a hash
 * tag — the part in `{…}` — so that all keys one script touches hash to the
 * same Redis Cluster slot:
 *
 * | state                         | key                 | type | content                                  |
 * |-------------------------------|---------------------|------|------------------------------------------|
 * | value, counter, maximum, GCRA | `P:k:{key}`         | HASH | `v` value, `n` version; PEXPIRE = ttl     |
 * | record collection: order      | `P:r:{collection}:i`| ZSET | record id → insertion sequence           |
 * | record collection: records    | `P:r:{collection}:d`| HASH | record id → `<version>:<value>`          |
 * | record collection: expiry     | `P:r:{collection}:x`| ZSET | record id → expiry (server ms), if a ttl |
 * | pub/sub channel               | `P:ch:channel`      | —    | PUBLISH / SUBSCRIBE                      |
 *
 * Keys and collection names are opaque strings: inside the tag, `%` and `}`
 * are percent-encoded (a `}` would end the tag early) and the empty string is
 * written `%`, so the encoding is injective and a tag is never empty (an empty
 * tag would hash the whole key name, splitting a collection across slots).
 */
export interface CollectionKeys {
  /** ZSET: id → insertion sequence (newest = highest). */
  readonly index: string;
  /** HASH: id → `<version>:<value>`. */
  readonly data: string;
  /** ZSET: id → expiry in server milliseconds (records written with a ttl only). */
  readonly expiry: string;
}

export class KeyLayout {
  constructor(readonly prefix: string) {}

  value(key: string): string {
    return `${this.prefix}:k:{${tag(key)}}`;
  }

  collection(name: string): CollectionKeys {
    const base = `${this.prefix}:r:{${tag(name)}}`;
    return { index: `${base}:i`, data: `${base}:d`, expiry: `${base}:x` };
  }

  channel(name: string): string {
    return `${this.prefix}:ch:${name}`;
  }

  /** The channel name a subscriber sees, back to the port's name (undefined: not ours). */
  channelName(fullName: string): string | undefined {
    const head = `${this.prefix}:ch:`;
    return fullName.startsWith(head) ? fullName.slice(head.length) : undefined;
  }

  /** SCAN pattern matching every key of this prefix (the prefix is [A-Za-z0-9_], no glob characters). */
  get pattern(): string {
    return `${this.prefix}:*`;
  }
}

export function tag(name: string): string {
  if (name === '') return '%';
  return name.replace(/%/g, '%25').replace(/\}/g, '%7D');
}
