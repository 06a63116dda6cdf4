/**
 * Versioned JSON codecs for everything the fleet layer stores or publishes.
 * Every encoded value is a JSON object whose first field is `v`, the codec
 * version. Decoding never throws: a value this version cannot read (garbage,
 * a missing field, a newer `v` written by a newer agent) comes back as a
 * `FleetDecodeError`, which the caller reports and otherwise ignores. Extra
 * fields are ignored, so a later minor addition stays readable.
 */
export class FleetDecodeError extends Error {
  override readonly name = 'FleetDecodeError';
  constructor(
    /** Which codec failed (`breaker`, `control`, …). */
    readonly codec: string,
    message: string,
  ) {
    super(`unreadable ${codec} value: ${message}`);
  }
}

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: FleetDecodeError };

/** A field check: does `value` have the field's type? */
export type Check<T> = (value: unknown) => value is T;

export type Fields<T> = { readonly [K in keyof T]-?: Check<T[K]> };

export interface Codec<T> {
  readonly name: string;
  readonly version: number;
  encode(value: T): string;
  /** The encoded object before JSON text (to nest in a message). */
  toObject(value: T): Record<string, unknown>;
  decode(text: string): Decoded<T>;
  /** Check an already parsed object (a payload nested in a message). */
  decodeObject(value: unknown): Decoded<T>;
}

export const is = {
  string: ((value: unknown) => typeof value === 'string') as Check<string>,
  /** A finite number. */
  number: ((value: unknown) =>
    typeof value === 'number' && Number.isFinite(value)) as Check<number>,
  boolean: ((value: unknown) => typeof value === 'boolean') as Check<boolean>,
  oneOf<const V extends string>(values: readonly V[]): Check<V> {
    return ((value: unknown) =>
      typeof value === 'string' && values.includes(value as V)) as Check<V>;
  },
  optional<T>(check: Check<T>): Check<T | undefined> {
    return (value: unknown) => value === undefined || check(value);
  },
  /** A plain object whose fields pass `fields` (extra fields allowed). */
  object<T>(fields: Fields<T>): Check<T> {
    return ((value: unknown) => checkFields(value, fields) === undefined) as Check<T>;
  },
  /** An array of items passing `item`. */
  array<T>(item: Check<T>): Check<T[]> {
    return (value: unknown) => Array.isArray(value) && value.every(item);
  },
};

/** The first field of `value` that fails its check, or undefined when all pass. */
function checkFields<T>(value: unknown, fields: Fields<T>): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return '(not an object)';
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(fields) as (keyof T & string)[]) {
    if (!fields[key](record[key])) return key;
  }
  return undefined;
}

export function defineCodec<T extends object>(
  name: string,
  version: number,
  fields: Fields<T>,
): Codec<T> {
  const keys = Object.keys(fields) as (keyof T & string)[];
  const decodeObject = (value: unknown): Decoded<T> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return { ok: false, error: new FleetDecodeError(name, 'not a JSON object') };
    const record = value as Record<string, unknown>;
    if (record.v !== version) {
      return {
        ok: false,
        error: new FleetDecodeError(name, `unsupported codec version ${JSON.stringify(record.v)}`),
      };
    }
    const bad = checkFields(record, fields);
    if (bad !== undefined)
      return {
        ok: false,
        error: new FleetDecodeError(name, `field "${bad}" is missing or malformed`),
      };
    const out: Partial<T> = {};
    for (const key of keys) if (record[key] !== undefined) out[key] = record[key] as T[typeof key];
    return { ok: true, value: out as T };
  };
  const toObject = (value: T): Record<string, unknown> => {
    const out: Record<string, unknown> = { v: version };
    for (const key of keys) out[key] = value[key];
    return out;
  };
  return {
    name,
    version,
    encode: (value: T): string => JSON.stringify(toObject(value)),
    toObject,
    decode(text: string): Decoded<T> {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return { ok: false, error: new FleetDecodeError(name, 'not valid JSON') };
      }
      return decodeObject(parsed);
    },
    decodeObject,
  };
}
