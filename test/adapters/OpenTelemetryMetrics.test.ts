import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type HistogramMetricData,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import type { DeploymentMetricsSnapshot, MetricsSnapshot } from '../../src/adapters/memory/InMemoryMetrics.js';
import {
  DURATION_BUCKETS_IN_MS,
  MetricName,
  OpenTelemetryMetrics,
} from '../../src/adapters/telemetry/OpenTelemetryMetrics.js';
import { CallResult } from '../../src/app/ports.js';
import { metricsConformance, type MetricsUnderTest } from './metricsConformance.js';

/** An SDK meter provider whose only reader exports to memory, read on demand. */
function withInMemoryExporter(): MetricsUnderTest & { collect(): Promise<MetricData[]> } {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exported on forceFlush only: the interval is longer than any test.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  const metrics = new OpenTelemetryMetrics(provider.getMeter('phi3-batch-test'));
  const collect = async (): Promise<MetricData[]> => {
    await reader.forceFlush();
    return (
      exporter
        .getMetrics()
        .at(-1)
        ?.scopeMetrics.flatMap((scope) => scope.metrics) ?? []
    );
  };
  return {
    metrics,
    collect,
    read: async () => toSnapshot(await collect()),
    close: () => provider.shutdown(),
  };
}

/** The exported data points in the in-memory adapter's shape, so both adapters answer one suite. */
function toSnapshot(data: readonly MetricData[]): MetricsSnapshot {
  const deployments: Record<string, DeploymentMetricsSnapshot> = {};
  const deployment = (name: string) =>
    (deployments[name] ??= {
      limits: undefined,
      admittedRequests: 0,
      admittedTokens: 0,
      throttled: 0,
      inFlight: 0,
      callsByResult: {},
      durationSumInMs: 0,
      inFlightTarget: undefined,
      latencySizedForInMs: undefined,
    }) as { -readonly [K in keyof DeploymentMetricsSnapshot]: DeploymentMetricsSnapshot[K] };
  const queueDepths: Record<string, number> = {};
  const lines: Record<string, number> = {};
  const budgetAlerts: Record<string, number> = {};
  for (const metric of data) {
    for (const point of metric.dataPoints) {
      const name = String(point.attributes['deployment'] ?? '');
      const value = point.value as number;
      switch (metric.descriptor.name) {
        case MetricName.limitRequestsPerMinute:
          deployment(name).limits = { tokensPerMinute: 0, ...deployment(name).limits, requestsPerMinute: value };
          break;
        case MetricName.limitTokensPerMinute:
          deployment(name).limits = { requestsPerMinute: 0, ...deployment(name).limits, tokensPerMinute: value };
          break;
        case MetricName.admittedRequests:
          deployment(name).admittedRequests = value;
          break;
        case MetricName.admittedTokens:
          deployment(name).admittedTokens = value;
          break;
        case MetricName.throttled:
          deployment(name).throttled = value;
          break;
        case MetricName.inFlight:
          deployment(name).inFlight = value;
          break;
        case MetricName.duration: {
          const histogram = point.value as HistogramMetricData['dataPoints'][number]['value'];
          const entry = deployment(name);
          entry.callsByResult = { ...entry.callsByResult, [String(point.attributes['result'])]: histogram.count };
          entry.durationSumInMs += histogram.sum ?? 0;
          break;
        }
        case MetricName.inFlightTarget:
          deployment(name).inFlightTarget = value;
          break;
        case MetricName.latencyTarget:
          deployment(name).latencySizedForInMs = value;
          break;
        case MetricName.queueDepth:
          queueDepths[String(point.attributes['queue'])] = value;
          break;
        case MetricName.lines:
          lines[String(point.attributes['result'])] = value;
          break;
        case MetricName.budgetAlerts:
          budgetAlerts[`${String(point.attributes['budget'])}|${String(point.attributes['threshold'])}`] = value;
          break;
        default:
          throw new Error(`unexpected metric ${metric.descriptor.name}`);
      }
    }
  }
  return { deployments, queueDepths, lines, budgetAlerts };
}

metricsConformance('OpenTelemetry SDK, in-memory exporter', withInMemoryExporter);

describe('OpenTelemetryMetrics', () => {
  it('records call durations in a histogram with buckets from milliseconds to minutes, by deployment and result', async () => {
    const target = withInMemoryExporter();
    try {
      for (const duration of [40, 900, 7_500, 31_000, 250_000]) {
        target.metrics.callStarted('medium');
        target.metrics.callEnded('medium', duration, CallResult.succeeded);
      }
      target.metrics.callStarted('medium');
      target.metrics.callEnded('medium', 60_500, CallResult.timedOut);
      const duration = (await target.collect()).find(
        (metric) => metric.descriptor.name === MetricName.duration,
      ) as HistogramMetricData;
      expect(duration.descriptor.unit).toBe('ms');
      const succeeded = duration.dataPoints.find((point) => point.attributes['result'] === 'succeeded');
      expect(succeeded?.attributes).toEqual({ deployment: 'medium', result: 'succeeded' });
      expect(succeeded?.value.buckets.boundaries).toEqual(DURATION_BUCKETS_IN_MS);
      expect(succeeded?.value).toMatchObject({ count: 5, min: 40, max: 250_000 });
      // One each in (20, 50], (500, 1000], (5000, 10000], (30000, 60000], (120000, 300000].
      const counts = succeeded?.value.buckets.counts ?? [];
      expect(counts.reduce((sum, count) => sum + count, 0)).toBe(5);
      expect([1, 5, 8, 11, 13].map((i) => counts[i])).toEqual([1, 1, 1, 1, 1]);
      expect(duration.dataPoints.find((point) => point.attributes['result'] === 'timed_out')?.value.count).toBe(1);
    } finally {
      await target.close();
    }
  });
});
