import { describe, expect, it } from 'vitest';
import { parseCommandLine } from './args.js';
import { describeText, instanceData, instancesTable, watchLine } from './instances.js';
import type { Instance__Output } from '../adapters/grpc/contract.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const wire = (over: Partial<Instance__Output> = {}): Instance__Output =>
  ({
    instanceId: 'web',
    kind: 'WORKLOAD_KIND_POD',
    workloadName: 'web',
    phase: 'INSTANCE_PHASE_RUNNING',
    ready: true,
    reason: '',
    message: '',
    stuck: false,
    node: 'kwok-node-0',
    podIp: '10.0.0.1',
    podName: 'web',
    createdAtUnixMs: String(NOW - 90_000),
    startedAtUnixMs: String(NOW - 80_000),
    finishedAtUnixMs: '0',
    restartCount: 0,
    requested: { cpu: '500', memory: String(2 ** 28), gpu: '0', tags: [] },
    holds: { cpu: '500', memory: String(2 ** 28), gpu: '0', tags: [] },
    usage: null,
    providerId: 'cp',
    image: 'busybox',
    cleanupPolicy: '',
    _exitCode: 'exitCode',
    ...over,
  }) as Instance__Output;

describe('instance command lines', () => {
  it('parses the instance commands, their flags and the instance id', () => {
    expect(parseCommandLine(['instances', '-p', 'cp', '--phase', 'Running', '--phase', 'failed', '--kind', 'job'])).toMatchObject({
      name: 'instances',
      phases: ['INSTANCE_PHASE_RUNNING', 'INSTANCE_PHASE_FAILED'],
      kind: 'WORKLOAD_KIND_JOB',
    });
    expect(parseCommandLine(['logs', 'web', '-p', 'cp', '-f', '--tail', '20', '-c', 'side'])).toMatchObject({
      name: 'logs',
      request: { providerId: 'cp', instanceId: 'web', follow: true, tailLines: '20', container: 'side', timestamps: false },
    });
    expect(parseCommandLine(['undeploy', 'job-1', '-p', 'cp', '--foreground', '--grace', '0'])).toMatchObject({
      request: { instanceId: 'job-1', propagation: 'PROPAGATION_FOREGROUND', graceSeconds: '0' },
    });
    expect(parseCommandLine(['undeploy', 'x', '-p', 'cp'])).toMatchObject({ request: { propagation: 'PROPAGATION_BACKGROUND' } });
    expect(parseCommandLine(['scale', 'web', '-p', 'cp', '--replicas', '3'])).toMatchObject({
      name: 'scale',
      request: { providerId: 'cp', instanceId: 'web', replicas: 3 },
    });
    expect(parseCommandLine(['instances', '-p', 'cp', '--kind', 'Deployment'])).toMatchObject({ kind: 'WORKLOAD_KIND_DEPLOYMENT' });
  });

  it('parses a deploy of a Deployment with volumes', () => {
    const command = parseCommandLine([
      'deploy',
      '-p',
      'cp',
      '-i',
      'db',
      '--image',
      'postgres',
      '--kind',
      'deployment',
      '--replicas',
      '2',
      '--empty-dir',
      'scratch:/tmp/work:1Gi',
      '--claim',
      'data:/var/lib/data:10Gi:fast:ReadWriteMany,retain',
      '--claim',
      'seed:/seed:1Gi,ro',
    ]);
    expect(command).toMatchObject({
      request: {
        workload: {
          kind: 'DEPLOYMENT',
          replicas: 2,
          volumes: [
            { name: 'scratch', mountPath: '/tmp/work', emptyDir: { sizeLimitBytes: String(2 ** 30) } },
            {
              name: 'data',
              mountPath: '/var/lib/data',
              readOnly: false,
              claim: { sizeBytes: String(10 * 2 ** 30), storageClass: 'fast', accessMode: 'ReadWriteMany', retain: true },
            },
            { name: 'seed', mountPath: '/seed', readOnly: true, claim: { sizeBytes: String(2 ** 30), storageClass: '', accessMode: '', retain: false } },
          ],
        },
      },
    });
    expect(() => parseCommandLine(['deploy', '-p', 'cp', '-i', 'x', '--image', 'i', '--claim', 'data:/d'])).toThrow(
      '--claim "data:/d": expected NAME:PATH:SIZE',
    );
    expect(() => parseCommandLine(['deploy', '-p', 'cp', '-i', 'x', '--image', 'i', '--empty-dir', 'a:/a:1Gi:x'])).toThrow('--empty-dir "a:/a:1Gi:x"');
    expect(() => parseCommandLine(['scale', 'web', '-p', 'cp'])).toThrow('scale: --replicas is required');
  });

  it('refuses what cannot work before calling anything', () => {
    expect(() => parseCommandLine(['describe', '-p', 'cp'])).toThrow('describe: the instance id is required (describe ID)');
    expect(() => parseCommandLine(['logs', 'a', 'b', '-p', 'cp'])).toThrow('logs: unexpected argument "b" (one instance id only)');
    expect(() => parseCommandLine(['instances'])).toThrow('instances: --provider-id is required');
    expect(() => parseCommandLine(['watch', 'x', '-p', 'cp'])).toThrow('watch: unexpected argument "x"');
    expect(() => parseCommandLine(['instances', '-p', 'cp', '--tail', '3'])).toThrow('--tail is not an option of instances (it belongs to logs)');
    expect(() => parseCommandLine(['logs', 'a', '-p', 'cp', '--tail', '-1'])).toThrow();
    expect(() => parseCommandLine(['logs', 'a', '-p', 'cp', '--since', '0'])).toThrow('--since must be a whole number of at least 1');
  });
});

