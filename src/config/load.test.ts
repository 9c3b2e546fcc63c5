import { describe, expect, it } from 'vitest';
import { ConfigError, configPathFrom, formatIssue, loadConfig, parseConfig, unknownEnv } from './load.js';

const SEED_004 = `
server:
  port: 50052

kubernetes:
  kubeconfig: ""
  namespace: "default"
  in_cluster: true

resource:
  cpu: 8000
  memory: "8Gi"
  gpu: 4

resource_tags:
  - cpu
  - memory
  - gpu
`;

function problems(text: string): readonly string[] {
  try {
    parseConfig(text, '/etc/k8s-provider/config.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('accepts the config of seed 004 unchanged and fills every default', () => {
    const config = parseConfig(SEED_004, '/etc/k8s-provider/config.yaml');
    expect(config).toEqual({
      server: { host: '0.0.0.0', port: 50052, max_receive_message_bytes: 4 * 1024 * 1024, shutdown_grace_seconds: 10 },
      kubernetes: {
        kubeconfig: '',
        namespace: 'default',
        in_cluster: true,
        label_selector: '',
        resync_seconds: 300,
        deploy_timeout_seconds: 10,
        response_compression: 'auto',
        list_page_size: 100,
      },
      resource: { mode: 'static', cpu: 8000, memory: 8 * 2 ** 30, gpu: 4, enforce_with_resourcequota: false },
      resource_tags: ['cpu', 'memory', 'gpu'],
      session: { health_timeout_seconds: 90, lease_name: '', persist_interval_seconds: 10 },
      storage: { default_class: '', allowed_classes: [] },
      leader_election: {
        lease_name: '',
        lease_duration_seconds: 15,
        renew_deadline_seconds: 10,
        retry_period_seconds: 2,
        identity: '',
        advertise_address: '',
        leader_wait_seconds: 5,
      },
      jobs: { timeout_seconds: 3600, cleanup_policy: 'OnSuccess' },
      gpu: { node_selector: {}, tolerations: [] },
      limits: { max_instances: 100 },
      instances: {
        stuck_after_seconds: 300,
        delete_stuck: true,
        keep_finished_seconds: 600,
        max_finished: 1000,
        watch_buffer: 1024,
        logs_connect_timeout_seconds: 10,
        request: { max_request_bytes: 1048576, max_response_bytes: 1048576, timeout_seconds: 30 },
      },
      network: {
        isolate: true,
        allow_opt_out: false,
        peer_label: '',
        ingress: { from_cidrs: [], from_namespaces: [] },
        egress: { allow_all: true, to_cidrs: [], dns: true },
      },
      events: { enabled: true, series_interval_seconds: 10, series_finish_seconds: 360, writes_per_second: 5, burst: 25, queue_size: 1000 },
      log: { level: 'info' },
      usage: { interval_seconds: 15 },
      prometheus: { host: '0.0.0.0', port: 9090 },
      workloads: {
        allowed_images: [],
        security: {
          run_as_non_root: true,
          run_as_user: 65532,
          allow_privilege_escalation: false,
          privileged: false,
          drop_all_capabilities: true,
          seccomp_profile: 'RuntimeDefault',
          automount_service_account_token: false,
          enable_service_links: false,
        },
      },
    });
  });

  it.each([
    ['8Gi', 8 * 2 ** 30],
    ['8GB', 8e9],
    ['8GiB', 8 * 2 ** 30],
    ['8192Mi', 8 * 2 ** 30],
    ['8G', 8e9],
    ['8589934592', 8589934592],
    [8589934592, 8589934592],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['512mb', 512e6],
    ['128974848', 128974848],
    ['129e6', 129e6],
  ])('reads memory %j as %d bytes', (memory, bytes) => {
    const config = parseConfig(`resource: {cpu: 1000, memory: ${JSON.stringify(memory)}}`, '/c.yaml');
    expect(config.resource.memory).toBe(bytes);
  });

  it.each([
    [8000, 8000],
    ['8', 8000],
    ['500m', 500],
    ['0.25', 250],
  ])('reads cpu %j as %d millicores', (cpu, milli) => {
    expect(parseConfig(`resource: {cpu: ${JSON.stringify(cpu)}, memory: 1Gi}`, '/c.yaml').resource.cpu).toBe(milli);
  });

  it('resolves relative paths against the config file directory', () => {
    const config = parseConfig(
      'kubernetes: {kubeconfig: ../kube/config}\nresource: {cpu: 1, memory: 1}\nserver: {tls: {cert_file: tls.crt, key_file: /abs/tls.key}}',
      '/etc/k8s-provider/config.yaml',
    );
    expect(config.kubernetes.kubeconfig).toBe('/etc/kube/config');
    expect(config.server.tls).toEqual({ cert_file: '/etc/k8s-provider/tls.crt', key_file: '/abs/tls.key' });
  });

  it('accepts every new key', () => {
    const config = parseConfig(
      `
server: {host: 127.0.0.1, port: 0}
kubernetes: {namespace: work, label_selector: "team=a,env=dev"}
resource: {mode: auto, gpu: 2}
session: {health_timeout_seconds: 30}
jobs: {timeout_seconds: 60, cleanup_policy: Always}
limits: {max_instances: 5}
log: {level: debug}
usage: {interval_seconds: 5}
prometheus: {port: 0}
`,
      '/c.yaml',
    );
    expect(config.resource).toEqual({ mode: 'auto', gpu: 2, enforce_with_resourcequota: false });
    expect(config.jobs).toEqual({ timeout_seconds: 60, cleanup_policy: 'Always' });
    expect(config.kubernetes.label_selector).toBe('team=a,env=dev');
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 0 });
  });

  it('takes fractional leader-election timing and refuses an order a holder could not keep', () => {
    const config = parseConfig(
      'resource: {cpu: 1000, memory: 1Gi}\nleader_election: {lease_duration_seconds: 4, renew_deadline_seconds: 3, retry_period_seconds: 0.5}',
      '/c.yaml',
    );
    expect(config.leader_election).toMatchObject({ lease_duration_seconds: 4, renew_deadline_seconds: 3, retry_period_seconds: 0.5 });
    expect(
      problems('resource: {cpu: 1000, memory: 1Gi}\nleader_election: {lease_duration_seconds: 10, renew_deadline_seconds: 10, retry_period_seconds: 9}'),
    ).toEqual([
      'leader_election.renew_deadline_seconds: must be less than lease_duration_seconds',
      'leader_election.retry_period_seconds: times 1.2 (the jitter) must be less than renew_deadline_seconds',
    ]);
    expect(problems('resource: {cpu: 1000, memory: 1Gi}\nsession: {lease_name: Session_Lease}')).toEqual([
      'session.lease_name: must be a DNS subdomain name (lowercase alphanumerics, "-" and ".")',
    ]);
  });

  it('reads the quota guard and the GPU placement, and names every bad GPU key', () => {
    const config = parseConfig(
      'resource: {cpu: 1000, memory: 1Gi, enforce_with_resourcequota: true}\ngpu: {node_selector: {nvidia.com/gpu.present: "true"}, tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]}',
      '/c.yaml',
    );
    expect(config.resource.enforce_with_resourcequota).toBe(true);
    expect(config.gpu).toEqual({
      node_selector: { 'nvidia.com/gpu.present': 'true' },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', value: '', effect: 'NoSchedule' }],
    });
    expect(
      problems('resource: {cpu: 1, memory: 1}\ngpu: {tolerations: [{operator: Exists, value: x}, {effect: Sometimes}, {key: k, toleration_seconds: 5}]}'),
    ).toEqual([
      'gpu.tolerations.0.value: must be empty when operator is Exists',
      'gpu.tolerations.1.effect: Invalid option: expected one of ""|"NoSchedule"|"PreferNoSchedule"|"NoExecute"',
      'gpu.tolerations.2.toleration_seconds: needs effect NoExecute',
    ]);
  });

  it('reports every invalid key with its path at once', () => {
    expect(
      problems(`
server: {port: 70000}
kubernetes: {namespace: Not_Valid}
resource: {cpu: -5, memory: lots}
jobs: {cleanup_policy: Sometimes, timeout_seconds: 0}
resource_tags: [cpu, disk]
`),
    ).toEqual([
      'server.port: Too big: expected number to be <=65535',
      'kubernetes.namespace: must be a DNS label (lowercase alphanumerics and "-")',
      'resource.cpu: cpu must not be negative',
      'resource.memory: "lots" is not a Kubernetes quantity (e.g. 500m, 2, 1.5Gi, 128974848, 129e6)',
      'resource_tags.1: Invalid option: expected one of "cpu"|"memory"|"gpu"|"camera"',
      'jobs.timeout_seconds: Too small: expected number to be >0',
      'jobs.cleanup_policy: Invalid option: expected one of "Always"|"OnSuccess"|"OnFailure"',
    ]);
  });

  it('names unknown keys so typos do not pass silently', () => {
    expect(problems('resource: {cpu: 1, memory: 1, gpus: 2}\nsevrer: {port: 1}')).toEqual([
      'resource.gpus: unknown key (check the spelling)',
      'sevrer: unknown key (check the spelling)',
    ]);
  });

  it('requires cpu and memory in static mode', () => {
    expect(problems('resource: {gpu: 1}')).toEqual([
      'resource.cpu: required when resource.mode is static',
      'resource.memory: required when resource.mode is static',
    ]);
  });

  it('rejects negative and fractional cpu numbers and unsafe memory', () => {
    expect(problems('resource: {cpu: 1.5, memory: 1}')).toEqual(['resource.cpu: 1.5 is not a whole number of millicores']);
    expect(problems('resource: {cpu: 1, memory: 100Ei}')[0]).toMatch(/^resource\.memory: memory \d+ is out of range/);
  });

  it('rejects a label selector that is not equality terms', () => {
    expect(problems('resource: {cpu: 1, memory: 1}\nkubernetes: {label_selector: "team in (a,b)"}')[0]).toMatch(
      /^kubernetes\.label_selector: must be equality terms/,
    );
  });

  it('reports YAML syntax errors', () => {
    expect(problems('server: [port: 1')[0]).toMatch(/^YAML: /);
  });
});

