import { describe, expect, it } from 'vitest';
import { DEFAULT_ADDR, UsageError, parseCommandLine, parseCpuFlag, parseMemoryFlag, parsePort, parseToleration } from './args.js';

describe('parseCommandLine', () => {
  it('reads the common flags before or after the command', () => {
    const a = parseCommandLine(['--addr', '10.0.0.1:50052', 'capacity', '--json']);
    const b = parseCommandLine(['capacity', '--json', '--addr', '10.0.0.1:50052']);
    expect(a).toEqual(b);
    expect(a).toEqual({
      name: 'capacity',
      common: { addr: '10.0.0.1:50052', providerId: '', tls: undefined, json: true, deadlineSeconds: 10 },
    });
  });

  it('defaults the address and needs a provider id where the RPC needs a session', () => {
    expect(parseCommandLine(['available'])).toMatchObject({ common: { addr: DEFAULT_ADDR, providerId: '' } });
    for (const cmd of ['connect', 'disconnect', 'usage', 'health']) {
      expect(() => parseCommandLine([cmd])).toThrow(`${cmd}: --provider-id is required`);
    }
    expect(parseCommandLine(['health', '-p', 'cp-1'])).toMatchObject({ name: 'health', common: { providerId: 'cp-1' } });
  });

  it('takes a token file for server.auth on every command that calls the daemon', () => {
    expect(parseCommandLine(['capacity', '--token-file', '/run/secrets/token'])).toMatchObject({ common: { tokenFile: '/run/secrets/token' } });
    expect(parseCommandLine(['probe', '--token-file', 't'])).toMatchObject({ name: 'probe', common: { tokenFile: 't' } });
    expect(parseCommandLine(['capacity'])).not.toHaveProperty('common.tokenFile');
  });

  it('turns TLS on with any TLS flag and wants cert and key together', () => {
    expect(parseCommandLine(['capacity', '--tls-ca', 'ca.pem'])).toMatchObject({
      common: { tls: { ca: 'ca.pem', cert: undefined, key: undefined, serverName: undefined } },
    });
    expect(() => parseCommandLine(['capacity', '--tls-cert', 'c.pem'])).toThrow('--tls-cert and --tls-key go together');
  });

  it('builds a plain deploy exactly as the original contract (no workload field)', () => {
    expect(
      parseCommandLine(['deploy', '-p', 'cp', '-i', 'c1', '--image', 'busybox', '--cpu', '500m', '--memory', '256Mi', '-e', 'A=1', '-e', 'URL=x=y']),
    ).toEqual({
      name: 'deploy',
      common: expect.anything(),
      request: {
        instanceId: 'c1',
        image: 'busybox',
        providerId: 'cp',
        resourceRequest: { cpu: '500', memory: String(256 * 2 ** 20), gpu: '0' },
        envVars: { A: '1', URL: 'x=y' },
      },
    });
  });

  it('maps every workload option', () => {
    const cmd = parseCommandLine([
      'deploy',
      '-p',
      'cp',
      '-i',
      'j1',
      '--image',
      'busybox',
      '--gpu',
      '1',
      '--kind',
      'job',
      '--command',
      'sh',
      '--command=-c',
      '--arg',
      'echo hi',
      '--port',
      'http:8080',
      '--port',
      '53/udp',
      '--timeout',
      '600',
      '--cleanup',
      'on-failure',
      '--backoff-limit',
      '2',
      '-l',
      'team=a',
      '--annotation',
      'note=x',
      '--node-selector',
      'pool=gpu',
      '--toleration',
      'dedicated=gpu:NoSchedule',
      '--toleration',
      'node.kubernetes.io/unreachable:NoExecute:30',
      '--',
      '-x',
      '--',
      'y',
    ]);
    expect(cmd).toMatchObject({
      request: {
        resourceRequest: { cpu: '0', memory: '0', gpu: '1' },
        workload: {
          kind: 'JOB',
          command: ['sh', '-c'],
          args: ['echo hi', '-x', '--', 'y'],
          ports: [
            { name: 'http', containerPort: 8080, protocol: 'TCP' },
            { name: '', containerPort: 53, protocol: 'UDP' },
          ],
          timeoutSeconds: '600',
          cleanupPolicy: 'ON_FAILURE',
          backoffLimit: 2,
          labels: { team: 'a' },
          annotations: { note: 'x' },
          nodeSelector: { pool: 'gpu' },
          tolerations: [
            { key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' },
            { key: 'node.kubernetes.io/unreachable', operator: 'Exists', value: '', effect: 'NoExecute', tolerationSeconds: '30' },
          ],
        },
      },
    });
  });

  it('reports usage errors with the flag at fault', () => {
    const cases: Array<[string[], string]> = [
      [['frobnicate'], 'unknown command "frobnicate"'],
      [['deploy', '-p', 'cp', '--image', 'x'], '--instance-id is required'],
      [['deploy', '-p', 'cp', '-i', 'a'], '--image is required'],
      [['deploy', '-p', 'cp', '-i', 'a', '--image', 'x', '--kind', 'cron'], '--kind must be pod, job or deployment'],
      [['deploy', '-p', 'cp', '-i', 'a', '--image', 'x', '-e', 'NOVALUE'], '--env "NOVALUE": expected KEY=VALUE'],
      [['deploy', '-p', 'cp', '-i', 'a', '--image', 'x', '--cleanup', 'never'], '--cleanup must be always, on-success or on-failure'],
      [['deploy', '-p', 'cp', '-i', 'a', '--image', 'x', '--timeout', '0'], '--timeout must be a whole number of at least 1'],
      [['capacity', '--image', 'x'], '--image is not an option of capacity'],
      [['capacity', '--bogus'], "Unknown option '--bogus'"],
      [['capacity', 'extra'], 'unexpected argument "extra"'],
      [['capacity', '--deadline', '0'], '--deadline must be a positive number'],
      [['capacity', '--', 'x'], 'takes nothing after "--"'],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseCommandLine(argv), argv.join(' ')).toThrow(UsageError);
      expect(() => parseCommandLine(argv), argv.join(' ')).toThrow(message);
    }
  });

  it('parses pods and help', () => {
    expect(parseCommandLine(['pods', '-n', 'iarnet', '--kubeconfig', '/k', '--json'])).toEqual({
      name: 'pods',
      json: true,
      kubeconfig: '/k',
      namespace: 'iarnet',
      allNamespaces: false,
    });
    expect(parseCommandLine(['pods', '-A'])).toMatchObject({ allNamespaces: true });
    expect(parseCommandLine([])).toEqual({ name: 'help', topic: undefined });
    expect(parseCommandLine(['deploy', '--help'])).toEqual({ name: 'help', topic: 'deploy' });
    expect(parseCommandLine(['probe', '--service', 'provider.Service'])).toMatchObject({ name: 'probe', service: 'provider.Service' });
  });

  it('parses version in its three spellings, and nothing else with it', () => {
    for (const argv of [['--version'], ['-V'], ['version']]) expect(parseCommandLine(argv), argv.join(' ')).toEqual({ name: 'version' });
    expect(() => parseCommandLine(['version', 'extra'])).toThrow('version: unexpected argument "extra"');
  });
});

