import { describe, expect, it } from 'vitest';
import { validateDeploy } from '../../core/deploy-spec.js';
import { jobManifest, podManifest, RESTRICTED, type WorkloadSecurity } from './manifests.js';

const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' as const };
const ctx = { namespace: 'work', selectorLabels: { team: 'a' }, security: RESTRICTED };

/** What every pod gets from the default workloads.security. */
const lockedPod = {
  automountServiceAccountToken: false,
  enableServiceLinks: false,
  securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
};
const lockedContainer = { securityContext: { allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } } };

describe('podManifest', () => {
  it('builds the labelled Pod the original provider made, with requests = limits', () => {
    const spec = validateDeploy(
      {
        instanceId: 'comp-1',
        providerId: 'cp',
        image: 'iarnet/component:py',
        resources: { cpu: 500, memory: 268435456, gpu: 1 },
        env: { ZMQ_ADDR: 'tcp://cp:5555', COMPONENT_ID: 'comp-1' },
      },
      defaults,
    );
    const resources = { cpu: '500m', memory: '268435456', 'nvidia.com/gpu': '1' };
    expect(podManifest(spec, ctx)).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'comp-1',
        namespace: 'work',
        labels: { team: 'a', 'iarnet.managed': 'true', 'iarnet.provider_id': 'cp', 'iarnet.instance_id': 'comp-1' },
        annotations: { 'iarnet.instance_id': 'comp-1', 'iarnet.provider_id': 'cp', 'iarnet.spec_hash': spec.specHash },
      },
      spec: {
        restartPolicy: 'Never',
        ...lockedPod,
        containers: [
          {
            name: 'main',
            image: 'iarnet/component:py',
            imagePullPolicy: 'IfNotPresent',
            resources: { requests: resources, limits: resources },
            ...lockedContainer,
            env: [
              { name: 'COMPONENT_ID', value: 'comp-1' },
              { name: 'ZMQ_ADDR', value: 'tcp://cp:5555' },
            ],
          },
        ],
      },
    });
  });

  it('leaves out the GPU resource when none is asked for, and carries workload options', () => {
    const spec = validateDeploy(
      {
        instanceId: 'Web Server',
        providerId: 'cp',
        image: 'nginx',
        resources: { cpu: 1000, memory: 1024, gpu: 0 },
        env: {},
        workload: {
          kind: 'Pod',
          command: ['nginx'],
          args: ['-g', 'daemon off;'],
          ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
          timeoutSeconds: 600,
          labels: { app: 'web' },
          annotations: { 'prometheus.io/scrape': 'true' },
          nodeSelector: { disk: 'ssd' },
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoSchedule' }],
        },
      },
      defaults,
    );
    const pod = podManifest(spec, { namespace: 'work', selectorLabels: {}, security: RESTRICTED });
    expect(pod.metadata?.name).toMatch(/^web-server-[0-9a-f]{8}$/);
    expect(pod.metadata?.labels).toEqual({
      app: 'web',
      'iarnet.managed': 'true',
      'iarnet.provider_id': 'cp',
      'iarnet.instance_id': pod.metadata?.labels?.['iarnet.instance_id'],
    });
    expect(pod.metadata?.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'iarnet.instance_id': 'Web Server',
      'iarnet.provider_id': 'cp',
      'iarnet.spec_hash': spec.specHash,
    });
    expect(pod.spec).toEqual({
      restartPolicy: 'Never',
      ...lockedPod,
      activeDeadlineSeconds: 600,
      nodeSelector: { disk: 'ssd' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoSchedule' }],
      containers: [
        {
          name: 'main',
          image: 'nginx',
          imagePullPolicy: 'IfNotPresent',
          command: ['nginx'],
          args: ['-g', 'daemon off;'],
          ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
          resources: { requests: { cpu: '1000m', memory: '1024' }, limits: { cpu: '1000m', memory: '1024' } },
          ...lockedContainer,
        },
      ],
    });
  });
});

