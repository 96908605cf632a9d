import { BadRequestError, ConflictError } from '../core/errors.js';
import { JobStatus, TERMINAL_STATUSES, type Job } from '../core/job.js';
import { describePriority, parsePriority, PRIORITY_METADATA, type JobPriority } from '../core/priority.js';
import type { BatchObject } from '../core/batchObject.js';
import { requireJob, viewsOf, type JobQueryDeps } from './jobQueries.js';
import { reweighJob } from './jobScheduling.js';
import type { FairShareStore, JobStore, StoredJob } from './ports.js';

/** What changing a job's priority needs: the job document alone (the scheduler reads it from there). */
export interface ChangePriorityDeps {
  readonly jobs: JobStore;
}

/** Conditional writes tried before the change gives way to whatever keeps writing the job. */
const MAX_ATTEMPTS = 20;

/** `{"priority": "high"}` (a level, any case) or `{"priority": 12}` (a weight 1..100); a 400 names the field. */
export function parsePriorityChange(body: unknown): JobPriority {
  const value =
    typeof body === 'object' && body !== null && !Array.isArray(body)
      ? (body as Record<string, unknown>)[PRIORITY_METADATA]
      : undefined;
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new BadRequestError(
      `The body must be a JSON object with a ${PRIORITY_METADATA}: "high", "normal", "low" or a weight from 1 to 100`,
      PRIORITY_METADATA,
    );
  }
  const result = parsePriority(String(value));
  if (!result.ok) throw new BadRequestError(result.error, PRIORITY_METADATA);
  return result.value;
}

/** A job whose lines have all been sent or dropped: no budget left to share. */
function isPastScheduling(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status) || status === JobStatus.finalizing || status === JobStatus.cancelling;
}

/**
 * Gives a job a new priority while it runs: a conditional replace of its document, read again and
 * retried when another writer (a worker's counters, the ingest's checkpoint) got in between. A job
 * that finished meanwhile is a conflict, never silently changed.
 */
export async function changePriority(
  deps: ChangePriorityDeps,
  jobId: string | undefined,
  priority: JobPriority,
): Promise<Job> {
  let stored: StoredJob | undefined = await requireJob(deps.jobs, jobId);
  for (let attempt = 0; attempt < MAX_ATTEMPTS && stored !== undefined; attempt += 1) {
    const { job, etag }: StoredJob = stored;
    if (isPastScheduling(job.status)) {
      throw new ConflictError(
        `Job ${job.id} is ${job.status}: its priority can change only while it runs (validating or in_progress)`,
      );
    }
    if (samePriority(job.priority, priority)) return job;
    const replaced = await deps.jobs.replaceJob({ ...job, priority }, etag);
    if (replaced !== undefined) return replaced.job;
    stored = await deps.jobs.getJob(job.id);
  }
  throw new ConflictError(
    `Job ${jobId ?? ''} kept changing while its priority was set to ${describePriority(priority)}; try again`,
  );
}

function samePriority(current: JobPriority | undefined, next: JobPriority): boolean {
  return current !== undefined && current.level === next.level && current.weight === next.weight;
}

/** `PATCH /api/jobs/{id}`: the body checked first (400), then the job (404, 409); answers the job's view. */
export async function setJobPriority(
  deps: JobQueryDeps & { readonly fairShare?: FairShareStore | undefined },
  jobId: string | undefined,
  body: unknown,
): Promise<BatchObject> {
  const job = await changePriority(deps, jobId, parsePriorityChange(body));
  // The feeder's timer would take the change up within its period; telling the scheduler now makes the
  // next pick use it. The job document stays the record, so a failure here only delays the change.
  if (deps.fairShare !== undefined && job.deployment !== '')
    await reweighJob(deps.fairShare, job).catch(() => undefined);
  const [view] = await viewsOf([job], deps.schedule);
  return view!;
}
