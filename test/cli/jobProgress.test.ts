import { describe, expect, test } from 'vitest';
import { describeProgress, formatProgressLine, ProgressPhase, ThroughputEstimator } from '../../cli/progress.js';
import { batchObject, stages } from './fixtures.js';

describe('describeProgress', () => {
  test('no job yet: waiting, nothing to measure', () => {
    expect(describeProgress(undefined)).toEqual({
      phase: ProgressPhase.waiting,
      status: undefined,
      done: 0,
      total: 0,
      fraction: undefined,
    });
  });

  test('a freshly created job is still reading its file', () => {
    expect(describeProgress(stages.created())).toMatchObject({
      phase: ProgressPhase.reading,
      status: 'validating',
      fraction: undefined,
    });
  });

  test('while the file is read the total is still growing, so there is no fraction', () => {
    const progress = describeProgress(stages.reading(500, 120));
    expect(progress).toMatchObject({
      phase: ProgressPhase.reading,
      status: 'in_progress',
      done: 120,
      fraction: undefined,
    });
  });

  test('running: the fraction of lines with an outcome', () => {
    expect(describeProgress(stages.running(200, 50))).toMatchObject({
      phase: ProgressPhase.running,
      done: 50,
      total: 200,
      fraction: 0.25,
    });
  });

  test('every line done but not completed: never a full bar', () => {
    expect(describeProgress(stages.running(200, 200)).fraction).toBe(0.99);
    expect(describeProgress(stages.finalizing(200))).toMatchObject({ phase: ProgressPhase.finalizing, fraction: 0.99 });
  });

  test('terminal jobs show their real fraction', () => {
    expect(describeProgress(stages.completed(10))).toMatchObject({ phase: ProgressPhase.ended, fraction: 1 });
    expect(describeProgress(stages.cancelled(10, 4))).toMatchObject({ phase: ProgressPhase.ended, fraction: 0.4 });
  });

  test('cancelling', () => {
    const job = batchObject((j) => ({
      ...j,
      status: 'cancelling',
      ingest: { ...j.ingest, done: true, requests: 10 },
      counts: { succeeded: 3, failed: 0 },
    }));
    expect(describeProgress(job)).toMatchObject({ phase: ProgressPhase.cancelling, fraction: 0.3 });
  });
});

describe('formatProgressLine', () => {
  test('waiting for the ingest function', () => {
    expect(formatProgressLine(undefined)).toBe('waiting for the ingest function to pick up the file…');
    expect(formatProgressLine(undefined, { barSizeInChars: 4 })).toBe(
      '[░░░░] waiting for the ingest function to pick up the file…',
    );
  });

  test('validating: reading the file, lines read, no percent', () => {
    const line = formatProgressLine(stages.created(), { barSizeInChars: 4 });
    expect(line).toBe('[░░░░] reading file… 0 lines read | ok 0 · failed 0 | tokens 0 in / 0 out | $0.00 | validating');
    expect(line).not.toMatch(/%/);
  });

  test('in progress while still reading: lines read and no percent or ETA', () => {
    const line = formatProgressLine(stages.reading(12_345, 100), { etaInSeconds: 10 });
    expect(line).toBe(
      'reading file… 12,345 lines read | ok 100 · failed 0 | tokens 0 in / 0 out | $0.00 | in_progress',
    );
  });

  test('running: percent, counts, tokens, cost, ETA and status', () => {
    const line = formatProgressLine(stages.running(1000, 440, 13, 3), { barSizeInChars: 10, etaInSeconds: 80 });
    expect(line).toBe(
      '[████░░░░░░] 45% 453/1,000 | ok 440 · failed 13 (3 invalid) | tokens 52.8k in / 17.6k out | $0.0160 | ETA 1m 20s | in_progress',
    );
  });

  test('running without a rate yet: ETA unknown', () => {
    expect(formatProgressLine(stages.running(10, 0))).toContain('| ETA - |');
  });

  test('finalizing: writing output files, below 100% and the bar not full', () => {
    const line = formatProgressLine(stages.finalizing(300), { barSizeInChars: 10 });
    expect(line).toBe(
      '[█████████░] 99% 300/300 | ok 300 · failed 0 | tokens 0 in / 0 out | $0.00 | writing output files… | finalizing',
    );
    expect(line).not.toContain('100%');
  });

  test('completed: 100% and a full bar, no ETA', () => {
    const line = formatProgressLine(stages.completed(300), { barSizeInChars: 10, etaInSeconds: 5 });
    expect(line).toBe(
      '[██████████] 100% 300/300 | ok 300 · failed 0 | tokens 12.3k in / 6.79k out | $0.0051 | completed',
    );
  });

  test('failed: every line has an outcome, all of them failures', () => {
    expect(formatProgressLine(stages.failed())).toBe(
      '100% 2/2 | ok 0 · failed 2 (2 invalid) | tokens 0 in / 0 out | $0.00 | failed',
    );
  });

  test('cancelled part-way', () => {
    expect(formatProgressLine(stages.cancelled(10, 4))).toBe(
      '40% 4/10 | ok 4 · failed 0 | tokens 0 in / 0 out | $0.00 | cancelled',
    );
  });

  test('failed before any line was read: no percent', () => {
    const job = batchObject((j) => ({
      ...j,
      status: 'failed',
      ingest: { ...j.ingest, done: true },
      timestamps: { failedAt: j.createdAtInMs },
    }));
    expect(formatProgressLine(job)).toBe('0/0 | ok 0 · failed 0 | tokens 0 in / 0 out | $0.00 | failed');
  });

  test('cancelling says so', () => {
    const job = batchObject((j) => ({
      ...j,
      status: 'cancelling',
      ingest: { ...j.ingest, done: true, requests: 10 },
      counts: { succeeded: 3, failed: 0 },
    }));
    expect(formatProgressLine(job)).toBe(
      '30% 3/10 | ok 3 · failed 0 | tokens 0 in / 0 out | $0.00 | cancelling… | cancelling',
    );
  });
});

describe('ThroughputEstimator', () => {
  test('no estimate from a single sample or without progress', () => {
    const estimator = new ThroughputEstimator();
    estimator.add(0, 0);
    expect(estimator.etaInSeconds(100)).toBeUndefined();
    estimator.add(1000, 0);
    expect(estimator.etaInSeconds(100)).toBeUndefined();
  });

  test('remaining lines over the recent rate', () => {
    const estimator = new ThroughputEstimator(60_000);
    estimator.add(0, 0);
    estimator.add(10_000, 100);
    expect(estimator.etaInSeconds(50)).toBe(5);
    expect(estimator.etaInSeconds(0)).toBe(0);
  });

  test('old samples leave the window, so the rate follows a slowdown', () => {
    const estimator = new ThroughputEstimator(10_000);
    estimator.add(0, 0);
    estimator.add(10_000, 1000);
    estimator.add(20_000, 1010);
    estimator.add(30_000, 1020);
    // Anchored 10 s back: 10 lines per 10 s.
    expect(estimator.etaInSeconds(10)).toBe(10);
  });

  test('a count going backwards starts over', () => {
    const estimator = new ThroughputEstimator();
    estimator.add(0, 500);
    estimator.add(1000, 10);
    expect(estimator.etaInSeconds(10)).toBeUndefined();
  });
});
