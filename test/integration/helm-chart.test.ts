/**
 * The Helm chart (deploy/helm/k8s-provider), checked by the real tools: helm
 * lint and helm template (helm built from its Go module), every rendered
 * object through a strict server-side dry-run on the test API server (the
 * prometheus-operator CRDs installed for the monitoring objects), and the
 * default rendering equal to k8s-deployment.yaml, the plain-manifest path.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ApiextensionsV1Api,
  VersionApi,
  type KubernetesObject,
  type V1ConfigMap,
  type V1CustomResourceDefinition,
  type V1Deployment,
  type V1Service,
} from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { serverSideApply } from '../helpers/apply.js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { TOOL_BUILD_TIMEOUT_MS, runTool, tool } from '../helpers/tools.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const chart = join(root, 'deploy', 'helm', 'k8s-provider');
const RELEASE = 'k8s-provider';
const SYSTEM = 'iarnet-system';
const FIELD_MANAGER = 'k8s-provider-chart-test';

/** Labels and annotations Helm conventionally adds, which the plain manifest does not carry. */
const HELM_ONLY_KEYS = new Set([
  'helm.sh/chart',
  'app.kubernetes.io/managed-by',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'checksum/config',
  'helm.sh/resource-policy',
]);

function parseObjects(text: string): KubernetesObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null && typeof o === 'object');
}

const id = (o: KubernetesObject): string => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;

/** The object as compared: without Helm's own labels and annotations anywhere, with config.yaml parsed. */
function normalised(o: KubernetesObject): unknown {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (!HELM_ONLY_KEYS.has(k)) out[k] = strip(x);
      // An annotations map left empty is no annotations.
      if ('annotations' in out && Object.keys(out.annotations as object).length === 0) delete out.annotations;
      return out;
    }
    return v;
  };
  const copy = strip(structuredClone(o)) as KubernetesObject & { data?: Record<string, string> };
  if (copy.kind === 'ConfigMap' && copy.data?.['config.yaml'] !== undefined) {
    (copy.data as Record<string, unknown>)['config.yaml'] = parse(copy.data['config.yaml']);
  }
  return copy;
}

