/**
 * Issue 6: k8s-provider-cli as an operator runs it: the built binary against
 * a daemon on the test cluster, tables for people, --json for scripts, and
 * exit codes that tell success (0), a refused or failed call (1) and a
 * usage error (2) apart.
 */
import { BatchV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, kubeconfigPath, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { buildCli, runCli, type CliResult } from '../helpers/cli.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { ANNOTATION_CLEANUP_POLICY, LABEL_MANAGED } from '../../src/shared/labels.js';

const MI = 2 ** 20;

describe('k8s-provider-cli', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  let cli: (...args: string[]) => Promise<CliResult>;

  beforeAll(async () => {
    buildCli();
    ns = await createTestNamespace('cli');
    d = await startTestDaemon(ns.name, { resource: { cpu: 2000, memory: '2Gi', gpu: 1 }, resource_tags: ['cpu', 'memory', 'gpu'] });
    cli = (...args) => runCli(['--addr', `127.0.0.1:${d.daemon.port}`, ...args]);
  });
  afterAll(async () => {
    await d?.stop();
    await ns?.cleanup();
  });

  it('prints help (0) and rejects bad usage (2) without calling anything', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: k8s-provider-cli <command> [flags]');
    const unknown = await runCli(['frobnicate']);
    expect([unknown.code, unknown.stdout]).toEqual([2, '']);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const missing = await runCli(['deploy', '-p', 'x', '--image', 'busybox']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--instance-id is required');
  });

  it('shows capacity before any session, as a table and as JSON', async () => {
    const table = await cli('capacity');
    expect(table.code).toBe(0);
    expect(table.stdout).toBe(
      ['RESOURCE  TOTAL  USED  AVAILABLE', 'cpu       2      0     2', 'memory    2Gi    0     2Gi', 'gpu       1      0     1', ''].join('\n'),
    );
    const json = await cli('available', '--json');
    expect(JSON.parse(json.stdout)).toEqual({ cpu: 2000, memory: 2048 * MI, gpu: 1 });
  });

  it('connects; a second control plane is refused with exit 1 and the reason', async () => {
    const ok = await cli('connect', '-p', 'cp-cli');
    expect([ok.code, ok.stdout]).toEqual([0, 'connected as "cp-cli" (provider type kubernetes)\n']);
    const other = await cli('connect', '-p', 'someone-else', '--json');
    expect(other.code).toBe(1);
    expect(JSON.parse(other.stdout)).toMatchObject({ success: false, providerType: 'kubernetes' });
    expect(other.stderr).toContain('cp-cli');
  });

  it('deploys with every workload option, and the Job in the cluster carries them', async () => {
    const res = await cli(
      'deploy',
      '-p',
      'cp-cli',
      '-i',
      'batch-1',
      '--image',
      'busybox:1.36',
      '--json',
      '--cpu',
      '0.5',
      '--memory',
      '256Mi',
      '--gpu',
      '1',
      '-e',
      'COMPONENT_ID=batch-1',
      '-e',
      'ZMQ_ADDR=tcp://cp:5555',
      '--kind',
      'job',
      '--command',
      'sh',
      '--command=-c',
      '--port',
      'metrics:9100',
      '--timeout',
      '600',
      '--cleanup',
      'on-failure',
      '--backoff-limit',
      '2',
      '-l',
      'team=ops',
      '--annotation',
      'owner=cli-test',
      '--node-selector',
      'type=kwok',
      '--toleration',
      'kwok.x-k8s.io/node=fake:NoSchedule',
      '--toleration',
      'node.kubernetes.io/unreachable:NoExecute:30',
      '--',
      'echo hi; exit 0',
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({
      instanceId: 'batch-1',
      error: '',
      workloadName: 'batch-1',
      workloadKind: 'JOB',
      created: true,
      // The declared port gets a Service, and every instance a NetworkPolicy (network.isolate defaults on).
      endpoint: expect.objectContaining({ serviceName: 'batch-1', dnsName: `batch-1.${ns.name}.svc`, expose: 'CLUSTER_IP' }),
      networkPolicy: 'batch-1',
    });

    const job = await makeKubeConfig().makeApiClient(BatchV1Api).readNamespacedJob({ name: 'batch-1', namespace: ns.name });
    const spec = job.spec!;
    const c = spec.template.spec!.containers[0]!;
    expect(spec.backoffLimit).toBe(2);
    expect(spec.activeDeadlineSeconds).toBe(600);
    expect(c.image).toBe('busybox:1.36');
    expect(c.command).toEqual(['sh', '-c']);
    expect(c.args).toEqual(['echo hi; exit 0']);
    expect(c.ports).toEqual([expect.objectContaining({ name: 'metrics', containerPort: 9100, protocol: 'TCP' })]);
    expect(c.resources?.requests).toMatchObject({ cpu: '500m', memory: String(256 * MI), 'nvidia.com/gpu': '1' });
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: 'COMPONENT_ID', value: 'batch-1' },
        { name: 'ZMQ_ADDR', value: 'tcp://cp:5555' },
      ]),
    );
    expect(job.metadata?.labels).toMatchObject({ team: 'ops', [LABEL_MANAGED]: 'true' });
    expect(job.metadata?.annotations).toMatchObject({ owner: 'cli-test', [ANNOTATION_CLEANUP_POLICY]: 'OnFailure' });
    expect(spec.template.spec!.nodeSelector).toEqual({ type: 'kwok' });
    expect(spec.template.spec!.tolerations).toEqual([
      { key: 'kwok.x-k8s.io/node', operator: 'Equal', value: 'fake', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 },
    ]);

    // The same request again is an idempotent retry.
    const again = await cli('deploy', '-p', 'cp-cli', '-i', 'plain', '--image', 'busybox', '--cpu', '250m', '--memory', '64Mi');
    expect([again.code, again.stdout]).toEqual([0, 'created: instance "plain" as Pod plain\n  isolated by NetworkPolicy plain\n']);
    const retry = await cli('deploy', '-p', 'cp-cli', '-i', 'plain', '--image', 'busybox', '--cpu', '0.25', '--memory', '67108864');
    expect([retry.code, retry.stdout]).toEqual([0, 'already running (same spec): instance "plain" as Pod plain\n  isolated by NetworkPolicy plain\n']);
  });

  it("exits 1 with the daemon's reason when a deploy is refused", async () => {
    const res = await cli('deploy', '-p', 'cp-cli', '-i', 'huge', '--image', 'busybox', '--cpu', '64', '--memory', '64Mi');
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/^k8s-provider-cli: deploy: RESOURCE_EXHAUSTED: /);
  });

  it('health, usage and pods show the session and the managed workloads', async () => {
    // KWOK runs the Job's pod to completion, after which only "plain" holds capacity.
    await waitFor('the plain pod to be counted', () => d.daemon.provider.currentCapacity().used.cpu >= 250);
    const health = await cli('health', '-p', 'cp-cli');
    expect(health.code).toBe(0);
    expect(health.stdout).toMatch(/^RESOURCE {2}TOTAL {2}USED +AVAILABLE\ncpu {7}2 {6}\S+ +\S+\nmemory {4}2Gi/);
    expect(health.stdout).toContain('tags: cpu, memory, gpu');
    const healthJson = JSON.parse((await cli('health', '-p', 'cp-cli', '--json')).stdout) as { capacity: unknown };
    expect(healthJson.capacity).toEqual((({ total, used, available }) => ({ total, used, available }))(d.daemon.provider.currentCapacity()));

    const usage = await cli('usage', '-p', 'cp-cli', '--json');
    expect(usage.code).toBe(0);
    const u = JSON.parse(usage.stdout) as { source: string; sampledAtUnixMs: number; usage: { cpu: number } };
    expect(['METRICS', 'REQUESTS']).toContain(u.source);
    expect(u.sampledAtUnixMs).toBeGreaterThan(0);

    await waitFor('the pods to start', async () => {
      const r = await runCli(['pods', '--kubeconfig', kubeconfigPath(), '-n', ns.name, '--json']);
      const rows = (JSON.parse(r.stdout) as { workloads: Array<{ kind: string; phase: string }> }).workloads;
      return rows.filter((w) => w.kind === 'Pod' && ['Running', 'Succeeded'].includes(w.phase)).length === 2;
    });
    const pods = await runCli(['pods', '--kubeconfig', kubeconfigPath(), '-n', ns.name]);
    expect(pods.code).toBe(0);
    const lines = pods.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^WORKLOAD\s+INSTANCE\s+PHASE\s+CPU\s+MEMORY\s+GPU\s+NODE\s+AGE$/);
    expect(lines[1]).toMatch(/^job\/batch-1\s+batch-1\s+(Active|Complete)\s+500m\s+256Mi\s+1\s/);
    expect(lines[2]).toMatch(/^pod\/batch-1-\S+\s+batch-1\s+(Running|Succeeded)\s+500m\s+256Mi\s+1\s+\S+/);
    expect(lines[3]).toMatch(/^pod\/plain\s+plain\s+Running\s+250m\s+64Mi\s+0\s+\S+/);

    const viaEnv = await runCli(['pods', '-n', ns.name], { KUBECONFIG: kubeconfigPath() });
    // The same rows read through $KUBECONFIG (the AGE column may have ticked).
    const withoutAge = (text: string): string[] =>
      text
        .trimEnd()
        .split('\n')
        .map((l) => l.replace(/\s+\S+$/, ''));
    expect(viaEnv.code).toBe(0);
    expect(withoutAge(viaEnv.stdout)).toEqual(withoutAge(pods.stdout));

    expect(await cli('probe')).toMatchObject({ code: 0, stdout: 'SERVING\n' });
  });

  it('disconnects, after which session calls fail with exit 1', async () => {
    expect((await cli('disconnect', '-p', 'cp-cli')).code).toBe(0);
    const usage = await cli('usage', '-p', 'cp-cli');
    expect(usage.code).toBe(1);
    expect(usage.stderr).toMatch(/^k8s-provider-cli: usage: [A-Z_]+: /);
  });

  it('reports an unreachable daemon with exit 1', async () => {
    const res = await runCli(['capacity', '--addr', '127.0.0.1:1', '--deadline', '3', '--json']);
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stdout)).toMatchObject({ error: { code: expect.stringMatching(/^(UNAVAILABLE|DEADLINE_EXCEEDED)$/) } });
  });
});
