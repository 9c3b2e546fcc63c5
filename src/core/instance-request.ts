/**
 * SendHttpRequest (issue 15, item 2): one HTTP request to a port of a
 * running instance, through whatever the InstanceHttp port reaches it by
 * (the API server's pod proxy). Same session rules as the other instance
 * RPCs; the request is checked whole before anything is sent, and refused
 * unless the instance is Running and ready.
 */
import { failedPrecondition, invalidArgument, notFound } from './errors.js';
import type { InstanceStatus } from './instance-status.js';
import type { Session } from './session.js';
import type { NetworkDirectory } from './workload-network.js';

export interface HttpHeader {
  readonly name: string;
  readonly value: string;
}

export interface HttpRequestInput {
  readonly providerId: string;
  readonly instanceId: string;
  /** 0: the instance's only TCP Service port. */
  readonly port: number;
  /** '' = GET. */
  readonly method: string;
  /** '' = "/". */
  readonly path: string;
  readonly headers: readonly HttpHeader[];
  readonly body: Uint8Array;
  /** 0 = the configured default. */
  readonly timeoutMs: number;
}

export interface HttpAnswer {
  readonly statusCode: number;
  readonly headers: readonly HttpHeader[];
  readonly body: Uint8Array;
}

export interface RequestLimits {
  /** instances.request.max_request_bytes */
  readonly maxRequestBytes: number;
  /** instances.request.max_response_bytes */
  readonly maxResponseBytes: number;
  /** instances.request.timeout_seconds, in ms */
  readonly defaultTimeoutMs: number;
}

export interface HttpCall {
  readonly method: string;
  readonly path: string;
  readonly headers: readonly HttpHeader[];
  readonly body: Uint8Array;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
}

/**
 * Sends one request to a pod's port. Contract: resolves with the pod's
 * answer whatever its status code; rejects with Unavailable when nothing
 * answered (refused, unreachable, timed out), ResourceExhausted when the
 * answer is larger than `maxResponseBytes` (the transfer is cut), and
 * PermissionDenied when the daemon may not proxy. Aborting `signal` ends the
 * request underneath.
 */
export interface InstanceHttp {
  send(podName: string, port: number, call: HttpCall, signal: AbortSignal): Promise<HttpAnswer>;
}

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export const MAX_PATH_LENGTH = 8192;
export const MAX_TIMEOUT_MS = 3_600_000;

/**
 * Headers that would change how the API server treats the proxied request
 * (whose credentials, whose identity) or that only the transport may set.
 */
