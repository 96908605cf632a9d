import { isValidJobId, jobIdFor } from '../../core/jobId.js';
import { BlobChangedError, type BlobStore } from '../ports.js';

/** Metadata key that ties a blob to its job. */
export const JOB_ID_METADATA = 'jobid';

const MAX_PIN_ATTEMPTS = 5;

/** The blob version a job reads: its id, ETag, size and metadata. */
export interface PinnedBlob {
  readonly jobId: string;
  readonly etag: string;
  readonly size: number;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Labels the blob with its job id. Writing metadata changes the ETag, so the job pins the ETag that
 * results from it; a later event for the same content finds the label and maps to the same job.
 * A new upload replaces the metadata, and so becomes a new job. Undefined: the blob is gone.
 */
export async function pinBlobToJob(
  container: string,
  name: string,
  deps: { readonly blobs: BlobStore },
): Promise<PinnedBlob | undefined> {
  for (let attempt = 0; attempt < MAX_PIN_ATTEMPTS; attempt += 1) {
    const properties = await deps.blobs.getProperties(container, name);
    if (properties === undefined) return undefined;
    const labelled = properties.metadata[JOB_ID_METADATA];
    if (labelled !== undefined && isValidJobId(labelled)) {
      return { jobId: labelled, etag: properties.etag, size: properties.size, metadata: properties.metadata };
    }
    const jobId = jobIdFor(container, name, properties.etag);
    try {
      const labelledMetadata = { ...properties.metadata, [JOB_ID_METADATA]: jobId };
      await deps.blobs.setMetadata(container, name, labelledMetadata, { etag: properties.etag });
    } catch (error) {
      // Replaced between our read and write: look again at whatever is there now.
      if (error instanceof BlobChangedError) continue;
      throw error;
    }
  }
  throw new Error(`Blob ${container}/${name} kept changing while its job was being created`);
}
