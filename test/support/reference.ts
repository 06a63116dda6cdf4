/**
 * Reference tables generated from the registries (config schema, env vars,
 * error codes, metrics). The README holds them between `<!-- generated:NAME -->`
 * markers; test/unit/docs/readme.test.ts fails when they drift, and
 * `npm run docs` rewrites them.
 */
import { configSchema } from '../../src/config/schema';
import {
  ObjectSchema,
  OptionalSchema,
  SwitchableSchema,
  ListSchema,
  type Schema,
} from '../../src/config/schema-dsl';
import { ENV_VARS } from '../../src/names/env-vars';
import { ERROR_CODES, ERROR_CODE_DOCS } from '../../src/names/error-codes';
import { METRIC_LIST } from '../../src/names/metrics';

function row(cells: readonly string[]): string {
  return `| ${cells.map(c => c.replace(/\|/g, '\\|')).join(' | ')} |`;
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return [row(headers), row(headers.map(() => '---')), ...rows.map(row)].join('\n');
}

function unwrap(schema: Schema<unknown, unknown>): Schema<unknown, unknown> {
  let current = schema;
  while (current instanceof OptionalSchema) current = current.inner as Schema<unknown, unknown>;
  return current;
}

/** Walk the schema: one row per leaf key, objects recursed (lists of objects as `key[]`). */
function configRows(schema: Schema<unknown, unknown>, path: string, out: string[][]): void {
  let inner = unwrap(schema);
  let prefix = '';
  if (inner instanceof SwitchableSchema) {
    prefix = inner.allowTrue === undefined ? '`false` or: ' : '`true`, `false` or: ';
    inner = inner.inner as Schema<unknown, unknown>;
  }
  if (
    inner instanceof ListSchema &&
    unwrap(inner.item as Schema<unknown, unknown>) instanceof ObjectSchema
  ) {
    if (schema.doc !== '') out.push([`\`${path}[]\``, `list — ${schema.doc}`, '']);
    configRows(inner.item as Schema<unknown, unknown>, `${path}[]`, out);
    return;
  }
  if (inner instanceof ObjectSchema) {
    if (path !== '' && schema.doc !== '')
      out.push([`\`${path}\``, `${prefix}${schema.doc}`, schema.defaultText ?? '']);
    for (const [key, child] of Object.entries(inner.shape)) {
      // Each dependencies[] entry takes the same policy keys as `defaults`; list them once.
      if (path === 'dependencies[]' && key !== 'match' && key !== 'name') continue;
      configRows(child as Schema<unknown, unknown>, path === '' ? key : `${path}.${key}`, out);
    }
    if (path === 'dependencies[]') {
      out.push([
        '`dependencies[].<policy>`',
        'any key of `defaults` (`circuitBreaker`, `retry`, `timeout`, …), merged over it',
        '',
      ]);
    }
    return;
  }
  const accepted = inner.expected.replace(/ \(e\.g\. .*\)$/, '');
  out.push([
    `\`${path}\``,
    `${schema.doc}${schema.doc === '' ? '' : ' — '}${accepted}`,
    schema.defaultText ?? '',
  ]);
}

export function renderConfigReference(): string {
  const rows: string[][] = [];
  configRows(configSchema, '', rows);
  return table(['key', 'meaning and accepted values', 'default'], rows);
}

export function renderEnvReference(): string {
  return table(
    ['variable', 'config key', 'meaning'],
    ENV_VARS.map(v => [
      `\`${v.name}\``,
      v.path === undefined ? '—' : `\`${v.path}\``,
      v.description,
    ]),
  );
}

export function renderErrorReference(): string {
  return table(
    ['code', 'meaning'],
    Object.values(ERROR_CODES).map(code => [`\`${code}\``, ERROR_CODE_DOCS[code]]),
  );
}

export function renderMetricReference(): string {
  return table(
    ['metric (OTel name)', 'kind', 'unit', 'attributes', 'meaning'],
    METRIC_LIST.map(m => [
      `\`${m.name}\``,
      m.kind,
      `\`${m.unit}\``,
      m.attributes.map(a => `\`${a}\``).join(', '),
      m.description,
    ]),
  );
}

export const GENERATED_SECTIONS: Record<string, () => string> = {
  config: renderConfigReference,
  env: renderEnvReference,
  errors: renderErrorReference,
  metrics: renderMetricReference,
};

/** Replace each generated block in `readme`; returns the new text. */
export function updateReadme(readme: string): string {
  let out = readme;
  for (const [name, render] of Object.entries(GENERATED_SECTIONS)) {
    const begin = `<!-- generated:${name} -->`;
    const end = `<!-- /generated:${name} -->`;
    const start = out.indexOf(begin);
    const stop = out.indexOf(end);
    if (start === -1 || stop === -1)
      throw new Error(`README is missing the ${begin} … ${end} block`);
    out = `${out.slice(0, start + begin.length)}\n${render()}\n${out.slice(stop)}`;
  }
  return out;
}