const REFUSED_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'host',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'expect',
]);
const REFUSED_PREFIXES = ['impersonate-', 'x-remote-', 'proxy-'];
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** C0 controls and DEL: CR/LF would split the request, the others no server accepts. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function checkPath(path: string, problems: string[]): void {
  if (!path.startsWith('/')) problems.push(`path ${JSON.stringify(path.slice(0, 200))} must start with "/"`);
  if (path.length > MAX_PATH_LENGTH) problems.push(`path is longer than ${MAX_PATH_LENGTH} characters`);
  if (/[\s\\#]/.test(path) || hasControl(path)) problems.push('path must not contain white space, control characters, "\\" or "#"');
  const pathOnly = path.split('?')[0] ?? '';
  // A dot segment would climb out of the pod's proxy path into the rest of the API (also percent-encoded).
  const segments = pathOnly.split('/').map((seg) => {
    try {
      return decodeURIComponent(seg);
    } catch {
      return seg;
    }
  });
  if (segments.some((seg) => seg === '.' || seg === '..')) problems.push('path must not contain "." or ".." segments');
}

function checkHeaders(headers: readonly HttpHeader[], problems: string[]): void {
  for (const h of headers) {
    const lower = h.name.toLowerCase();
    if (!TOKEN.test(h.name)) problems.push(`headers: name ${JSON.stringify(h.name.slice(0, 200))} is not an HTTP header name`);
    else if (REFUSED_HEADERS.has(lower) || REFUSED_PREFIXES.some((p) => lower.startsWith(p))) {
      problems.push(`headers: ${h.name} may not be set (it would change how the API server handles the request)`);
    }
    if (hasControl(h.value.replaceAll('\t', ' '))) problems.push(`headers: value of ${h.name.slice(0, 200)} contains control characters`);
  }
}

/** Every problem with the request at once; the normalised call when there is none. */
export function validateHttpRequest(input: HttpRequestInput, limits: RequestLimits): Omit<HttpCall, 'maxResponseBytes'> {
  const problems: string[] = [];
  if (!input.instanceId) problems.push('instance_id is required');
  if (!(Number.isInteger(input.port) && input.port >= 0 && input.port <= 65535)) problems.push(`port ${input.port} is not in 1-65535`);
  const method = (input.method || 'GET').toUpperCase();
  if (!(HTTP_METHODS as readonly string[]).includes(method))
    problems.push(`method ${JSON.stringify(input.method.slice(0, 50))} is not one of ${HTTP_METHODS.join(', ')}`);
  const path = input.path || '/';
  checkPath(path, problems);
  checkHeaders(input.headers, problems);
  if (input.body.length > limits.maxRequestBytes) {
    problems.push(`body is ${input.body.length} bytes, more than instances.request.max_request_bytes (${limits.maxRequestBytes})`);
  }
  if (!(Number.isSafeInteger(input.timeoutMs) && input.timeoutMs >= 0 && input.timeoutMs <= MAX_TIMEOUT_MS)) {
    problems.push(`timeout_ms must be between 0 and ${MAX_TIMEOUT_MS} (got ${input.timeoutMs})`);
  }
  if (problems.length > 0) throw invalidArgument(problems.join('; '));
  return { method, path, headers: input.headers, body: input.body, timeoutMs: input.timeoutMs || limits.defaultTimeoutMs };
}

export interface InstanceRequestsDeps {
  readonly session: Session;
  readonly status: (instanceId: string) => InstanceStatus | undefined;
  readonly network?: NetworkDirectory | undefined;
  readonly http: InstanceHttp;
  readonly limits: RequestLimits;
}

export class InstanceRequests {
  constructor(private readonly deps: InstanceRequestsDeps) {}

  async send(input: HttpRequestInput, signal: AbortSignal): Promise<HttpAnswer & { readonly podName: string }> {
    this.deps.session.verify(input.providerId);
    const call = validateHttpRequest(input, this.deps.limits);
    const s = this.deps.status(input.instanceId);
    if (!s) throw notFound(`instance "${input.instanceId}" does not exist`);
    if (s.phase !== 'Running' || !s.ready || !s.podName) {
      const state = [s.phase, s.reason].filter(Boolean).join(': ') + (s.phase === 'Running' && !s.ready ? ', not ready' : '');
      throw failedPrecondition(`instance "${s.id}" is ${state}: requests go only to a Running instance whose container is ready`);
    }
    const port = input.port || this.onlyPort(s.id);
    const answer = await this.deps.http.send(s.podName, port, { ...call, maxResponseBytes: this.deps.limits.maxResponseBytes }, signal);
    return { ...answer, podName: s.podName };
  }

  /** Port 0: the instance's one TCP port, when its Service says it has exactly one. */
  private onlyPort(instanceId: string): number {
    const tcp = this.deps.network?.of(instanceId)?.endpoint?.ports.filter((p) => p.protocol === 'TCP') ?? [];
    const only = tcp.length === 1 ? tcp[0] : undefined;
    if (!only) {
      throw invalidArgument(
        `port is required: instance "${instanceId}" has ${tcp.length === 0 ? 'no exposed TCP port' : `${tcp.length} TCP ports`} to default to`,
      );
    }
    return only.port;
  }
}
