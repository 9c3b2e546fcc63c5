import { describe, expect, it } from 'vitest';
import { PrometheusExporter, deployOutcomeOf, type ExporterSources } from './exporter.js';

function sources(over: Partial<ExporterSources> = {}): ExporterSources {
  return {
    capacity: () => ({
      total: { cpu: 8000, memory: 8 * 2 ** 30, gpu: 4 },
      used: { cpu: 500, memory: 2 ** 30, gpu: 1 },
      available: { cpu: 7500, memory: 7 * 2 ** 30, gpu: 3 },
      overcommitted: [],
    }),
    informerStats: () => ({ pods: { restarts: 2, resyncs: 1, lastEventAt: 95_000 }, jobs: { restarts: 0, resyncs: 1, lastEventAt: undefined } }),
    ready: () => true,
    session: () => ({ providerId: 'cp-1', lastHealthCheckAt: 88_000, disconnects: 1, expirations: 2 }),
    usage: () => ({ source: 'metrics', stale: false, lastSuccessAt: 70_000, pollsTotal: 9, pollsFailed: 2, pollsSkipped: 1 }),
    now: () => 100_000,
    ...over,
  };
}

/** The sample lines of one metric family, without HELP/TYPE. */
async function samples(m: PrometheusExporter, name: string): Promise<string[]> {
  const { body } = await m.exposition();
  return body.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('PrometheusExporter', () => {
  it('exports the storage books as resource="storage", the total and available only while resource.storage limits it', async () => {
    const m = new PrometheusExporter();
    let limited = true;
    const storage = () =>
      limited
        ? { limited, total: 100, used: 30, available: 70, ephemeralUsed: 10, claimedUsed: 20 }
        : { limited, total: 0, used: 30, available: 0, ephemeralUsed: 10, claimedUsed: 20 };
    m.collectFrom(sources({ storage }));
    expect(await samples(m, 'k8s_provider_capacity')).toContain('k8s_provider_capacity{resource="storage",unit="byte"} 100');
    expect(await samples(m, 'k8s_provider_capacity_used')).toContain('k8s_provider_capacity_used{resource="storage",unit="byte"} 30');
    expect(await samples(m, 'k8s_provider_capacity_available')).toContain('k8s_provider_capacity_available{resource="storage",unit="byte"} 70');
    limited = false;
    expect((await samples(m, 'k8s_provider_capacity')).some((l) => l.includes('storage'))).toBe(false);
    expect((await samples(m, 'k8s_provider_capacity_available')).some((l) => l.includes('storage'))).toBe(false);
    expect(await samples(m, 'k8s_provider_capacity_used')).toContain('k8s_provider_capacity_used{resource="storage",unit="byte"} 30');
  });

  it('counts RPCs by method and code and times them', async () => {
    const m = new PrometheusExporter();
    m.rpcFinished('provider.Service', 'HealthCheck', 'OK', 0.002);
    m.rpcFinished('provider.Service', 'HealthCheck', 'OK', 0.003);
    m.rpcFinished('provider.Service', 'Deploy', 'RESOURCE_EXHAUSTED', 0.01);
    expect(await samples(m, 'grpc_server_handled_total')).toEqual([
      'grpc_server_handled_total{grpc_service="provider.Service",grpc_method="HealthCheck",grpc_code="OK"} 2',
      'grpc_server_handled_total{grpc_service="provider.Service",grpc_method="Deploy",grpc_code="RESOURCE_EXHAUSTED"} 1',
    ]);
    expect(await samples(m, 'grpc_server_handling_seconds_count')).toContain(
      'grpc_server_handling_seconds_count{grpc_service="provider.Service",grpc_method="HealthCheck",grpc_code="OK"} 2',
    );
  });

  it('counts deploys by outcome', async () => {
    const m = new PrometheusExporter();
    m.deployAccepted(true);
    m.deployAccepted(true);
    m.deployAccepted(false);
    m.rpcFinished('provider.Service', 'Deploy', 'OK', 0.1);
    m.deployRejected('RESOURCE_EXHAUSTED');
    m.rpcFinished('provider.Service', 'Deploy', 'RESOURCE_EXHAUSTED', 0.1);
    m.deployRejected('INVALID_ARGUMENT');
    m.rpcFinished('provider.Service', 'Deploy', 'INVALID_ARGUMENT', 0.1);
    m.rpcFinished('provider.Service', 'Connect', 'INVALID_ARGUMENT', 0.1);
    expect((await samples(m, 'k8s_provider_deploys_total')).sort()).toEqual([
      'k8s_provider_deploys_total{outcome="created"} 2',
      'k8s_provider_deploys_total{outcome="existing"} 1',
      'k8s_provider_deploys_total{outcome="invalid"} 1',
      'k8s_provider_deploys_total{outcome="rejected"} 1',
    ]);
  });

  it('names every in-band Deploy failure', () => {
    expect(
      (['RESOURCE_EXHAUSTED', 'INVALID_ARGUMENT', 'ALREADY_EXISTS', 'UNAVAILABLE', 'PERMISSION_DENIED', 'FAILED_PRECONDITION', 'INTERNAL'] as const).map((k) =>
        deployOutcomeOf(k),
      ),
    ).toEqual(['rejected', 'invalid', 'conflict', 'unavailable', 'denied', 'denied', 'error']);
  });

  it('counts Kubernetes API requests and errors per operation', async () => {
    const m = new PrometheusExporter();
    m.apiCallFinished('createNamespacedPod', 0.02, undefined);
    m.apiCallFinished('createNamespacedPod', 0.02, '409');
    m.apiCallFinished('listNamespacedPod', 1.5, 'network');
    expect(await samples(m, 'k8s_provider_kube_api_requests_total')).toEqual([
      'k8s_provider_kube_api_requests_total{operation="createNamespacedPod"} 2',
      'k8s_provider_kube_api_requests_total{operation="listNamespacedPod"} 1',
    ]);
    expect(await samples(m, 'k8s_provider_kube_api_errors_total')).toEqual([
      'k8s_provider_kube_api_errors_total{operation="createNamespacedPod",code="409"} 1',
      'k8s_provider_kube_api_errors_total{operation="listNamespacedPod",code="network"} 1',
    ]);
  });

  it('reads the ledger, informers and usage age at scrape time', async () => {
    const m = new PrometheusExporter();
    // Before the daemon hands its state over, state gauges stay empty.
    expect(await samples(m, 'k8s_provider_capacity')).toEqual([]);
    m.collectFrom(sources());
    // Base units: cpu in cores.
    expect(await samples(m, 'k8s_provider_capacity')).toEqual([
      'k8s_provider_capacity{resource="cpu",unit="core"} 8',
      'k8s_provider_capacity{resource="memory",unit="byte"} 8589934592',
      'k8s_provider_capacity{resource="gpu",unit="device"} 4',
    ]);
    expect(await samples(m, 'k8s_provider_capacity_used')).toContain('k8s_provider_capacity_used{resource="cpu",unit="core"} 0.5');
    expect(await samples(m, 'k8s_provider_capacity_available')).toContain('k8s_provider_capacity_available{resource="gpu",unit="device"} 3');
    expect(await samples(m, 'k8s_provider_session_health_check_age_seconds')).toEqual(['k8s_provider_session_health_check_age_seconds{provider_id="cp-1"} 12']);
    expect(await samples(m, 'k8s_provider_session_ends_total')).toEqual([
      'k8s_provider_session_ends_total{reason="disconnected"} 1',
      'k8s_provider_session_ends_total{reason="expired"} 2',
    ]);
    expect(await samples(m, 'k8s_provider_ready')).toEqual(['k8s_provider_ready 1']);
    expect(await samples(m, 'k8s_provider_informer_restarts_total')).toEqual([
      'k8s_provider_informer_restarts_total{informer="pods"} 2',
      'k8s_provider_informer_restarts_total{informer="jobs"} 0',
    ]);
    expect(await samples(m, 'k8s_provider_informer_last_event_age_seconds')).toEqual(['k8s_provider_informer_last_event_age_seconds{informer="pods"} 5']);
    expect(await samples(m, 'k8s_provider_usage_last_poll_age_seconds')).toEqual(['k8s_provider_usage_last_poll_age_seconds 30']);
    expect(await samples(m, 'k8s_provider_usage_last_poll_success_timestamp_seconds')).toEqual(['k8s_provider_usage_last_poll_success_timestamp_seconds 70']);
    expect(await samples(m, 'k8s_provider_usage_stale')).toEqual(['k8s_provider_usage_stale 0']);
    expect(await samples(m, 'k8s_provider_usage_source')).toEqual([
      'k8s_provider_usage_source{source="metrics"} 1',
      'k8s_provider_usage_source{source="requests"} 0',
    ]);
    expect(await samples(m, 'k8s_provider_usage_polls_total')).toEqual(['k8s_provider_usage_polls_total 9']);
    expect(await samples(m, 'k8s_provider_usage_poll_failures_total')).toEqual(['k8s_provider_usage_poll_failures_total 2']);
    expect(await samples(m, 'k8s_provider_usage_polls_skipped_total')).toEqual(['k8s_provider_usage_polls_skipped_total 1']);
  });

  it('counts the poll age from the start until a poll has succeeded', async () => {
    const m = new PrometheusExporter();
    let now = 100_000;
    m.collectFrom(
      sources({ now: () => now, usage: () => ({ source: 'requests', stale: true, lastSuccessAt: undefined, pollsTotal: 1, pollsFailed: 1, pollsSkipped: 0 }) }),
    );
    now = 145_000;
    expect(await samples(m, 'k8s_provider_usage_last_poll_age_seconds')).toEqual(['k8s_provider_usage_last_poll_age_seconds 45']);
    expect(await samples(m, 'k8s_provider_usage_last_poll_success_timestamp_seconds')).toEqual(['k8s_provider_usage_last_poll_success_timestamp_seconds 0']);
    expect(await samples(m, 'k8s_provider_usage_stale')).toEqual(['k8s_provider_usage_stale 1']);
    expect(await samples(m, 'k8s_provider_usage_source')).toContain('k8s_provider_usage_source{source="requests"} 1');
  });

  it('keeps informer counters monotonic across scrapes', async () => {
    const m = new PrometheusExporter();
    let restarts = 1;
    m.collectFrom(sources({ informerStats: () => ({ pods: { restarts, resyncs: 0, lastEventAt: undefined } }) }));
    expect(await samples(m, 'k8s_provider_informer_restarts_total')).toEqual(['k8s_provider_informer_restarts_total{informer="pods"} 1']);
    expect(await samples(m, 'k8s_provider_informer_restarts_total')).toEqual(['k8s_provider_informer_restarts_total{informer="pods"} 1']);
    restarts = 4;
    expect(await samples(m, 'k8s_provider_informer_restarts_total')).toEqual(['k8s_provider_informer_restarts_total{informer="pods"} 4']);
  });

  it('includes the Node process metrics, without the gauges named like counters', async () => {
    const { body } = await new PrometheusExporter().exposition();
    expect(body).toMatch(/^process_cpu_seconds_total /m);
    expect(body).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(body).toMatch(/^# TYPE nodejs_active_handles gauge$/m);
    expect(body).not.toMatch(/^nodejs_active_(handles|requests|resources)_total/m);
  });

  it('shows the session while one is connected, and counts how sessions end', async () => {
    const m = new PrometheusExporter();
    let state: { providerId: string | undefined; lastHealthCheckAt: number | undefined; disconnects: number; expirations: number } = {
      providerId: 'cp-1',
      lastHealthCheckAt: 95_000,
      disconnects: 0,
      expirations: 0,
    };
    m.collectFrom(sources({ session: () => state }));
    expect(await samples(m, 'k8s_provider_session_health_check_age_seconds')).toEqual(['k8s_provider_session_health_check_age_seconds{provider_id="cp-1"} 5']);
    state = { providerId: undefined, lastHealthCheckAt: undefined, disconnects: 0, expirations: 1 };
    expect(await samples(m, 'k8s_provider_session_health_check_age_seconds')).toEqual([]);
    expect(await samples(m, 'k8s_provider_session_ends_total')).toEqual([
      'k8s_provider_session_ends_total{reason="disconnected"} 0',
      'k8s_provider_session_ends_total{reason="expired"} 1',
    ]);
  });
});
