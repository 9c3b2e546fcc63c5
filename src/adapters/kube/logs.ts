/**
 * Container logs through the API server (GET pods/{name}/log), streamed.
 * client-node's Log helper cannot be cancelled before the response headers
 * arrive and drops the API server's error message, so the request is made
 * here with the credentials and TLS settings client-node's KubeConfig
 * applies. Cancelling the signal destroys the request: nothing is left open.
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { DomainError, ErrorKind, failedPrecondition, permissionDenied, unavailable } from '../../core/errors.js';
import type { LogOptions, LogSource } from '../../core/ports.js';

export interface KubeLogsOptions {
  readonly namespace: string;
  /** How long to wait for the response headers: the API server proxies to the node's kubelet, which may not answer. */
  readonly connectTimeoutMs: number;
  /** Lines are sent in batches of at most this many. */
  readonly maxBatchLines?: number;
}

const MAX_ERROR_BODY = 64 * 1024;

export class KubeLogs implements LogSource {
  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly options: KubeLogsOptions,
  ) {}

  async *stream(podName: string, options: LogOptions, signal: AbortSignal): AsyncIterable<readonly string[]> {
    const controller = new AbortController();
    const abort = (): void => controller.abort(signal.reason);
    if (signal.aborted) return;
    signal.addEventListener('abort', abort, { once: true });
    let res: IncomingMessage | undefined;
    try {
      // A node that cannot serve this container's log may still answer a follow request with 200 and
      // a stream of complaints (KWOK does): one plain read of no lines asks the question cleanly first.
      if (options.follow) {
        res = await this.open(podName, { ...options, follow: false, tailLines: 0, sinceSeconds: undefined }, controller);
        res.on('error', () => undefined);
        if (res.statusCode !== 200) throw await this.failure(res, podName, options.container);
        res.destroy();
      }
      res = await this.open(podName, options, controller);
      res.on('error', () => undefined); // an abort after the last read must not surface as an unhandled 'error'
      if (res.statusCode !== 200) throw await this.failure(res, podName, options.container);
      const max = this.options.maxBatchLines ?? 256;
      let rest = '';
      res.setEncoding('utf8');
      for await (const chunk of res as AsyncIterable<string>) {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop() ?? ''; // the unfinished last line waits for the next chunk
        for (let i = 0; i < parts.length; i += max) yield parts.slice(i, i + max).map(stripCr);
      }
      if (rest) yield [stripCr(rest)];
    } catch (err) {
      if (signal.aborted) return; // the caller went away: not an error
      throw err;
    } finally {
      signal.removeEventListener('abort', abort);
      controller.abort();
      res?.destroy();
    }
  }

  private async open(podName: string, options: LogOptions, controller: AbortController): Promise<IncomingMessage> {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw unavailable('no current cluster in the Kubernetes configuration');
    const server = cluster.server;
    const url = new URL(`${server}/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/pods/${encodeURIComponent(podName)}/log`);
    url.searchParams.set('container', options.container);
    if (options.follow) url.searchParams.set('follow', 'true');
    if (options.timestamps) url.searchParams.set('timestamps', 'true');
    if (options.tailLines !== undefined) url.searchParams.set('tailLines', String(options.tailLines));
    if (options.sinceSeconds !== undefined) url.searchParams.set('sinceSeconds', String(options.sinceSeconds));
    const req: https.RequestOptions = { method: 'GET', signal: controller.signal };
    await this.kubeConfig.applyToHTTPSOptions(req);
    const timeoutMs = this.options.connectTimeoutMs;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(unavailable(`no answer to the log request for pod ${podName} within ${timeoutMs / 1000}s: the node's kubelet may be unreachable`));
        controller.abort();
      }, timeoutMs);
      const request = https.request(url, req, (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      request.on('error', (err) => {
        clearTimeout(timer);
        reject(controller.signal.aborted ? err : unavailable(`cannot reach the Kubernetes API server to read logs: ${err.message}`, err));
      });
      request.end();
    });
  }

  /** The API server's Status for a failed log request, as a domain error that says what to do. */
  private async failure(res: IncomingMessage, podName: string, container: string): Promise<DomainError> {
    let body = '';
    res.setEncoding('utf8');
    for await (const chunk of res as AsyncIterable<string>) {
      body += chunk;
      if (body.length > MAX_ERROR_BODY) break;
    }
    let message = body.trim();
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      // not a Status object: keep the text
    }
    const code = res.statusCode ?? 0;
    if (code === 400) return failedPrecondition(`logs of pod ${podName} container "${container}" cannot be read: ${message}`);
    if (code === 404) return new DomainError(ErrorKind.NotFound, `pod ${podName} (or its container "${container}") is gone: ${message}`);
    if (code === 401 || code === 403) return permissionDenied(`not allowed to read pods/log in namespace "${this.options.namespace}": ${message}`);
    // 5xx: the API server could not get the logs from the node's kubelet (none there, or unreachable).
    return unavailable(`the node of pod ${podName} cannot serve logs (HTTP ${code}): ${message}`);
  }
}

const stripCr = (line: string): string => (line.endsWith('\r') ? line.slice(0, -1) : line);
