import { app, type InvocationContext } from '@azure/functions';
import { registerBlobReferenceFactory, type BlobTriggerReference } from '../adapters/functions/blobTriggerReference.js';
import { ingestBlob } from '../app/ingestBlob.js';
import { getServices } from '../compositionRoot.js';

registerBlobReferenceFactory();

export async function ingestBlobHandler(blob: BlobTriggerReference, context: InvocationContext): Promise<void> {
  const services = await getServices();
  const result = await ingestBlob(blob.containerName, blob.blobName, services.ingestDeps(context));
  context.log(`ingest ${blob.containerName}/${blob.blobName}: ${result.kind}`);
}

app.storageBlob('ingestBlob', {
  path: '%INPUT_CONTAINER%/{name}',
  connection: 'AzureWebJobsStorage',
  source: 'EventGrid',
  // The handler gets a reference and streams the blob itself: the plain binding would load it whole.
  sdkBinding: true,
  handler: ingestBlobHandler,
});