describe('instance rendering', () => {
  it('shows a kubectl-like table', () => {
    const rows = [
      instanceData(wire()),
      instanceData(wire({ instanceId: 'stuck-one', phase: 'INSTANCE_PHASE_FAILED', reason: 'Unschedulable', node: '', stuck: true })),
    ];
    expect(instancesTable(rows, NOW)).toBe(
      [
        'INSTANCE   KIND  PHASE    REASON         NODE         AGE  CPU   MEMORY',
        'web        Pod   Running  -              kwok-node-0  90s  500m  256Mi',
        'stuck-one  Pod   Failed   Unschedulable  <none>       90s  500m  256Mi',
        '',
      ].join('\n'),
    );
    expect(instancesTable([], NOW)).toBe('no instances\n');
  });

  it('describes one instance with its times and exit code', () => {
    const text = describeText(
      instanceData(wire({ phase: 'INSTANCE_PHASE_FAILED', ready: false, reason: 'OOMKilled', exitCode: 137, finishedAtUnixMs: String(NOW - 5000) })),
      NOW,
    );
    expect(text).toContain('Phase:     Failed\n');
    expect(text).toContain('Reason:    OOMKilled\n');
    expect(text).toContain('Exit code: 137\n');
    expect(text).toContain('Finished:  2026-01-01T11:59:55.000Z (5s ago)\n');
    expect(text).toContain('Requested: cpu 500m, memory 256Mi, gpu 0\n');
  });

  it('describes a DEPLOYMENT with its replicas and volumes', () => {
    const text = describeText(
      instanceData(
        wire({
          kind: 'WORKLOAD_KIND_DEPLOYMENT',
          replicas: 3,
          readyReplicas: 2,
          volumes: [
            {
              name: 'scratch',
              mountPath: '/scratch',
              type: 'emptyDir',
              sizeBytes: String(2 ** 30),
              claimName: '',
              storageClass: '',
              claimPhase: '',
              retain: false,
            },
            {
              name: 'data',
              mountPath: '/data',
              type: 'claim',
              sizeBytes: String(2 * 2 ** 30),
              claimName: 'web-data',
              storageClass: 'fast',
              claimPhase: 'Pending',
              retain: true,
            },
          ],
        }),
      ),
      NOW,
    );
    expect(text).toContain('Kind:           Deployment web\n');
    expect(text).toContain('Replicas:       2/3 ready\n');
    expect(text).toContain('Volume scratch: /scratch  emptyDir (1Gi)\n');
    expect(text).toContain('Volume data:    /data  claim web-data (fast, 2Gi, Pending, retained)\n');
    expect(describeText(instanceData(wire()), NOW)).not.toContain('Replicas');
  });

  it('describes where the instance may run: priority class and one line per rule', () => {
    const text = describeText(
      instanceData(
        wire({ priorityClassName: 'batch-low', placement: ['node selector gpu=true', 'apart from app_group=web per kubernetes.io/hostname (required)'] }),
      ),
      NOW,
    );
    expect(text).toContain('Priority:  batch-low\n');
    expect(text).toContain('Placement: node selector gpu=true\n           apart from app_group=web per kubernetes.io/hostname (required)\n');
    expect(describeText(instanceData(wire()), NOW)).not.toContain('Placement');
  });

  it('prints one line per watch event', () => {
    expect(watchLine({ type: 'WATCH_EVENT_TYPE_MODIFIED', instance: wire() }, NOW)).toBe('12:00:00.000  MODIFIED  web  Pod  Running  on kwok-node-0\n');
    expect(watchLine({ type: 'WATCH_EVENT_TYPE_SYNCED', instance: null }, NOW)).toBe('12:00:00.000  -- snapshot complete, watching --\n');
    expect(watchLine({ type: 'WATCH_EVENT_TYPE_RESYNC', instance: null }, NOW)).toMatch(/RESYNC: changes were dropped/);
  });
});

