import { describe, expect, it } from 'vitest';
import { cancelJob } from '../../src/app/cancelJob.js';
import { getCostReport } from '../../src/app/costReports.js';
import { deleteJob } from '../../src/app/deleteJob.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { requireOutcomesKept } from '../../src/app/jobQueries.js';
import { silentLogger } from '../../src/app/Logger.js';
import { applyRetention } from '../../src/app/retention.js';
import { retryFailedLines } from '../../src/app/retryFailedLines.js';
import { ConflictError, NotFoundError } from '../../src/core/errors.js';
import { finishedJobWithFailures, runQueues, type World } from './finishedJob.js';

const DAY_IN_MS = 86_400_000;

function removalDeps(w: World) {
  return { jobs: w.jobs, blobs: w.blobs, clock: w.clock, logger: silentLogger, outputContainer: 'batch-output' };
}

async function outcomeLines(w: World, jobId: string): Promise<number[]> {
  const lines = [];
  for await (const line of w.jobs.listOutcomeLines(jobId)) lines.push(line);
  return lines;
}

async function ledgerSize(w: World, jobId: string): Promise<number> {
  let entries = 0;
  for await (const _ of w.ledger.listEntries(jobId)) entries += 1;
  return entries;
}

const costReport = (w: World) =>
  getCostReport(
    w.rollups,
    { from: '2026-11-01', to: '2026-12-31', groupBy: ['job'], format: 'json' },
    { defaultCurrency: 'USD' },
  );

describe('DELETE /api/jobs/{id}', () => {
  it('removes a finished job’s outcomes and files, keeps its ledger and rollups, and leaves a tombstone', async () => {
    const { world: w, jobId } = await finishedJobWithFailures();
    const before = await costReport(w);
    const entries = await ledgerSize(w, jobId);
    expect(await outcomeLines(w, jobId)).toEqual([1, 2, 3, 4]);
    expect(await w.blobs.download('batch-output', `${jobId}/results.jsonl`)).toBeDefined();

    const job = await deleteJob(removalDeps(w), jobId);

    expect(job).toMatchObject({ id: jobId, status: 'completed', deletedAtInMs: w.clock.now });
    expect(job.removed).toEqual({ outcomesAtInMs: w.clock.now, filesAtInMs: w.clock.now });
    expect(await outcomeLines(w, jobId)).toEqual([]);
    expect(await w.blobs.download('batch-output', `${jobId}/results.jsonl`)).toBeUndefined();
    expect(await w.blobs.download('batch-output', `${jobId}/errors.jsonl`)).toBeUndefined();
    expect(await ledgerSize(w, jobId)).toBe(entries);
    expect(await costReport(w)).toEqual(before);
    // The tombstone refuses a retry (nothing left to send), and a second delete is harmless.
    await expect(retryFailedLines(w.ingestDeps, jobId, { retryableOnly: false })).rejects.toThrow(ConflictError);
    await expect(deleteJob(removalDeps(w), jobId)).resolves.toMatchObject({ deletedAtInMs: job.deletedAtInMs });
    // Its results are gone, and reading them says so rather than answering an empty file.
    expect(() => requireOutcomesKept(job)).toThrow(/outcomes were deleted/);
  });

  it('refuses a running job (409: cancel first) and an unknown one (404)', async () => {
    const { world: w } = await finishedJobWithFailures();
    w.blobs.put('batch-input', 'running.jsonl', '{"messages":[{"role":"user","content":"hi"}]}');
    const ingested = await ingestBlob('batch-input', 'running.jsonl', w.ingestDeps);
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    await expect(deleteJob(removalDeps(w), jobId)).rejects.toThrow(/cancel it first/);
    await expect(deleteJob(removalDeps(w), 'job_0123456789abcdef0123456789abcdef')).rejects.toThrow(NotFoundError);

    await cancelJob({ jobs: w.jobs, controlQueue: w.controlQueue, clock: w.clock }, jobId);
    await runQueues(w);
    expect((await deleteJob(removalDeps(w), jobId)).status).toBe('cancelled');
  });
});

describe('retention', () => {
  it('removes outcomes and files of jobs finished longer ago than their period, and keeps the ledger', async () => {
    const { world: w, jobId } = await finishedJobWithFailures();
    const entries = await ledgerSize(w, jobId);
    const before = await costReport(w);
    const periods = { outcomesDays: 30, filesDays: 10 };

    w.clock.now += 9 * DAY_IN_MS;
    expect(await applyRetention(periods, removalDeps(w))).toEqual({ outcomes: 0, files: 0 });

    w.clock.now += 2 * DAY_IN_MS;
    expect(await applyRetention(periods, removalDeps(w))).toEqual({ outcomes: 0, files: 1 });
    expect(await w.blobs.download('batch-output', `${jobId}/results.jsonl`)).toBeUndefined();
    expect(await outcomeLines(w, jobId)).toEqual([1, 2, 3, 4]);

    w.clock.now += 20 * DAY_IN_MS;
    expect(await applyRetention(periods, removalDeps(w))).toEqual({ outcomes: 1, files: 0 });
    expect(await outcomeLines(w, jobId)).toEqual([]);
    expect((await w.jobs.getJob(jobId))!.job.removed).toMatchObject({ outcomesAtInMs: w.clock.now });
    // Once removed, a job is not looked at again; the billing record stays whole.
    expect(await applyRetention(periods, removalDeps(w))).toEqual({ outcomes: 0, files: 0 });
    expect(await ledgerSize(w, jobId)).toBe(entries);
    expect(await costReport(w)).toEqual(before);
  });

  it('keeps everything for ever when the periods are off, and never touches a running job', async () => {
    const { world: w, jobId } = await finishedJobWithFailures();
    w.clock.now += 1000 * DAY_IN_MS;
    expect(await applyRetention({ outcomesDays: undefined, filesDays: undefined }, removalDeps(w))).toEqual({
      outcomes: 0,
      files: 0,
    });
    // Reopened by a retry: it is running again, whatever its old end.
    await retryFailedLines(w.ingestDeps, jobId, { retryableOnly: false });
    expect(await applyRetention({ outcomesDays: 30, filesDays: 30 }, removalDeps(w))).toEqual({
      outcomes: 0,
      files: 0,
    });
    expect(await outcomeLines(w, jobId)).toEqual([1]);
  });
});
