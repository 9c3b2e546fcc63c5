import { describe, expect, it } from 'vitest';
import { validateDeploy, type DeployInput } from './deploy-spec.js';
import { DomainError } from './errors.js';

const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' as const };
const base: DeployInput = {
  instanceId: 'comp-1',
  providerId: 'cp',
  image: 'python:3.11',
  resources: { cpu: 500, memory: 256 * 2 ** 20, gpu: 0 },
  env: { COMPONENT_ID: 'comp-1', ZMQ_ADDR: 'tcp://x:1' },
};

function problem(input: DeployInput): string {
  try {
    validateDeploy(input, defaults);
  } catch (err) {
    if (err instanceof DomainError) return `${err.kind}: ${err.message}`;
    throw err;
  }
  return 'ok';
}

describe('validateDeploy', () => {
  it('makes a plain Pod spec when no workload is given', () => {
    const spec = validateDeploy(base, defaults);
    expect(spec).toMatchObject({ kind: 'Pod', timeoutSeconds: undefined, cleanupPolicy: undefined, backoffLimit: undefined, command: [], ports: [] });
    expect(spec.specHash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('fills Job defaults from the config', () => {
    const spec = validateDeploy({ ...base, workload: { kind: 'Job' } }, defaults);
    expect(spec).toMatchObject({ kind: 'Job', timeoutSeconds: 3600, cleanupPolicy: 'OnSuccess', backoffLimit: 0 });
  });

  it('hashes equal requests equally whatever the map order, and different requests differently', () => {
    const a = validateDeploy({ ...base, env: { A: '1', B: '2' } }, defaults).specHash;
    const b = validateDeploy({ ...base, env: { B: '2', A: '1' } }, defaults).specHash;
    const c = validateDeploy({ ...base, env: { A: '1', B: '3' } }, defaults).specHash;
    const d = validateDeploy({ ...base, env: { A: '1', B: '2' }, workload: {} }, defaults).specHash;
    expect(a).toBe(b);
    expect(a).toBe(d);
    expect(a).not.toBe(c);
  });

  it('does not let the daemon defaults change the hash', () => {
    const a = validateDeploy({ ...base, workload: { kind: 'Job' } }, defaults).specHash;
    const b = validateDeploy({ ...base, workload: { kind: 'Job' } }, { jobTimeoutSeconds: 10, jobCleanupPolicy: 'Always' }).specHash;
    expect(a).toBe(b);
  });

  it.each<[string, Partial<DeployInput>, string]>([
    ['empty instance id', { instanceId: '' }, 'instance_id is required'],
    ['over-long instance id', { instanceId: 'x'.repeat(254) }, 'instance_id is longer than 253 characters'],
    ['empty image', { image: ' ' }, 'image is required'],
    ['zero cpu', { resources: { cpu: 0, memory: 1, gpu: 0 } }, 'resource_request.cpu must be a positive number of millicores (got 0)'],
    ['negative memory', { resources: { cpu: 1, memory: -1, gpu: 0 } }, 'resource_request.memory must be a positive number of bytes (got -1)'],
    ['negative gpu', { resources: { cpu: 1, memory: 1, gpu: -1 } }, 'resource_request.gpu must be zero or more (got -1)'],
    ['invalid env name', { env: { '1BAD': 'x' } }, `env_vars name "1BAD" is invalid (letters, digits, '_', '-', '.'; not starting with a digit)`],
  ])('refuses %s', (_, over, message) => {
    expect(problem({ ...base, ...over })).toBe(`INVALID_ARGUMENT: ${message}`);
  });

  it('reports every problem at once', () => {
    expect(problem({ ...base, instanceId: '', image: '', resources: { cpu: 0, memory: 0, gpu: 0 } }).split('; ')).toHaveLength(4);
  });

  it('checks workload options', () => {
    expect(problem({ ...base, workload: { kind: 'Pod', cleanupPolicy: 'Always', backoffLimit: 1 } })).toBe(
      'INVALID_ARGUMENT: workload.cleanup_policy applies to JOB workloads only; workload.backoff_limit applies to JOB workloads only',
    );
    expect(problem({ ...base, workload: { labels: { 'iarnet.managed': 'false' } } })).toBe(
      'INVALID_ARGUMENT: workload.labels key "iarnet.managed" is reserved for the provider',
    );
    expect(problem({ ...base, workload: { annotations: { 'iarnet.spec_hash': 'x' } } })).toBe(
      'INVALID_ARGUMENT: workload.annotations key "iarnet.spec_hash" is reserved for the provider',
    );
    expect(problem({ ...base, workload: { labels: { 'bad key!': 'v' } } })).toMatch(/workload\.labels key "bad key!": name must be/);
    expect(problem({ ...base, workload: { nodeSelector: { gpu: 'a b' } } })).toMatch(/workload\.node_selector\[gpu\] value "a b"/);
    expect(problem({ ...base, workload: { ports: [{ name: '', containerPort: 70000, protocol: 'tcp' }] } })).toBe(
      'INVALID_ARGUMENT: workload.ports: container_port 70000 is not in 1-65535',
    );
    expect(problem({ ...base, workload: { ports: [{ name: 'HTTP', containerPort: 80, protocol: 'ICMP' }] } })).toMatch(/protocol "ICMP"[\s\S]*name "HTTP"/);
    // A name equal to another port's generated "<protocol>-<port>" would only be refused by the Service, after the pod exists.
    expect(
      problem({
        ...base,
        workload: {
          ports: [
            { name: '', containerPort: 9000, protocol: 'udp' },
            { name: 'udp-9000', containerPort: 9001, protocol: 'udp' },
          ],
        },
      }),
    ).toBe('INVALID_ARGUMENT: workload.ports[1].name "udp-9000" is the name workload.ports[0] gets without one: name it, or choose another name');
    expect(
      problem({
        ...base,
        workload: {
          ports: [
            { name: 'tcp-81', containerPort: 80, protocol: '' },
            { name: '', containerPort: 81, protocol: 'TCP' },
          ],
        },
      }),
    ).toBe('INVALID_ARGUMENT: workload.ports[0].name "tcp-81" is the name workload.ports[1] gets without one: name it, or choose another name');
    expect(
      problem({
        ...base,
        workload: {
          ports: [
            { name: 'web', containerPort: 80, protocol: '' },
            { name: 'web', containerPort: 81, protocol: '' },
          ],
        },
      }),
    ).toBe('INVALID_ARGUMENT: workload.ports[1].name "web" is also the name of workload.ports[0]');
    // Generated names of distinct ports never clash, and are valid next to explicit ones.
    expect(
      problem({
        ...base,
        workload: {
          ports: [
            { name: '', containerPort: 80, protocol: '' },
            { name: '', containerPort: 80, protocol: 'udp' },
            { name: 'http', containerPort: 8080, protocol: '' },
          ],
        },
      }),
    ).toBe('ok');
    expect(problem({ ...base, workload: { timeoutSeconds: 0 } })).toBe(
      'INVALID_ARGUMENT: workload.timeout_seconds must be a positive number of seconds (got 0)',
    );
    expect(problem({ ...base, workload: { kind: 'Job', backoffLimit: -1 } })).toBe('INVALID_ARGUMENT: workload.backoff_limit must be zero or more (got -1)');
    expect(
      problem({ ...base, workload: { tolerations: [{ key: 'k', operator: 'Exists', value: 'v', effect: 'Sometimes', tolerationSeconds: 5 }] } }).split('; '),
    ).toEqual([
      'INVALID_ARGUMENT: workload.tolerations: value must be empty when operator is Exists',
      'workload.tolerations: effect "Sometimes" is not NoSchedule, PreferNoSchedule or NoExecute',
      'workload.tolerations: toleration_seconds needs effect NoExecute',
    ]);
  });

  it('normalises ports and tolerations', () => {
    const spec = validateDeploy(
      {
        ...base,
        workload: {
          ports: [{ name: 'http', containerPort: 8080, protocol: '' }],
          tolerations: [{ key: 'gpu', operator: '', value: 'yes', effect: 'NoSchedule' }],
        },
      },
      defaults,
    );
    expect(spec.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(spec.tolerations).toEqual([{ key: 'gpu', operator: 'Equal', value: 'yes', effect: 'NoSchedule' }]);
  });
});
