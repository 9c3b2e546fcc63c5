/**
 * InstanceHttp through the API server's pod proxy
 * (/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/{path}): works for every
 * instance with a pod IP, exposed or not, and needs no route from the
 * daemon to the pod network. Made with the credentials and TLS settings
 * client-node's KubeConfig applies (as logs.ts does), because the generated
 * proxy calls neither stream bytes nor pass headers. The API server maps the
 * method to the RBAC verb on pods/proxy (GET/HEAD get, POST create, PUT
 * update, PATCH patch, DELETE delete).
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { DomainError, ErrorKind, permissionDenied, resourceExhausted, unavailable } from '../../core/errors.js';
import type { HttpAnswer, HttpCall, HttpHeader, InstanceHttp } from '../../core/instance-request.js';

export interface KubeHttpProxyOptions {
  readonly namespace: string;
}

/** The API server's own answer (not the pod's): a v1 Status object. */
interface ApiStatus {
  readonly kind?: unknown;
  readonly apiVersion?: unknown;
  readonly message?: unknown;
  readonly reason?: unknown;
}

export class KubeHttpProxy implements InstanceHttp {
  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly options: KubeHttpProxyOptions,
  ) {}

  /** The proxy URL; a path that would leave the pod's proxy prefix once normalised is refused. */
  url(podName: string, port: number, path: string): URL {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw unavailable('no current cluster in the Kubernetes configuration');
    const prefix = `/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/pods/${encodeURIComponent(podName)}:${port}/proxy`;
    const base = new URL(cluster.server);
    const url = new URL(`${base.origin}${base.pathname.replace(/\/$/, '')}${prefix}${path}`);
    if (!url.pathname.startsWith(`${base.pathname.replace(/\/$/, '')}${prefix}/`)) {
      throw new DomainError(ErrorKind.InvalidArgument, `path ${JSON.stringify(path.slice(0, 200))} leaves the instance's proxy path`);
    }
    return url;
  }

  async send(podName: string, port: number, call: HttpCall, signal: AbortSignal): Promise<HttpAnswer> {
    const url = this.url(podName, port, call.path);
    const controller = new AbortController();
    const abort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    const timer = setTimeout(() => controller.abort(new Error('timeout')), call.timeoutMs);
    const headers: Record<string, string | string[]> = {};
    for (const h of call.headers) {
      const prev = headers[h.name];
      headers[h.name] = prev === undefined ? h.value : [...(Array.isArray(prev) ? prev : [prev]), h.value];
    }
    const req: https.RequestOptions = { method: call.method, headers, signal: controller.signal };
    await this.kubeConfig.applyToHTTPSOptions(req);
    let res: IncomingMessage | undefined;
    try {
      res = await this.open(url, req, call.body);
      const body = await this.read(res, call.maxResponseBytes);
      const answer: HttpAnswer = { statusCode: res.statusCode ?? 0, headers: pairs(res.rawHeaders), body };
      const apiError = this.apiServerError(answer, podName, port, call.method);
      if (apiError) throw apiError;
      return answer;
    } catch (err) {
      if (err instanceof DomainError) throw err;
      if (signal.aborted) throw unavailable('the request was cancelled');
      if (controller.signal.aborted) throw unavailable(`pod ${podName} port ${port} gave no complete answer within ${call.timeoutMs} ms`);
      throw unavailable(`cannot reach the Kubernetes API server to proxy the request: ${(err as Error).message}`, err);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', abort);
      res?.destroy();
    }
  }

  private open(url: URL, req: https.RequestOptions, body: Uint8Array): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const request = https.request(url, req, resolve);
      request.on('error', reject);
      request.end(body.length > 0 ? body : undefined);
    });
  }

  /** The whole body, or ResourceExhausted as soon as it passes the limit (the rest is never read). */
  private async read(res: IncomingMessage, max: number): Promise<Uint8Array> {
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      throw resourceExhausted(`the answer's body is ${declared} bytes, more than instances.request.max_response_bytes (${max})`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw resourceExhausted(`the answer's body is more than instances.request.max_response_bytes (${max})`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  /**
   * The API server answers for itself (a v1 Status) when it could not reach
   * the pod, or refused us; the pod's own answers pass through untouched.
   */
  private apiServerError(answer: HttpAnswer, podName: string, port: number, method: string): DomainError | undefined {
    if (answer.statusCode < 400) return undefined;
    const type = answer.headers.find((h) => h.name.toLowerCase() === 'content-type')?.value ?? '';
    if (!type.startsWith('application/json')) return undefined;
    let status: ApiStatus;
    try {
      status = JSON.parse(Buffer.from(answer.body).toString('utf8')) as ApiStatus;
    } catch {
      return undefined;
    }
    if (status?.kind !== 'Status' || status.apiVersion !== 'v1') return undefined;
    const message = typeof status.message === 'string' ? status.message : '';
    if (answer.statusCode === 401 || answer.statusCode === 403) {
      return permissionDenied(`not allowed to ${method} pods/proxy in namespace "${this.options.namespace}": ${message}`);
    }
    if (answer.statusCode === 404 && status.reason === 'NotFound') return new DomainError(ErrorKind.NotFound, `pod ${podName} is gone: ${message}`);
    if (answer.statusCode >= 500) return unavailable(`nothing answered on pod ${podName} port ${port}: ${message}`);
    return undefined;
  }
}

function pairs(raw: readonly string[]): HttpHeader[] {
  const out: HttpHeader[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push({ name: raw[i] ?? '', value: raw[i + 1] ?? '' });
  return out;
}
