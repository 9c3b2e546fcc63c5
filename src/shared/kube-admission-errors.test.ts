import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { mapApiError } from './kube-api-errors.js';

const forbidden = (message: string): ApiException<unknown> =>
  new ApiException(403, 'Forbidden', { kind: 'Status', code: 403, reason: 'Forbidden', message }, {});
const call = { verb: 'create', resource: 'pods', namespace: 'ns' };

describe('admission refusals', () => {
  it('maps a full ResourceQuota to RESOURCE_EXHAUSTED with the API server’s figures', () => {
    const err = mapApiError(
      forbidden('pods "x" is forbidden: exceeded quota: k8s-provider-quota, requested: requests.cpu=2, used: requests.cpu=3, limited: requests.cpu=4'),
      call,
    );
    expect(err.kind).toBe('RESOURCE_EXHAUSTED');
    expect(err.message).toContain("the namespace's ResourceQuota refuses it");
    expect(err.message).toContain('limited: requests.cpu=4');
  });

  it('maps an unknown PriorityClass to FAILED_PRECONDITION naming the field', () => {
    const err = mapApiError(forbidden('pods "x" is forbidden: no PriorityClass with name nope was found'), call);
    expect(err.kind).toBe('FAILED_PRECONDITION');
    expect(err.message).toContain('workload.priority_class_name');
    expect(err.message).toContain('nope');
  });

  it('maps a quota not counted yet to UNAVAILABLE, and leaves real permission refusals alone', () => {
    expect(mapApiError(forbidden('pods "x" is forbidden: status unknown for quota: q, resource: requests.cpu'), call).kind).toBe('UNAVAILABLE');
    expect(mapApiError(forbidden('pods is forbidden: User "u" cannot create resource "pods"'), call).kind).toBe('PERMISSION_DENIED');
  });
});