describe('instance reachability in the CLI', () => {
  const endpoint = {
    serviceName: 'web',
    serviceType: 'NodePort',
    dnsName: 'web.work.svc',
    clusterIp: '10.96.0.9',
    podIp: '10.0.0.1',
    ports: [
      { name: 'http', port: 8080, protocol: 'TCP', nodePort: 30080 },
      { name: 'udp-53', port: 53, protocol: 'UDP', nodePort: 0 },
    ],
  };

  it('describe shows the Service, DNS name, ports and the NetworkPolicy', () => {
    const text = describeText(instanceData(wire({ endpoint, networkPolicy: 'web' } as Partial<Instance__Output>)), NOW);
    expect(text).toContain('Service:   web (NodePort, cluster IP 10.96.0.9)\n');
    expect(text).toContain('DNS:       web.work.svc\n');
    expect(text).toContain('Ports:     http 8080/TCP -> node port 30080, udp-53 53/UDP\n');
    expect(text).toContain('Isolation: NetworkPolicy web\n');
    const bare = describeText(instanceData(wire({ endpoint: null, networkPolicy: '' } as Partial<Instance__Output>)), NOW);
    expect(bare).toContain('Service:   -\n');
    expect(bare).toContain('Isolation: none\n');
  });

  it('describe shows the labels, the expose choice, the peer group and every ingress source', () => {
    const text = describeText(
      instanceData(
        wire({
          endpoint,
          networkPolicy: 'web',
          labels: { team: 'a', app: 'shop' },
          peerGroup: 'app=shop',
          ingressFrom: ['10.20.0.0/16', 'namespace monitoring', 'pods app=shop'],
        } as Partial<Instance__Output>),
      ),
      NOW,
    );
    expect(text).toContain('Labels:    app=shop, team=a\n');
    expect(text).toContain('Expose:    NODE_PORT\n');
    expect(text).toContain('Peers:     app=shop\n');
    expect(text).toContain('Ingress:   from 10.20.0.0/16\n           from namespace monitoring\n           from pods app=shop\n');
    const clusterIp = describeText(
      instanceData(wire({ endpoint: { ...endpoint, serviceType: 'ClusterIP' }, networkPolicy: 'web' } as Partial<Instance__Output>)),
      NOW,
    );
    expect(clusterIp).toContain('Expose:    CLUSTER_IP\n');
    expect(clusterIp).toContain('Labels:    -\n');
    expect(clusterIp).toContain('Peers:     -\n');
    expect(clusterIp).toContain('Ingress:   from nowhere (all denied)\n');
    const open = describeText(instanceData(wire({ endpoint: null, networkPolicy: '' } as Partial<Instance__Output>)), NOW);
    expect(open).toContain('Expose:    none (no Service)\n');
    expect(open).toContain('Ingress:   from anywhere (not isolated)\n');
    expect(instanceData(wire({ labels: { app: 'shop' }, peerGroup: 'app=shop', ingressFrom: ['pods app=shop'] } as Partial<Instance__Output>))).toMatchObject({
      labels: { app: 'shop' },
      peerGroup: 'app=shop',
      ingressFrom: ['pods app=shop'],
    });
  });

  it('deploy takes --expose, --isolate/--no-isolate and --peer-label, and sends nothing of them when absent', () => {
    const cmd = parseCommandLine([
      'deploy',
      '-p',
      'cp',
      '-i',
      'web',
      '--image',
      'x',
      '--port',
      '80',
      '--expose',
      'node-port',
      '--no-isolate',
      '--peer-label',
      'app',
    ]);
    expect(cmd.name === 'deploy' && cmd.request.workload).toMatchObject({ expose: 'NODE_PORT', network: { isolate: false, peerLabel: 'app' } });
    const plain = parseCommandLine(['deploy', '-p', 'cp', '-i', 'web', '--image', 'x']);
    expect(plain.name === 'deploy' && plain.request.workload).toBeUndefined();
    expect(() => parseCommandLine(['deploy', '-p', 'cp', '-i', 'w', '--image', 'x', '--expose', 'lb'])).toThrow(
      '--expose must be cluster-ip, node-port or none, not "lb"',
    );
    expect(() => parseCommandLine(['deploy', '-p', 'cp', '-i', 'w', '--image', 'x', '--isolate', '--no-isolate'])).toThrow('contradict');
  });
});

