#!/usr/bin/env node
// npm run demo: a first run end to end. Brings up the local test cluster,
// starts the daemon on it and plays the control plane's session with
// k8s-provider-cli, then stops the daemon with SIGTERM as Kubernetes would.
//
//   DEMO_PORT (default 50052) and DEMO_METRICS_PORT (default 19090) pick the ports.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiException, AppsV1Api, BatchV1Api, CoreV1Api, EventsV1Api, KubeConfig } from '@kubernetes/client-node';
import { LABEL_MANAGED, managedSelector } from '../dist/src/shared/labels.js';
import { REPORTING_CONTROLLER } from '../dist/src/adapters/kube/events.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const state = join(root, '.cluster');
const kubeconfig = join(state, 'kubeconfig');
const namespace = 'demo';
const port = Number(process.env.DEMO_PORT ?? 50052);
const metricsPort = Number(process.env.DEMO_METRICS_PORT ?? 19090);
const addr = `127.0.0.1:${port}`;
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

/** @param {string} text */
const say = (text) => process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);

/**
 * @param {string[]} args
 * @param {{ show?: boolean, allowFail?: boolean }} [options]
 */
function run(args, { show = true, allowFail = false } = {}) {
  if (show) process.stdout.write(`\x1b[2m$ k8s-provider-cli ${args.join(' ')}\x1b[0m\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  if (show) process.stdout.write(r.stdout + r.stderr);
  if (r.status !== 0 && !allowFail) throw new Error(`k8s-provider-cli ${args.join(' ')} exited ${r.status}`);
  return r;
}

say('the local Kubernetes cluster (test/cluster/cluster.sh up)');
const up = spawnSync('bash', [join(root, 'test', 'cluster', 'cluster.sh'), 'up'], { stdio: 'inherit' });
if (up.status !== 0) process.exit(up.status ?? 1);

const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const eventsApi = kc.makeApiClient(EventsV1Api);
const startedAt = Date.now();
try {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
} catch (err) {
  if (!(err instanceof ApiException && err.code === 409)) throw err;
}
// A fresh start: instances left by an earlier demo would hold capacity.
const selector = { namespace, labelSelector: managedSelector({}) };
await batch.deleteCollectionNamespacedJob({ ...selector, propagationPolicy: 'Background' });
await kc.makeApiClient(AppsV1Api).deleteCollectionNamespacedDeployment({ ...selector, propagationPolicy: 'Background' });
await core.deleteCollectionNamespacedPod({ ...selector, gracePeriodSeconds: 0 });
await core.deleteNamespacedPod({ name: 'made-with-kubectl', namespace, gracePeriodSeconds: 0 }).catch(() => undefined);

mkdirSync(state, { recursive: true });
const config = join(state, 'demo-config.yaml');
/** @param {number} cpu millicores */
const writeConfig = (cpu) =>
  writeFileSync(
    config,
    [
      `server: { host: 127.0.0.1, port: ${port} }`,
      `kubernetes: { kubeconfig: ${kubeconfig}, namespace: ${namespace} }`,
      // The quota guard: a ResourceQuota in the namespace equal to this capacity.
      `resource: { cpu: ${cpu}, memory: 8Gi, gpu: 1, storage: 20Gi, enforce_with_resourcequota: true }`,
      `usage: { interval_seconds: 5 }`,
      `prometheus: { host: 127.0.0.1, port: ${metricsPort} }`,
      'instances: { stuck_after_seconds: 3 }',
      '',
    ].join('\n'),
  );
writeConfig(4000);
say('the build, and a check of the config (k8s-provider --version, --check-config)');
spawnSync(process.execPath, [join(root, 'dist', 'src', 'main.js'), '--version'], { stdio: 'inherit' });
spawnSync(process.execPath, [join(root, 'dist', 'src', 'main.js'), '--check-config', config], { stdio: 'inherit' });

say(`the daemon (logs in .cluster/demo-daemon.log)`);
const log = createWriteStream(join(state, 'demo-daemon.log'));
/** Starts the daemon and waits until it is SERVING. */
async function startDaemon() {
  const daemon = spawn(process.execPath, [join(root, 'dist', 'src', 'main.js'), '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout.pipe(log, { end: false });
  daemon.stderr.pipe(log, { end: false });
  /** @type {Promise<number | null>} */
  const exited = new Promise((resolve) => daemon.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (run(['probe', '--addr', addr, '--deadline', '1'], { show: false, allowFail: true }).status !== 0) {
    if (daemon.exitCode !== null || Date.now() > deadline) {
      console.error('the daemon did not become SERVING; see .cluster/demo-daemon.log');
      daemon.kill('SIGTERM');
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { daemon, exited };
}
let running = await startDaemon();
run(['probe', '--addr', addr]);

try {
  say('what the control plane sees before it connects');
  run(['capacity', '--addr', addr]);

  say('a session: connect, deploy a component and a batch job');
  run(['connect', '--addr', addr, '-p', 'demo-cp']);
  run(['connect', '--addr', addr, '-p', 'another-cp'], { allowFail: true });
  run([
    'deploy',
    '--addr',
    addr,
    '-p',
    'demo-cp',
    '-i',
    'component-1',
    '--image',
    'iarnet/component:python_3.11-latest',
    '--cpu',
    '500m',
    '--memory',
    '512Mi',
    '-e',
    'COMPONENT_ID=component-1',
    '-e',
    'ZMQ_ADDR=tcp://control-plane:5555',
    // A declared port gets a Service (component-1.demo.svc); the NetworkPolicy lets in its peers (same "app").
    '--port',
    'http:8080',
    '-l',
    'app=demo',
    '--peer-label',
    'app',
  ]);
  run([
    'deploy',
    '--addr',
    addr,
    '-p',
    'demo-cp',
    '-i',
    'batch-1',
    '--image',
    'busybox:1.36',
    '--cpu',
    '250m',
    '--memory',
    '128Mi',
    '--kind',
    'job',
    '--timeout',
    '300',
    '--cleanup',
    'on-failure',
    '-l',
    'demo=true',
    '--',
    'sh',
    '-c',
    'echo done',
  ]);
  run(['deploy', '--addr', addr, '-p', 'demo-cp', '-i', 'too-big', '--image', 'busybox', '--cpu', '16', '--memory', '1Gi'], { allowFail: true });

  say('more capacity without a restart: edit resource.cpu, then SIGHUP');
  writeConfig(6000);
  running.daemon.kill('SIGHUP');
  const total = () => JSON.parse(run(['capacity', '--addr', addr, '-p', 'demo-cp', '--json'], { show: false }).stdout).total.cpu;
  for (const until = Date.now() + 10_000; Number(total()) !== 6000 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 200));
  run(['capacity', '--addr', addr, '-p', 'demo-cp']);

  await new Promise((r) => setTimeout(r, 2000));
  say('the periodic HealthCheck, live usage, and the workloads in the cluster');
  run(['health', '--addr', addr, '-p', 'demo-cp']);
  run(['usage', '--addr', addr, '-p', 'demo-cp']);
  run(['pods', '--kubeconfig', kubeconfig, '-n', namespace]);
  run(['available', '--addr', addr, '-p', 'demo-cp', '--json']);

  say('a restart keeps the session: it lives in the Lease k8s-provider-session, so no new Connect is needed');
  running.daemon.kill('SIGTERM');
  await running.exited;
  running = await startDaemon();
  run(['health', '--addr', addr, '-p', 'demo-cp']);

  say('the instances as the daemon sees them (k8sprovider.v1.Instances): list, describe, a stuck one');
  // A request no node can place: the scheduler says Unschedulable, and after instances.stuck_after_seconds
  // (3 s here) the daemon reports it Failed, releases its room and deletes it.
  run([
    'deploy',
    '--addr',
    addr,
    '-p',
    'demo-cp',
    '-i',
    'nowhere',
    '--image',
    'busybox',
    '--cpu',
    '100m',
    '--memory',
    '64Mi',
    '--node-selector',
    'example.com/pool=none',
  ]);
  await new Promise((r) => setTimeout(r, 1000));
  run(['instances', '--addr', addr, '-p', 'demo-cp']);
  await new Promise((r) => setTimeout(r, 3500));
  run(['describe', 'nowhere', '--addr', addr, '-p', 'demo-cp']);
  run(['describe', 'component-1', '--addr', addr, '-p', 'demo-cp']);
  run(['logs', 'component-1', '--addr', addr, '-p', 'demo-cp', '--tail', '20'], { allowFail: true }); // KWOK nodes have no kubelet: refused

  say('scheduling: two instances of one application kept on different nodes (--apart), read back by describe');
  for (const id of ['web-1', 'web-2']) {
    run([
      'deploy',
      '--addr',
      addr,
      '-p',
      'demo-cp',
      '-i',
      id,
      '--image',
      'nginx:1.27',
      '--cpu',
      '250m',
      '--memory',
      '128Mi',
      '-l',
      'app_group=web',
      '--apart',
      'app_group',
    ]);
  }
  await new Promise((r) => setTimeout(r, 1500));
  run(['instances', '--addr', addr, '-p', 'demo-cp']);
  run(['describe', 'web-2', '--addr', addr, '-p', 'demo-cp']);

  say('the quota guard: a pod made around the daemon (as with kubectl) counts against available');
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'made-with-kubectl' },
      spec: {
        containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '500m', memory: '64Mi' }, limits: { cpu: '500m', memory: '64Mi' } } }],
      },
    },
  });
  await new Promise((r) => setTimeout(r, 1500));
  run(['capacity', '--addr', addr, '-p', 'demo-cp']);

  say('undeploy: the pod goes, its room comes back; a second undeploy finds nothing');
  run(['undeploy', 'component-1', '--addr', addr, '-p', 'demo-cp', '--grace', '0']);
  await new Promise((r) => setTimeout(r, 1500));
  run(['undeploy', 'component-1', '--addr', addr, '-p', 'demo-cp']);
  run(['instances', '--addr', addr, '-p', 'demo-cp']);
  run(['available', '--addr', addr, '-p', 'demo-cp']);

  say('kept alive: a DEPLOYMENT whose every replica is counted, scaled under admission, with a scratch volume');
  run([
    'deploy',
    '--addr',
    addr,
    '-p',
    'demo-cp',
    '-i',
    'web',
    '--image',
    'nginx:1.27',
    '--cpu',
    '500m',
    '--memory',
    '256Mi',
    '--kind',
    'deployment',
    '--replicas',
    '2',
    '--empty-dir',
    'cache:/var/cache/nginx:1Gi',
  ]);
  await new Promise((r) => setTimeout(r, 2000));
  run(['scale', 'web', '--addr', addr, '-p', 'demo-cp', '--replicas', '3']);
  run(['scale', 'web', '--addr', addr, '-p', 'demo-cp', '--replicas', '20'], { allowFail: true }); // does not fit: nothing changes
  await new Promise((r) => setTimeout(r, 2000));
  run(['describe', 'web', '--addr', addr, '-p', 'demo-cp']);
  run(['capacity', '--addr', addr, '-p', 'demo-cp']);
  run(['undeploy', 'web', '--addr', addr, '-p', 'demo-cp', '--grace', '0']);
  say('the Kubernetes Events it recorded (kubectl describe shows them on each object)');
  // Deployed, CleanedUp, Stuck, DeletedStuck, Undeployed on the workloads; Connected and AdmissionRejected
  // (one Event with a count, however many deploys were refused) on the session Lease, as it runs outside a pod.
  await new Promise((r) => setTimeout(r, 1000));
  const recorded = (await eventsApi.listNamespacedEvent({ namespace })).items
    .filter((e) => e.reportingController === REPORTING_CONTROLLER && new Date(e.eventTime).getTime() >= startedAt - 1000)
    .sort((a, b) => new Date(a.eventTime).getTime() - new Date(b.eventTime).getTime());
  for (const e of recorded) {
    const count = e.series ? ` (x${e.series.count})` : '';
    process.stdout.write(
      `${(e.type ?? '').padEnd(8)} ${(e.reason ?? '').padEnd(17)} ${`${e.regarding?.kind}/${e.regarding?.name}`.padEnd(32)} ${e.note}${count}\n`,
    );
  }
  process.stdout.write(`\x1b[2m$ KUBECONFIG=${kubeconfig} kubectl -n ${namespace} describe lease k8s-provider-session\x1b[0m\n`);

  say(`a few Prometheus series (http://127.0.0.1:${metricsPort}/metrics)`);
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  process.stdout.write(
    `${text
      .split('\n')
      .filter((l) =>
        /^(k8s_provider_(deploys_total|capacity_used|ready|instances_stuck_total|leader|session_health_check_age_seconds|event_writes_total|watch_event_apply_seconds_count)|grpc_server_handled_total)/.test(
          l,
        ),
      )
      .join('\n')}\n`,
  );

  say('the control plane lets the provider go');
  run(['disconnect', '--addr', addr, '-p', 'demo-cp']);
} finally {
  say('SIGTERM: the daemon drains and exits');
  running.daemon.kill('SIGTERM');
  const code = await running.exited;
  console.log(`daemon exited with ${code}`);
  console.log(
    `\nThe instances are still in namespace "${namespace}": KUBECONFIG=${kubeconfig} kubectl get pods,jobs,deployments,pvc,services,networkpolicies -n ${namespace} -l ${LABEL_MANAGED}=true`,
  );
}
