import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRIC_LIST } from '../../../src/names/metrics';
import { prometheusFamily, prometheusSeries } from '../../../src/names/prometheus';
import {
  DASHBOARDS_DIR,
  analyzePromQL,
  loadDashboards,
  loadRules,
  queriesOf,
  ruleFiles,
  type DashboardFile,
  type Json,
} from '../../support/dashboards';
import { checkDashboard, checkExpression, checkRules } from './check';

const README = readFileSync(join(DASHBOARDS_DIR, 'README.md'), 'utf8');

/** Catalog metrics the dashboards do not show yet, and why (README "Not covered yet"). */
const NOT_ON_DASHBOARDS: Record<string, string> = {
  'baldur.inbound.rejections': 'the inbound guards are not implemented yet',
};

/** The README's rewrite for Collector setups (option 2), applied to a file's text. */
function toCollectorNames(text: string): string {
  const command = /sed -E -i '(s\/.+?\/g)'/.exec(README)?.[1];
  if (command === undefined) throw new Error('README: no sed rewrite for Collector names');
  const [, pattern, replacement] = /^s\/(.+)\/(.+)\/g$/.exec(command)!;
  return text.replace(new RegExp(pattern!, 'g'), replacement!.replace(/\\(\d)/g, '$$$1'));
}

function clone(dashboard: DashboardFile): DashboardFile {
  return { file: dashboard.file, json: structuredClone<Json>(dashboard.json) };
}

describe('Grafana dashboards', () => {
  const dashboards = loadDashboards();

  it('ship a fleet overview and a per-dependency drill-down', () => {
    expect(dashboards.map(d => d.json.uid as string).sort()).toEqual([
      'baldur-dependency',
      'baldur-overview',
    ]);
    const drilldown = dashboards.find(d => d.json.uid === 'baldur-dependency')!;
    const dependency = (drilldown.json.templating.list as Json[]).find(
      v => v.name === 'dependency',
    );
    expect(dependency?.type).toBe('query');
  });

  it.each(dashboards.map(d => [d.file, d] as const))(
    '%s: structure, datasource and every name check out',
    (_file, dashboard) => {
      expect(checkDashboard(dashboard)).toEqual([]);
    },
  );

  it('have unique uids and titles', () => {
    const uids = dashboards.map(d => d.json.uid as string);
    const titles = dashboards.map(d => d.json.title as string);
    expect(new Set(uids).size).toBe(uids.length);
    expect(new Set(titles).size).toBe(titles.length);
  });

  it('show every metric of the catalog, except the ones listed as not covered yet', () => {
    const used = new Set<string>();
    for (const dashboard of dashboards) {
      for (const query of queriesOf(dashboard)) {
        for (const selector of analyzePromQL(query.expr.replace(/\$\w+/g, '1m')).selectors)
          if (selector.metric !== undefined) used.add(selector.metric);
      }
    }
    for (const metric of METRIC_LIST) {
      const shown = prometheusSeries(metric, 'agent').some(series => used.has(series));
      expect(shown, metric.name).toBe(!(metric.name in NOT_ON_DASHBOARDS));
    }
    for (const name of Object.keys(NOT_ON_DASHBOARDS)) expect(README).toContain(`\`${name}\``);
  });

  it('name only Collector metrics once rewritten as the README says', () => {
    for (const dashboard of dashboards) {
      const rewritten = JSON.parse(toCollectorNames(JSON.stringify(dashboard.json)));
      expect(rewritten).not.toEqual(dashboard.json);
      expect(checkDashboard({ file: dashboard.file, json: rewritten }, 'collector')).toEqual([]);
    }
  });
});

describe('Prometheus alert rules', () => {
  const files = ruleFiles();

  it('ship alerts.yml with the five documented alerts', () => {
    expect(files).toEqual(['alerts.yml']);
    const alerts = loadRules('alerts.yml').map(r => r.alert);
    expect(alerts).toEqual([
      'BaldurCircuitBreakerOpen',
      'BaldurRejectionRateHigh',
      'BaldurRetryStorm',
      'BaldurStoreDegraded',
      'BaldurDeadLettersGrowing',
    ]);
    for (const alert of alerts) {
      expect(README).toContain(`\`${alert}\``);
      expect(README).toContain(`**${alert}**`);
    }
  });

  it.each(files)('%s: every name, label and template checks out', file => {
    expect(checkRules(loadRules(file))).toEqual([]);
  });

  it('name only Collector metrics once rewritten as the README says', () => {
    const rules = loadRules('alerts.yml').map(r => ({ ...r, expr: toCollectorNames(r.expr) }));
    expect(checkRules(rules, 'collector')).toEqual([]);
  });
});

describe('README metric name table', () => {
  it('gives both Prometheus names of every metric of the catalog', () => {
    const rows = new Map<string, string[]>();
    for (const match of README.matchAll(/^\|\s*`(baldur\.[a-z_.]+)`\s*\|(.*)\|\s*$/gm))
      rows.set(
        match[1]!,
        match[2]!.split('|').map(cell => cell.trim()),
      );
    for (const metric of METRIC_LIST) {
      const row = rows.get(metric.name);
      expect(row, metric.name).toBeDefined();
      const [kind, agent, collector] = row!;
      expect(kind).toBe(metric.kind);
      const expected = (naming: 'agent' | 'collector'): string => {
        const family = prometheusFamily(metric, naming);
        return metric.kind === 'histogram' ? `\`${family}_{bucket,sum,count}\`` : `\`${family}\``;
      };
      expect(agent, metric.name).toBe(expected('agent'));
      expect(collector, metric.name).toBe(expected('collector'));
    }
    expect(rows.size).toBe(METRIC_LIST.length);
  });
});