describe('where problems are', () => {
  const issues = (text: string, env: Record<string, string> = {}): readonly string[] => {
    try {
      parseConfig(text, '/c/config.yaml', undefined, env);
    } catch (err) {
      if (err instanceof ConfigError) return err.issues.map((i) => formatIssue(err.file, i));
      throw err;
    }
    throw new Error('expected a ConfigError');
  };

  it('names the line of every problem, the key line for unknown keys, the mapping for missing ones', () => {
    expect(issues('# comment\nserver:\n  port: 70000\nresource:\n  gpu: 1\n  gpus: 2\nresource_tags: [cpu,\n  disk]\n')).toEqual([
      '/c/config.yaml:3: server.port: Too big: expected number to be <=65535',
      '/c/config.yaml:6: resource.gpus: unknown key (check the spelling)',
      '/c/config.yaml:4: resource.cpu: required when resource.mode is static',
      '/c/config.yaml:4: resource.memory: required when resource.mode is static',
      '/c/config.yaml:8: resource_tags.1: Invalid option: expected one of "cpu"|"memory"|"gpu"|"camera"',
    ]);
    expect(issues('server: [port: 1')[0]).toMatch(/^\/c\/config.yaml:1: YAML: /);
  });

  it('takes every setting from K8S_PROVIDER_* variables over the file, and names the variable of a bad value', () => {
    const env = {
      K8S_PROVIDER_RESOURCE_CPU: '500m',
      K8S_PROVIDER_RESOURCE_MEMORY: '2Gi',
      K8S_PROVIDER_SERVER_PORT: '7000',
      K8S_PROVIDER_LOG_LEVEL: 'debug',
      K8S_PROVIDER_RESOURCE_TAGS: 'cpu,gpu',
      K8S_PROVIDER_KUBERNETES_IN_CLUSTER: 'true',
    };
    const config = parseConfig('resource: {cpu: 8000, memory: 1Gi}\nserver: {port: 1}', '/c/config.yaml', undefined, env);
    expect(config.resource).toMatchObject({ cpu: 500, memory: 2 * 2 ** 30 });
    expect(config.server.port).toBe(7000);
    expect(config.log.level).toBe('debug');
    expect(config.resource_tags).toEqual(['cpu', 'gpu']);
    expect(config.kubernetes.in_cluster).toBe(true);
    expect(issues('resource: {cpu: 1, memory: 1}', { K8S_PROVIDER_SERVER_PORT: 'http', K8S_PROVIDER_RESOURCE_TAGS: 'cpu,disk' })).toEqual([
      'K8S_PROVIDER_SERVER_PORT: server.port: Invalid input: expected number, received string',
      'K8S_PROVIDER_RESOURCE_TAGS: resource_tags.1: Invalid option: expected one of "cpu"|"memory"|"gpu"|"camera"',
    ]);
  });

  it('reports unknown K8S_PROVIDER_* variables, but not the service links Kubernetes adds', () => {
    expect(
      unknownEnv({
        K8S_PROVIDER_SERVR_PORT: '1',
        K8S_PROVIDER_SERVICE_HOST: '10.0.0.1',
        K8S_PROVIDER_PORT: 'tcp://10.0.0.1:50052',
        K8S_PROVIDER_PORT_50052_TCP_ADDR: '10.0.0.1',
        K8S_PROVIDER_LOG_LEVEL: 'info',
      }),
    ).toEqual(['K8S_PROVIDER_SERVR_PORT']);
  });

  it('reports a bad value under a deprecated key on the line of the old key', () => {
    expect(issues('resource: {cpu: 1, memory: 1}\nmetrics:\n  port: 99999\n')).toEqual([
      '/c/config.yaml:3: prometheus.port: Too big: expected number to be <=65535',
    ]);
  });
});

