import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REPO } from './run-app';

/**
 * Reads the shipped Grafana dashboards and Prometheus rule files, lists every
 * PromQL expression in them (panel targets, annotations, variable queries,
 * alert rules), substitutes Grafana variables and takes expressions apart
 * well enough to check metric and label names against the catalog. Shared by
 * the unit test (names) and the integration test (a real Prometheus).
 */
export const DASHBOARDS_DIR = join(REPO, 'dashboards');

/* eslint-disable @typescript-eslint/no-explicit-any -- Grafana's JSON model is read by property */
export type Json = any;

export interface DashboardFile {
  readonly file: string;
  readonly json: Json;
}

export function loadDashboards(): DashboardFile[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter(file => file.endsWith('.json'))
    .sort()
    .map(file => ({
      file,
      json: JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')),
    }));
}

/** Every panel, rows' nested panels (collapsed rows) included. */
export function panelsOf(dashboard: Json): Json[] {
  const out: Json[] = [];
  for (const panel of (dashboard.panels ?? []) as Json[]) {
    out.push(panel);
    for (const nested of (panel.panels ?? []) as Json[]) out.push(nested);
  }
  return out;
}

export type QueryKind = 'panel' | 'annotation' | 'variable';

export interface DashboardQuery {
  readonly file: string;
  readonly kind: QueryKind;
  /** Where it is, for messages: `baldur-overview.json panel 3 "Calls" A`. */
  readonly where: string;
  readonly expr: string;
  readonly legendFormat?: string;
  readonly panel?: Json;
}

/** Grafana's variable query (`label_values(...)`), as a string whatever the model version. */
export function variableQuery(variable: Json): string | undefined {
  if (variable.type !== 'query') return undefined;
  const query = variable.query as unknown;
  if (typeof query === 'string') return query;
  if (typeof query === 'object' && query !== null && 'query' in query) return String(query.query);
  return undefined;
}

export function queriesOf({ file, json }: DashboardFile): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const panel of panelsOf(json)) {
    for (const target of (panel.targets ?? []) as Json[]) {
      out.push({
        file,
        kind: 'panel',
        where: `${file} panel ${panel.id} "${panel.title}" ${target.refId}`,
        expr: String(target.expr),
        ...(target.legendFormat === undefined ? {} : { legendFormat: String(target.legendFormat) }),
        panel,
      });
    }
  }
  for (const annotation of (json.annotations?.list ?? []) as Json[]) {
    if (annotation.builtIn === 1) continue;
    out.push({
      file,
      kind: 'annotation',
      where: `${file} annotation "${annotation.name}"`,
      expr: String(annotation.expr),
      legendFormat: `${annotation.titleFormat ?? ''} ${annotation.textFormat ?? ''}`,
    });
  }
  for (const variable of (json.templating?.list ?? []) as Json[]) {
    const query = variableQuery(variable);
    if (query === undefined) continue;
    out.push({ file, kind: 'variable', where: `${file} variable $${variable.name}`, expr: query });
  }
  return out;
}

export interface AlertRule {
  readonly file: string;
  readonly group: string;
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

export function ruleFiles(): string[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter(file => /\.ya?ml$/.test(file))
    .sort();
}

export function loadRules(file: string): AlertRule[] {
  const doc = parseYaml(readFileSync(join(DASHBOARDS_DIR, file), 'utf8'));
  const out: AlertRule[] = [];
  for (const group of (doc?.groups ?? []) as Json[]) {
    for (const rule of (group.rules ?? []) as Json[]) {
      out.push({
        file,
        group: String(group.name),
        alert: String(rule.alert ?? rule.record),
        expr: String(rule.expr),
        ...(rule.for === undefined ? {} : { for: String(rule.for) }),
        labels: (rule.labels ?? {}) as Record<string, string>,
        annotations: (rule.annotations ?? {}) as Record<string, string>,
      });
    }
  }
  return out;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Grafana's built-in variables a dashboard may use without defining them. */
export const GRAFANA_BUILTINS = ['__rate_interval', '__interval', '__range'] as const;

/**
 * Replace Grafana variables (`$name`, `${name}`, `${name:format}`, `[[name]]`)
 * with `values`; an unknown variable throws, so a typo cannot slip through.
 */
export function substitute(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g,
    (match, a?: string, b?: string, c?: string) => {
      const name = (a ?? b ?? c)!;
      const value = values[name];
      if (value === undefined) throw new Error(`unknown Grafana variable ${match} in: ${expr}`);
      return value;
    },
  );
}

/** Variable names an expression references. */
export function variablesIn(expr: string): string[] {
  return [...expr.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g)].map(
    m => (m[1] ?? m[2] ?? m[3])!,
  );
}

