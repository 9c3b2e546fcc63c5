/**
 * Issue 17, item 1: the daemon's Kubernetes Events (events.k8s.io/v1), read
 * back as operators read them: `kubectl describe` and the Event objects
 * themselves. Run locally (no POD_NAME), the daemon's own events go on the
 * session Lease.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AppsV1Api, EventsV1Api, type EventsV1Event } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORTING_CONTROLLER } from '../../src/adapters/kube/events.js';
import { createTestNamespace, kubeconfigPath, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { icall, instancesClient, podsGone } from '../helpers/instances.js';
import { freePort } from '../helpers/net.js';
import { parseExposition, scrapeApiserver, total } from '../helpers/apiserver-metrics.js';
import type { InstancesClient } from '../../src/adapters/grpc/generated/k8sprovider/v1/Instances.js';
import { createTestIdentity } from '../helpers/identity.js';
import { CoreV1Api } from '@kubernetes/client-node';

const run = promisify(execFile);
const kc = makeKubeConfig();
const eventsApi = kc.makeApiClient(EventsV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const KUBECTL = `${process.env.CLUSTER_BIN ?? '/work/main/.cluster/bin'}/kubectl`;
const SESSION_LEASE = 'k8s-provider-session';

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run(KUBECTL, ['--kubeconfig', kubeconfigPath(), ...args], { maxBuffer: 1 << 22 });
  return stdout;
}

async function events(namespace: string): Promise<EventsV1Event[]> {
  return (await eventsApi.listNamespacedEvent({ namespace })).items.filter((e) => e.reportingController === REPORTING_CONTROLLER);
}

async function eventFor(namespace: string, reason: string, regardingName: string, more: (e: EventsV1Event) => boolean = () => true): Promise<EventsV1Event> {
  let found: EventsV1Event | undefined;
  await waitFor(`a ${reason} event regarding ${regardingName}`, async () => {
    found = (await events(namespace)).find((e) => e.reason === reason && e.regarding?.name === regardingName && more(e));
    return found !== undefined;
  });
  return found!;
}

/** The Events section of `kubectl describe`: "Type Reason Age From Message" rows. */
function describedEvents(describe: string): string {
  const at = describe.indexOf('\nEvents:');
  return at < 0 ? '' : describe.slice(at);
}

async function scrapeDaemon(port: number): Promise<ReturnType<typeof parseExposition>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return parseExposition(await res.text());
}

const deployRequest = (instanceId: string, cpu: number, workload?: object): object => ({
  providerId: 'cp',
  instanceId,
  image: 'busybox',
  resourceRequest: { cpu, memory: 2 ** 26, gpu: 0 },
  ...(workload ? { workload } : {}),
});