describe('Helm chart deploy/helm/k8s-provider', () => {
  let helm: string;
  const tmp = mkdtempSync(join(tmpdir(), 'k8s-provider-chart-'));
  const chartVersion = (parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as { appVersion: string }).appVersion;

  /** Every option on, with values an operator would plausibly use. */
  const everything = {
    replicaCount: 2,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    podDisruptionBudget: { enabled: true, minAvailable: 1 },
    podAntiAffinity: 'required',
    config: { resource: { mode: 'auto' }, log: { level: 'debug' }, session: { health_timeout_seconds: 60 } },
    tls: { enabled: true, secretName: 'k8s-provider-tls', clientAuth: true, probe: 'exec' },
    tokenSecret: { name: 'k8s-provider-token', key: 'token' },
    imagePullSecrets: [{ name: 'registry' }],
    priorityClassName: 'system-cluster-critical',
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'iarnet', effect: 'NoSchedule' }],
    env: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=192' }],
    service: { publishNotReadyAddresses: true },
    configReload: 'inPlace',
    networkPolicy: {
      enabled: true,
      grpcFrom: [{ ipBlock: { cidr: '192.0.2.0/24' } }],
      metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
    },
    metrics: {
      serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
      prometheusRule: { enabled: true, labels: { release: 'prometheus' } },
      grafanaDashboard: { enabled: true },
    },
  };

  async function template(args: string[], namespace = SYSTEM): Promise<KubernetesObject[]> {
    const r = await runTool(helm, ['template', RELEASE, chart, '--namespace', namespace, ...args]);
    expect(r.stderr, 'helm template stderr').toBe('');
    expect(r.code).toBe(0);
    return parseObjects(r.stdout);
  }

  function valuesFile(name: string, values: unknown): string {
    const file = join(tmp, name);
    writeFileSync(file, JSON.stringify(values));
    return file;
  }

  beforeAll(async () => {
    helm = await tool('helm');
  }, TOOL_BUILD_TIMEOUT_MS);

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('passes helm lint --strict with the default values and with every option on', async () => {
    for (const args of [[], ['--values', valuesFile('everything.json', everything)]]) {
      const r = await runTool(helm, ['lint', chart, '--strict', '--namespace', SYSTEM, ...args]);
      expect(r.stdout + r.stderr, `helm lint ${args.join(' ')}`).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
      expect(r.code).toBe(0);
    }
  });

  it('refuses values that cannot work, saying why', async () => {
    const cases: [unknown, string][] = [
      [{ tls: { enabled: true } }, 'tls.secretName is required when tls.enabled is true'],
      [{ terminationGracePeriodSeconds: 10 }, 'terminationGracePeriodSeconds (10) must exceed config.server.shutdown_grace_seconds + 1 (11)'],
      [{ preStopSleepSeconds: 25 }, 'terminationGracePeriodSeconds (30) must exceed preStopSleepSeconds + config.server.shutdown_grace_seconds + 1 (36)'],
      [{ metrics: { serviceMonitor: { enabled: true } }, config: { prometheus: { port: 0 } } }, 'metrics.serviceMonitor.enabled needs the metrics endpoint'],
      [{ replicaCount: 'two' }, 'replicaCount'],
      [{ podAntiAffinity: 'sometimes' }, 'podAntiAffinity'],
      [{ tls: { enabled: true, secretName: 's', probe: 'http' } }, 'probe'],
    ];
    for (const [values, message] of cases) {
      const r = await runTool(helm, ['template', RELEASE, chart, '--namespace', SYSTEM, '--values', valuesFile('bad.json', values)]);
      expect(r.code, JSON.stringify(values)).not.toBe(0);
      expect(r.stderr, JSON.stringify(values)).toContain(message);
    }
  });

  it('renders by default the objects of k8s-deployment.yaml', async () => {
    // `helm test`'s hook pod is not installed with the release.
    const rendered = (await template([])).filter((o) => !o.metadata?.annotations?.['helm.sh/hook']);
    const manifest = parseObjects(readFileSync(join(root, 'k8s-deployment.yaml'), 'utf8'));
    // The chart does not make its own release namespace (helm install --create-namespace does),
    // nor take over the workload namespace's default ServiceAccount, which the controller-manager
    // creates the moment the namespace exists (Helm would fail to create it).
    const expected = manifest.filter((o) => id(o) !== `Namespace/${SYSTEM}` && !(o.kind === 'ServiceAccount' && o.metadata?.name === 'default'));
    expect(rendered.map(id).sort()).toEqual(expected.map(id).sort());

    // The one intended difference: the chart pins its appVersion, the manifest follows build.sh's latest.
    const image = (objects: KubernetesObject[]): string =>
      (objects.find((o) => o.kind === 'Deployment') as V1Deployment).spec!.template.spec!.containers[0]!.image!;
    expect(image(rendered)).toBe(`iarnet/k8s-provider:${chartVersion}`);
    expect(image(manifest)).toBe('iarnet/k8s-provider:latest');
    const withoutImage = (o: KubernetesObject): unknown => {
      const n = normalised(o) as V1Deployment;
      if (n.kind === 'Deployment') delete n.spec!.template.spec!.containers[0]!.image;
      return n;
    };
    for (const o of expected) {
      const twin = rendered.find((r) => id(r) === id(o))!;
      expect(withoutImage(twin), id(o)).toEqual(withoutImage(o));
    }
  });

  it('renders every option consistently with the config it writes', async () => {
    const objects = await template(['--values', valuesFile('everything.json', everything)]);
    expect(objects.map(id).sort()).toEqual(
      [
        `ClusterRole/${RELEASE}-auto-capacity`,
        `ClusterRoleBinding/${RELEASE}-auto-capacity`,
        `ConfigMap/${SYSTEM}/${RELEASE}-config`,
        `ConfigMap/${SYSTEM}/${RELEASE}-dashboard`,
        `Deployment/${SYSTEM}/${RELEASE}`,
        'Namespace/iarnet-workloads',
        `NetworkPolicy/${SYSTEM}/${RELEASE}`,
        `Pod/${SYSTEM}/${RELEASE}-test-probe`,
        `PodDisruptionBudget/${SYSTEM}/${RELEASE}`,
        `PrometheusRule/${SYSTEM}/${RELEASE}`,
        'Role/iarnet-workloads/k8s-provider',
        'RoleBinding/iarnet-workloads/k8s-provider',
        `Role/${SYSTEM}/${RELEASE}-events`,
        `RoleBinding/${SYSTEM}/${RELEASE}-events`,
        `Service/${SYSTEM}/${RELEASE}`,
        `ServiceAccount/${SYSTEM}/${RELEASE}`,
        `ServiceMonitor/${SYSTEM}/${RELEASE}`,
      ].sort(),
    );
    const find = <T extends KubernetesObject>(kind: string, name = RELEASE): T => objects.find((o) => o.kind === kind && o.metadata?.name === name) as T;
    const config = parseConfig(find<V1ConfigMap>('ConfigMap', `${RELEASE}-config`).data!['config.yaml']!, '/app/config.yaml');
    // Where the Secret is mounted.
    expect(config.server.tls).toEqual({ cert_file: '/app/tls/tls.crt', key_file: '/app/tls/tls.key', client_ca_file: '/app/tls/ca.crt' });
    expect(config.resource.mode).toBe('auto');
    expect(config.kubernetes).toMatchObject({ namespace: 'iarnet-workloads', in_cluster: true, kubeconfig: '' });

    const deployment = find<V1Deployment>('Deployment');
    const pod = deployment.spec!.template.spec!;
    const container = pod.containers[0]!;
    expect(deployment.spec!.replicas).toBe(2);
    // With TLS the probes speak TLS through the CLI, with the files the config names (relative to /app).
    expect(container.readinessProbe?.exec?.command).toEqual([
      '/nodejs/bin/node',
      'dist/src/cli/main.js',
      'probe',
      '--addr',
      `localhost:${config.server.port}`,
      '--tls-ca',
      '/app/tls/ca.crt',
      '--tls-server-name',
      `${RELEASE}.${SYSTEM}.svc`,
      '--tls-cert',
      '/app/tls/tls.crt',
      '--tls-key',
      '/app/tls/tls.key',
      '--deadline',
      '2',
    ]);
    expect(container.livenessProbe?.exec?.command?.slice(-2)).toEqual(['--service', 'liveness']);
    expect(container.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/app/tls', readOnly: true });
    expect(container.volumeMounts).toContainEqual({ name: 'token', mountPath: '/app/secrets/token', readOnly: true });
    // configReload inPlace: the ConfigMap as a directory (kept current by the kubelet), no roll on change.
    expect(container.args).toEqual(['dist/src/main.js', '--config', '/app/config/config.yaml']);
    expect(container.volumeMounts).toContainEqual({ name: 'config', mountPath: '/app/config', readOnly: true });
    expect(deployment.spec!.template.metadata?.annotations?.['checksum/config']).toBeUndefined();
    expect(pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0]?.labelSelector?.matchLabels).toEqual(
      deployment.spec!.selector.matchLabels,
    );
    expect(find<KubernetesObject & { spec: { selector: unknown } }>('PodDisruptionBudget').spec.selector).toEqual(deployment.spec!.selector);

    const service = find<V1Service>('Service');
    expect(service.spec?.publishNotReadyAddresses).toBe(true);
    expect(service.spec?.ports?.find((p) => p.name === 'grpc')?.appProtocol).toBeUndefined(); // not h2c under TLS
    const monitor = find<KubernetesObject & { spec: { endpoints: { port: string }[]; selector: { matchLabels: unknown } } }>('ServiceMonitor');
    expect(service.spec?.ports?.map((p) => p.name)).toContain(monitor.spec.endpoints[0]!.port);
    expect(monitor.spec.selector.matchLabels).toEqual(service.spec?.selector);
    expect(monitor.metadata?.labels).toMatchObject({ release: 'prometheus' });

    // The monitoring objects carry the files shipped beside the chart, unchanged.
    const rules = find<KubernetesObject & { spec: unknown }>('PrometheusRule');
    expect(rules.spec).toEqual(parse(readFileSync(join(chart, 'files', 'alerts.yaml'), 'utf8')));
    // `helm test` probes through the Service, but is not selected by it.
    const probe = objects.find((o) => o.kind === 'Pod') as KubernetesObject & { spec: { containers: { args: string[] }[] } };
    expect(probe.spec.containers[0]!.args.slice(0, 4)).toEqual(['dist/src/cli/main.js', 'probe', '--addr', `${RELEASE}.${SYSTEM}.svc:50052`]);
    expect(Object.entries(service.spec!.selector!).every(([k, v]) => probe.metadata?.labels?.[k] === v)).toBe(false);
    const policy = find<KubernetesObject & { spec: { ingress: { ports: { port: string }[]; from: unknown[] }[] } }>('NetworkPolicy');
    expect(policy.spec.ingress.map((r) => [r.ports[0]!.port, r.from])).toEqual([
      ['grpc', everything.networkPolicy.grpcFrom],
      ['metrics', everything.networkPolicy.metricsFrom],
    ]);
    const dashboard = find<V1ConfigMap>('ConfigMap', `${RELEASE}-dashboard`);
    expect(dashboard.metadata?.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(JSON.parse(dashboard.data!['k8s-provider.json']!)).toEqual(JSON.parse(readFileSync(join(chart, 'files', 'dashboard.json'), 'utf8')));
  });

  it('keeps what the operator sets in config, except the keys the chart owns', async () => {
    const objects = await template([
      '--set',
      'config.kubernetes.namespace=elsewhere',
      '--set',
      'config.kubernetes.resync_seconds=120',
      '--set',
      'workloadNamespace.name=lent',
    ]);
    const config = parseConfig((objects.find((o) => o.kind === 'ConfigMap') as V1ConfigMap).data!['config.yaml']!, '/app/config.yaml');
    expect(config.kubernetes).toMatchObject({ namespace: 'lent', resync_seconds: 120 });
    expect(objects.find((o) => o.kind === 'Role' && o.metadata?.name === RELEASE)?.metadata?.namespace).toBe('lent');
  });

  describe('against the test cluster', () => {
    const admin = makeKubeConfig();
    let system: TestNamespace;
    let workloads: TestNamespace;

    beforeAll(async () => {
      system = await createTestNamespace('chart-system');
      workloads = await createTestNamespace('chart-workloads');
      // The monitoring objects need prometheus-operator's CRDs, from its pinned release.
      const crds = await tool('crds');
      const ext = admin.makeApiClient(ApiextensionsV1Api);
      for (const file of ['monitoring.coreos.com_servicemonitors.yaml', 'monitoring.coreos.com_prometheusrules.yaml']) {
        const crd = parse(readFileSync(join(crds, file), 'utf8')) as V1CustomResourceDefinition;
        await serverSideApply(admin, crd as KubernetesObject, { dryRun: false, fieldManager: FIELD_MANAGER });
        await waitFor(`CRD ${crd.metadata!.name} to be established`, async () => {
          const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
          return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
        });
      }
    }, TOOL_BUILD_TIMEOUT_MS);

    afterAll(async () => {
      await system?.cleanup();
      await workloads?.cleanup();
    });

    it('every object of the default and the full rendering passes a strict server-side dry-run', async () => {
      const server = await admin.makeApiClient(VersionApi).getCode();
      const kubeVersion = server.gitVersion;
      const renamed = ['--kube-version', kubeVersion, '--set', `workloadNamespace.name=${workloads.name}`];
      const defaults = await template(renamed, system.name);
      const full = await template([...renamed, '--values', valuesFile('everything.json', everything)], system.name);
      // The workload namespace exists already (createTestNamespace made it); dry-run its chart
      // object under the shipped name, and everything else in the test namespaces.
      const shippedNamespace = (await template([])).filter((o) => o.kind === 'Namespace');
      expect(full.map((o) => o.kind)).toEqual(
        expect.arrayContaining(['ServiceMonitor', 'PrometheusRule', 'NetworkPolicy', 'Pod', 'PodDisruptionBudget', 'ClusterRole']),
      );
      expect(shippedNamespace.map(id)).toEqual(['Namespace/iarnet-workloads']);
      let count = 0;
      for (const o of [...shippedNamespace, ...defaults, ...full].filter((x) => x.kind !== 'Namespace' || x.metadata?.name === 'iarnet-workloads')) {
        const applied = await serverSideApply(admin, o, { dryRun: true, fieldManager: FIELD_MANAGER });
        expect(applied.kind, id(o)).toBe(o.kind);
        count++;
      }
      expect(count).toBe(1 + defaults.length + full.length - 2);
      // The check has teeth: a field the schema lacks is refused, in a custom resource too.
      const monitor = full.find((o) => o.kind === 'ServiceMonitor') as KubernetesObject & { spec: Record<string, unknown> };
      await expect(
        serverSideApply(admin, { ...monitor, spec: { ...monitor.spec, intervall: '5s' } } as KubernetesObject, { dryRun: true, fieldManager: FIELD_MANAGER }),
      ).rejects.toThrow('.spec.intervall: field not declared in schema');
    });
  });
});
