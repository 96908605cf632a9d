import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/app/Logger.js';
import { silentLogger } from '../../src/app/Logger.js';
import { buildWorkerDeps, feedOnLatencyGrowth } from '../../src/buildWorkerDeps.js';
import { DEFAULT_PRICES } from '../../src/core/pricing.js';
import { createWorld } from './fixtures.js';

/* The one builder of the worker's dependencies, as the composition root uses it. */

function build(concurrency?: { maxConcurrency: number; deployments: { name: string; requestsPerMinute: number }[] }) {
  const world = createWorld();
  const finalized: Array<{ jobId: string; logger: Logger }> = [];
  const workerDeps = buildWorkerDeps(
    {
      jobs: world.jobs,
      blobs: world.blobs,
      requestQueue: world.requestQueue,
      controlQueue: world.controlQueue,
      deployments: world.workerDeps.deployments,
      ledger: world.ledger,
      jobSpend: world.workerDeps.jobSpend,
      resultParts: world.resultParts,
      clock: world.clock,
      random: () => 0.5,
      sleep: async () => {},
      newCallId: () => 'id',
      finalizeInline: async (jobId, logger) => finalized.push({ jobId, logger }),
    },
    {
      retry: world.workerDeps.retry,
      prices: DEFAULT_PRICES,
      defaultMaxTokens: 100,
      returnUnusedTokens: false,
      ...(concurrency === undefined ? {} : { concurrency }),
    },
  );
  return { workerDeps, finalized };
}

/** Starts `count` tasks through `slots` and reports the most that ran at once. */
async function mostAtOnce(slots: <T>(task: () => Promise<T>) => Promise<T>, count: number): Promise<number> {
  let running = 0;
  let most = 0;
  let finished = 0;
  const gates: Array<() => void> = [];
  const tasks = Array.from({ length: count }, () =>
    slots(async () => {
      running += 1;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      running -= 1;
      finished += 1;
    }),
  );
  while (finished < count) {
    await new Promise((resolve) => setImmediate(resolve));
    gates.splice(0).forEach((open) => open());
  }
  await Promise.all(tasks);
  return most;
}

describe('buildWorkerDeps', () => {
  it('shares the job reads and the call slots between invocations, each with its own logger for inline finalisation', async () => {
    const { workerDeps, finalized } = build({
      maxConcurrency: 3,
      deployments: [{ name: 'test', requestsPerMinute: 1_000 }],
    });
    const logger: Logger = { ...silentLogger };
    const first = workerDeps(silentLogger);
    const second = workerDeps(logger);
    expect(second.readJob).toBe(first.readJob);
    expect(second.readInputRange).toBe(first.readInputRange);
    expect(second.callSlots).toBe(first.callSlots);
    expect(second.logger).toBe(logger);
    await second.finalizeInline!('job-1');
    expect(finalized).toEqual([{ jobId: 'job-1', logger }]);
  });

  it('bounds the calls under way by maxConcurrency and the admissions per deployment by its requests per minute', async () => {
    const { workerDeps } = build({ maxConcurrency: 3, deployments: [{ name: 'test', requestsPerMinute: 1_000 }] });
    const deps = workerDeps(silentLogger);
    expect(await mostAtOnce(deps.callSlots, 8)).toBe(3);
    // ceil(1000 / 120) = 9 admission slots, capped at the 3 calls allowed.
    expect(await mostAtOnce((task) => deps.admissionSlots('test', task), 8)).toBe(3);
    expect(() => deps.admissionSlots('other', async () => undefined)).toThrow('No deployment named other');
  });

  it('leaves calls unbounded without concurrency settings (the tests drive their own slots)', async () => {
    const deps = build().workerDeps(silentLogger);
    expect(await mostAtOnce(deps.callSlots, 8)).toBe(8);
    expect(deps.finalizeInline).toBeDefined();
  });
});

describe('the feeder is told when the latency the calls are sized for grows', () => {
  it('tells it the first latency, then only one at least 1.2 times the last told, per deployment', () => {
    const told: [string, number | undefined][] = [];
    const tell = feedOnLatencyGrowth(async (deployment, { latencyInMs }) => told.push([deployment, latencyInMs]));
    for (const latency of [1_000, 1_100, 1_200, 1_400, 1_439, 1_440, 30_000]) tell('a', latency);
    tell('b', 500);
    expect(told).toEqual([
      ['a', 1_000],
      ['a', 1_200],
      ['a', 1_440],
      ['a', 30_000],
      ['b', 500],
    ]);
  });

  it('a feed that fails is not an error of the sizing', async () => {
    const tell = feedOnLatencyGrowth(() => Promise.reject(new Error('store down')));
    expect(() => tell('a', 1_000)).not.toThrow();
    await Promise.resolve();
  });
});