/** `{{label}}` references of a Grafana legend format. */
export function legendLabels(format: string): string[] {
  return [...format.matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)].map(m => m[1]!);
}

/** `$labels.name` references of a Prometheus alert template. */
export function templateLabels(template: string): string[] {
  return [...template.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)].map(m => m[1]!);
}

// ---------------------------------------------------------------------------
// PromQL, taken apart just enough: selectors with their matchers, grouping
// label lists, function calls, range selectors.

interface Token {
  readonly kind: 'ident' | 'string' | 'number' | 'range' | 'punct' | 'op';
  readonly text: string;
}

const OPERATORS = ['=~', '!~', '!=', '==', '>=', '<=', '=', '>', '<', '+', '-', '*', '/', '%', '^'];

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < expr.length && expr[i] !== '\n') i++;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      let value = '';
      while (j < expr.length && expr[j] !== c) {
        if (expr[j] === '\\' && c !== '`') {
          value += expr[j + 1];
          j += 2;
        } else {
          value += expr[j];
          j++;
        }
      }
      if (j >= expr.length) throw new Error(`unterminated string in: ${expr}`);
      tokens.push({ kind: 'string', text: value });
      i = j + 1;
    } else if (c === '[') {
      const end = expr.indexOf(']', i);
      if (end === -1) throw new Error(`unterminated range in: ${expr}`);
      tokens.push({ kind: 'range', text: expr.slice(i + 1, end).trim() });
      i = end + 1;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const match = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i))!;
      tokens.push({ kind: 'ident', text: match[0] });
      i += match[0].length;
    } else if (/[0-9.]/.test(c)) {
      const match = /^(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?(?:[a-z]+[0-9]*)*)/.exec(
        expr.slice(i),
      )!;
      tokens.push({ kind: 'number', text: match[0] });
      i += match[0].length;
    } else if ('{}(),'.includes(c)) {
      tokens.push({ kind: 'punct', text: c });
      i++;
    } else {
      const op = OPERATORS.find(o => expr.startsWith(o, i));
      if (op === undefined) throw new Error(`unexpected "${c}" in: ${expr}`);
      tokens.push({ kind: 'op', text: op });
      i += op.length;
    }
  }
  return tokens;
}

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'start', 'end']);

export interface Matcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

export interface Selector {
  readonly metric: string | undefined;
  readonly matchers: readonly Matcher[];
}

export interface Grouping {
  readonly keyword: string;
  readonly labels: readonly string[];
}

export interface FunctionCall {
  readonly name: string;
  /** Analysis of the call's arguments. */
  readonly args: PromQLAnalysis;
}

export interface PromQLAnalysis {
  readonly selectors: readonly Selector[];
  readonly groupings: readonly Grouping[];
  readonly calls: readonly FunctionCall[];
  readonly ranges: readonly string[];
}

function matchingParen(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'punct' && t.text === '(') depth++;
    if (t.kind === 'punct' && t.text === ')') {
      depth--;
      if (depth === 0) return i;
    }
  }
  throw new Error('unbalanced parentheses');
}

