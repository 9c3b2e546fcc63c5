import { describe, expect, it } from 'vitest';
import { changedKeys, planReload } from './reload.js';

describe('config reload plan', () => {
  const base = {
    server: { port: 1, tls: undefined },
    resource: { mode: 'static', cpu: 1000, memory: 1, gpu: 0 },
    resource_tags: ['cpu'],
    log: { level: 'info' },
  };

  it('names the leaves that changed', () => {
    expect(changedKeys(base, structuredClone(base))).toEqual([]);
    expect(changedKeys(base, { ...base, resource_tags: ['cpu', 'gpu'], server: { port: 2, tls: { cert_file: 'a' } } })).toEqual([
      'resource_tags',
      'server.port',
      'server.tls',
    ]);
  });

  it('applies the quota and the log level, and leaves the rest to a restart', () => {
    const after = { ...base, resource: { ...base.resource, cpu: 2000, memory: 2 }, log: { level: 'debug' }, server: { port: 2, tls: undefined } };
    expect(planReload(base, after)).toEqual({ applied: ['log.level', 'resource.cpu', 'resource.memory'], needRestart: ['server.port'] });
    expect(planReload(base, { ...base, resource: { ...base.resource, mode: 'auto' } })).toEqual({ applied: [], needRestart: ['resource.mode'] });
  });
});