describe('jobManifest', () => {
  const job = (cleanupPolicy?: 'Always' | 'OnSuccess' | 'OnFailure') =>
    jobManifest(
      validateDeploy(
        {
          instanceId: 'task-7',
          providerId: 'cp',
          image: 'busybox',
          resources: { cpu: 250, memory: 1048576, gpu: 0 },
          env: {},
          workload: { kind: 'Job', cleanupPolicy, backoffLimit: 2 },
        },
        defaults,
      ),
      { namespace: 'work', selectorLabels: {}, security: RESTRICTED },
    );

  it('builds a Job with deadline, backoff, cleanup annotation and the same labels on its pods', () => {
    const j = job('OnFailure');
    const labels = { 'iarnet.managed': 'true', 'iarnet.provider_id': 'cp', 'iarnet.instance_id': 'task-7' };
    const annotations = {
      'iarnet.instance_id': 'task-7',
      'iarnet.provider_id': 'cp',
      'iarnet.spec_hash': j.metadata?.annotations?.['iarnet.spec_hash'],
      'iarnet.cleanup_policy': 'OnFailure',
    };
    expect(j).toEqual({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'task-7', namespace: 'work', labels, annotations },
      spec: {
        activeDeadlineSeconds: 3600,
        backoffLimit: 2,
        template: {
          metadata: { labels, annotations },
          spec: {
            restartPolicy: 'Never',
            ...lockedPod,
            containers: [
              {
                name: 'main',
                image: 'busybox',
                imagePullPolicy: 'IfNotPresent',
                resources: { requests: { cpu: '250m', memory: '1048576' }, limits: { cpu: '250m', memory: '1048576' } },
                ...lockedContainer,
              },
            ],
          },
        },
      },
    });
  });

  it('uses the TTL controller for Always, and the config default otherwise', () => {
    expect(job('Always').spec?.ttlSecondsAfterFinished).toBe(0);
    expect(job().spec?.ttlSecondsAfterFinished).toBeUndefined();
    expect(job().metadata?.annotations?.['iarnet.cleanup_policy']).toBe('OnSuccess');
  });
});

describe('workloads.security', () => {
  const spec = validateDeploy({ instanceId: 'a', providerId: 'cp', image: 'busybox', resources: { cpu: 1, memory: 1, gpu: 0 }, env: {} }, defaults);
  const build = (security: WorkloadSecurity) => podManifest(spec, { namespace: 'w', selectorLabels: {}, security }).spec!;

  it('relaxes each setting only as configured', () => {
    const relaxed: WorkloadSecurity = {
      run_as_non_root: false,
      run_as_user: null,
      allow_privilege_escalation: true,
      privileged: true,
      drop_all_capabilities: false,
      seccomp_profile: 'Unconfined',
      automount_service_account_token: true,
      enable_service_links: true,
    };
    const s = build(relaxed);
    expect({ ...s, containers: undefined }).toEqual({
      restartPolicy: 'Never',
      automountServiceAccountToken: true,
      enableServiceLinks: true,
      securityContext: { runAsNonRoot: false, seccompProfile: { type: 'Unconfined' } },
      containers: undefined,
    });
    expect(s.containers[0]!.securityContext).toEqual({ allowPrivilegeEscalation: true, privileged: true });
  });

  it('keeps every other setting locked when one is relaxed', () => {
    const s = build({ ...RESTRICTED, enable_service_links: true });
    expect(s.enableServiceLinks).toBe(true);
    expect(s.automountServiceAccountToken).toBe(false);
    expect(s.securityContext).toEqual(lockedPod.securityContext);
    expect(s.containers[0]!.securityContext).toEqual(lockedContainer.securityContext);
  });

  it('uses the configured uid, or the image user when run_as_user is null', () => {
    expect(build({ ...RESTRICTED, run_as_user: 1000 }).securityContext?.runAsUser).toBe(1000);
    expect(build({ ...RESTRICTED, run_as_user: null }).securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  });
});
