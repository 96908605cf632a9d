import { createHash } from 'node:crypto';

const JOB_ID_PATTERN = /^job_[0-9a-f]{32}$/;

/** One blob version, one job: a redelivered event for the same name and ETag gives the same id. */
export function jobIdFor(container: string, blobName: string, etag: string): string {
  const digest = createHash('sha256').update(`${container}\n${blobName}\n${etag}`).digest('hex');
  return `job_${digest.slice(0, 32)}`;
}

export function isValidJobId(value: string): boolean {
  return JOB_ID_PATTERN.test(value);
}
