import type { Job } from '../core/job.js';
import type { JobStore, StoredJob } from './ports.js';

const MAX_ATTEMPTS = 50;

/**
 * Read-modify-write of a job with its ETag, retried when a concurrent writer (a worker's counter
 * update, the ingest's checkpoint) got in between. `change` returning undefined means "leave it".
 */
export async function updateJob(
  jobs: JobStore,
  jobId: string,
  change: (job: Job) => Job | undefined,
): Promise<StoredJob> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
    const current = await jobs.getJob(jobId);
    if (current === undefined) throw new Error(`Job ${jobId} does not exist`);
    const next = change(current.job);
    if (next === undefined) return current;
    const replaced = await jobs.replaceJob(next, current.etag);
    if (replaced !== undefined) return replaced;
  }
  throw new Error(`Job ${jobId}: could not update the job (the document kept changing)`);
}
