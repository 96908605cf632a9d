import { toBatchObject, type BatchObject } from '../../src/core/batchObject.js';
import { newJob, type Job } from '../../src/core/job.js';

export const T0_IN_MS = Date.UTC(2025, 0, 2, 10, 0, 0);
export const JOB_ID = `job_${'a'.repeat(32)}`;

/** A job as the API would return it, built through the real `toBatchObject` so the shape cannot drift. */
export function batchObject(change: (job: Job) => Job = (job) => job, id = JOB_ID): BatchObject {
  const base = newJob({
    id,
    createdAtInMs: T0_IN_MS,
    input: { container: 'batch-input', name: 'prompts.jsonl', etag: '"0x1"', size: 1234 },
    model: 'Phi-3-mini-4k-instruct',
    deployment: 'phi3-mini',
  });
  return toBatchObject(change(base));
}

/** Shorthands for the stages a job goes through. */
export const stages = {
  created: (): BatchObject => batchObject(),
  reading: (linesRead: number, done = 0): BatchObject =>
    batchObject((job) => ({
      ...job,
      status: 'in_progress',
      ingest: { ...job.ingest, linesRead, requests: linesRead, done: false },
      counts: { succeeded: done, failed: 0 },
      timestamps: { inProgressAt: T0_IN_MS + 1000 },
    })),
  running: (total: number, succeeded: number, failed = 0, invalid = 0): BatchObject =>
    batchObject((job) => ({
      ...job,
      status: 'in_progress',
      ingest: { ...job.ingest, done: true, linesRead: total, requests: total - invalid, invalid },
      counts: { succeeded, failed },
      usage: { promptTokens: succeeded * 120, completionTokens: succeeded * 40, costInNanos: succeeded * 36_400 },
      timestamps: { inProgressAt: T0_IN_MS + 1000 },
    })),
  finalizing: (total: number): BatchObject =>
    batchObject((job) => ({
      ...job,
      status: 'finalizing',
      ingest: { ...job.ingest, done: true, linesRead: total, requests: total },
      counts: { succeeded: total, failed: 0 },
      timestamps: { inProgressAt: T0_IN_MS + 1000, finalizingAt: T0_IN_MS + 60_000 },
    })),
  completed: (total: number, failed = 0): BatchObject =>
    batchObject((job) => ({
      ...job,
      status: 'completed',
      ingest: { ...job.ingest, done: true, linesRead: total, requests: total },
      counts: { succeeded: total - failed, failed },
      usage: { promptTokens: 12_345, completionTokens: 6_789, costInNanos: 5_135_130 },
      timestamps: { inProgressAt: T0_IN_MS + 1000, finalizingAt: T0_IN_MS + 60_000, completedAt: T0_IN_MS + 133_000 },
      output: {
        container: 'batch-output',
        resultsBlob: `${JOB_ID}/results.jsonl`,
        errorsBlob: `${JOB_ID}/errors.jsonl`,
      },
    })),
  failed: (): BatchObject =>
    batchObject((job) => ({
      ...job,
      status: 'failed',
      ingest: { ...job.ingest, done: true, linesRead: 2, invalid: 2 },
      counts: { succeeded: 0, failed: 2 },
      errors: [
        { code: 'invalid_json_line', message: 'Line is not JSON', line: 1 },
        { code: 'invalid_json_line', message: 'Line is not JSON', line: 2 },
      ],
      jobError: { code: 'empty_batch', message: 'The file has no valid requests' },
      timestamps: { failedAt: T0_IN_MS + 5000 },
    })),
  cancelled: (total: number, done: number): BatchObject =>
    batchObject((job) => ({
      ...job,
      status: 'cancelled',
      ingest: { ...job.ingest, done: true, linesRead: total, requests: total },
      counts: { succeeded: done, failed: 0 },
      timestamps: { inProgressAt: T0_IN_MS + 1000, cancellingAt: T0_IN_MS + 20_000, cancelledAt: T0_IN_MS + 30_000 },
    })),
};
