import { BadRequestError } from '../core/errors.js';
import { JobStatus, type Job } from '../core/job.js';
import { metadataMatches } from '../core/openai/batchMetadata.js';

/** Which jobs a list shows: a status, and metadata pairs a job must all have. */
export interface JobFilter {
  readonly status?: JobStatus | undefined;
  readonly metadata?: Readonly<Record<string, string>> | undefined;
}

const STATUSES: ReadonlySet<string> = new Set(Object.values(JobStatus));

/** `status=in_progress` and `metadata[key]=value` query parameters (the latter repeatable). */
export function parseJobFilter(query: URLSearchParams): JobFilter {
  const status = query.get('status');
  if (status !== null && !STATUSES.has(status)) {
    throw new BadRequestError(
      `Invalid status ${JSON.stringify(status)}: expected one of ${[...STATUSES].join(', ')}`,
      'status',
    );
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of query) {
    const match = /^metadata\[(.+)\]$/.exec(key);
    if (match !== null) metadata[match[1]!] = value;
  }
  return {
    status: (status ?? undefined) as JobStatus | undefined,
    metadata: Object.keys(metadata).length === 0 ? undefined : metadata,
  };
}

export function isFiltering(filter: JobFilter): boolean {
  return filter.status !== undefined || filter.metadata !== undefined;
}

export function jobMatches(job: Job, filter: JobFilter): boolean {
  if (filter.status !== undefined && job.status !== filter.status) return false;
  return filter.metadata === undefined || metadataMatches(job.batchRequest?.metadata, filter.metadata);
}