describe('the request command line', () => {
  it('builds a SendHttpRequest from curl-like flags', () => {
    const cmd = parseCommandLine([
      'request',
      'web',
      '-p',
      'cp',
      '-X',
      'post',
      '--path',
      '/a?b=1',
      '-H',
      'Content-Type: text/plain',
      '-d',
      'hi',
      '--port',
      '8080',
      '--timeout',
      '2.5',
      '--include',
    ]);
    expect(cmd).toMatchObject({
      name: 'request',
      include: true,
      request: {
        providerId: 'cp',
        instanceId: 'web',
        port: 8080,
        method: 'POST',
        path: '/a?b=1',
        headers: [{ name: 'Content-Type', value: 'text/plain' }],
        timeoutMs: '2500',
      },
    });
    expect(cmd.name === 'request' && Buffer.from(cmd.request.body as Uint8Array).toString()).toBe('hi');
    expect(parseCommandLine(['request', 'web', '-p', 'cp'])).toMatchObject({ request: { port: 0, method: 'GET', path: '/', timeoutMs: '0' }, include: false });
  });

  it('names the flag it refuses', () => {
    expect(() => parseCommandLine(['request', 'web', '-p', 'cp', '--port', 'http'])).toThrow('--port "http" is not a port number (1-65535)');
    expect(() => parseCommandLine(['request', 'web', '-p', 'cp', '-H', 'novalue'])).toThrow('--header "novalue": expected "Name: value"');
    expect(() => parseCommandLine(['request', '-p', 'cp'])).toThrow('request: the instance id is required (request ID)');
    expect(() => parseCommandLine(['request', 'web', '-p', 'cp', '--image', 'x'])).toThrow('--image is not an option of request (it belongs to deploy)');
  });
});
