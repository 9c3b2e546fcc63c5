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
