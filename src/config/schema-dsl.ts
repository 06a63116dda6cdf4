import { parseDuration } from './duration';

/**
 * A tiny validating schema language. Each field knows its accepted range as a
 * phrase ("an integer from 1 to 1000"), so every error names the key, the bad
 * value, the range and — through `sourceOf` — where the value came from.
 * Strings are coerced where a human would write them that way (environment
 * variables are always strings): "5" is a number, "true" a boolean.
 */
export interface ConfigIssue {
  readonly path: string;
  readonly value: unknown;
  readonly problem: string;
  readonly source: string | undefined;
}

export class ParseContext {
  readonly issues: ConfigIssue[] = [];
  constructor(readonly sourceOf: (path: string) => string | undefined = () => undefined) {}

  fail(path: string, value: unknown, problem: string): typeof INVALID {
    this.issues.push({ path, value, problem, source: this.sourceOf(path) });
    return INVALID;
  }
}

export const INVALID: unique symbol = Symbol('invalid');
type Parsed<T> = T | typeof INVALID;

export abstract class Schema<T, I = T> {
  /** Type-level only: what a caller may pass in (durations as "5s" or ms, for example). */
  declare readonly input: I;
  doc = '';
  /** Human-readable default for the reference docs. */
  defaultText: string | undefined = undefined;

  /** Parse a present (non-undefined) value. */
  abstract parseValue(value: unknown, path: string, ctx: ParseContext): Parsed<T>;
  /** The phrase used in errors and docs: "an integer from 1 to 10". */
  abstract get expected(): string;

  parse(value: unknown, path: string, ctx: ParseContext): Parsed<T> {
    if (value === undefined) return ctx.fail(path, value, `is required (${this.expected})`);
    return this.parseValue(value, path, ctx);
  }

  describe(doc: string, defaultText?: unknown): this {
    this.doc = doc;
    if (defaultText !== undefined)
      this.defaultText =
        typeof defaultText === 'string' ? defaultText : JSON.stringify(defaultText);
    return this;
  }

  optional(): OptionalSchema<T, I> {
    const optional = new OptionalSchema<T, I>(this);
    optional.doc = this.doc;
    optional.defaultText = this.defaultText;
    return optional;
  }
}

export type Infer<S> = S extends Schema<infer T, unknown> ? T : never;
export type InferInput<S> = S extends Schema<unknown, infer I> ? I : never;

export class OptionalSchema<T, I = T> extends Schema<T | undefined, I | undefined> {
  constructor(readonly inner: Schema<T, I>) {
    super();
  }
  get expected(): string {
    return this.inner.expected;
  }
  override parse(value: unknown, path: string, ctx: ParseContext): Parsed<T | undefined> {
    return value === undefined || value === null
      ? undefined
      : this.inner.parseValue(value, path, ctx);
  }
  parseValue(value: unknown, path: string, ctx: ParseContext): Parsed<T | undefined> {
    return this.inner.parseValue(value, path, ctx);
  }
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function coerceNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  return undefined;
}

export class NumberSchema extends Schema<number> {
  constructor(
    readonly min: number,
    readonly max: number,
    readonly integer: boolean,
  ) {
    super();
  }
  get expected(): string {
    return `${this.integer ? 'an integer' : 'a number'} from ${this.min} to ${this.max}`;
  }
  parseValue(value: unknown, path: string, ctx: ParseContext): Parsed<number> {
    const n = coerceNumber(value);
    if (
      n === undefined ||
      !Number.isFinite(n) ||
      (this.integer && !Number.isInteger(n)) ||
      n < this.min ||
      n > this.max
    ) {
      return ctx.fail(path, value, `${show(value)} is not ${this.expected}`);
    }
    return n;
  }
}

/** Durations: "250ms", "5s", "1m", "1h" or a number of milliseconds. Parsed to milliseconds. */
export class DurationSchema extends Schema<number, number | string> {
  constructor(
    readonly minMs: number,
    readonly maxMs: number,
  ) {
    super();
  }
  get expected(): string {
    return `a duration from ${formatMs(this.minMs)} to ${formatMs(this.maxMs)} (e.g. "250ms", "5s", "1m", or milliseconds)`;
  }
  parseValue(value: unknown, path: string, ctx: ParseContext): Parsed<number> {
    const ms = parseDuration(value);
    if (ms === undefined || ms < this.minMs || ms > this.maxMs) {
      return ctx.fail(path, value, `${show(value)} is not ${this.expected}`);
    }
    return ms;
  }
}

