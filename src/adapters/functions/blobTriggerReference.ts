import { createRequire } from 'node:module';
import type { ModelBindingData, ResourceFactoryResolver as ResolverClass } from '@azure/functions-extensions-base';

// The CommonJS build, on purpose: @azure/functions requires it, and its resolver is a per-build
// singleton, so registering with the ESM build would go unseen.
const { ResourceFactoryResolver } = createRequire(import.meta.url)('@azure/functions-extensions-base') as {
  ResourceFactoryResolver: typeof ResolverClass;
};

/** What the blob trigger hands the ingest function: where the blob is, never its bytes. */
export interface BlobTriggerReference {
  readonly connection: string;
  readonly containerName: string;
  readonly blobName: string;
}

/** The resource type the Functions host uses for blob SDK-type bindings. */
export const BLOB_RESOURCE_TYPE = 'AzureStorageBlobs';

/**
 * With `sdkBinding: true` the host passes ModelBindingData (connection, container, blob name)
 * instead of loading the blob into memory; @azure/functions turns it into a client through the
 * factory registered for its source. Ours returns the reference, and the ingest streams it through
 * the project's own Blob adapter.
 */
export function parseBlobModelBindingData(data: ModelBindingData | ModelBindingData[]): BlobTriggerReference {
  const single = Array.isArray(data) ? data[0] : data;
  if (single?.content === undefined || single.content === null)
    throw new Error('Blob trigger binding data has no content');
  const parsed = JSON.parse(Buffer.from(single.content).toString('utf8')) as Record<string, unknown>;
  const connection = parsed['Connection'];
  const containerName = parsed['ContainerName'];
  const blobName = parsed['BlobName'];
  if (typeof containerName !== 'string' || typeof blobName !== 'string') {
    throw new Error('Blob trigger binding data lacks ContainerName or BlobName');
  }
  return { connection: typeof connection === 'string' ? connection : 'AzureWebJobsStorage', containerName, blobName };
}

export function registerBlobReferenceFactory(): void {
  const resolver = ResourceFactoryResolver.getInstance();
  if (!resolver.hasResourceFactory(BLOB_RESOURCE_TYPE)) {
    resolver.registerResourceFactory(BLOB_RESOURCE_TYPE, parseBlobModelBindingData);
  }
}
