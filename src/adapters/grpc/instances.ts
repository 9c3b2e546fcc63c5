/**
 * k8sprovider.v1.Instances: thin handlers over the core's InstanceService.
 * Streams stop producing while the client's flow-control window is full
 * (write() returns false), and a cancelled call aborts what feeds it (the
 * watch subscription, the log request).
 */
import * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { InstanceService } from '../../core/instance-service.js';
import type { Logger } from '../../core/ports.js';
import { toDomainError } from '../../core/errors.js';
import { instanceToWire, listQueryFromWire, logsFromWire, undeployFromWire, watchItemToWire } from './instances-codec.js';
import { LOADER_OPTIONS, protoDir } from './proto.js';
import { toServiceError } from './status.js';
import type { InstancesHandlers } from './generated/k8sprovider/v1/Instances.js';
import type { WatchInstancesResponse } from './generated/k8sprovider/v1/WatchInstancesResponse.js';
import type { WatchItem } from '../../core/instance-watch.js';
import type { ProtoGrpcType } from './generated/instances.js';
import type { UsageSource } from '../../core/ports.js';

export const INSTANCES_PROTO = 'k8sprovider/v1/instances.proto';
export const INSTANCES_SERVICE = 'k8sprovider.v1.Instances';

export function loadInstancesProto(): { packageDefinition: protoLoader.PackageDefinition; grpcObject: ProtoGrpcType } {
  const packageDefinition = protoLoader.loadSync(INSTANCES_PROTO, { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  return { packageDefinition, grpcObject: grpc.loadPackageDefinition(packageDefinition) as unknown as ProtoGrpcType };
}

interface Context {
  readonly instances: InstanceService;
  readonly usage: UsageSource;
  readonly log: Logger;
}

function report(ctx: Context, method: string, providerId: string, started: bigint, code: status, error?: string, extra: object = {}): void {
  const fields = { service: INSTANCES_SERVICE, method, providerId, durationMs: Math.round(Number(process.hrtime.bigint() - started) / 1e3) / 1e3, code: status[code], ...extra, ...(error ? { error } : {}) };
  if (code === status.OK || code === status.CANCELLED) ctx.log.info(fields, 'rpc');
  else if (code === status.INTERNAL) ctx.log.error(fields, 'rpc');
  else ctx.log.warn(fields, 'rpc');
}

function unary<Req extends { providerId: string }, Res>(ctx: Context, method: string, run: (req: Req) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    void (async () => run(call.request))().then(
      (res) => {
        report(ctx, method, call.request.providerId, started, status.OK);
        callback(null, res);
      },
      (err: unknown) => {
        const failure = toServiceError(err);
        report(ctx, method, call.request.providerId, started, failure.code, failure.details);
        callback(failure);
      },
    );
  };
}

function drained(call: grpc.ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.on('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

function serverStream<Req extends { providerId: string }, Res>(
  ctx: Context,
  method: string,
  run: (req: Req, signal: AbortSignal) => AsyncIterable<Res>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const started = process.hrtime.bigint();
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    let sent = 0;
    void (async () => {
      try {
        for await (const message of run(call.request, controller.signal)) {
          if (controller.signal.aborted) break;
          sent++;
          if (!call.write(message)) await drained(call as grpc.ServerWritableStream<unknown, unknown>, controller.signal);
        }
        if (controller.signal.aborted) {
          report(ctx, method, call.request.providerId, started, status.CANCELLED, undefined, { messages: sent });
          return;
        }
        call.end();
        report(ctx, method, call.request.providerId, started, status.OK, undefined, { messages: sent });
      } catch (err) {
        if (controller.signal.aborted) {
          report(ctx, method, call.request.providerId, started, status.CANCELLED, undefined, { messages: sent });
          return;
        }
        const failure = toServiceError(toDomainError(err));
        report(ctx, method, call.request.providerId, started, failure.code, failure.details, { messages: sent });
        call.emit('error', failure);
      } finally {
        controller.abort();
      }
    })();
  };
}

export function instancesHandlers(ctx: Context): InstancesHandlers {
  const { instances, usage } = ctx;
  const converted = new WeakMap<WatchItem, WatchInstancesResponse>();
  return {
    GetInstance: unary(ctx, 'GetInstance', (req) => ({ instance: instanceToWire(instances.get(req.providerId, req.instanceId)) })),
    ListInstances: unary(ctx, 'ListInstances', (req) => {
      const page = instances.list(listQueryFromWire(req));
      return { instances: page.instances.map(instanceToWire), nextPageToken: page.nextPageToken, totalSize: page.totalSize };
    }),
    Undeploy: unary(ctx, 'Undeploy', async (req) => {
      const result = await instances.undeploy(undeployFromWire(req));
      return {
        deleted: result.deleted,
        kind: result.kind === 'Job' ? 'WORKLOAD_KIND_JOB' : result.kind === 'Pod' ? 'WORKLOAD_KIND_POD' : 'WORKLOAD_KIND_UNSPECIFIED',
        workloadName: result.workloadName,
        instance: result.instance ? instanceToWire(result.instance) : null,
      };
    }),
    WatchInstances: serverStream(ctx, 'WatchInstances', (req, signal) => {
      const subscription = instances.watch(req.providerId);
      signal.addEventListener('abort', () => subscription.close(), { once: true });
      return (async function* () {
        for await (const item of subscription) {
          // A live change is one object shared by every watcher: convert it once for all of them.
          let wire = converted.get(item);
          if (!wire) {
            wire = watchItemToWire(item, (s) => instances.withUsage(s, usage.current()));
            converted.set(item, wire);
          }
          yield wire;
        }
      })();
    }),
    GetLogs: serverStream(ctx, 'GetLogs', (req, signal) => {
      const input = logsFromWire(req);
      return (async function* () {
        for await (const batch of instances.logs(input, signal)) yield { lines: [...batch.lines], podName: batch.podName };
      })();
    }),
  } as InstancesHandlers;
}
