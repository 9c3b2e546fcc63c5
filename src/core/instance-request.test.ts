import { describe, expect, it } from 'vitest';
import { validateHttpRequest, type HttpRequestInput } from './instance-request.js';

const limits = { maxRequestBytes: 16, maxResponseBytes: 1024, defaultTimeoutMs: 30_000 };
const base: HttpRequestInput = { providerId: 'cp', instanceId: 'i', port: 0, method: '', path: '', headers: [], body: new Uint8Array(), timeoutMs: 0 };
const problem = (input: Partial<HttpRequestInput>): string => {
  try {
    validateHttpRequest({ ...base, ...input }, limits);
    return 'OK';
  } catch (err) {
    return (err as Error).message;
  }
};

describe('validateHttpRequest', () => {
  it('defaults to GET / with the configured timeout', () => {
    expect(validateHttpRequest(base, limits)).toEqual({ method: 'GET', path: '/', headers: [], body: new Uint8Array(), timeoutMs: 30_000 });
    expect(validateHttpRequest({ ...base, method: 'post', path: '/a?b=c', timeoutMs: 5 }, limits)).toMatchObject({
      method: 'POST',
      path: '/a?b=c',
      timeoutMs: 5,
    });
  });

  it('refuses paths that could leave the pod proxy, however they are spelled', () => {
    for (const path of ['/../x', '/a/./b', '/%2e%2e/x', '/%2E%2e', '/a/..']) expect(problem({ path })).toBe('path must not contain "." or ".." segments');
    expect(problem({ path: 'x' })).toBe('path "x" must start with "/"');
    expect(problem({ path: '/a b' })).toMatch(/white space/);
    expect(problem({ path: '/a\\b' })).toMatch(/white space/);
    expect(problem({ path: '/a#b' })).toMatch(/white space/);
    expect(problem({ path: '/a?next=../x' })).toBe('OK'); // the query is the pod's business
  });

  it('refuses headers that would change whose credentials or identity the API server uses', () => {
    for (const name of ['Authorization', 'impersonate-user', 'Impersonate-Group', 'Host', 'Transfer-Encoding', 'X-Remote-User', 'Proxy-Authorization']) {
      expect(problem({ headers: [{ name, value: 'x' }] })).toMatch(new RegExp(`^headers: ${name} may not be set`));
    }
    expect(problem({ headers: [{ name: 'X-Ok', value: 'a\r\nInjected: 1' }] })).toBe('headers: value of X-Ok contains control characters');
    expect(problem({ headers: [{ name: 'bad name', value: '' }] })).toBe('headers: name "bad name" is not an HTTP header name');
    expect(problem({ headers: [{ name: 'X-Tab', value: 'a\tb' }] })).toBe('OK');
  });

  it('lists every problem: port, method, size and timeout', () => {
    expect(problem({ instanceId: '', port: -1, method: 'CONNECT', body: new Uint8Array(17), timeoutMs: -1 })).toBe(
      'instance_id is required; port -1 is not in 1-65535; method "CONNECT" is not one of GET, HEAD, POST, PUT, PATCH, DELETE; body is 17 bytes, more than instances.request.max_request_bytes (16); timeout_ms must be between 0 and 3600000 (got -1)',
    );
  });
});