describe('the checks themselves', () => {
  const overview = loadDashboards().find(d => d.json.uid === 'baldur-overview')!;
  const ctx = { naming: 'agent' as const };

  it('flag a metric the catalog does not define, in either naming', () => {
    expect(checkExpression('rate(baldur_calls[1m])', 'q', ctx)).toEqual([
      'q: metric baldur_calls is not in the catalog (agent naming)',
    ]);
    expect(
      checkExpression('sum(rate(baldur_call_duration_seconds_count[1m]))', 'q', ctx),
    ).toHaveLength(1);
    expect(
      checkExpression('sum(rate(baldur_call_duration_count[1m]))', 'q', { naming: 'collector' }),
    ).toHaveLength(1);
  });

  it('flag a label the metric does not carry, in a matcher, a grouping or a template', () => {
    expect(checkExpression('baldur_bulkhead_active{baldur_outcome="success"}', 'q', ctx)).toEqual([
      'q: baldur_bulkhead_active has no label baldur_outcome',
    ]);
    expect(checkExpression('sum by (route) (baldur_bulkhead_active)', 'q', ctx)).toEqual([
      'q: by (route) names a label no selected metric has',
    ]);
    expect(
      checkExpression('sum by (baldur_dependency) (baldur_bulkhead_active)', 'q', {
        ...ctx,
        templates: ['instance'],
      }),
    ).toEqual(['q: template refers to {{instance}}, not in the result']);
    expect(
      checkExpression(
        'max by (instance, job) (baldur_bulkhead_active{otel_scope_name="baldur"})',
        'q',
        ctx,
      ),
    ).toEqual([]);
  });

  it('flag a label value that never occurs', () => {
    expect(
      checkExpression(
        'baldur_circuit_breaker_state{baldur_circuit_breaker_state=~"open|half-open"}',
        'q',
        ctx,
      ),
    ).toEqual([
      'q: baldur_circuit_breaker_state{baldur_circuit_breaker_state} never has the value "half-open"',
    ]);
    expect(
      checkExpression('baldur_store_operation_duration_count{baldur_outcome="fallback"}', 'q', ctx),
    ).toHaveLength(1);
    expect(checkExpression('baldur_calls_total{baldur_outcome="fallback"}', 'q', ctx)).toEqual([]);
  });

  it('flag histogram_quantile without le', () => {
    expect(
      checkExpression(
        'histogram_quantile(0.9, sum by (baldur_dependency) (rate(baldur_call_duration_bucket[1m])))',
        'q',
        ctx,
      ),
    ).toEqual(['q: histogram_quantile without "by (..., le)"']);
  });

  it('flag duplicate panel ids, a missing datasource variable, a fixed rate window, an undefined variable', () => {
    const duplicate = clone(overview);
    duplicate.json.panels[2].id = duplicate.json.panels[1].id;
    expect(checkDashboard(duplicate).join('\n')).toContain('duplicate panel id');

    const noVariable = clone(overview);
    noVariable.json.templating.list = (noVariable.json.templating.list as Json[]).filter(
      v => v.type !== 'datasource',
    );
    expect(checkDashboard(noVariable).join('\n')).toContain('no datasource variable DS_PROMETHEUS');

    const noInput = clone(overview);
    noInput.json.__inputs = [];
    expect(checkDashboard(noInput).join('\n')).toContain('no __inputs entry DS_PROMETHEUS');

    const fixedDatasource = clone(overview);
    fixedDatasource.json.panels[1].targets[0].datasource = { type: 'prometheus', uid: 'abc' };
    expect(checkDashboard(fixedDatasource).join('\n')).toContain('not {type: prometheus');

    const fixedWindow = clone(overview);
    const target = (fixedWindow.json.panels as Json[]).find(p =>
      String(p.targets?.[0]?.expr).includes('[$__rate_interval]'),
    ).targets[0];
    target.expr = String(target.expr).replace('[$__rate_interval]', '[5m]');
    expect(checkDashboard(fixedWindow).join('\n')).toContain('not [$__rate_interval]');

    const undefinedVariable = clone(overview);
    undefinedVariable.json.panels[1].targets[0].expr =
      'sum(baldur_bulkhead_active{job=~"$service"})';
    expect(checkDashboard(undefinedVariable).join('\n')).toContain('undefined variable $service');

    const wrongMetric = clone(overview);
    wrongMetric.json.panels[1].targets[0].expr = 'sum(baldur_breaker_state)';
    expect(checkDashboard(wrongMetric).join('\n')).toContain(
      'baldur_breaker_state is not in the catalog',
    );
  });

  it('flag alert rules without severity, runbook or for, and duplicate names', () => {
    const [rule] = loadRules('alerts.yml');
    const broken = { ...rule!, labels: {}, annotations: { summary: 's' } };
    const { for: _for, ...noFor } = broken;
    const problems = checkRules([noFor, rule!, rule!]).join('\n');
    expect(problems).toContain('severity must be one of');
    expect(problems).toContain('no runbook annotation');
    expect(problems).toContain('no "for" duration');
    expect(problems).toContain(`alert ${rule!.alert} defined twice`);
  });
});
