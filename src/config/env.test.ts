import { describe, expect, it } from 'vitest';
import { applyEnv, envName, envValue, settingsOf } from './env.js';
import { configJsonSchema } from './json-schema.js';

const schema = {
  type: 'object',
  properties: {
    server: {
      type: 'object',
      properties: { port: { type: 'integer' }, host: { type: 'string' }, tls: { type: 'object', properties: { cert_file: { type: 'string' } } } },
    },
    resource: { type: 'object', properties: { cpu: { type: ['number', 'string'] }, mode: { type: 'string', enum: ['static', 'auto'] } } },
    resource_tags: { type: 'array', items: { type: 'string' } },
    kubernetes: { type: 'object', properties: { in_cluster: { type: 'boolean' }, namespace: { type: 'string' } } },
  },
};

describe('settings from environment variables', () => {
  const settings = settingsOf(schema);

  it('names one variable per leaf key: the prefix and the path in upper case', () => {
    expect(settings.map((s) => [s.env, s.kind])).toEqual([
      ['K8S_PROVIDER_SERVER_PORT', 'number'],
      ['K8S_PROVIDER_SERVER_HOST', 'string'],
      ['K8S_PROVIDER_SERVER_TLS_CERT_FILE', 'string'],
      ['K8S_PROVIDER_RESOURCE_CPU', 'number-or-string'],
      ['K8S_PROVIDER_RESOURCE_MODE', 'string'],
      ['K8S_PROVIDER_RESOURCE_TAGS', 'array'],
      ['K8S_PROVIDER_KUBERNETES_IN_CLUSTER', 'boolean'],
      ['K8S_PROVIDER_KUBERNETES_NAMESPACE', 'string'],
    ]);
    expect(envName(['log', 'level'])).toBe('K8S_PROVIDER_LOG_LEVEL');
  });

  it('gives every key of the real schema a distinct variable', () => {
    const real = settingsOf(configJsonSchema() as Parameters<typeof settingsOf>[0]);
    expect(real.length).toBeGreaterThan(20);
    expect(new Set(real.map((s) => s.env)).size).toBe(real.length);
    expect(real.map((s) => s.env)).toEqual(
      expect.arrayContaining(['K8S_PROVIDER_SERVER_PORT', 'K8S_PROVIDER_RESOURCE_CPU', 'K8S_PROVIDER_LOG_LEVEL', 'K8S_PROVIDER_SERVER_TLS_CERT_FILE']),
    );
  });

  it('reads values as the key expects, and leaves what does not fit as text for the schema to refuse', () => {
    expect(envValue('number', ' 8080 ')).toBe(8080);
    expect(envValue('number', 'eighty')).toBe('eighty');
    expect(envValue('number', '')).toBe('');
    expect(envValue('boolean', 'true')).toBe(true);
    expect(envValue('boolean', 'yes')).toBe('yes');
    expect(envValue('number-or-string', '8000')).toBe(8000);
    expect(envValue('number-or-string', '500m')).toBe('500m');
    expect(envValue('array', 'cpu, memory')).toEqual(['cpu', 'memory']);
    expect(envValue('array', '[cpu, gpu]')).toEqual(['cpu', 'gpu']);
    expect(envValue('array', '')).toEqual([]);
    expect(envValue('string', '0123')).toBe('0123');
  });

  it('puts variables over the file, creating sections, and reports unknown ones', () => {
    const applied = applyEnv(
      { server: { port: 1 }, resource: { cpu: 1 } },
      {
        K8S_PROVIDER_SERVER_PORT: '2',
        K8S_PROVIDER_SERVER_TLS_CERT_FILE: '/tls/crt',
        K8S_PROVIDER_KUBERNETES_IN_CLUSTER: 'true',
        K8S_PROVIDER_SERVR_PORT: '3',
        HOME: '/root',
      },
      settings,
    );
    expect(applied.raw).toEqual({ server: { port: 2, tls: { cert_file: '/tls/crt' } }, resource: { cpu: 1 }, kubernetes: { in_cluster: true } });
    expect([...applied.fromEnv]).toEqual([
      ['server.port', 'K8S_PROVIDER_SERVER_PORT'],
      ['server.tls.cert_file', 'K8S_PROVIDER_SERVER_TLS_CERT_FILE'],
      ['kubernetes.in_cluster', 'K8S_PROVIDER_KUBERNETES_IN_CLUSTER'],
    ]);
    expect(applied.unknown).toEqual(['K8S_PROVIDER_SERVR_PORT']);
  });
});
