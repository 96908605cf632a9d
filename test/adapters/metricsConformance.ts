import { afterEach, describe, expect, it } from 'vitest';
import { CallResult, LineResult, type Metrics } from '../../src/app/ports.js';
import type { MetricsSnapshot } from '../../src/adapters/memory/InMemoryMetrics.js';

export interface MetricsUnderTest {
  readonly metrics: Metrics;
  /** What the backend has received so far, in the in-memory adapter's shape. */
  read(): Promise<MetricsSnapshot>;
  close(): Promise<void>;
}

/** One behaviour for every adapter of the Metrics port: what is reported is what the backend sees. */
export function metricsConformance(name: string, create: () => MetricsUnderTest): void {
  describe(`Metrics conformance: ${name}`, () => {
    const open: MetricsUnderTest[] = [];
    const start = (): MetricsUnderTest => {
      const target = create();
      open.push(target);
      return target;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((target) => target.close()));
    });

    it('counts admissions, tokens and 429s per deployment, against its limits', async () => {
      const { metrics, read } = start();
      metrics.setDeploymentLimits('mini', { requestsPerMinute: 1_000, tokensPerMinute: 200_000 });
      metrics.setDeploymentLimits('medium', { requestsPerMinute: 600, tokensPerMinute: 100_000 });
      metrics.recordAdmission('mini', 150);
      metrics.recordAdmission('mini', 250);
      metrics.recordAdmission('medium', 1_000);
      metrics.recordThrottled('mini');
      const snapshot = await read();
      expect(snapshot.deployments['mini']).toMatchObject({
        limits: { requestsPerMinute: 1_000, tokensPerMinute: 200_000 },
        admittedRequests: 2,
        admittedTokens: 400,
        throttled: 1,
      });
      expect(snapshot.deployments['medium']).toMatchObject({
        limits: { requestsPerMinute: 600, tokensPerMinute: 100_000 },
        admittedRequests: 1,
        admittedTokens: 1_000,
        throttled: 0,
      });
    });

    it('tracks calls in flight and their durations by result', async () => {
      const { metrics, read } = start();
      metrics.callStarted('mini');
      metrics.callStarted('mini');
      metrics.callStarted('mini');
      metrics.callEnded('mini', 1_200, CallResult.succeeded);
      metrics.callEnded('mini', 300, CallResult.throttled);
      const snapshot = await read();
      expect(snapshot.deployments['mini']).toMatchObject({
        inFlight: 1,
        callsByResult: { succeeded: 1, throttled: 1 },
        durationSumInMs: 1_500,
      });
    });

    it('keeps the last in-flight target, queue depth, and adds up lines by result', async () => {
      const { metrics, read } = start();
      metrics.setInFlightTarget('mini', 40, 2_000);
      metrics.setInFlightTarget('mini', 200, 8_000);
      metrics.setQueueDepth('phi3-requests', 12);
      metrics.setQueueDepth('phi3-requests', 7);
      metrics.recordLines(16, LineResult.succeeded);
      metrics.recordLines(4, LineResult.succeeded);
      metrics.recordLines(1, LineResult.failed);
      const snapshot = await read();
      expect(snapshot.deployments['mini']).toMatchObject({ inFlightTarget: 200, latencySizedForInMs: 8_000 });
      expect(snapshot.queueDepths).toEqual({ 'phi3-requests': 7 });
      expect(snapshot.lines).toEqual({ succeeded: 20, failed: 1 });
    });

    it('counts budget alerts by budget and threshold', async () => {
      const { metrics, read } = start();
      metrics.recordBudgetAlert('deployment:mini:monthly', 50);
      metrics.recordBudgetAlert('deployment:mini:monthly', 80);
      metrics.recordBudgetAlert('tag:project=x:daily', 50);
      metrics.recordBudgetAlert('tag:project=x:daily', 50);
      expect((await read()).budgetAlerts).toEqual({
        'deployment:mini:monthly|50': 1,
        'deployment:mini:monthly|80': 1,
        'tag:project=x:daily|50': 2,
      });
    });
  });
}
