import type { JobData } from '../core/job.js';
import type { BlobStore, JobStore } from './ports.js';
import { REMOVE_OUTCOMES_BATCH } from './tuning.js';

/** What removing a job's outcomes and files needs. */
export interface RemoveJobDataDeps {
  readonly jobs: JobStore;
  readonly blobs: BlobStore;
  /** Where the job's files are: every blob under `{jobId}/` (output, errors, staged parts, a batch's input copy, the backlog). */
  readonly outputContainer: string;
}

/**
 * Removes the job's line outcomes and/or its files. Idempotent: what is gone already is skipped. The
 * ledger and the rollups are never touched: they are the billing record, kept for their own period.
 */
export async function removeJobData(jobId: string, data: readonly JobData[], deps: RemoveJobDataDeps): Promise<void> {
  if (data.includes('outcomes')) await removeOutcomes(jobId, deps.jobs);
  if (data.includes('files')) await deps.blobs.deletePrefix(deps.outputContainer, `${jobId}/`);
}

async function removeOutcomes(jobId: string, jobs: JobStore): Promise<void> {
  let batch: number[] = [];
  // The listing is consumed before deleting from it: a store's paging never sees its own deletions.
  const lines: number[] = [];
  for await (const line of jobs.listOutcomeLines(jobId)) lines.push(line);
  for (const line of lines) {
    batch.push(line);
    if (batch.length === REMOVE_OUTCOMES_BATCH) {
      await jobs.deleteOutcomes(jobId, batch);
      batch = [];
    }
  }
  if (batch.length > 0) await jobs.deleteOutcomes(jobId, batch);
}
