/** SendHttpRequest (k8sprovider.v1.Instances): the wire form of an instance request and its answer, and the handler. */
import type * as grpc from '@grpc/grpc-js';
import type { HttpRequestInput, InstanceRequests } from '../../core/instance-request.js';
import type { InstanceEndpoint } from '../../core/workload-network.js';
import { int64ToNumber } from './codec.js';
import type { InstanceEndpoint as WireEndpoint } from './generated/k8sprovider/v1/InstanceEndpoint.js';
import type { SendHttpRequestRequest__Output } from './generated/k8sprovider/v1/SendHttpRequestRequest.js';
import type { SendHttpRequestResponse } from './generated/k8sprovider/v1/SendHttpRequestResponse.js';
import type { RpcKit } from './rpc.js';

export function httpRequestFromWire(req: SendHttpRequestRequest__Output): HttpRequestInput {
  return {
    providerId: req.providerId,
    instanceId: req.instanceId,
    port: req.port,
    method: req.method,
    path: req.path,
    headers: req.headers.map((h) => ({ name: h.name, value: h.value })),
    body: req.body,
    timeoutMs: int64ToNumber(req.timeoutMs, 'timeout_ms'),
  };
}

export function instanceEndpointToWire(e: InstanceEndpoint): WireEndpoint {
  return {
    serviceName: e.serviceName,
    dnsName: e.dnsName,
    clusterIp: e.clusterIp,
    podIp: e.podIp,
    ports: e.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, nodePort: p.nodePort })),
    serviceType: e.expose,
  };
}

/**
 * The handler. A client that cancels (or whose deadline passes) aborts the
 * proxied request too: the call's deadline bounds it along with timeout_ms.
 */
export function sendHttpRequestHandler(rpc: RpcKit, requests: InstanceRequests): grpc.handleUnaryCall<SendHttpRequestRequest__Output, SendHttpRequestResponse> {
  return rpc.unary<SendHttpRequestRequest__Output, SendHttpRequestResponse>('SendHttpRequest', async (req, call) => {
    const abort = new AbortController();
    const onCancel = (): void => abort.abort();
    call.once('cancelled', onCancel);
    try {
      const answer = await requests.send(httpRequestFromWire(req), abort.signal);
      return { statusCode: answer.statusCode, headers: [...answer.headers], body: Buffer.from(answer.body), podName: answer.podName };
    } finally {
      call.off('cancelled', onCancel);
    }
  });
}
