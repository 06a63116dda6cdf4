import type { RetryStopReason } from '../../../src/core/events';
import { DEAD_LETTER_STATUSES } from '../../../src/core/policies/dead-letter/entry';
import type { StoreKind } from '../../../src/core/store';
import { prometheusCatalog, type PrometheusNaming } from '../../../src/names/prometheus';
import { BREAKER_STATES, CALL_OUTCOMES, CANONICAL_ORDER } from '../../../src/names/policies';
import type { StoreOutcome } from '../../../src/store/resilient-store';
import {
  GRAFANA_BUILTINS,
  analyzePromQL,
  legendLabels,
  panelsOf,
  parseLabelValues,
  queriesOf,
  substitute,
  templateLabels,
  variablesIn,
  type AlertRule,
  type DashboardFile,
  type Json,
  type PromQLAnalysis,
} from '../../support/dashboards';

/**
 * Static checks of the shipped dashboards and alert rules against the metric
 * catalog (src/names/metrics.ts) under the Prometheus naming they use. Each
 * check returns problems as strings, so a test can show them all at once and
 * the checks themselves can be tested on broken inputs.
 */

/** True when `Listed` names every member of `All` (a compile-time completeness check). */
type Complete<Listed, All> = [Exclude<All, Listed>] extends [never] ? true : false;

const RETRY_RESULTS = [
  'scheduled',
  'exhausted',
  'not_retryable',
  'budget',
  'deadline',
  'retry_after_too_long',
] as const satisfies readonly ('scheduled' | RetryStopReason)[];
const STORE_OUTCOMES = [
  'success',
  'failure',
  'timeout',
  'rejected',
] as const satisfies readonly StoreOutcome[];
const STORE_KINDS = [
  'memory',
  'redis',
  'postgresql',
  'mysql',
] as const satisfies readonly StoreKind[];
// A new retry stop reason, store outcome or store kind fails compilation here until listed above.
export const LISTS_COMPLETE: [
  Complete<(typeof RETRY_RESULTS)[number], 'scheduled' | RetryStopReason>,
  Complete<(typeof STORE_OUTCOMES)[number], StoreOutcome>,
  Complete<(typeof STORE_KINDS)[number], StoreKind>,
] = [true, true, true];

/** Closed value sets of enumerated labels (per metric family where they differ). */
export function allowedValues(series: string, label: string): readonly string[] | undefined {
  switch (label) {
    case 'baldur_outcome':
      return series.startsWith('baldur_store_') ? STORE_OUTCOMES : CALL_OUTCOMES;
    case 'baldur_policy':
      return [...CANONICAL_ORDER, 'none'];
    case 'baldur_circuit_breaker_state':
    case 'baldur_from':
    case 'baldur_to':
      return BREAKER_STATES;
    case 'baldur_retry_result':
      return RETRY_RESULTS;
    case 'baldur_rate_limit_result':
      return ['allowed', 'delayed', 'rejected'];
    case 'baldur_dead_letter_status':
      return DEAD_LETTER_STATUSES;
    case 'baldur_reason':
      return ['rate_limited', 'shed', 'draining', 'idempotency'];
    case 'baldur_store':
      return STORE_KINDS;
    default:
      return undefined;
  }
}

/** Values a matcher names: the literal, or each branch of a plain alternation regex. */
function matcherValues(op: string, value: string): string[] | undefined {
  if (op === '=' || op === '!=') return [value];
  return /^[\w-]+(\|[\w-]+)*$/.test(value) ? value.split('|') : undefined;
}

export interface ExprContext {
  readonly naming: PrometheusNaming;
  /** Labels output templates (legend, alert annotations) refer to. */
  readonly templates?: readonly string[];
}

