import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CallSeries } from './call-series.js';

const OPTIONS = {
  counterName: 'grpc_server_handled_total',
  counterHelp: 'calls',
  histogramName: 'grpc_server_handling_seconds',
  histogramHelp: 'latency',
  buckets: [0.001, 0.01, 0.1, 1],
};

type Call = [service: string, method: string, code: string, seconds: number];

/** The same calls through prom-client's own Counter and Histogram: what scrapers saw before. */
async function promClientText(calls: readonly Call[], contentType: RegistryContentType = Registry.PROMETHEUS_CONTENT_TYPE): Promise<string> {
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(contentType);
  const labelNames = ['grpc_service', 'grpc_method', 'grpc_code'] as const;
  const counter = new Counter({ name: OPTIONS.counterName, help: OPTIONS.counterHelp, labelNames, registers: [registry] });
  const histogram = new Histogram({ name: OPTIONS.histogramName, help: OPTIONS.histogramHelp, labelNames, buckets: OPTIONS.buckets, registers: [registry] });
  for (const [grpc_service, grpc_method, grpc_code, seconds] of calls) {
    counter.inc({ grpc_service, grpc_method, grpc_code });
    histogram.observe({ grpc_service, grpc_method, grpc_code }, seconds);
  }
  return registry.metrics();
}

async function callSeriesText(calls: readonly Call[], contentType: RegistryContentType = Registry.PROMETHEUS_CONTENT_TYPE): Promise<string> {
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(contentType);
  const series = new CallSeries(OPTIONS);
  series.register(registry);
  for (const [service, method, code, seconds] of calls) series.observe(service, method, code, seconds);
  return registry.metrics();
}

describe('CallSeries', () => {
  it('prints exactly what prom-client printed for the same calls, bucket edges included', async () => {
    const calls: Call[] = [
      ['provider.Service', 'HealthCheck', 'OK', 0.0004],
      ['provider.Service', 'HealthCheck', 'OK', 0.001], // on a bound: counts in that bucket (le is "less or equal")
      ['provider.Service', 'Deploy', 'RESOURCE_EXHAUSTED', 0.05],
      ['provider.Service', 'HealthCheck', 'OK', 2.5], // above the top bound: +Inf only
      ['k8sprovider.v1.Instances', 'ListInstances', 'OK', 0.01],
      ['provider.Service', 'Deploy', 'OK', 0.1],
    ];
    const text = await callSeriesText(calls);
    expect(text).toBe(await promClientText(calls));
    expect(text).toContain('grpc_server_handling_seconds_bucket{le="0.001",grpc_service="provider.Service",grpc_method="HealthCheck",grpc_code="OK"} 2');
    expect(text).toContain('grpc_server_handling_seconds_bucket{le="1",grpc_service="provider.Service",grpc_method="HealthCheck",grpc_code="OK"} 2');
    expect(text).toContain('grpc_server_handling_seconds_bucket{le="+Inf",grpc_service="provider.Service",grpc_method="HealthCheck",grpc_code="OK"} 3');
    expect(text).toContain('grpc_server_handled_total{grpc_service="provider.Service",grpc_method="HealthCheck",grpc_code="OK"} 3');
  });

  it('prints what prom-client printed in the OpenMetrics format too (a counter named without _total)', async () => {
    const calls: Call[] = [['provider.Service', 'GetCapacity', 'OK', 0.003]];
    const text = await callSeriesText(calls, Registry.OPENMETRICS_CONTENT_TYPE);
    expect(text).toBe(await promClientText(calls, Registry.OPENMETRICS_CONTENT_TYPE));
    expect(text).toContain('grpc_server_handled_total{grpc_service="provider.Service",grpc_method="GetCapacity",grpc_code="OK"} 1');
  });

  it('prints both families with no samples before the first call, as prom-client does', async () => {
    expect(await callSeriesText([])).toBe(await promClientText([]));
  });

  it('is reset with the registry', async () => {
    const registry = new Registry();
    const series = new CallSeries(OPTIONS);
    series.register(registry);
    series.observe('provider.Service', 'HealthCheck', 'OK', 0.002);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('grpc_method="HealthCheck"');
    series.observe('provider.Service', 'HealthCheck', 'OK', 0.002);
    expect(await registry.metrics()).toContain('grpc_server_handled_total{grpc_service="provider.Service",grpc_method="HealthCheck",grpc_code="OK"} 1');
  });
});