export function formatMs(ms: number): string {
  if (ms === 0) return '0';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export class BooleanSchema extends Schema<boolean> {
  get expected(): string {
    return 'true or false';
  }
  parseValue(value: unknown, path: string, ctx: ParseContext): Parsed<boolean> {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    return ctx.fail(path, value, `${show(value)} is not ${this.expected}`);
  }
}

export class EnumSchema<T extends string> extends Schema<T> {
  constructor(readonly values: readonly T[]) {
    super();
  }
  get expected(): string {
    return `one of ${this.values.map(v => `"${v}"`).join(', ')}`;
  }
  parseValue(value: unknown, path: string, ctx: ParseContext): Parsed<T> {
    if (typeof value === 'string' && (this.values as readonly string[]).includes(value))
      return value as T;
    return ctx.fail(path, value, `${show(value)} is not ${this.expected}`);
  }
}

export class StringSchema extends Schema<string> {
  /** Never shown in errors (passwords, URLs that may carry one). */
  sensitive = false;

  constructor(
    readonly pattern?: RegExp,
    readonly patternText?: string,
  ) {
    super();
  }
  get expected(): string {
    return this.patternText ?? 'a non-empty string';
  }
  /** Keep the value out of error messages and issues. */
  secret(): this {
    this.sensitive = true;
    return this;
  }
  parseValue(value: unknown, path: string, ctx: ParseContext): Parsed<string> {
    if (
      typeof value !== 'string' ||
      value.trim() === '' ||
      (this.pattern !== undefined && !this.pattern.test(value))
    ) {
      if (this.sensitive) {
        return ctx.fail(
          path,
          '[redacted]',
          `the value (not shown: it may hold credentials) is not ${this.expected}`,
        );
      }
      return ctx.fail(path, value, `${show(value)} is not ${this.expected}`);
    }
    return value;
  }
}

export class LiteralSchema<T extends number | string> extends Schema<T> {
  constructor(readonly literal: T) {
    super();
  }
  get expected(): string {
    return JSON.stringify(this.literal);
  }
  parseValue(value: unknown, path: string, ctx: ParseContext): Parsed<T> {
    if (value === this.literal || String(value) === String(this.literal)) return this.literal;
    return ctx.fail(path, value, `${show(value)} is not supported (expected ${this.expected})`);
  }
}

/** A list; from a string (environment) it splits on commas. */
export class ListSchema<T, I = T> extends Schema<T[], I[] | string> {
  constructor(readonly item: Schema<T, I>) {
    super();
  }
  get expected(): string {
    return `a list of ${this.item.expected}`;
  }
  parseValue(value: unknown, path: string, ctx: ParseContext): Parsed<T[]> {
    const items =
      typeof value === 'string'
        ? value
            .split(',')
            .map(s => s.trim())
            .filter(s => s !== '')
        : value;
    if (!Array.isArray(items))
      return ctx.fail(path, value, `${show(value)} is not ${this.expected}`);
    const out: T[] = [];
    let ok = true;
    items.forEach((item, i) => {
      const parsed = this.item.parse(item, `${path}[${i}]`, ctx);
      if (parsed === INVALID) ok = false;
      else out.push(parsed);
    });
    return ok ? out : INVALID;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- variance: any input type is acceptable in a shape
type Shape = Record<string, Schema<unknown, any>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends OptionalSchema<unknown, unknown> ? K : never;
}[keyof S];
type Flatten<T> = { [K in keyof T]: T[K] };
/** Keys whose schema is optional become optional properties. */
type InferShape<S extends Shape> = Flatten<
  { -readonly [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & {
    -readonly [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined>;
  }
>;

type InferInputShape<S extends Shape> = Flatten<
  { readonly [K in Exclude<keyof S, OptionalKeys<S>>]: InferInput<S[K]> } & {
    readonly [K in OptionalKeys<S>]?: Exclude<InferInput<S[K]>, undefined>;
  }
>;

export class ObjectSchema<S extends Shape> extends Schema<InferShape<S>, InferInputShape<S>> {
  constructor(readonly shape: S) {
    super();
  }
  get expected(): string {
    return 'an object';
  }
  parseValue(value: unknown, path: string, ctx: ParseContext): Parsed<InferShape<S>> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return ctx.fail(path, value, `${show(value)} is not an object`);
    }
    const input = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    let ok = true;
    for (const key of Object.keys(input)) {
      if (!(key in this.shape)) {
        const suggestion = closest(key, Object.keys(this.shape));
        ctx.fail(
          join(path, key),
          input[key],
          `is not a known key (value ${show(input[key])}${suggestion === undefined ? '' : `; did you mean "${suggestion}"?`})`,
        );
        ok = false;
      }
    }
    for (const [key, schema] of Object.entries(this.shape)) {
      const parsed = schema.parse(input[key], join(path, key), ctx);
      if (parsed === INVALID) ok = false;
      else if (parsed !== undefined) out[key] = parsed;
    }
    return ok ? (out as InferShape<S>) : INVALID;
  }
}

/** `false` (switch off) or the object form: `bulkhead: false` or `bulkhead: { maxConcurrent: 10 }`. */
export class SwitchableSchema<T, I = T> extends Schema<T | false, I | boolean> {
  constructor(
    readonly inner: Schema<T, I>,
    readonly allowTrue: T | undefined = undefined,
  ) {
    super();
  }
  get expected(): string {
    return this.allowTrue === undefined
      ? `false or ${this.inner.expected}`
      : `true, false or ${this.inner.expected}`;
  }
  parseValue(value: unknown, path: string, ctx: ParseContext): Parsed<T | false> {
    if (value === false || value === 'false') return false;
    if ((value === true || value === 'true') && this.allowTrue !== undefined) return this.allowTrue;
    if (typeof value === 'boolean')
      return ctx.fail(path, value, `${show(value)} is not ${this.expected}`);
    return this.inner.parseValue(value, path, ctx);
  }
}

export function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = levenshtein(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

export const s = {
  int: (min: number, max: number) => new NumberSchema(min, max, true),
  number: (min: number, max: number) => new NumberSchema(min, max, false),
  duration: (minMs: number, maxMs: number) => new DurationSchema(minMs, maxMs),
  boolean: () => new BooleanSchema(),
  literal: <T extends number | string>(value: T) => new LiteralSchema(value),
  enum: <T extends string>(values: readonly T[]) => new EnumSchema(values),
  string: (pattern?: RegExp, patternText?: string) => new StringSchema(pattern, patternText),
  list: <T, I>(item: Schema<T, I>) => new ListSchema(item),
  object: <S extends Shape>(shape: S) => new ObjectSchema(shape),
  switchable: <T, I>(inner: Schema<T, I>, whenTrue?: T) => new SwitchableSchema(inner, whenTrue),
};