/** Metric, label, label-value and template checks of one PromQL expression. */
export function checkExpression(
  expr: string,
  where: string,
  { naming, templates = [] }: ExprContext,
): string[] {
  const problems: string[] = [];
  const catalog = prometheusCatalog(naming);
  let analysis: PromQLAnalysis;
  try {
    analysis = analyzePromQL(expr);
  } catch (error) {
    return [`${where}: cannot parse (${String(error)})`];
  }
  if (analysis.selectors.length === 0) problems.push(`${where}: selects no metric`);
  const known = new Set<string>();
  for (const selector of analysis.selectors) {
    if (selector.metric === undefined) {
      problems.push(`${where}: a selector without a metric name`);
      continue;
    }
    const info = catalog.get(selector.metric);
    if (info === undefined) {
      problems.push(`${where}: metric ${selector.metric} is not in the catalog (${naming} naming)`);
      continue;
    }
    for (const label of info.labels) known.add(label);
    for (const { label, op, value } of selector.matchers) {
      if (!info.labels.has(label)) {
        problems.push(`${where}: ${selector.metric} has no label ${label}`);
        continue;
      }
      const allowed = allowedValues(selector.metric, label);
      const named = matcherValues(op, value);
      if (allowed === undefined || named === undefined) continue;
      for (const v of named) {
        if (!allowed.includes(v))
          problems.push(`${where}: ${selector.metric}{${label}} never has the value "${v}"`);
      }
    }
  }
  for (const grouping of analysis.groupings) {
    for (const label of grouping.labels) {
      if (!known.has(label))
        problems.push(
          `${where}: ${grouping.keyword} (${label}) names a label no selected metric has`,
        );
    }
  }
  const by = analysis.groupings.filter(g => g.keyword === 'by').flatMap(g => g.labels);
  const output = by.length > 0 ? new Set(by) : known;
  for (const label of templates) {
    if (!output.has(label))
      problems.push(`${where}: template refers to {{${label}}}, not in the result`);
  }
  for (const call of analysis.calls) {
    if (call.name !== 'histogram_quantile') continue;
    const grouped = call.args.groupings.some(g => g.keyword === 'by' && g.labels.includes('le'));
    if (!grouped) problems.push(`${where}: histogram_quantile without "by (..., le)"`);
    for (const selector of call.args.selectors) {
      if (!selector.metric?.endsWith('_bucket'))
        problems.push(`${where}: histogram_quantile over ${selector.metric}, not a _bucket series`);
    }
  }
  return problems;
}

export const DATASOURCE_VARIABLE = 'DS_PROMETHEUS';
const DATASOURCE_UID = '${DS_PROMETHEUS}';

function checkDatasource(ref: Json, where: string): string[] {
  if (ref?.type === 'prometheus' && ref?.uid === DATASOURCE_UID) return [];
  return [
    `${where}: datasource is ${JSON.stringify(ref)}, not {type: prometheus, uid: ${DATASOURCE_UID}}`,
  ];
}

/** Values the unit test substitutes for variables (any valid PromQL text will do). */
const PLACEHOLDERS: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '15s',
  __range: '1h',
};

