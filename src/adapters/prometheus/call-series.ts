/**
 * grpc_server_handled_total and grpc_server_handling_seconds, kept as plain
 * numbers and turned into prom-client's exposition only when scraped.
 *
 * prom-client's bound series still check the labels, build a hash string and
 * look it up for every inc and observe: about 5 µs of a control call's CPU,
 * where the calls themselves take a few hundred. Here a finished call finds its
 * series through three Map lookups and adds to a count, a sum and one bucket.
 * The families print exactly as prom-client's Counter and Histogram would.
 */
import type { Registry, RegistryContentType } from 'prom-client';
import { innerMap } from '../../shared/maps.js';

export interface CallSeriesOptions {
  readonly counterName: string;
  readonly counterHelp: string;
  readonly histogramName: string;
  readonly histogramHelp: string;
  /** Upper bounds in seconds, ascending; +Inf is implied. */
  readonly buckets: readonly number[];
}

interface Series {
  readonly labels: { readonly grpc_service: string; readonly grpc_method: string; readonly grpc_code: string };
  count: number;
  sum: number;
  /** Observations per bucket, not cumulative; the last slot is above the top bound. */
  readonly perBucket: Float64Array;
}

/** One sample as prom-client's registry formats it (`sharedLabels` follow `labels`). */
interface Sample {
  readonly metricName?: string;
  readonly labels: Record<string, string | number>;
  readonly sharedLabels?: Record<string, string>;
  readonly value: number;
}

export class CallSeries {
  private readonly byService = new Map<string, Map<string, Map<string, Series>>>();
  /** In creation order, which is the order prom-client prints series in. */
  private readonly all: Series[] = [];
  private readonly bounds: Float64Array;

  constructor(private readonly o: CallSeriesOptions) {
    this.bounds = Float64Array.from(o.buckets);
  }

  observe(service: string, method: string, code: string, seconds: number): void {
    const byCode = innerMap(innerMap(this.byService, service), method);
    let series = byCode.get(code);
    if (!series) {
      series = {
        labels: { grpc_service: service, grpc_method: method, grpc_code: code },
        count: 0,
        sum: 0,
        perBucket: new Float64Array(this.bounds.length + 1),
      };
      byCode.set(code, series);
      this.all.push(series);
    }
    series.count++;
    series.sum += seconds;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    (series.perBucket[i] as number)++;
  }

  /** Registers both families with `registry`. */
  register(registry: Registry<RegistryContentType>): void {
    // The registry reads name, help, type, get() and aggregator, and renames a
    // counter (no _total) for OpenMetrics: get() answers with the current name.
    const reset = (): void => this.reset();
    const counter = {
      name: this.o.counterName,
      help: this.o.counterHelp,
      type: 'counter',
      aggregator: 'sum',
      reset,
      get: async () => ({ ...counter, values: this.counterValues() }),
    };
    const histogram = {
      name: this.o.histogramName,
      help: this.o.histogramHelp,
      type: 'histogram',
      aggregator: 'sum',
      reset,
      get: async () => ({ ...histogram, values: this.histogramValues(histogram.name) }),
    };
    // The cast is for the declared parameter type, which lists prom-client's own classes.
    for (const family of [counter, histogram]) registry.registerMetric(family as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  private reset(): void {
    this.byService.clear();
    this.all.length = 0;
  }

  private counterValues(): Sample[] {
    return this.all.map((s) => ({ labels: { ...s.labels }, value: s.count }));
  }

  private histogramValues(name: string): Sample[] {
    const values: Sample[] = [];
    const bucket = `${name}_bucket`;
    for (const s of this.all) {
      const shared = { ...s.labels };
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.perBucket[i] as number;
        values.push({ metricName: bucket, labels: { le: this.bounds[i] as number }, sharedLabels: shared, value: cumulative });
      }
      values.push(
        { metricName: bucket, labels: { le: '+Inf' }, sharedLabels: shared, value: s.count },
        { metricName: `${name}_sum`, labels: {}, sharedLabels: shared, value: s.sum },
        { metricName: `${name}_count`, labels: {}, sharedLabels: shared, value: s.count },
      );
    }
    return values;
  }
}
