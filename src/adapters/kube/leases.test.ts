import { describe, expect, it } from 'vitest';
import type { V1Lease } from '@kubernetes/client-node';
import { leaseName, microTime, newer, timeOf } from './leases.js';
import { sessionOf } from './session-lease.js';
import { replicaAddress, replicaIdentity } from './leader-election.js';

const lease = (rv: string, spec: V1Lease['spec'] = {}): V1Lease => ({ metadata: { name: 'l', resourceVersion: rv }, spec });

describe('Lease fields', () => {
  it('writes MicroTime with six fractional digits and reads it back to the millisecond', () => {
    const t = Date.UTC(2026, 10, 26, 10, 0, 0, 123);
    expect(JSON.stringify({ t: microTime(t) })).toBe('{"t":"2026-11-26T10:00:00.123000Z"}');
    expect(timeOf('2026-11-26T10:00:00.123456Z')).toBe(t);
    expect(timeOf(new Date(t))).toBe(t);
    expect(timeOf(undefined)).toBeUndefined();
    expect(timeOf('not a time')).toBeUndefined();
  });

  it('keeps the newer copy by resourceVersion, so a late watch event never rolls back a write', () => {
    expect(newer(lease('10'), lease('9'))?.metadata?.resourceVersion).toBe('10');
    expect(newer(lease('9'), lease('10'))?.metadata?.resourceVersion).toBe('10');
    expect(newer(undefined, lease('3'))?.metadata?.resourceVersion).toBe('3');
    // Opaque versions: the copy just delivered wins.
    expect(newer(lease('b'), lease('a'))?.metadata?.resourceVersion).toBe('a');
  });

  it('maps the session Lease: holder = provider id, acquire = connected-at, renew = last-seen; no holder = nobody', () => {
    const connectedAt = Date.UTC(2026, 0, 1, 0, 0, 0);
    const lastSeen = connectedAt + 30_000;
    expect(sessionOf(lease('1', { holderIdentity: 'cp', acquireTime: microTime(connectedAt), renewTime: microTime(lastSeen) }))).toEqual({
      providerId: 'cp',
      connectedAt,
      lastSeen,
    });
    expect(sessionOf(lease('1', { leaseDurationSeconds: 90 }))).toBeUndefined();
    expect(sessionOf(undefined)).toBeUndefined();
    // A holder without times was not written by us: long expired rather than forever alive.
    expect(sessionOf(lease('1', { holderIdentity: 'cp' }))).toEqual({ providerId: 'cp', connectedAt: 0, lastSeen: 0 });
  });
});

describe('leaseName', () => {
  it('is the configured name, else the base, else (with a label selector) the base with the selector hash', () => {
    expect(leaseName('mine', 'k8s-provider-leader', { team: 'a' })).toBe('mine');
    expect(leaseName('', 'k8s-provider-leader', {})).toBe('k8s-provider-leader');
    const a = leaseName('', 'k8s-provider-leader', { team: 'a', env: 'dev' });
    expect(a).toMatch(/^k8s-provider-leader-[0-9a-f]{8}$/);
    // The same selector written in another order is the same daemon; another selector is another.
    expect(leaseName('', 'k8s-provider-leader', { env: 'dev', team: 'a' })).toBe(a);
    expect(leaseName('', 'k8s-provider-leader', { team: 'b', env: 'dev' })).not.toBe(a);
  });
});

describe('replica identity and address', () => {
  it('takes the configured identity, else POD_NAME, else hostname_pid', () => {
    expect(replicaIdentity('given', { POD_NAME: 'pod-a' })).toBe('given');
    expect(replicaIdentity('', { POD_NAME: 'pod-a' })).toBe('pod-a');
    expect(replicaIdentity('', {}, 42)).toMatch(/_42$/);
  });

  it('advertises the configured address, else POD_IP, else a concrete listen host, with the listening port', () => {
    expect(replicaAddress('leader.example:1', { POD_IP: '10.0.0.5' }, '0.0.0.0', 50052)).toBe('leader.example:1');
    expect(replicaAddress('', { POD_IP: '10.0.0.5' }, '0.0.0.0', 50052)).toBe('10.0.0.5:50052');
    expect(replicaAddress('', { POD_IP: 'fd00::5' }, '::', 50052)).toBe('[fd00::5]:50052');
    expect(replicaAddress('', {}, '127.0.0.1', 4000)).toBe('127.0.0.1:4000');
    expect(replicaAddress('', {}, '0.0.0.0', 4000)).not.toMatch(/^0\.0\.0\.0/);
  });
});