describe('deprecated keys', () => {
  const base = 'resource: {cpu: 1000, memory: 1Gi}\n';

  it('moves metrics.* to usage.* and prometheus.* with exactly one warning naming old and new keys', () => {
    const warnings: string[] = [];
    const config = parseConfig(`${base}metrics: {interval_seconds: 5, host: 127.0.0.1, port: 9100}\n`, '/c.yaml', (w) => warnings.push(w));
    expect(config.usage).toEqual({ interval_seconds: 5 });
    expect(config.prometheus).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(warnings).toEqual([
      'deprecated config keys in /c.yaml: metrics.interval_seconds is now usage.interval_seconds, metrics.host is now prometheus.host, metrics.port is now prometheus.port',
    ]);
  });

  it('warns only about the old keys actually used, and not at all for the new ones', () => {
    const warnings: string[] = [];
    parseConfig(`${base}metrics: {port: 0}\nusage: {interval_seconds: 7}\n`, '/c.yaml', (w) => warnings.push(w));
    expect(warnings).toEqual(['deprecated config keys in /c.yaml: metrics.port is now prometheus.port']);
    const none: string[] = [];
    parseConfig(`${base}usage: {interval_seconds: 7}\nprometheus: {port: 0}\n`, '/c.yaml', (w) => none.push(w));
    expect(none).toEqual([]);
  });

  it('refuses an old key together with its new one, and an unknown key left in the old section', () => {
    expect(problems(`${base}metrics: {port: 0}\nprometheus: {port: 9100}\n`)).toEqual([
      'metrics.port: deprecated and prometheus.port is also set; keep only prometheus.port',
    ]);
    expect(problems(`${base}metrics: {port: 0, bogus: 1}\n`)).toEqual(['metrics: unknown key (check the spelling)']);
  });

  it('reports the warnings of a loaded file for start-up to log', () => {
    const loaded = loadConfig({ argv: [], cwd: '/srv', readFile: () => `${base}metrics: {interval_seconds: 5}\n` });
    expect(loaded.warnings).toEqual(['deprecated config keys in /srv/config.yaml: metrics.interval_seconds is now usage.interval_seconds']);
    expect(loaded.config.usage.interval_seconds).toBe(5);
  });
});

describe('loadConfig', () => {
  const files: Record<string, string> = { '/srv/config.yaml': SEED_004, '/srv/other.yaml': 'resource: {cpu: 2000, memory: 2Gi}' };
  const readFile = (p: string): string => {
    const text = files[p];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return text;
  };

  it('defaults to ./config.yaml', () => {
    expect(loadConfig({ argv: [], cwd: '/srv', readFile }).path).toBe('/srv/config.yaml');
  });

  it('takes --config PATH and --config=PATH', () => {
    expect(loadConfig({ argv: ['--config', 'other.yaml'], cwd: '/srv', readFile }).config.resource.cpu).toBe(2000);
    expect(loadConfig({ argv: ['--config=/srv/other.yaml'], cwd: '/', readFile }).path).toBe('/srv/other.yaml');
  });

  it('names the path of a missing file', () => {
    expect(() => loadConfig({ argv: ['--config', 'nope.yaml'], cwd: '/srv', readFile })).toThrow('cannot read /srv/nope.yaml: file not found');
  });

  it('refuses unknown flags', () => {
    expect(() => configPathFrom(['--confg', 'x'], '/')).toThrow(/Unknown option '--confg'/);
  });
});
