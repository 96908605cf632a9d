import { isValidJobId, jobIdFor } from '../../core/jobId.js';
import { BlobChangedError, type BlobStore, type JobStore, type StoredJob } from '../ports.js';

/** Metadata key that ties a blob to its job. */
export const JOB_ID_METADATA = 'jobid';

const MAX_PIN_ATTEMPTS = 5;

/** The blob version a job reads: its id, ETag, size and metadata. */
export interface PinnedBlob {
  readonly jobId: string;
  readonly etag: string;
  readonly size: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** The job as read while checking the label (absent: not read, as for a label written just now). */
  readonly lookup?: { readonly stored: StoredJob | undefined };
}

/**
 * Labels the blob with its job id. Writing metadata changes the ETag, so the job pins the ETag that
 * results from it; a later event for the same content finds the label and maps to the same job.
 * A label counts only on the blob version its job pinned (same name, same ETag), or while its job is
 * not created yet: a copy (`az storage blob copy`, azcopy, `beginCopyFromURL`) carries the original's
 * label, and an upload may name an existing job in its metadata; either is a new job, labelled anew.
 * Undefined: the blob is gone.
 */
export async function pinBlobToJob(
  container: string,
  name: string,
  deps: { readonly blobs: BlobStore; readonly jobs: JobStore },
): Promise<PinnedBlob | undefined> {
  let written: string | undefined;
  for (let attempt = 0; attempt < MAX_PIN_ATTEMPTS; attempt += 1) {
    const properties = await deps.blobs.getProperties(container, name);
    if (properties === undefined) return undefined;
    const pinned = { etag: properties.etag, size: properties.size, metadata: properties.metadata };
    const labelled = properties.metadata[JOB_ID_METADATA];
    if (labelled !== undefined && labelled === written) return { jobId: labelled, ...pinned };
    if (labelled !== undefined && isValidJobId(labelled)) {
      const stored = await deps.jobs.getJob(labelled);
      if (stored === undefined || isPinnedInput(stored, container, name, properties.etag)) {
        return { jobId: labelled, ...pinned, lookup: { stored } };
      }
    }
    const jobId = jobIdFor(container, name, properties.etag);
    try {
      const labelledMetadata = { ...properties.metadata, [JOB_ID_METADATA]: jobId };
      await deps.blobs.setMetadata(container, name, labelledMetadata, { etag: properties.etag });
      written = jobId;
    } catch (error) {
      // Replaced between our read and write: look again at whatever is there now.
      if (error instanceof BlobChangedError) continue;
      throw error;
    }
  }
  throw new Error(`Blob ${container}/${name} kept changing while its job was being created`);
}

/** The blob version is the input its job pinned: same name, same ETag (a copy or a new upload is not). */
function isPinnedInput(stored: StoredJob, container: string, name: string, etag: string): boolean {
  const { input } = stored.job;
  return input.container === container && input.name === name && input.etag === etag;
}
