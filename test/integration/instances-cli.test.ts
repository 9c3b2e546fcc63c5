/** Issue 11: the instance commands of the built k8s-provider-cli against a daemon on the test cluster. */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { CLI, buildCli, runCli, type CliResult } from '../helpers/cli.js';
import { call, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { podsGone } from '../helpers/instances.js';

const PID = 'cp-cli-instances';

describe('k8s-provider-cli instance commands', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  let cli: (...args: string[]) => Promise<CliResult>;
  const deploy = (instanceId: string, workload?: object) =>
    call(d.client, 'Deploy', {
      providerId: PID,
      instanceId,
      image: 'busybox',
      resourceRequest: { cpu: 500, memory: 2 ** 28, gpu: 0 },
      ...(workload ? { workload } : {}),
    });

  beforeAll(async () => {
    buildCli();
    ns = await createTestNamespace('instances-cli');
    d = await startTestDaemon(ns.name, { instances: { stuck_after_seconds: 1, delete_stuck: false } });
    cli = (...args) => runCli(['--addr', `127.0.0.1:${d.daemon.port}`, '-p', PID, ...args]);
    await call(d.client, 'Connect', { providerId: PID });
    await deploy('web');
    await deploy('nowhere', { nodeSelector: { 'example.com/none': 'x' } });
    await waitFor('web running and nowhere stuck', () => d.daemon.tracker.get('web')?.phase === 'Running' && d.daemon.tracker.get('nowhere')?.stuck === true);
  });
  afterAll(async () => {
    await d?.stop();
    await ns?.cleanup();
  });

  it('lists instances as a table and as JSON, filtered by phase', async () => {
    const table = await cli('instances');
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^INSTANCE\s+KIND\s+PHASE\s+REASON\s+NODE\s+AGE\s+CPU\s+MEMORY$/);
    expect(lines[1]).toMatch(/^nowhere\s+Pod\s+Failed\s+Unschedulable\s+<none>\s+\d+s\s+500m\s+256Mi$/);
    expect(lines[2]).toMatch(/^web\s+Pod\s+Running\s+-\s+kwok-node-\S+\s+\d+s\s+500m\s+256Mi$/);
    const json = JSON.parse((await cli('instances', '--phase', 'running', '--json')).stdout) as { instances: Array<Record<string, unknown>> };
    expect(json.instances).toHaveLength(1);
    expect(json.instances[0]).toMatchObject({
      instanceId: 'web',
      kind: 'Pod',
      phase: 'Running',
      ready: true,
      requested: { cpu: 500, memory: 2 ** 28, gpu: 0 },
      exitCode: null,
    });
    expect((await cli('instances', '--phase', 'sleeping')).code).toBe(2);
  });

  it('describes one instance, and says NOT_FOUND with exit 1 for an unknown one', async () => {
    const out = await cli('describe', 'nowhere');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^Instance: +nowhere$/m);
    expect(out.stdout).toMatch(/^Phase: +Failed \(stuck\)$/m);
    expect(out.stdout).toMatch(/^Reason: +Unschedulable$/m);
    expect(out.stdout).toMatch(/^Message: +stuck: Unschedulable for more than 1s: 0\/2 nodes are available/m);
    const missing = await cli('describe', 'ghost');
    expect([missing.code, missing.stderr]).toEqual([1, 'k8s-provider-cli: describe: NOT_FOUND: instance "ghost" does not exist\n']);
    expect((await cli('describe')).code).toBe(2);
  });

  it('watches: the snapshot, then one line per change, until interrupted', async () => {
    const child = spawn(process.execPath, [CLI, '--addr', `127.0.0.1:${d.daemon.port}`, '-p', PID, 'watch']);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('the snapshot', () => out.includes('-- snapshot complete, watching --'));
    expect(out).toMatch(/ADDED +web +Pod +Running +on kwok-node-/);
    await deploy('late-comer');
    await waitFor('the new instance to show', () => /MODIFIED +late-comer +Pod +Running/.test(out));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('logs: a clear refusal where the node has no kubelet', async () => {
    const res = await cli('logs', 'web', '-f', '--tail', '5');
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^k8s-provider-cli: logs: FAILED_PRECONDITION: logs of pod web container "main" cannot be read/);
  });

  it('undeploys, then says the instance was already gone', async () => {
    const first = await cli('undeploy', 'web', '--grace', '0');
    expect([first.code, first.stdout]).toEqual([0, 'undeployed: instance "web" (Pod web); its resources return once its pods are gone\n']);
    await podsGone(ns.name, 'web');
    await waitFor('web to leave the books', () => d.daemon.tracker.get('web') === undefined);
    const again = await cli('undeploy', 'web', '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ instanceId: 'web', deleted: false, kind: null, workloadName: '', instance: null });
  });
});
