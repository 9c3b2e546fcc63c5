/**
 * Dashboards and alerts (deploy/helm/k8s-provider/files), checked by the real
 * Prometheus tooling: promtool (built from its Go module) lints a live
 * /metrics scrape of a daemon that has served real calls on the test
 * cluster, checks and unit-tests the alert rules, and parses every query of
 * the Grafana dashboard. Every metric the alerts, the dashboard and the
 * README name is one the daemon exports.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, statusOf, type TestDaemon } from '../helpers/daemon.js';
import { TOOL_BUILD_TIMEOUT_MS, runTool, tool } from '../helpers/tools.js';
import { freePort } from '../helpers/net.js';
import { removeWorkloads } from '../helpers/workloads.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const files = join(root, 'deploy', 'helm', 'k8s-provider', 'files');
const alertsFile = join(files, 'alerts.yaml');
const dashboardFile = join(files, 'dashboard.json');

interface Panel {
  title?: string;
  id: number;
  targets?: { refId: string; expr: string }[];
  panels?: Panel[];
}

interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: { query: string } | string }[] };
}

/** A dashboard query as Prometheus sees it once Grafana has filled in its variables. */
const asPromQL = (expr: string): string => expr.replaceAll('$__rate_interval', '5m').replaceAll('$namespace', '.*').replaceAll('$pod', '.*');

/** Metric names in a PromQL expression (identifiers followed by a selector or standing alone; not functions, labels or keywords). */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const withoutGroupings = withoutStrings.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  return [...withoutGroupings.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)]
    .map((m) => m[1]!)
    .filter((n) => /^(k8s_provider_|grpc_server_|process_|nodejs_|up$)/.test(n));
}

/** Family names in a text exposition (histogram/summary series folded into their family). */
function families(exposition: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  return types;
}