/** Every structural, datasource and name check of one dashboard. */
export function checkDashboard(
  dashboard: DashboardFile,
  naming: PrometheusNaming = 'agent',
): string[] {
  const { file, json } = dashboard;
  const problems: string[] = [];
  if (typeof json.uid !== 'string' || json.uid === '') problems.push(`${file}: no uid`);
  if (typeof json.title !== 'string' || json.title === '') problems.push(`${file}: no title`);

  // The datasource: an import input for Grafana's UI and a variable for provisioning.
  const inputs = (json.__inputs ?? []) as Json[];
  if (
    !inputs.some(
      i => i.name === DATASOURCE_VARIABLE && i.type === 'datasource' && i.pluginId === 'prometheus',
    )
  )
    problems.push(`${file}: no __inputs entry ${DATASOURCE_VARIABLE} (prometheus datasource)`);
  const variables = (json.templating?.list ?? []) as Json[];
  if (
    !variables.some(
      v => v.name === DATASOURCE_VARIABLE && v.type === 'datasource' && v.query === 'prometheus',
    )
  )
    problems.push(`${file}: no datasource variable ${DATASOURCE_VARIABLE}`);
  const names = variables.map(v => String(v.name));
  for (const name of names.filter((n, i) => names.indexOf(n) !== i))
    problems.push(`${file}: variable ${name} defined twice`);
  for (const variable of variables) {
    if (variable.type === 'query')
      problems.push(...checkDatasource(variable.datasource, `${file} variable $${variable.name}`));
  }

  // Panels: unique ids, a grid position inside 24 columns, no overlap, the datasource everywhere.
  const panels = panelsOf(json);
  const ids = new Set<number>();
  const boxes: { id: number; x: number; y: number; w: number; h: number }[] = [];
  for (const panel of panels) {
    const where = `${file} panel ${panel.id} "${panel.title}"`;
    if (!Number.isInteger(panel.id) || panel.id <= 0)
      problems.push(`${where}: id must be a positive integer`);
    else if (ids.has(panel.id)) problems.push(`${where}: duplicate panel id ${panel.id}`);
    else ids.add(panel.id);
    const g = panel.gridPos;
    if (g === undefined || ![g.x, g.y, g.w, g.h].every(Number.isInteger) || g.x + g.w > 24) {
      problems.push(`${where}: bad gridPos ${JSON.stringify(g)}`);
    } else {
      for (const other of boxes) {
        if (
          g.x < other.x + other.w &&
          other.x < g.x + g.w &&
          g.y < other.y + other.h &&
          other.y < g.y + g.h
        )
          problems.push(`${where}: overlaps panel ${other.id}`);
      }
      boxes.push({ id: panel.id, ...g });
    }
    if (panel.type === 'row') continue;
    if (typeof panel.title !== 'string' || panel.title === '') problems.push(`${where}: no title`);
    if (typeof panel.description !== 'string' || panel.description === '')
      problems.push(`${where}: no description`);
    problems.push(...checkDatasource(panel.datasource, where));
    const targets = (panel.targets ?? []) as Json[];
    if (targets.length === 0) problems.push(`${where}: no queries`);
    const refIds = targets.map(t => String(t.refId));
    for (const refId of refIds.filter((r, i) => refIds.indexOf(r) !== i))
      problems.push(`${where}: duplicate refId ${refId}`);
    for (const t of targets) problems.push(...checkDatasource(t.datasource, `${where} ${t.refId}`));
  }
  for (const annotation of (json.annotations?.list ?? []) as Json[]) {
    if (annotation.builtIn !== 1)
      problems.push(
        ...checkDatasource(annotation.datasource, `${file} annotation "${annotation.name}"`),
      );
  }
  if (
    !panels.some(
      p =>
        p.type === 'state-timeline' &&
        ((p.targets ?? []) as Json[]).some(t =>
          String(t.expr).includes('baldur_circuit_breaker_state'),
        ),
    )
  )
    problems.push(`${file}: no state timeline of baldur_circuit_breaker_state`);

  // Queries.
  const substitutions: Record<string, string> = { ...PLACEHOLDERS };
  for (const name of names) substitutions[name] = '.*';
  for (const query of queriesOf(dashboard)) {
    for (const name of variablesIn(query.expr)) {
      if (!names.includes(name) && !(GRAFANA_BUILTINS as readonly string[]).includes(name))
        problems.push(`${query.where}: uses undefined variable $${name}`);
      if (name === DATASOURCE_VARIABLE)
        problems.push(`${query.where}: uses the datasource variable in a query`);
    }
    if (query.kind === 'variable') {
      const parsed = parseLabelValues(query.expr);
      if (parsed === undefined) {
        problems.push(`${query.where}: not a label_values(selector, label) query`);
        continue;
      }
      const selector = substitute(parsed.selector, substitutions);
      problems.push(
        ...checkExpression(`count by (${parsed.label}) (${selector})`, query.where, { naming }),
      );
      continue;
    }
    let expr: string;
    try {
      expr = substitute(query.expr, substitutions);
    } catch (error) {
      problems.push(`${query.where}: ${String(error)}`);
      continue;
    }
    problems.push(
      ...checkExpression(expr, query.where, {
        naming,
        templates: query.legendFormat === undefined ? [] : legendLabels(query.legendFormat),
      }),
    );
    // Rates and increases over $__rate_interval, so they stay right at every zoom level and scrape interval.
    try {
      for (const call of analyzePromQL(query.expr).calls) {
        if (!['rate', 'irate', 'increase'].includes(call.name)) continue;
        for (const range of call.args.ranges) {
          if (range !== '$__rate_interval')
            problems.push(`${query.where}: ${call.name}() over [${range}], not [$__rate_interval]`);
        }
      }
    } catch (error) {
      problems.push(`${query.where}: cannot parse (${String(error)})`);
    }
  }
  return problems;
}

export const SEVERITIES = ['critical', 'warning', 'info'] as const;

/** Every check of the alert rules of one file. */
export function checkRules(
  rules: readonly AlertRule[],
  naming: PrometheusNaming = 'agent',
): string[] {
  const problems: string[] = [];
  const names = rules.map(r => r.alert);
  for (const name of names.filter((n, i) => names.indexOf(n) !== i))
    problems.push(`alert ${name} defined twice`);
  for (const rule of rules) {
    const where = `${rule.file} alert ${rule.alert}`;
    if (!/^Baldur[A-Z][A-Za-z]+$/.test(rule.alert))
      problems.push(`${where}: name must be BaldurCamelCase`);
    if (rule.for === undefined || !/^\d+[smh]$/.test(rule.for))
      problems.push(`${where}: no "for" duration`);
    if (!(SEVERITIES as readonly string[]).includes(rule.labels.severity ?? ''))
      problems.push(`${where}: severity must be one of ${SEVERITIES.join(', ')}`);
    for (const key of ['summary', 'description', 'runbook']) {
      if (typeof rule.annotations[key] !== 'string' || rule.annotations[key].trim() === '')
        problems.push(`${where}: no ${key} annotation`);
    }
    const templates = Object.values(rule.annotations).flatMap(templateLabels);
    problems.push(...checkExpression(rule.expr, where, { naming, templates }));
  }
  return problems;
}
