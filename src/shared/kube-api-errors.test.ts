import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { apiStatusOf, httpStatusOf, isRetryable, mapApiError, retryAfterMs } from './kube-api-errors.js';

const call = { verb: 'create', resource: 'pods', namespace: 'work' };
const api = (code: number, body: unknown) => new ApiException(code, 'x', body, {});
const status = (code: number, message: string, details?: object) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code, ...(details ? { details } : {}) });
const mapped = (err: unknown) => {
  const d = mapApiError(err, call);
  return `${d.kind}: ${d.message}`;
};

describe('mapApiError', () => {
  it('maps each API answer to its kind with the API server message', () => {
    expect(mapped(api(403, status(403, 'pods is forbidden: User "x" cannot create resource "pods"')))).toBe(
      'PERMISSION_DENIED: not allowed to create pods in namespace "work": pods is forbidden: User "x" cannot create resource "pods"',
    );
    expect(mapped(api(404, status(404, 'namespaces "work" not found', { name: 'work', kind: 'namespaces' })))).toBe(
      'FAILED_PRECONDITION: namespace "work" does not exist',
    );
    expect(mapped(api(404, status(404, 'pods "a" not found', { name: 'a', kind: 'pods' })))).toBe('NOT_FOUND: pods "a" not found');
    // Reading the Namespace object itself (a cluster-scoped call) is an ordinary NotFound.
    const ns = mapApiError(api(404, status(404, 'namespaces "work" not found', { name: 'work', kind: 'namespaces' })), { verb: 'get', resource: 'namespaces' });
    expect(`${ns.kind}: ${ns.message}`).toBe('NOT_FOUND: namespaces "work" not found');
    expect(mapped(api(409, status(409, 'pods "a" already exists')))).toBe('ALREADY_EXISTS: pods "a" already exists');
    expect(mapped(api(422, { message: 'Pod "A" is invalid: metadata.name: Invalid value' }))).toBe(
      'INVALID_ARGUMENT: the API server refused the pod: Pod "A" is invalid: metadata.name: Invalid value',
    );
    expect(mapped(api(429, status(429, 'too many requests')))).toMatch(/^UNAVAILABLE: the API server is overloaded/);
    expect(mapped(api(503, 'service unavailable'))).toBe('UNAVAILABLE: the API server failed to create pods (HTTP 503): service unavailable');
    expect(mapped(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }))).toBe(
      'UNAVAILABLE: cannot reach the Kubernetes API server to create pods: connect ECONNREFUSED 127.0.0.1:6443',
    );
  });

  it('retries only what may succeed later', () => {
    expect([429, 500, 503].map((c) => isRetryable(api(c, '')))).toEqual([true, true, true]);
    expect([400, 403, 404, 409, 422].map((c) => isRetryable(api(c, '')))).toEqual([false, false, false, false, false]);
    expect(isRetryable(Object.assign(new Error('x'), { cause: { code: 'ECONNRESET' } }))).toBe(true);
    // An abort is a transport failure, not "HTTP 20".
    const abort = new DOMException('The operation was aborted', 'AbortError');
    expect(isRetryable(abort)).toBe(true);
    expect(mapped(abort)).toBe('UNAVAILABLE: cannot reach the Kubernetes API server to create pods: The operation was aborted');
  });
});

describe('httpStatusOf and apiStatusOf', () => {
  it('read the HTTP status and the Status object of an API answer, parsed from text or as sent', () => {
    const err = api(422, status(422, 'Pod "A" is invalid'));
    expect(httpStatusOf(err)).toBe(422);
    expect(apiStatusOf(err)).toMatchObject({ kind: 'Status', code: 422, message: 'Pod "A" is invalid' });
    expect(apiStatusOf(api(409, { reason: 'AlreadyExists' }))?.reason).toBe('AlreadyExists');
    expect(apiStatusOf(api(503, 'service unavailable'))).toEqual({ message: 'service unavailable' });
    expect(apiStatusOf(api(500, undefined))).toEqual({});
  });

  it('give nothing for failures that are not API answers', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(httpStatusOf(refused)).toBeUndefined();
    expect(apiStatusOf(refused)).toBeUndefined();
    expect(httpStatusOf(new DOMException('aborted', 'AbortError'))).toBeUndefined();
  });
});

describe('retryAfterMs', () => {
  const tooMany = (headers: Record<string, string>, body: unknown = {}) => new ApiException(429, 'x', body, headers);
  it('reads Retry-After as seconds or as an HTTP date, else the Status details', () => {
    expect(retryAfterMs(tooMany({ 'retry-after': '7' }))).toBe(7000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(tooMany({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }), now)).toBe(5000);
    expect(retryAfterMs(tooMany({}, { code: 429, details: { retryAfterSeconds: 2 } }))).toBe(2000);
    expect(retryAfterMs(tooMany({}))).toBeUndefined();
    expect(retryAfterMs(new Error('ECONNRESET'))).toBeUndefined();
  });
});