/** Whether `name` (as a query uses it) is a series of an exported family. */
function exported(name: string, types: Map<string, string>): boolean {
  if (types.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && ['histogram', 'summary'].includes(types.get(base) ?? '');
}

describe('dashboards and alerts', () => {
  let promtool: string;
  const tmp = mkdtempSync(join(tmpdir(), 'k8s-provider-monitoring-'));
  const alerts = parse(readFileSync(alertsFile, 'utf8')) as { groups: { name: string; rules: { alert?: string; expr: string }[] }[] };
  const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title ?? String(p.id), ref: `${p.id}_${t.refId}`, expr: t.expr })));

  beforeAll(async () => {
    promtool = await tool('promtool');
  }, TOOL_BUILD_TIMEOUT_MS);

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('promtool check rules accepts the alerts, each with a severity, summary and description', async () => {
    const r = await runTool(promtool, ['check', 'rules', alertsFile]);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
    const rules = alerts.groups.flatMap((g) => g.rules) as { alert?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[];
    expect(rules.length).toBeGreaterThanOrEqual(14);
    for (const rule of rules) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^K8sProvider[A-Z]\w+$/);
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels?.severity);
      expect(Object.keys(rule.annotations ?? {}).sort(), rule.alert).toEqual(['description', 'summary']);
    }
    // The check has teeth: a broken expression is refused.
    const broken = join(tmp, 'broken.yaml');
    writeFileSync(broken, stringify({ groups: [{ name: 'x', rules: [{ alert: 'X', expr: 'rate(k8s_provider_deploys_total[5m]' }] }] }));
    expect((await runTool(promtool, ['check', 'rules', broken])).code).not.toBe(0);
  });

  it('promtool test rules: every alert fires on what it is about and not on a healthy daemon', async () => {
    const testFile = join(root, 'test', 'monitoring', 'alerts.test.yaml');
    const r = await runTool(promtool, ['test', 'rules', testFile]);
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.code).toBe(0);
    // Every alert has at least one test in which it is expected to fire.
    const tests = parse(readFileSync(testFile, 'utf8')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] };
    const firing = new Set(tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => (a.exp_alerts ?? []).length > 0).map((a) => a.alertname)));
    const untested = alerts.groups
      .flatMap((g) => g.rules.map((x) => x.alert!))
      .filter((a) => !firing.has(a) && !['K8sProviderDown', 'K8sProviderCapacityExhausted'].includes(a));
    expect(untested).toEqual([]);
  });

  it('every query of the Grafana dashboard is valid PromQL', async () => {
    expect(queries.length).toBeGreaterThan(20);
    const variables = dashboard.templating.list.filter((v) => v.type === 'query').map((v) => (typeof v.query === 'string' ? v.query : v.query!.query));
    const selectors = variables.map((q) => /^label_values\((.*),\s*\w+\)$/.exec(q)?.[1]);
    expect(
      selectors.every((s) => s !== undefined),
      variables.join('; '),
    ).toBe(true);
    const rules = [
      ...queries.map((q) => ({ record: `dashboard:panel_${q.ref}`, expr: asPromQL(q.expr) })),
      ...selectors.map((s, i) => ({ record: `dashboard:variable_${i}`, expr: asPromQL(s!) })),
    ];
    const file = join(tmp, 'dashboard-queries.yaml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const r = await runTool(promtool, ['check', 'rules', file]);
    expect(r.stdout + r.stderr, r.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  describe('a live daemon on the test cluster', () => {
    let ns: TestNamespace;
    let d: TestDaemon;
    let metricsPort: number;
    let exposition: string;

    beforeAll(async () => {
      ns = await createTestNamespace('monitoring');
      metricsPort = await freePort();
      d = await startTestDaemon(ns.name, {
        resource: { cpu: 1000, memory: '1Gi', gpu: 0 },
        prometheus: { host: '127.0.0.1', port: metricsPort },
        usage: { interval_seconds: 1 },
      });
      // Real calls, so every labelled family has series: RPCs with several codes, deploys, API requests.
      expect(await call(d.client, 'Connect', { providerId: 'cp-mon' })).toMatchObject({ success: true });
      await call(d.client, 'HealthCheck', { providerId: 'cp-mon' });
      await call(d.client, 'GetCapacity', { providerId: 'cp-mon' });
      const ok = await call<{ error: string }>(d.client, 'Deploy', {
        providerId: 'cp-mon',
        instanceId: 'mon-1',
        image: 'busybox',
        resourceRequest: { cpu: 100, memory: 2 ** 26, gpu: 0 },
      });
      expect(ok.error).toBe('');
      const tooBig = await call<{ error: string }>(d.client, 'Deploy', {
        providerId: 'cp-mon',
        instanceId: 'mon-2',
        image: 'busybox',
        resourceRequest: { cpu: 100_000, memory: 2 ** 26, gpu: 0 },
      });
      expect(tooBig.error).not.toBe('');
      expect(await statusOf(call(d.client, 'HealthCheck', { providerId: 'someone-else' }))).not.toBe('OK');
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).toBe(200);
      exposition = await res.text();
    });

    afterAll(async () => {
      await d?.stop();
      if (ns) await removeWorkloads(ns.name);
      await ns?.cleanup();
    });

    it('promtool check metrics finds nothing to complain about in the scrape', async () => {
      const r = await runTool(promtool, ['check', 'metrics'], { input: exposition });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.code).toBe(0);
      // The check has teeth: a counter without _total and a unit-less duration are reported.
      const bad =
        '# HELP k8s_provider_deploys Deploys.\n# TYPE k8s_provider_deploys counter\nk8s_provider_deploys 1\n# HELP k8s_provider_poll_age Age.\n# TYPE k8s_provider_poll_age gauge\nk8s_provider_poll_age_milliseconds 1\n';
      const lint = await runTool(promtool, ['check', 'metrics'], { input: bad });
      expect(lint.code).not.toBe(0);
      expect(lint.stdout + lint.stderr).toContain('counter metrics should have "_total" suffix');
    });

    it('every metric the alerts and the dashboard query is exported', () => {
      const types = families(exposition);
      const used = new Set([...alerts.groups.flatMap((g) => g.rules.flatMap((r) => metricNames(r.expr))), ...queries.flatMap((q) => metricNames(q.expr))]);
      used.delete('up'); // Prometheus' own
      expect(used.size).toBeGreaterThan(20);
      const missing = [...used].filter((n) => !exported(n, types)).sort();
      expect(missing).toEqual([]);
    });

    it("the README's metrics section names every family the daemon exports, and nothing else", () => {
      const readme = readFileSync(join(root, 'README.md'), 'utf8');
      const section = /\n#+ Metrics\n([\s\S]*?)\n#+ /.exec(readme)?.[1];
      expect(section, 'a "Metrics" section in README.md').toBeDefined();
      const named = new Set([...section!.matchAll(/`((?:k8s_provider|grpc_server)_[a-z0-9_]+)/g)].map((m) => m[1]!));
      const ours = [...families(exposition).keys()].filter((n) => /^(k8s_provider|grpc_server)_/.test(n)).sort();
      expect(ours.filter((n) => !named.has(n))).toEqual([]);
      expect([...named].filter((n) => !ours.includes(n)).sort()).toEqual([]);
    });
  });
});
