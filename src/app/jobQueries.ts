import { toBatchObject, type BatchObject } from '../core/batchObject.js';
import { BadRequestError, ConflictError, NotFoundError } from '../core/errors.js';
import { JobStatus, type Job } from '../core/job.js';
import { isValidJobId } from '../core/jobId.js';
import { toBatchOutputLine } from '../core/lineOutcome.js';
import {
  InvalidPageTokenError,
  type JobScheduleView,
  type JobStore,
  type ScheduleViews,
  type StoredJob,
} from './ports.js';
import { isFiltering, jobMatches, type JobFilter } from './jobFilter.js';

export async function requireJob(jobs: JobStore, jobId: string | undefined): Promise<StoredJob> {
  if (jobId === undefined || !isValidJobId(jobId)) {
    throw new BadRequestError('jobId must look like job_ followed by 32 hex digits', 'jobId');
  }
  const stored = await jobs.getJob(jobId);
  if (stored === undefined) throw new NotFoundError(`No job ${jobId}`);
  return stored;
}

/** What the job views read: the jobs, and each running job's place in its deployment's schedule. */
export interface JobQueryDeps {
  readonly jobs: JobStore;
  readonly schedule: ScheduleViews;
}

export async function getJobStatus(deps: JobQueryDeps, jobId: string | undefined): Promise<BatchObject> {
  const { job } = await requireJob(deps.jobs, jobId);
  return (await viewsOf([job], deps.schedule))[0]!;
}

const isRunning = (job: Job): boolean => job.status === JobStatus.validating || job.status === JobStatus.inProgress;

/** The jobs as the API shows them, the running ones with their schedule: one read per deployment they run on. */
export async function viewsOf(jobs: readonly Job[], schedule: ScheduleViews): Promise<BatchObject[]> {
  const deployments = [...new Set(jobs.filter(isRunning).map((job) => job.deployment))];
  const views = new Map<string, ReadonlyMap<string, JobScheduleView>>(
    await Promise.all(deployments.map(async (name) => [name, await schedule.viewsFor(name)] as const)),
  );
  return jobs.map((job) => toBatchObject(job, views.get(job.deployment)?.get(job.id)));
}

/** Store pages one filtered list request reads at most before answering (with has_more). */
const MAX_FILTERED_READS = 20;

export interface JobPage {
  readonly object: 'list';
  readonly data: BatchObject[];
  readonly has_more: boolean;
  readonly next_page: string | null;
}

/** Newest first. The page token is the store's continuation token, opaque to clients. */
export async function listJobs(
  deps: JobQueryDeps,
  options: { limit: string | null; after: string | null; maxPageSize: number; filter?: JobFilter },
): Promise<JobPage> {
  let pageSize = 20;
  if (options.limit !== null) {
    const parsed = Number(options.limit);
    if (!Number.isInteger(parsed) || parsed < 1 || parsed > options.maxPageSize) {
      throw new BadRequestError(`limit must be an integer from 1 to ${options.maxPageSize}`, 'limit');
    }
    pageSize = parsed;
  }
  const badAfter = () => new BadRequestError('after must be a next_page value from an earlier response', 'after');
  let continuationToken: string | undefined;
  if (options.after !== null) {
    try {
      continuationToken = Buffer.from(options.after, 'base64url').toString('utf8');
      JSON.parse(continuationToken);
    } catch {
      throw badAfter();
    }
  }
  const { jobs } = deps;
  const filter = options.filter ?? {};
  let page: Awaited<ReturnType<JobStore['listJobs']>>;
  try {
    page = await jobs.listJobs({ pageSize, continuationToken });
  } catch (error) {
    // Valid JSON is not yet a token the store handed out: still the client's `after`, not a server error.
    if (error instanceof InvalidPageTokenError) throw badAfter();
    throw error;
  }
  let data = page.jobs.filter((job) => jobMatches(job, filter));
  // Filtered, whole store pages are read until one has a match (or MAX_FILTERED_READS pages): a page never holds more than `limit`.
  for (
    let reads = 1;
    isFiltering(filter) && data.length === 0 && page.continuationToken !== undefined && reads < MAX_FILTERED_READS;
    reads += 1
  ) {
    page = await jobs.listJobs({ pageSize, continuationToken: page.continuationToken });
    data = page.jobs.filter((job) => jobMatches(job, filter));
  }
  return {
    object: 'list',
    data: await viewsOf(data, deps.schedule),
    has_more: page.continuationToken !== undefined,
    next_page:
      page.continuationToken === undefined ? null : Buffer.from(page.continuationToken, 'utf8').toString('base64url'),
  };
}

export const RESULT_KINDS = ['results', 'errors', 'all'] as const;
export type ResultKind = (typeof RESULT_KINDS)[number];

export function parseResultKind(value: string | null): ResultKind {
  if (value === null) return 'results';
  if ((RESULT_KINDS as readonly string[]).includes(value)) return value as ResultKind;
  throw new BadRequestError(`kind must be one of ${RESULT_KINDS.join(', ')}`, 'kind');
}

/** A job whose outcomes were deleted (or are past retention) has no output lines left to read: 409, not an empty file. */
export function requireOutcomesKept(job: Job): void {
  const removedAtInMs = job.removed?.outcomesAtInMs ?? job.deletedAtInMs;
  if (removedAtInMs === undefined) return;
  const why = job.deletedAtInMs !== undefined ? 'were deleted' : 'are past their retention period and were removed';
  throw new ConflictError(`Job ${job.id}: its outcomes ${why} on ${new Date(removedAtInMs).toISOString()}`);
}

/** The job's output lines so far, in line order, as OpenAI Batch JSONL (UTF-8 bytes, ready for a response body). */
export async function* streamResults(jobs: JobStore, jobId: string, kind: ResultKind): AsyncIterable<Buffer> {
  const status = kind === 'results' ? 'succeeded' : kind === 'errors' ? 'not_succeeded' : undefined;
  for await (const outcome of jobs.listOutcomes(jobId, status === undefined ? {} : { status })) {
    yield Buffer.from(`${JSON.stringify(toBatchOutputLine(outcome))}\n`, 'utf8');
  }
}
