/** A client of k8sprovider.v1.Instances for tests, and small helpers around it. */
import * as grpc from '@grpc/grpc-js';
import { CoreV1Api, BatchV1Api } from '@kubernetes/client-node';
import { loadInstancesProto } from '../../src/adapters/grpc/contract.js';
import type { InstancesClient } from '../../src/adapters/grpc/generated/k8sprovider/v1/Instances.js';
import type { Instance__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/Instance.js';
import type { WatchInstancesResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/WatchInstancesResponse.js';
import { afterAll, beforeAll } from 'vitest';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from './cluster.js';
import { call, startTestDaemon, type ConfigInput, type TestDaemon } from './daemon.js';

export type { Instance__Output as WireInstance };

export function instancesClient(port: number): InstancesClient {
  const { grpcObject } = loadInstancesProto();
  return new grpcObject.k8sprovider.v1.Instances(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

type UnaryFn = (req: object, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

export function icall<Res = Record<string, unknown>>(
  client: InstancesClient,
  method: 'GetInstance' | 'ListInstances' | 'Undeploy' | 'SendHttpRequest' | 'ScaleInstance',
  request: object,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, UnaryFn>)[method]!;
    fn.call(client, request, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

/** A WatchInstances stream that records every event, with a way to wait for one. */
export class WatchRecorder {
  readonly events: WatchInstancesResponse__Output[] = [];
  readonly stream: grpc.ClientReadableStream<WatchInstancesResponse__Output>;
  error: grpc.ServiceError | undefined;
  ended = false;

  constructor(client: InstancesClient, providerId: string) {
    this.stream = client.WatchInstances({ providerId });
    this.stream.on('data', (e: WatchInstancesResponse__Output) => this.events.push(e));
    this.stream.on('error', (err: grpc.ServiceError) => {
      this.error = err;
    });
    this.stream.on('end', () => {
      this.ended = true;
    });
  }

  /** Resolves with the first event (from `from` on) that passes `match`. */
  next(description: string, match: (e: WatchInstancesResponse__Output) => boolean, from = 0, timeoutMs = 60_000): Promise<WatchInstancesResponse__Output> {
    return waitFor(description, () => this.events.slice(from).find(match), { timeoutMs, intervalMs: 50 });
  }

  forInstance(id: string): Array<{ type: string; phase: string; reason: string; stuck: boolean }> {
    return this.events
      .filter((e) => e.instance?.instanceId === id)
      .map((e) => ({ type: e.type, phase: e.instance!.phase, reason: e.instance!.reason, stuck: e.instance!.stuck }));
  }

  close(): void {
    this.stream.cancel();
  }
}

/** Waits until no pod of the instance is left in the namespace (asked of the API server, not the daemon). */
export async function podsGone(namespace: string, instanceId: string, timeoutMs = 60_000): Promise<void> {
  const core = makeKubeConfig().makeApiClient(CoreV1Api);
  await waitFor(
    `the pods of ${instanceId} to be gone`,
    async () => (await core.listNamespacedPod({ namespace, labelSelector: `iarnet.instance_id=${instanceId}` })).items.length === 0,
    { timeoutMs },
  );
}

export async function jobExists(namespace: string, name: string): Promise<boolean> {
  const batch = makeKubeConfig().makeApiClient(BatchV1Api);
  return (await batch.listNamespacedJob({ namespace, fieldSelector: `metadata.name=${name}` })).items.length > 0;
}

/** What connectedInstancesDaemon gives a describe block once its beforeAll has run. */
export interface ConnectedInstancesDaemon {
  ns: TestNamespace;
  d: TestDaemon;
  ic: InstancesClient;
}

/**
 * A namespace and an in-process daemon connected as `providerId`, with an
 * Instances client, for one describe block; stopped and removed after it.
 * `before` runs once the namespace exists and before the daemon starts
 * (cluster-scoped fixtures such as a StorageClass); `after` once all is gone.
 */
export function connectedInstancesDaemon(
  name: string,
  providerId: string,
  config: ConfigInput = {},
  hooks: { before?: () => Promise<unknown>; after?: () => Promise<unknown> } = {},
): ConnectedInstancesDaemon {
  const t = {} as ConnectedInstancesDaemon;
  beforeAll(async () => {
    t.ns = await createTestNamespace(name);
    await hooks.before?.();
    t.d = await startTestDaemon(t.ns.name, config);
    t.ic = instancesClient(t.d.daemon.port);
    await call(t.d.client, 'Connect', { providerId });
  });
  afterAll(async () => {
    t.ic?.close();
    await t.d?.stop();
    await t.ns?.cleanup();
    await hooks.after?.();
  });
  return t;
}