function parseMatchers(
  tokens: readonly Token[],
  open: number,
): { matchers: Matcher[]; end: number } {
  const matchers: Matcher[] = [];
  let i = open + 1;
  while (i < tokens.length && !(tokens[i]!.kind === 'punct' && tokens[i]!.text === '}')) {
    const label = tokens[i];
    const op = tokens[i + 1];
    const value = tokens[i + 2];
    if (
      label?.kind !== 'ident' ||
      op?.kind !== 'op' ||
      !['=', '!=', '=~', '!~'].includes(op.text) ||
      value?.kind !== 'string'
    ) {
      throw new Error(`malformed label matcher near "${label?.text ?? ''}"`);
    }
    matchers.push({ label: label.text, op: op.text as Matcher['op'], value: value.text });
    i += 3;
    if (tokens[i]?.kind === 'punct' && tokens[i]!.text === ',') i++;
  }
  if (i >= tokens.length) throw new Error('unterminated label matchers');
  return { matchers, end: i };
}

function analyzeTokens(tokens: readonly Token[]): PromQLAnalysis {
  const selectors: Selector[] = [];
  const groupings: Grouping[] = [];
  const calls: FunctionCall[] = [];
  const ranges: string[] = [];
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    const nextIsParen = next?.kind === 'punct' && next.text === '(';
    if (t.kind === 'range') {
      ranges.push(t.text);
      i++;
    } else if (t.kind === 'punct' && t.text === '{') {
      const { matchers, end } = parseMatchers(tokens, i);
      const name = matchers.find(m => m.label === '__name__' && m.op === '=');
      selectors.push({ metric: name?.value, matchers });
      i = end + 1;
    } else if (t.kind === 'ident' && GROUPING.has(t.text)) {
      if (nextIsParen) {
        const close = matchingParen(tokens, i + 1);
        const labels = tokens
          .slice(i + 2, close)
          .filter(x => x.kind === 'ident')
          .map(x => x.text);
        groupings.push({ keyword: t.text, labels });
        i = close + 1;
      } else {
        i++;
      }
    } else if (t.kind === 'ident' && nextIsParen) {
      const close = matchingParen(tokens, i + 1);
      const args = analyzeTokens(tokens.slice(i + 2, close));
      calls.push({ name: t.text, args }, ...args.calls);
      selectors.push(...args.selectors);
      groupings.push(...args.groupings);
      ranges.push(...args.ranges);
      i = close + 1;
    } else if (
      t.kind === 'ident' &&
      AGGREGATIONS.has(t.text) &&
      next?.kind === 'ident' &&
      (next.text === 'by' || next.text === 'without')
    ) {
      // `sum by (x) (...)`: the aggregation's argument follows its grouping.
      const groupOpen = i + 2;
      const groupClose = matchingParen(tokens, groupOpen);
      const labels = tokens
        .slice(groupOpen + 1, groupClose)
        .filter(x => x.kind === 'ident')
        .map(x => x.text);
      groupings.push({ keyword: next.text, labels });
      const argClose = matchingParen(tokens, groupClose + 1);
      const args = analyzeTokens(tokens.slice(groupClose + 2, argClose));
      calls.push(
        {
          name: t.text,
          args: { ...args, groupings: [...args.groupings, { keyword: next.text, labels }] },
        },
        ...args.calls,
      );
      selectors.push(...args.selectors);
      groupings.push(...args.groupings);
      ranges.push(...args.ranges);
      i = argClose + 1;
    } else if (t.kind === 'ident' && !KEYWORDS.has(t.text)) {
      if (next?.kind === 'punct' && next.text === '{') {
        const { matchers, end } = parseMatchers(tokens, i + 1);
        selectors.push({ metric: t.text, matchers });
        i = end + 1;
      } else {
        selectors.push({ metric: t.text, matchers: [] });
        i++;
      }
    } else {
      i++;
    }
  }
  return { selectors, groupings, calls, ranges };
}

/** Take a PromQL expression apart (Grafana variables must be substituted first). */
export function analyzePromQL(expr: string): PromQLAnalysis {
  return analyzeTokens(tokenize(expr));
}

/** `label_values(metric{...}, label)` as Grafana's Prometheus variable query. */
export function parseLabelValues(query: string): { selector: string; label: string } | undefined {
  const match = /^\s*label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(query);
  return match === null ? undefined : { selector: match[1]!, label: match[2]! };
}