describe('flag values', () => {
  it('cpu: a quantity in cores, as kubectl takes it', () => {
    expect(parseCpuFlag('2')).toBe(2000);
    expect(parseCpuFlag('500m')).toBe(500);
    expect(parseCpuFlag('0.5')).toBe(500);
    expect(parseCpuFlag('1.5')).toBe(1500);
    expect(() => parseCpuFlag('lots')).toThrow('--cpu "lots"');
  });

  it('memory: bytes or a quantity', () => {
    expect(parseMemoryFlag('1024')).toBe(1024);
    expect(parseMemoryFlag('512Mi')).toBe(512 * 2 ** 20);
    expect(parseMemoryFlag('1G')).toBe(1e9);
    expect(parseMemoryFlag('1GiB')).toBe(2 ** 30);
    expect(() => parseMemoryFlag('a lot')).toThrow('--memory "a lot"');
  });

  it('ports', () => {
    expect(parsePort('8080')).toEqual({ name: '', containerPort: 8080, protocol: 'TCP' });
    expect(parsePort('metrics:9090/TCP')).toEqual({ name: 'metrics', containerPort: 9090, protocol: 'TCP' });
    expect(() => parsePort('70000')).toThrow('not a port number');
    expect(() => parsePort('http')).toThrow('expected [NAME:]PORT');
  });

  it('tolerations in kubectl taint spelling', () => {
    expect(parseToleration('*')).toEqual({ key: '', operator: 'Exists', value: '', effect: '' });
    expect(parseToleration('gpu')).toEqual({ key: 'gpu', operator: 'Exists', value: '', effect: '' });
    expect(parseToleration('gpu=yes')).toEqual({ key: 'gpu', operator: 'Equal', value: 'yes', effect: '' });
    expect(() => parseToleration('gpu:Sometimes')).toThrow('effect must be one of');
    expect(() => parseToleration('gpu:NoSchedule:30')).toThrow('only apply to the NoExecute effect');
    expect(() => parseToleration('=x')).toThrow('the key is missing');
  });
});

describe('deploy scheduling flags', () => {
  const deploy = (...flags: string[]): unknown => parseCommandLine(['deploy', '-p', 'cp', '-i', 'x', '--image', 'nginx', ...flags]);

  it('sends only the scheduling fields given', () => {
    expect(
      deploy(
        '--priority-class',
        'batch-low',
        '--apart',
        'app_group',
        '--together',
        'app_group,topology=zone,weight=40',
        '--spread',
        'zone,skew=2,anyway,group=app_group',
      ),
    ).toMatchObject({
      request: {
        workload: {
          priorityClassName: 'batch-low',
          affinity: [
            { groupLabel: 'app_group', relation: 'AFFINITY_RELATION_APART', mode: 'PLACEMENT_MODE_REQUIRED' },
            { groupLabel: 'app_group', relation: 'AFFINITY_RELATION_TOGETHER', mode: 'PLACEMENT_MODE_PREFERRED', topologyKey: 'zone', weight: 40 },
          ],
          topologySpread: [{ topologyKey: 'zone', maxSkew: 2, whenUnsatisfiable: 'WHEN_UNSATISFIABLE_SCHEDULE_ANYWAY', groupLabel: 'app_group' }],
        },
      },
    });
    expect(deploy()).not.toHaveProperty('request.workload');
  });

  it('refuses a malformed rule as a usage error', () => {
    expect(() => deploy('--apart', 'app_group,nearby')).toThrow('--apart "app_group,nearby": unknown option "nearby" (topology, preferred, weight)');
    expect(() => deploy('--spread', 'zone,skew=two')).toThrow('--spread: skew must be a whole number, not "two"');
  });
});
