import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import type { StorageConnection } from '../../config.js';
import { createAzureCredential } from '../azureCredential.js';

export function createBlobServiceClient(connection: StorageConnection): BlobServiceClient {
  return connection.kind === 'connectionString'
    ? BlobServiceClient.fromConnectionString(connection.connectionString)
    : new BlobServiceClient(connection.blobServiceUri, createAzureCredential(connection.clientId));
}

export function createQueueServiceClient(connection: StorageConnection): QueueServiceClient {
  return connection.kind === 'connectionString'
    ? QueueServiceClient.fromConnectionString(connection.connectionString)
    : new QueueServiceClient(connection.queueServiceUri, createAzureCredential(connection.clientId));
}