describe('Kubernetes Events', () => {
  describe('1000 refused deploys', () => {
    let ns: TestNamespace;
    let d: TestDaemon;
    let metricsPort: number;

    beforeAll(async () => {
      ns = await createTestNamespace('ev-reject');
      metricsPort = await freePort();
      d = await startTestDaemon(ns.name, { resource: { cpu: 100, memory: '1Gi', gpu: 0 }, prometheus: { host: '127.0.0.1', port: metricsPort } });
      await call(d.client, 'Connect', { providerId: 'cp' });
    });
    afterAll(async () => {
      await d?.stop();
      await ns?.cleanup();
    });

    it('are one AdmissionRejected Event on the session Lease whose series counts all 1000, in a handful of writes', async () => {
      await eventFor(ns.name, 'Connected', SESSION_LEASE);
      const writes = async (): Promise<number> => {
        const m = await scrapeDaemon(metricsPort);
        return total(m, 'k8s_provider_kube_api_requests_total', (l) => l.operation === 'createNamespacedEvent' || l.operation === 'patchNamespacedEvent');
      };
      const apiserverWrites = async (): Promise<number> =>
        total(
          await scrapeApiserver(kc),
          'apiserver_request_total',
          (l) => l.group === 'events.k8s.io' && l.resource === 'events' && (l.verb === 'POST' || l.verb === 'PATCH'),
        );
      const writesBefore = await writes();
      const apiserverBefore = await apiserverWrites();

      const answers: string[] = [];
      for (let batch = 0; batch < 20; batch++) {
        const calls = Array.from({ length: 50 }, (_, i) => call<{ error: string }>(d.client, 'Deploy', deployRequest(`big-${batch * 50 + i}`, 1000)));
        for (const r of await Promise.all(calls)) answers.push(r.error);
      }
      expect(answers).toHaveLength(1000);
      expect(answers.every((e) => /needs 1 cpu, 100m cpu available/.test(e))).toBe(true);

      // The count reaches the API server within series_interval_seconds (10 s by default).
      const rejected = await eventFor(ns.name, 'AdmissionRejected', SESSION_LEASE, (e) => e.series?.count === 1000);
      const lease = JSON.parse(await kubectl('-n', ns.name, 'get', 'lease', SESSION_LEASE, '-o', 'json')) as { metadata: { uid: string } };
      expect(rejected).toMatchObject({
        type: 'Warning',
        action: 'Deploy',
        reportingController: 'iarnet.io/k8s-provider',
        regarding: { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', name: SESSION_LEASE, namespace: ns.name, uid: lease.metadata.uid },
      });
      expect(rejected.reportingInstance).toBeTruthy();
      expect(rejected.note).toMatch(/^Deploys refused: not enough capacity left\. The first: instance "big-\d+": needs 1 cpu, 100m cpu available/);
      expect(new Date(rejected.series!.lastObservedTime).getTime()).toBeGreaterThanOrEqual(new Date(rejected.eventTime).getTime());
      // One Event, not 1000.
      expect((await events(ns.name)).filter((e) => e.reason === 'AdmissionRejected')).toHaveLength(1);

      const written = (await writes()) - writesBefore;
      const seenByApiserver = (await apiserverWrites()) - apiserverBefore;
      console.log(`1000 refused deploys: ${written} Event writes by the daemon (${seenByApiserver} events.k8s.io writes seen by the API server)`);
      expect(written).toBeGreaterThanOrEqual(2); // the create, and at least one patch of the count
      expect(written).toBeLessThanOrEqual(5);
      expect(seenByApiserver).toBeGreaterThanOrEqual(written);

      const m = await scrapeDaemon(metricsPort);
      expect(total(m, 'k8s_provider_events_recorded_total', (l) => l.reason === 'AdmissionRejected')).toBe(1000);
      expect(total(m, 'k8s_provider_events_dropped_total')).toBe(0);

      // `kubectl describe lease` shows it, with the count.
      const described = describedEvents(await kubectl('-n', ns.name, 'describe', 'lease', SESSION_LEASE));
      expect(described).toMatch(/Warning\s+AdmissionRejected\s+.*iarnet\.io\/k8s-provider\s+Deploys refused: not enough capacity left/);
      expect(described).toMatch(/x1000 over/);
    });
  });

  describe('on the workloads and the session', () => {
    let ns: TestNamespace;
    let d: TestDaemon;
    let instances: InstancesClient;

    beforeAll(async () => {
      ns = await createTestNamespace('ev-work');
      d = await startTestDaemon(ns.name, {
        instances: { stuck_after_seconds: 1, delete_stuck: false },
        jobs: { timeout_seconds: 3600, cleanup_policy: 'Always' },
      });
      instances = instancesClient(d.daemon.port);
      await call(d.client, 'Connect', { providerId: 'cp' });
    });
    afterAll(async () => {
      instances?.close();
      await d?.stop();
      await ns?.cleanup();
    });

    it('Deployed and Undeployed regarding the Pod, by uid, shown by kubectl describe', async () => {
      expect((await call<{ error: string }>(d.client, 'Deploy', deployRequest('web', 100))).error).toBe('');
      await waitFor('web running', () => d.daemon.tracker.get('web')?.phase === 'Running');
      const uid = d.daemon.tracker.get('web')!.workloadUid;
      const deployed = await eventFor(ns.name, 'Deployed', 'web');
      expect(deployed).toMatchObject({
        type: 'Normal',
        action: 'Deploy',
        regarding: { kind: 'Pod', apiVersion: 'v1', name: 'web', namespace: ns.name, uid },
      });
      expect(deployed.note).toMatch(/^instance "web" of provider "cp" deployed: image busybox, 100m cpu/);
      expect(describedEvents(await kubectl('-n', ns.name, 'describe', 'pod', 'web'))).toMatch(
        /Normal\s+Deployed\s+.*iarnet\.io\/k8s-provider\s+instance "web"/,
      );

      await icall(instances, 'Undeploy', { providerId: 'cp', instanceId: 'web' });
      const undeployed = await eventFor(ns.name, 'Undeployed', 'web');
      expect(undeployed).toMatchObject({ type: 'Normal', action: 'Undeploy', regarding: { kind: 'Pod', name: 'web', uid } });
      expect(undeployed.note).toMatch(/^instance "web" undeployed by provider "cp" \(propagation Background\)/);
    });

    it('CleanedUp regarding a Job its cleanup policy removed', async () => {
      expect((await call<{ error: string }>(d.client, 'Deploy', deployRequest('batch', 100, { kind: 'JOB', command: ['true'] }))).error).toBe('');
      const deployed = await eventFor(ns.name, 'Deployed', 'batch');
      expect(deployed.regarding).toMatchObject({ kind: 'Job', apiVersion: 'batch/v1', uid: expect.any(String) });
      const cleaned = await eventFor(ns.name, 'CleanedUp', 'batch');
      expect(cleaned).toMatchObject({ type: 'Normal', action: 'Delete', regarding: { kind: 'Job', name: 'batch', uid: deployed.regarding!.uid } });
      expect(cleaned.note).toBe('instance "batch" deleted: the Job completed and its cleanup policy is Always');
    });

    it('Deployed regarding a DEPLOYMENT as apps/v1, so kubectl describe deployment shows it', async () => {
      expect((await call<{ error: string }>(d.client, 'Deploy', deployRequest('kept', 100, { kind: 'DEPLOYMENT' }))).error).toBe('');
      const uid = (await apps.readNamespacedDeployment({ name: 'kept', namespace: ns.name })).metadata?.uid;
      const deployed = await eventFor(ns.name, 'Deployed', 'kept');
      expect(deployed.regarding).toMatchObject({ kind: 'Deployment', apiVersion: 'apps/v1', name: 'kept', uid });
      expect(describedEvents(await kubectl('-n', ns.name, 'describe', 'deployment', 'kept'))).toMatch(
        /Normal\s+Deployed\s+.*iarnet\.io\/k8s-provider\s+instance "kept"/,
      );
      await icall(instances, 'Undeploy', { providerId: 'cp', instanceId: 'kept' });
    });

    it('kubectl describe of a stuck pod shows why it is stuck', async () => {
      expect((await call<{ error: string }>(d.client, 'Deploy', deployRequest('nowhere', 100, { nodeSelector: { 'example.com/none': 'x' } }))).error).toBe('');
      await waitFor('nowhere stuck', () => d.daemon.tracker.get('nowhere')?.stuck === true);
      const stuck = await eventFor(ns.name, 'Stuck', 'nowhere');
      expect(stuck).toMatchObject({
        type: 'Warning',
        action: 'Observe',
        regarding: { kind: 'Pod', name: 'nowhere', uid: d.daemon.tracker.get('nowhere')!.workloadUid },
      });
      const described = describedEvents(await kubectl('-n', ns.name, 'describe', 'pod', 'nowhere'));
      expect(described).toMatch(
        /Warning\s+Stuck\s+.*iarnet\.io\/k8s-provider\s+instance "nowhere" is stuck: Unschedulable for more than 1s: 0\/\d+ nodes are available/,
      );
      expect(described).toContain('kept (instances.delete_stuck is false)');
      await icall(instances, 'Undeploy', { providerId: 'cp', instanceId: 'nowhere' });
      await podsGone(ns.name, 'nowhere');
    });

    it('Connected, ConnectRefused naming the id, and Disconnected on the session Lease', async () => {
      await expect(call(d.client, 'Connect', { providerId: 'intruder' })).resolves.toMatchObject({ success: false });
      const refused = await eventFor(ns.name, 'ConnectRefused', SESSION_LEASE);
      expect(refused).toMatchObject({ type: 'Warning', action: 'Connect', note: 'Connect from provider "intruder" refused: "cp" is connected' });
      await call(d.client, 'Disconnect', { providerId: 'cp' });
      await eventFor(ns.name, 'Disconnected', SESSION_LEASE);
      const described = describedEvents(await kubectl('-n', ns.name, 'describe', 'lease', SESSION_LEASE));
      expect(described).toMatch(/Normal\s+Connected\s+.*provider "cp" connected/);
      expect(described).toMatch(/Warning\s+ConnectRefused\s+.*Connect from provider "intruder" refused/);
      expect(described).toMatch(/Normal\s+Disconnected\s+.*provider "cp" disconnected/);
    });
  });

  describe('stuck workloads deleted', () => {
    let ns: TestNamespace;
    let d: TestDaemon;

    beforeAll(async () => {
      ns = await createTestNamespace('ev-doomed');
      d = await startTestDaemon(ns.name, { instances: { stuck_after_seconds: 1, delete_stuck: true } });
      await call(d.client, 'Connect', { providerId: 'cp' });
    });
    afterAll(async () => {
      await d?.stop();
      await ns?.cleanup();
    });

    it('Stuck then DeletedStuck regarding the pod: once the pod is gone, kubectl still shows why it was deleted', async () => {
      expect((await call<{ error: string }>(d.client, 'Deploy', deployRequest('doomed', 100, { nodeSelector: { 'example.com/none': 'x' } }))).error).toBe('');
      const deleted = await eventFor(ns.name, 'DeletedStuck', 'doomed');
      expect(deleted).toMatchObject({ type: 'Warning', action: 'Delete', regarding: { kind: 'Pod', name: 'doomed', uid: expect.any(String) } });
      expect(deleted.note).toMatch(/^instance "doomed" deleted because it was stuck: Unschedulable for more than 1s: 0\/\d+ nodes are available/);
      const stuck = await eventFor(ns.name, 'Stuck', 'doomed');
      expect(stuck.note).toContain('deleting it (instances.delete_stuck)');
      expect(stuck.regarding?.uid).toBe(deleted.regarding?.uid);
      await podsGone(ns.name, 'doomed');
      // `kubectl describe` needs the pod, which is gone; `kubectl events --for`
      // is what an operator asks instead: TYPE REASON OBJECT MESSAGE rows.
      const forPod = await kubectl('-n', ns.name, 'events', '--for', 'pod/doomed');
      expect(forPod).toMatch(
        /Warning\s+Stuck\s+Pod\/doomed\s+instance "doomed" is stuck: Unschedulable for more than 1s: 0\/\d+ nodes are available.*; deleting it \(instances\.delete_stuck\)/,
      );
      expect(forPod).toMatch(
        /Warning\s+DeletedStuck\s+Pod\/doomed\s+instance "doomed" deleted because it was stuck: Unschedulable for more than 1s: 0\/\d+ nodes are available/,
      );
      // And who said so: the daemon, as the reporting controller.
      const listed = await kubectl(
        '-n',
        ns.name,
        'get',
        'events',
        '--field-selector',
        'involvedObject.name=doomed',
        '-o',
        'custom-columns=REASON:.reason,FROM:.reportingComponent,MESSAGE:.message',
      );
      expect(listed).toMatch(/\bStuck\s+iarnet\.io\/k8s-provider\s+instance "doomed" is stuck: Unschedulable/);
      expect(listed).toMatch(/DeletedStuck\s+iarnet\.io\/k8s-provider\s+instance "doomed" deleted because it was stuck: Unschedulable for more than 1s/);
    });

    it('a stuck pod of a Job: the events name the pod, with the Job as the related object', async () => {
      expect(
        (await call<{ error: string }>(d.client, 'Deploy', deployRequest('doomed-job', 100, { kind: 'JOB', nodeSelector: { 'example.com/none': 'x' } }))).error,
      ).toBe('');
      await waitFor('a Stuck event on the Job pod', async () =>
        (await events(ns.name)).some((e) => e.reason === 'Stuck' && e.related?.name === 'doomed-job' && e.regarding?.kind === 'Pod'),
      );
      const event = (await events(ns.name)).find((e) => e.reason === 'Stuck' && e.related?.name === 'doomed-job')!;
      expect(event.regarding).toMatchObject({ kind: 'Pod', name: expect.stringMatching(/^doomed-job-/), uid: expect.any(String) });
      expect(event.related).toMatchObject({ kind: 'Job', apiVersion: 'batch/v1', name: 'doomed-job', uid: expect.any(String) });
      await eventFor(ns.name, 'DeletedStuck', event.regarding!.name!);
    });
  });

  describe('session expiry, and events turned off', () => {
    let ns: TestNamespace;

    beforeAll(async () => {
      ns = await createTestNamespace('ev-expire');
    });
    afterAll(async () => {
      await ns?.cleanup();
    });

    it('SessionExpired when HealthCheck stops; nothing at all with events.enabled false', async () => {
      const d = await startTestDaemon(ns.name, { session: { health_timeout_seconds: 1 } });
      try {
        await call(d.client, 'Connect', { providerId: 'gone' });
        const expired = await eventFor(ns.name, 'SessionExpired', SESSION_LEASE);
        expect(expired.type).toBe('Warning');
        expect(expired.note).toMatch(/^session of provider "gone" expired: no HealthCheck for \d+ s \(session\.health_timeout_seconds: 1\)$/);
      } finally {
        await d.stop();
      }
      const before = (await events(ns.name)).length;
      const off = await startTestDaemon(ns.name, { events: { enabled: false } });
      try {
        // The same id: under this daemon's 90 s timeout the session read from the Lease is live again.
        await call(off.client, 'Connect', { providerId: 'gone' });
        expect((await call<{ error: string }>(off.client, 'Deploy', { ...deployRequest('q', 100), providerId: 'gone' })).error).toBe('');
        expect((await call<{ error: string }>(off.client, 'Deploy', { ...deployRequest('q-big', 100_000), providerId: 'gone' })).error).not.toBe('');
        await call(off.client, 'Disconnect', { providerId: 'gone' });
        await waitFor('q running', () => off.daemon.tracker.get('q')?.phase === 'Running');
      } finally {
        await off.stop();
      }
      expect(await events(ns.name)).toHaveLength(before);
    });
  });

  describe('in a pod', () => {
    let system: TestNamespace;
    let workloads: TestNamespace;
    const saved = { POD_NAME: process.env.POD_NAME, POD_NAMESPACE: process.env.POD_NAMESPACE, POD_UID: process.env.POD_UID };

    beforeAll(async () => {
      system = await createTestNamespace('ev-system');
      workloads = await createTestNamespace('ev-pod');
    });
    afterAll(async () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await system?.cleanup();
      await workloads?.cleanup();
    });

    it("puts the daemon's own events on its Pod (downward API), beside it, for kubectl describe", async () => {
      // The pod this daemon would run in: its identity comes, as in k8s-deployment.yaml, from POD_NAME, POD_NAMESPACE and POD_UID.
      const core = kc.makeApiClient(CoreV1Api);
      const self = await core.createNamespacedPod({
        namespace: system.name,
        body: { metadata: { name: 'k8s-provider-0' }, spec: { containers: [{ name: 'k8s-provider', image: 'iarnet/k8s-provider' }] } },
      });
      Object.assign(process.env, { POD_NAME: 'k8s-provider-0', POD_NAMESPACE: system.name, POD_UID: self.metadata!.uid! });
      const d = await startTestDaemon(workloads.name);
      try {
        await call(d.client, 'Connect', { providerId: 'cp' });
        const connected = await eventFor(system.name, 'Connected', 'k8s-provider-0');
        expect(connected).toMatchObject({
          reportingInstance: 'k8s-provider-0',
          regarding: { kind: 'Pod', apiVersion: 'v1', name: 'k8s-provider-0', namespace: system.name, uid: self.metadata!.uid },
        });
        expect(describedEvents(await kubectl('-n', system.name, 'describe', 'pod', 'k8s-provider-0'))).toMatch(
          /Normal\s+Connected\s+.*iarnet\.io\/k8s-provider\s+provider "cp" connected/,
        );
        // Workload events stay with the workloads.
        expect((await call<{ error: string }>(d.client, 'Deploy', deployRequest('w', 100))).error).toBe('');
        expect((await eventFor(workloads.name, 'Deployed', 'w')).reportingInstance).toBe('k8s-provider-0');
      } finally {
        await d.stop();
      }
    });
  });

  describe('when events cannot be written', () => {
    let ns: TestNamespace;

    beforeAll(async () => {
      ns = await createTestNamespace('ev-norbac');
    });
    afterAll(async () => {
      await ns?.cleanup();
    });

    it('every call still succeeds; the failure is logged once and the dropped events counted', async () => {
      const id = await createTestIdentity(ns.name, { events: false });
      const metricsPort = await freePort();
      const d = await startTestDaemon(ns.name, { kubernetes: { kubeconfig: id.kubeconfigPath }, prometheus: { host: '127.0.0.1', port: metricsPort } });
      try {
        expect(d.logs.some((l) => l.msg === 'optional permission missing' && String(l.missing).startsWith('create events.events.k8s.io'))).toBe(true);
        expect(await call(d.client, 'Connect', { providerId: 'cp' })).toMatchObject({ success: true });
        for (let i = 0; i < 5; i++) {
          expect((await call<{ error: string }>(d.client, 'Deploy', deployRequest(`n-${i}`, 100))).error).toBe('');
        }
        await waitFor('the events to be given up', async () => {
          const m = await scrapeDaemon(metricsPort);
          return total(m, 'k8s_provider_events_dropped_total', (l) => l.cause === 'write_failed') >= 6;
        });
        const m = await scrapeDaemon(metricsPort);
        expect(total(m, 'k8s_provider_event_writes_total', (l) => l.result === 'error')).toBeGreaterThanOrEqual(6);
        expect(total(m, 'k8s_provider_event_writes_total', (l) => l.result === 'ok')).toBe(0);
        const warnings = d.logs.filter((l) => l.msg?.startsWith('cannot write Kubernetes Events'));
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatchObject({ code: 403 });
        expect(await events(ns.name)).toEqual([]);
      } finally {
        await d.stop();
        await id.cleanup();
      }
    });
  });
});
